"""pyproject.toml: it parses, its version is PEP 440, its [tool.buildlib] table validates.

It reads what :mod:`buildlib.config` parsed and never validates a second way: a finding
here is the error ``build`` would stop on, at the same line."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from buildlib.checks import CheckResult
from buildlib.checks.project import PYPROJECT, Project
from buildlib.config import key_line
from buildlib.errors import REFERENCE, split_location


def check_pyproject_toml(project: Project) -> CheckResult:
    problem = project.toml_problem
    if problem is None:
        return CheckResult("pyproject-toml", "ok", f"{PYPROJECT} parses", file=PYPROJECT)
    if project.text is None:
        return CheckResult(
            "pyproject-toml",
            "fail",
            problem.message,
            file=None,
            hint="run doctor in the repository root, or pass --root PATH",
        )
    where = f"line {problem.line}, column {problem.column}: " if problem.line else ""
    return CheckResult(
        "pyproject-toml",
        "fail",
        f"invalid TOML at {where}{problem.message}",
        file=PYPROJECT,
        line=problem.line,
        hint=problem.hint
        or (
            f"fix the TOML syntax at {PYPROJECT}:{problem.line}:{problem.column}"
            if problem.line
            else f"fix the TOML syntax of {PYPROJECT}"
        ),
    )


def check_pyproject_version(project: Project) -> CheckResult:
    if project.data is None:
        return CheckResult(
            "pyproject-version", "skipped", f"{PYPROJECT} does not parse (see pyproject-toml)"
        )
    text = project.text or ""
    table = project.data.get("project")
    if not isinstance(table, dict):
        return CheckResult(
            "pyproject-version",
            "fail",
            "no [project] table",
            file=PYPROJECT,
            hint='add [project] with name = "..." and version = "0.1.0"',
        )
    line = key_line(text, "project", "version")
    raw = table.get("version")
    if raw is None:
        dynamic = "version" in (table.get("dynamic") or [])
        return CheckResult(
            "pyproject-version",
            "fail",
            "[project].version is dynamic: buildlib and release-please need a literal version"
            if dynamic
            else "[project].version is missing",
            file=PYPROJECT,
            line=line,
            hint='set version = "0.1.0" in [project], the version of the images',
        )
    if not isinstance(raw, str):
        return CheckResult(
            "pyproject-version",
            "fail",
            f"[project].version must be a string, not {type(raw).__name__}",
            file=PYPROJECT,
            line=line,
            hint=f'quote it: version = "{raw}"',
        )
    try:
        version = Version(raw)
    except InvalidVersion:
        return CheckResult(
            "pyproject-version",
            "fail",
            f"[project].version {raw!r} is not a PEP 440 version",
            file=PYPROJECT,
            line=line,
            hint='use a version such as "1.2.3", "1.2.3rc1" or "1.2.3.post1" (PEP 440)',
        )
    if str(version) != raw:
        return CheckResult(
            "pyproject-version",
            "warn",
            f"[project].version {raw!r} is valid PEP 440 but not normalized ({str(version)!r}): "
            "tags and release-please use the normalized form",
            file=PYPROJECT,
            line=line,
            hint=f'write version = "{version}"',
        )
    return CheckResult(
        "pyproject-version", "ok", f"version {raw} (PEP 440)", file=PYPROJECT, line=line
    )


def check_buildlib_config(project: Project) -> CheckResult:
    if project.data is None:
        return CheckResult(
            "buildlib-config", "skipped", f"{PYPROJECT} does not parse (see pyproject-toml)"
        )
    if project.version is None:
        return CheckResult(
            "buildlib-config",
            "skipped",
            "needs a valid [project].version first (see pyproject-version)",
        )
    error = project.config_error
    if error is not None:
        file, line = split_location(error.location)
        return CheckResult(
            "buildlib-config",
            "fail",
            f"[tool.buildlib]: {error.message}",
            file=file or PYPROJECT,
            line=line,
            hint=error.hint or f"see {REFERENCE}",
        )
    names = ", ".join(f"{i.name} ({i.dockerfile})" for i in project.settings.images)
    return CheckResult(
        "buildlib-config",
        "ok",
        f"[tool.buildlib] is valid: images {names}",
        file=PYPROJECT,
        line=key_line(project.text or "", "tool.buildlib", "_"),
    )
