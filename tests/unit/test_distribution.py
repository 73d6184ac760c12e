"""buildlib/pyproject.toml, the distribution people install: every module buildlib
imports and every program doctor always runs comes with it."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):  # noqa: UP036 - the tests also run on Python 3.10
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "buildlib" / "pyproject.toml").read_text(encoding="utf-8"))
SOURCE = ROOT / "buildlib" / "src" / "buildlib"


def declared() -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}


def imported_modules() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "buildlib"}


def module_owners() -> dict[str, set[str]]:
    """Top-level module -> distributions, from each installed distribution's files (Python
    3.10's packages_distributions reads only top_level.txt, which hatchling wheels lack)."""
    owners: dict[str, set[str]] = {}
    for dist in distributions():
        tops = set((dist.read_text("top_level.txt") or "").split())
        for file in dist.files or []:
            first = file.parts[0]
            if first.endswith(".py"):
                tops.add(first[:-3])
            elif len(file.parts) > 1 and not first.endswith((".dist-info", ".data")):
                tops.add(first)
        for top in tops:
            owners.setdefault(top, set()).add(dist.metadata["Name"])
    return owners


def test_every_imported_module_is_a_declared_dependency() -> None:
    owners = module_owners()
    missing = []
    for module in sorted(imported_modules()):
        if module in ("tomli", "tomllib"):  # tomllib is 3.11's; tomli its declared backport
            assert "tomli" in declared()
            continue
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        assert dists, f"{module}: not installed here, so its distribution is unknown"
        if not dists & declared():
            missing.append(f"{module} ({', '.join(sorted(dists))})")
    assert not missing, f"imported but not in buildlib's dependencies: {missing}"


def test_the_schema_validator_doctor_runs_is_a_dependency() -> None:
    from buildlib.checks.workflows import TOOL

    assert canonicalize_name(TOOL) in declared()


def test_the_command_and_the_supported_pythons() -> None:
    project = PYPROJECT["project"]
    assert project["scripts"] == {"buildlib": "buildlib.cli:main"}
    assert project["requires-python"] == ">=3.10"
    classifiers = set(project["classifiers"])
    for minor in (10, 11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
