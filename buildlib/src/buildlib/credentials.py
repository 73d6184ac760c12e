"""Registry credentials: from the environment, from an existing docker login, or a throwaway login.

A secret travels only in memory, on a child's stdin, or in a temporary ``DOCKER_CONFIG``
directory that is removed afterwards; never on a command line, in a repr or in an error.
The user's own ``~/.docker/config.json`` is never written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from buildlib.console import one_line
from buildlib.errors import AuthError, BuildlibError, CheckFailed, ConfigError, RegistryError
from buildlib.options import docker_selection, environment
from buildlib.references import is_docker_hub
from buildlib.runner import Runner

# The key `docker login` (and docker/login-action) writes for Docker Hub.
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
_REJECTED_MARKERS = ("unauthorized", "incorrect username or password", "authentication required")


@dataclass(frozen=True)
class Credentials:
    """A username and its password or access token. ``repr`` never shows the secret."""

    username: str
    secret: str = field(repr=False)


def from_env(
    username_var: str, token_var: str, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """Credentials from two environment variables; ``None`` when neither is set.

    An empty value counts as unset: GitHub Actions expands a missing secret to "".
    """
    env = environment() if environ is None else environ
    username = env.get(username_var, "").strip()
    secret = env.get(token_var, "").strip()
    if username and secret:
        return Credentials(username, secret)
    if not username and not secret:
        return None
    missing, present = (token_var, username_var) if username else (username_var, token_var)
    raise ConfigError(
        f"{present} is set but {missing} is not (or is empty)",
        hint=f"set both {username_var} and {token_var}, or neither",
    )


@dataclass(frozen=True)
class Found:
    """The credentials for a registry and where they came from; both ``None`` when there
    are none."""

    credentials: Credentials | None
    source: str | None
    from_environment: bool


def find(
    username_var: str, token_var: str, registry_host: str, environ: Mapping[str, str]
) -> Found:
    """The credentials push, release and doctor use: the two variables first (a temporary
    login), else the user's docker login for ``registry_host``."""
    credentials = from_env(username_var, token_var, environ)
    if credentials is not None:
        return Found(credentials, f"${username_var} and ${token_var}", True)
    credentials = from_docker_config(registry_host)
    if credentials is not None:
        return Found(credentials, f"the docker login for {registry_host}", False)
    return Found(None, None, False)


def from_docker_config(registry_host: str, *, config_dir: str | None = None) -> Credentials | None:
    """Credentials of an existing ``docker login`` (e.g. by docker/login-action), or ``None``.

    Reads ``config_dir`` if given, else ``$DOCKER_CONFIG``, else ``~/.docker``; credential
    stores and helpers named there are run. Identity tokens (OAuth refresh tokens) are not
    supported and count as no credentials.
    """
    try:
        from docker import auth as docker_auth
        from docker import errors as docker_errors
    except ImportError as exc:  # pragma: no cover - docker is a dev dependency
        raise BuildlibError(
            "the docker Python SDK is not installed",
            hint="install docker>=7.1 where buildlib runs (a dependency of buildlib: "
            "`python -m pip install 'docker>=7.1'`, or reinstall buildlib)",
        ) from exc

    key = DOCKER_HUB_AUTH_KEY if is_docker_hub(registry_host) else registry_host
    config_path = os.path.join(config_dir, "config.json") if config_dir else None
    try:
        entry = docker_auth.load_config(config_path=config_path).resolve_authconfig(key)
    except docker_errors.DockerException as exc:
        raise CheckFailed(
            f"could not read the docker login for {registry_host}: {_last_line(str(exc))}",
            hint="check the credsStore/credHelpers entries of your docker config.json",
        ) from None
    if not entry:
        return None
    username = entry.get("username") or entry.get("Username")
    secret = entry.get("password") or entry.get("Password")
    if not username or not secret:
        return None
    return Credentials(username, secret)


@contextmanager
def temporary_login(
    runner: Runner,
    docker_bin: str,
    registry_host: str,
    creds: Credentials,
    *,
    credential_hint: str | None = None,
) -> Iterator[dict[str, str]]:
    """Log in to ``registry_host`` in a throwaway ``DOCKER_CONFIG``; yield the env to use it.

    Pass the yielded ``{"DOCKER_CONFIG": ...}`` to the docker commands that need the login.
    The directory (holding the login) is removed on exit, also on error. Under a dry-run
    runner the login is printed, not run, and the directory stays empty.
    """
    runner.add_secret(creds.secret, f"the token for {registry_host}")
    config_dir = tempfile.mkdtemp(prefix="buildlib-docker-config-")
    try:
        _keep_user_setup(config_dir, registry_host)
        env = {"DOCKER_CONFIG": config_dir}
        argv = [docker_bin, "login"]
        if not is_docker_hub(registry_host):
            argv.append(registry_host)
        argv += ["--username", creds.username, "--password-stdin"]
        result = runner.run(
            argv,
            env=env,
            stdin=creds.secret,
            capture=True,
            check=False,
            what=f"docker login {registry_host}",
        )
        if not result.ok:
            output = result.stderr or result.stdout
            raise _login_error(runner, registry_host, creds, output, credential_hint)
        yield env
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)


# What the docker CLI reads from its config directory besides logins: plugins (buildx), buildx
# builders and contexts (directories, linked), and these keys of config.json (copied). Never
# credsStore/credHelpers/auths: the temporary login must stay in the temporary directory.
_SHARED_DIRS = ("cli-plugins", "buildx", "contexts")
_SHARED_KEYS = ("currentContext", "proxies", "cliPluginsExtraDirs", "features")


def _user_docker_config_dir() -> str:
    return docker_selection().config_dir()


def _keep_user_setup(config_dir: str, registry_host: str) -> None:
    """Make the temporary config see the user's buildx plugin, builders and context, so
    the builds and pushes under the login use the same docker as everything else.

    Its ``auths`` names the registry from the start: a config without any auth makes the
    docker CLI look for an OS credential helper on PATH (``docker-credential-secretservice``,
    ``-pass``, ``-osxkeychain``...) and ``docker login`` would store the token there, for
    good. With an entry present, the login goes into this file, which is deleted."""
    user_dir = _user_docker_config_dir()
    for name in _SHARED_DIRS:
        source = os.path.join(user_dir, name)
        if os.path.isdir(source):
            try:
                os.symlink(source, os.path.join(config_dir, name), target_is_directory=True)
            except OSError:
                pass  # best effort: the login works without it
    shared: dict[str, object] = {}
    try:
        with open(os.path.join(user_dir, "config.json"), encoding="utf-8") as handle:
            user_config = json.load(handle)
    except (OSError, ValueError):
        user_config = None
    if isinstance(user_config, dict):
        shared = {key: user_config[key] for key in _SHARED_KEYS if key in user_config}
    key = DOCKER_HUB_AUTH_KEY if is_docker_hub(registry_host) else registry_host
    shared["auths"] = {key: {}}
    path = os.path.join(config_dir, "config.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        json.dump(shared, handle)


def _login_error(
    runner: Runner, registry_host: str, creds: Credentials, output: str, hint: str | None
) -> RegistryError:
    detail = _last_line(runner.redact(output))
    if any(marker in detail.lower() for marker in _REJECTED_MARKERS):
        return AuthError(
            f"{registry_host} rejected the login of user {creds.username!r}: {detail}",
            hint=hint or f"check the username and token for {registry_host}",
        )
    return RegistryError(
        f"docker login to {registry_host} failed: {detail}",
        hint="check that the registry is reachable" + (f"; {hint}" if hint else ""),
    )


def _last_line(text: str) -> str:
    """A tool's last words: where docker login and the SDK put the reason."""
    lines = [line for line in text.splitlines() if line.strip()]
    return one_line(lines[-1] if lines else "no output", limit=300)
