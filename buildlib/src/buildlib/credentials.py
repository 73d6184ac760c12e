"""Registry credentials: from the environment or from an existing docker login (the
throwaway login is :meth:`buildlib.docker.Docker.login`).

A secret travels only in memory, on a child's stdin, or in a temporary ``DOCKER_CONFIG``
directory that is removed afterwards; never on a command line, in a repr or in an error.
The user's own ``~/.docker/config.json`` is never written.
"""

from __future__ import annotations

import os
import string
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from buildlib.console import one_line
from buildlib.errors import CheckFailed
from buildlib.references import is_docker_hub
from buildlib.runner import last_lines

# The key `docker login` (and docker/login-action) writes for Docker Hub.
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    """A username and its password or access token. ``repr`` never shows the secret."""

    username: str
    secret: str = field(repr=False)
    from_environment: bool = False

    def encoded(self) -> tuple[bytes, bytes]:
        """Username and secret as their source held them: :func:`os.fsencode` undoes
        ``os.environ``'s decoding; a docker login's are text the SDK decoded as UTF-8
        (docker/auth.py decode_auth, credential helpers' JSON), which docker sends as is
        (docker/cli cli/config/configfile/file.go decodeAuth). Never raises: the error would
        quote a character of the secret."""
        if self.from_environment:
            return os.fsencode(self.username), os.fsencode(self.secret)
        return self.username.encode(errors="replace"), self.secret.encode(errors="replace")


def from_env(username_var: str, token_var: str, environ: Mapping[str, str]) -> Credentials | None:
    """Credentials from two environment variables; ``None`` when neither is set (an empty
    value counts as unset: GitHub Actions expands a missing secret to ""). One without the
    other fails the credentials check, as none at all does when a push needs them."""
    # only ASCII whitespace: under a Latin-1 locale a token's byte 0xA0 or 0x85 is a
    # character str.strip() would drop
    username = environ.get(username_var, "").strip(string.whitespace)
    secret = environ.get(token_var, "").strip(string.whitespace)
    if username and secret:
        return Credentials(username, secret, from_environment=True)
    if not username and not secret:
        return None
    missing, present = (token_var, username_var) if username else (username_var, token_var)
    raise CheckFailed(
        f"{present} is set but {missing} is not (or is empty)",
        hint=f"set both {username_var} and {token_var}, or neither",
    )


@dataclass(frozen=True)
class Found:
    """The credentials for a registry and where they came from; both ``None`` for none."""

    credentials: Credentials | None
    source: str | None


def find(
    username_var: str, token_var: str, registry_host: str, environ: Mapping[str, str]
) -> Found:
    """The credentials push, release and doctor use: the two variables first (a temporary
    login), else the user's docker login for ``registry_host``."""
    if (credentials := from_env(username_var, token_var, environ)) is not None:
        return Found(credentials, f"${username_var} and ${token_var}")
    if (credentials := from_docker_config(registry_host)) is not None:
        return Found(credentials, f"the docker login for {registry_host}")
    return Found(None, None)


def refused_fix(found: Found, username_var: str, token_var: str, registry_host: str) -> str:
    """The fix when ``registry_host`` refuses ``found``: given credentials need checking."""
    both = f"{username_var} and {token_var}"
    if found.credentials is None:
        return f"set {both} (or `docker login {registry_host}`)"
    if found.credentials.from_environment:
        return f"check {both} (a user and token {registry_host} accepts, allowed to push)"
    return (
        f"log in again: `docker login {registry_host}` (as a user allowed to push), or set {both}"
    )


def from_docker_config(registry_host: str) -> Credentials | None:
    """Credentials of an existing ``docker login`` (``$DOCKER_CONFIG``, else ``~/.docker``,
    its credential stores and helpers run), or ``None``; an identity token counts as none."""
    from docker import auth as docker_auth
    from docker import errors as docker_errors

    key = DOCKER_HUB_AUTH_KEY if is_docker_hub(registry_host) else registry_host
    try:
        # the SDK also warns of a missing helper, which the error below already says
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            entry = docker_auth.load_config().resolve_authconfig(key) or {}
    except docker_errors.DockerException as exc:
        raise CheckFailed(
            f"could not read the docker login for {registry_host}: {last_line(str(exc))}",
            hint="check the credsStore/credHelpers entries of your docker config.json",
        ) from None
    except ValueError:
        # an "auth" that is not base64 of user:password; the reason would quote its bytes
        raise CheckFailed(
            f"could not read the docker login for {registry_host}: its auth entry in the "
            "docker config.json is not base64 of user:password",
            hint=f"log in again: `docker login {registry_host}` (it rewrites the entry)",
        ) from None
    username = entry.get("username") or entry.get("Username")
    secret = entry.get("password") or entry.get("Password")
    return Credentials(username, secret) if username and secret else None


def last_line(text: str) -> str:
    """A tool's last words: where docker login and the SDK put the reason."""
    return one_line(last_lines(text.splitlines(), count=1) or "no output", limit=300)
