"""pyproject.toml: it parses, its version is PEP 440, its [tool.buildlib] table validates.

Each finding is the :class:`ConfigError` ``build`` would stop on, at the same line: this
module reads what :mod:`buildlib.config` parsed and must never validate a second way (only
[project].version is judged here, more finely: dynamic, unnormalized).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from packaging.version import InvalidVersion, Version

from buildlib.checks import CheckResult
from buildlib.checks.project import PYPROJECT, Project
from buildlib.config import Locator
from buildlib.errors import REFERENCE, ConfigError, split_location

_UNPARSED = f"{PYPROJECT} does not parse (see pyproject-toml)"


def _failure(check_id: str, error: ConfigError, prefix: str = "") -> CheckResult:
    """A ConfigError as a located failure; a TOML position's column goes into the hint."""
    file, line = split_location(error.location)
    hint, where = error.hint, error.location or ""
    if hint and where.count(":") == 2:  # the line is the result's: the hint adds the column
        hint = f"{hint} (column {where.rsplit(':', 1)[1]})"
    return CheckResult(check_id, "fail", f"{prefix}{error.message}", file, line, hint)


def check_pyproject_toml(project: Project) -> CheckResult:
    if project.toml_problem is None:
        return CheckResult("pyproject-toml", "ok", f"{PYPROJECT} parses", file=PYPROJECT)
    result = _failure("pyproject-toml", project.toml_problem)
    if project.text is None:
        return replace(result, hint="run doctor in the repository root, or pass --root PATH")
    return result


def check_pyproject_version(project: Project) -> CheckResult:
    if project.data is None:
        return CheckResult("pyproject-version", "skipped", _UNPARSED)
    line = Locator(project.text or "", PYPROJECT).key_line("project", "version")
    result = partial(CheckResult, "pyproject-version", file=PYPROJECT, line=line)
    table = project.data.get("project")
    if not isinstance(table, dict):
        hint = 'add [project] with name = "..." and version = "0.1.0"'
        return result("fail", "no [project] table", line=None, hint=hint)
    raw = table.get("version")
    if raw is None:
        dynamic = "version" in (table.get("dynamic") or [])
        return result(
            "fail",
            "[project].version is dynamic: buildlib and release-please need a literal version"
            if dynamic
            else "[project].version is missing",
            hint='set version = "0.1.0" in [project], the version of the images',
        )
    if not isinstance(raw, str):
        message = f"[project].version must be a string, not {type(raw).__name__}"
        return result("fail", message, hint=f'quote it: version = "{raw}"')
    try:
        version = Version(raw)
    except InvalidVersion:
        hint = 'use a version such as "1.2.3", "1.2.3rc1" or "1.2.3.post1" (PEP 440)'
        return result("fail", f"[project].version {raw!r} is not a PEP 440 version", hint=hint)
    if str(version) != raw:
        return result(
            "warn",
            f"[project].version {raw!r} is valid PEP 440 but not normalized ({str(version)!r}): "
            "tags and release-please use the normalized form",
            hint=f'write version = "{version}"',
        )
    return result("ok", f"version {raw} (PEP 440)")


def check_buildlib_config(project: Project) -> CheckResult:
    if project.data is None:
        return CheckResult("buildlib-config", "skipped", _UNPARSED)
    if project.version is None:
        message = "needs a valid [project].version first (see pyproject-version)"
        return CheckResult("buildlib-config", "skipped", message)
    if (error := project.config_error) is not None:
        result = _failure("buildlib-config", error, "[tool.buildlib]: ")
        return replace(result, file=result.file or PYPROJECT, hint=error.hint or f"see {REFERENCE}")
    names = ", ".join(f"{i.name} ({i.dockerfile})" for i in project.settings.images)
    line = Locator(project.text or "", PYPROJECT).key_line("tool.buildlib", "_")
    message = f"[tool.buildlib] is valid: images {names}"
    return CheckResult("buildlib-config", "ok", message, file=PYPROJECT, line=line)
