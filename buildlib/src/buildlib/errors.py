"""One error hierarchy. Each error is a user-facing line: what failed, where, how to fix it.

Nothing here prints or exits (the library never calls ``sys.exit``): ``tasks.py`` turns these
into one line and ``invoke.Exit`` at the edge. A message never holds a secret's value.
"""

from __future__ import annotations

import re

# Where an adopter finds the [tool.buildlib] reference: buildlib's README, not their own.
REFERENCE = (
    "the [tool.buildlib] reference in buildlib's README: "
    "https://github.com/runpod-workers/worker-tetra#adopting-buildlib-in-another-repository"
)

# ``pyproject.toml:12``, ``pyproject.toml:12:5``, ``pyproject.toml [tool.buildlib]``
_LOCATION = re.compile(r"^(?P<file>[^:\s\[]+)(?::(?P<line>\d+))?(?::(?P<col>\d+))?")


def split_location(location: str | None) -> tuple[str | None, int | None]:
    """``"pyproject.toml:12"`` -> ``("pyproject.toml", 12)``, ``"f [t].k"`` -> ``("f", None)``;
    a flag (``--tag``) or a variable (``$TAG``) is no file: ``(None, None)``."""
    if not location or location.startswith(("-", "$")):
        return None, None
    if not (match := _LOCATION.match(location)):
        return location, None
    return match.group("file"), int(match["line"]) if match["line"] else None


def placed(where: str | None, message: str) -> str:
    """``where: message``, the place said once, by errors and doctor lines alike: a message
    that names it already stays as it is, one that names its key (``[project].version`` of
    ``pyproject.toml [project].version``) gets the file; one that opens with its file
    (``Dockerfile has CRLF``) gets the line number there (``Dockerfile:3 has CRLF``)."""
    if not where or re.search(rf"(?<![\w./-]){re.escape(where)}(?![\w.-])", message):
        return message
    file, line = split_location(where)
    key = re.sub(r"[][]", "", where.removeprefix(file or "")).strip()
    if file and key and not line and key in re.sub(r"[][]", "", message):
        where = file
    file = re.escape(file or where)
    opening = re.match(rf"{file}(?= |: )", message)
    return where + message[opening.end() :] if opening else f"{where}: {message}"


class BuildlibError(Exception):
    """A failure the user can act on. ``str()`` is the one line to show; each kind has its
    own exit code (``class X(BuildlibError, exit_code=N)``), documented in the README."""

    exit_code = 1

    def __init_subclass__(cls, exit_code: int = 0, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.exit_code = exit_code or cls.exit_code

    def __init__(self, message: str, *, hint: str | None = None, location: str | None = None):
        self.message, self.hint, self.location = message, hint, location
        text = placed(location, message)
        super().__init__(f"{text} (fix: {hint})" if hint else text)


class ConfigError(BuildlibError, exit_code=2):
    """pyproject.toml or a task flag is invalid."""


class UsageError(BuildlibError, exit_code=2):
    """A combination of flags that cannot work (e.g. loading a multi-platform image)."""


class DockerUnavailable(BuildlibError, exit_code=3):
    """The docker client or engine cannot be reached."""


class CommandFailed(BuildlibError, exit_code=4):
    """A docker (or git, uv) command exited non-zero."""


class CheckFailed(BuildlibError, exit_code=5):
    """A pre-flight check (line endings, lock freshness, credentials...) failed."""


class RegistryError(BuildlibError, exit_code=6):
    """The registry refused or failed a request."""


class AuthError(RegistryError, exit_code=7):
    """The registry rejected the credentials (401/403)."""


class PublishError(BuildlibError, exit_code=8):
    """A push or release stopped part-way; the message says what was left untouched."""


class NotVerified(PublishError):
    """A push reported success, but the registry could not confirm what it holds: a stopped
    release names the reference as pushed but not verified, never as not pushed."""

    def __init__(self, reference: str, cause: BuildlibError):
        super().__init__(
            f"{reference} was pushed, but the registry could not confirm it: {cause.message}",
            hint=cause.hint,
        )
        self.reference = reference


class Replaced(PublishError):
    """Tags this run pushed and verified (``references``) hold something else at the final
    check, or are gone: a stopped push or release does not name them as verified."""

    def __init__(self, message: str, references: tuple[str, ...], *, hint: str):
        super().__init__(message, hint=hint)
        self.references = references
