"""One error hierarchy. Each error is a user-facing line: what failed, where, how to fix it.

The library never calls ``sys.exit``; ``tasks.py`` turns these into ``invoke.Exit`` at the edge.
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
    """The file and line of an error's location: ``"pyproject.toml:12"`` ->
    ``("pyproject.toml", 12)``, ``"f [t].k"`` -> ``("f", None)``; a flag (``--tag``) or a
    variable (``$TAG``) is no file: ``(None, None)``."""
    if not location or location.startswith(("-", "$")):
        return None, None
    match = _LOCATION.match(location)
    if not match:
        return location, None
    line = match.group("line")
    return match.group("file"), int(line) if line else None


class BuildlibError(Exception):
    """A failure the user can act on. ``str()`` is the one line to show."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, location: str | None = None):
        self.message = message
        self.hint = hint
        self.location = location
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text = f"{text} (fix: {self.hint})"
        return text


class ConfigError(BuildlibError):
    """pyproject.toml or a task flag is invalid."""

    exit_code = 2


class UsageError(BuildlibError):
    """A combination of flags that cannot work (e.g. loading a multi-platform image)."""

    exit_code = 2


class DockerUnavailable(BuildlibError):
    """The docker client or engine cannot be reached."""

    exit_code = 3


class CommandFailed(BuildlibError):
    """A docker (or git, uv) command exited non-zero."""

    exit_code = 4


class CheckFailed(BuildlibError):
    """A pre-flight check (line endings, lock freshness, credentials...) failed."""

    exit_code = 5


class RegistryError(BuildlibError):
    """The registry refused or failed a request."""

    exit_code = 6


class AuthError(RegistryError):
    """The registry rejected the credentials (401/403)."""

    exit_code = 7


class PublishError(BuildlibError):
    """A push or release stopped part-way; the message says what was left untouched."""

    exit_code = 8
