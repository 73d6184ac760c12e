"""uv.lock: it exists, git keeps it, and it matches pyproject.toml.

Freshness is decided in two steps:

1. a static comparison (milliseconds, no subprocess): the requirements pyproject.toml declares
   (``[project].dependencies``, optional dependencies, ``[dependency-groups]`` with their
   ``include-group``\\ s, ``[tool.uv].dev-dependencies``), ``requires-python`` and the
   project's version, against what uv recorded in the lock's entry for the project
   (``[package.metadata] requires-dist`` / ``requires-dev``). Names are PEP 503-normalized,
   specifiers compared as ``SpecifierSet``\\ s, and markers by their value on a grid of
   environments, since uv rewrites them (``python_version < '3.11'`` becomes
   ``python_full_version < '3.11'``);
2. ``uv lock --check --offline`` when uv is installed: uv's own verdict wins. When it cannot
   decide offline (a new dependency is not in its cache), the static comparison decides.

The result says which one decided.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from buildlib.checks import CheckResult
from buildlib.checks.project import Project
from buildlib.checks.verdicts import Verdicts, key_of

if sys.version_info >= (3, 11):  # noqa: UP036 - buildlib also serves Python 3.10
    import tomllib
else:
    import tomli as tomllib


LOCK = "uv.lock"
STALE_HINT = (
    "uv lock (or `uv lock --upgrade` to also move every pin to its newest allowed "
    "version), then commit uv.lock"
)


class LockUnreadable(Exception):
    pass


# --- uv-lock: present and kept by git ----------------------------------------------------


def check_lock_present(project: Project) -> CheckResult:
    if not (project.root / LOCK).is_file():
        return CheckResult(
            "uv-lock",
            "fail",
            "uv.lock is missing (the images install from it)",
            file=LOCK,
            hint="uv lock (then commit uv.lock)",
        )
    if project.is_git and not project.git.is_tracked(LOCK):
        source = project.git.ignore_source(LOCK)
        pinned = ((project.data or {}).get("tool", {}).get("uv", {}) or {}).get("exclude-newer")
        if source is not None and pinned:
            ignore_file, line = source
            return CheckResult(
                "uv-lock",
                "ok",
                f"uv.lock is generated locally, not committed ({ignore_file}:{line}); "
                f"resolution is pinned by [tool.uv] exclude-newer = {pinned!r}, and `uv run` "
                "or `uv lock` recreate it",
                file=LOCK,
            )
        if source is not None:
            ignore_file, line = source
            return CheckResult(
                "uv-lock",
                "fail",
                f"uv.lock is ignored by git ({ignore_file}:{line}) and resolution is not pinned: "
                "each fresh clone, as in CI, resolves its own versions",
                file=ignore_file,
                line=line or None,
                hint=f"delete the uv.lock line ({ignore_file}:{line}), then `git add uv.lock`; "
                "or pin resolution with [tool.uv] exclude-newer",
            )
        return CheckResult(
            "uv-lock",
            "warn",
            "uv.lock is not committed: a fresh clone, as in CI, has none",
            file=LOCK,
            hint="git add uv.lock",
        )
    return CheckResult(
        "uv-lock",
        "ok",
        "uv.lock exists" + (" and is committed" if project.is_git else ""),
        file=LOCK,
    )


# --- uv-lock-fresh ------------------------------------------------------------------------


def check_lock_fresh(project: Project, *, run_uv: bool = True) -> CheckResult:
    lock_path = project.root / LOCK
    if not lock_path.is_file():
        return CheckResult("uv-lock-fresh", "skipped", "no uv.lock (see uv-lock)")
    if project.data is None:
        return CheckResult(
            "uv-lock-fresh", "skipped", "pyproject.toml does not parse (see pyproject-toml)"
        )
    try:
        differences = _remembered_static_differences(project, lock_path)
    except (LockUnreadable, OSError, UnicodeDecodeError) as exc:
        differences, unreadable = [], str(exc)
    else:
        unreadable = ""
    if unreadable:
        static_note = f"the static comparison could not read uv.lock ({unreadable})"
    else:
        static_note = None

    verdict: bool | None = None
    detail = "uv lock --check not run"
    if run_uv:
        verdict, detail = _uv_lock_check(project)

    summary = "; ".join(differences[:4]) + (
        f"; and {len(differences) - 4} more" if len(differences) > 4 else ""
    )
    if verdict is True:
        message = "uv.lock matches pyproject.toml (decided by uv lock --check)"
        if differences:
            message += f"; the static comparison saw differences uv does not count: {summary}"
        return CheckResult("uv-lock-fresh", "ok", message, file=LOCK)
    if verdict is False:
        message = "uv.lock is out of date (decided by uv lock --check)"
        if differences:
            message += f": {summary}"
        return CheckResult("uv-lock-fresh", "fail", message, file=LOCK, hint=STALE_HINT)
    # uv could not decide (or did not run): the static comparison decides
    if unreadable:
        return CheckResult(
            "uv-lock-fresh",
            "fail",
            f"{static_note}; {detail}",
            file=LOCK,
            hint="uv lock (rewrites uv.lock)",
        )
    if differences:
        return CheckResult(
            "uv-lock-fresh",
            "fail",
            f"uv.lock is out of date (decided by the static comparison; {detail}): {summary}",
            file=LOCK,
            hint=STALE_HINT,
        )
    return CheckResult(
        "uv-lock-fresh",
        "ok",
        f"uv.lock matches pyproject.toml (decided by the static comparison; {detail})",
        file=LOCK,
    )


def _uv_lock_check(project: Project) -> tuple[bool | None, str]:
    """(True fresh | False stale | None undecided, what happened)."""
    uv = shutil.which("uv")
    if uv is None:
        return None, "uv is not installed"
    from buildlib.runner import Runner

    result = Runner(quiet=True).run(
        [uv, "lock", "--check", "--offline"],
        capture=True,
        check=False,
        mutating=False,
        cwd=str(project.root),
    )
    output = f"{result.stderr}\n{result.stdout}"
    if result.ok:
        return True, "uv lock --check"
    if "needs to be updated" in output:
        return False, "uv lock --check"
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.strip() and not line.startswith(("Using ", "Resolved "))
    ]
    reason = next((line for line in lines if line.startswith("error:")), lines[0] if lines else "")
    return None, f"uv lock --check --offline could not decide: {reason[:160]}"


# --- the static comparison ---------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    """A requirement reduced to what decides equality."""

    name: str
    extras: frozenset[str]
    specifier: Any  # SpecifierSet | None
    marker: str | None
    url: str | None

    def show(self) -> str:
        text = self.name
        if self.extras:
            text += f"[{','.join(sorted(self.extras))}]"
        if self.url:
            text += f" @ {self.url}"
        elif self.specifier:
            text += str(self.specifier)
        if self.marker:
            text += f"; {self.marker}"
        return text


def _remembered_static_differences(project: Project, lock_path: Path) -> list[str]:
    """:func:`static_differences`, skipped for a pyproject.toml and uv.lock (and this
    module) that already compared equal."""
    import packaging  # its version is part of what decided

    lock_bytes = lock_path.read_bytes()
    key = key_of(
        [
            Path(__file__).read_bytes(),
            packaging.__version__.encode(),
            (project.text or "").encode(),  # the pyproject.toml project.data came from
            lock_bytes,
        ]
    )
    verdicts = Verdicts("lock-matches-pyproject", project.environ)
    if verdicts.passed(key):
        return []
    differences = static_differences(project.data or {}, lock_bytes.decode("utf-8"))
    if not differences:
        verdicts.remember(key)
    return differences


def static_differences(pyproject: Mapping[str, Any], lock_text: str) -> list[str]:
    """Human-readable differences between pyproject.toml's declarations and uv.lock."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import canonicalize_name

    raw_project = pyproject.get("project")
    project: dict[str, Any] = raw_project if isinstance(raw_project, dict) else {}
    name = project.get("name")
    if not isinstance(name, str):
        raise LockUnreadable("pyproject.toml has no [project].name")
    header, entry = _lock_entry(lock_text, canonicalize_name(name))
    if entry is None:
        return [f"uv.lock has no entry for the project {canonicalize_name(name)!r}"]
    differences: list[str] = []
    tool_uv = (pyproject.get("tool") or {}).get("uv") or {}
    sourced = {str(canonicalize_name(n)) for n in (tool_uv.get("sources") or {})}

    declared_python = project.get("requires-python")
    locked_python = header.get("requires-python")
    if isinstance(declared_python, str) and isinstance(locked_python, str):
        try:
            if not _same_python(SpecifierSet(declared_python), SpecifierSet(locked_python)):
                differences.append(
                    f"requires-python is {declared_python!r} in pyproject.toml "
                    f"but {locked_python!r} in uv.lock"
                )
        except InvalidSpecifier:
            differences.append(f"requires-python {declared_python!r} is not a valid specifier")
    elif isinstance(declared_python, str) != isinstance(locked_python, str):
        differences.append("requires-python differs between pyproject.toml and uv.lock")

    version, locked_version = project.get("version"), entry.get("version")
    if isinstance(version, str) and isinstance(locked_version, str):
        if not _same_version(version, locked_version):
            differences.append(
                f"the project's version is {version} in pyproject.toml but "
                f"{locked_version} in uv.lock"
            )

    metadata = entry.get("metadata") or {}
    extras = project.get("optional-dependencies") or {}
    python_grid = _python_grid(declared_python if isinstance(declared_python, str) else None)
    extra_names = tuple(sorted(canonicalize_name(e) for e in extras))

    declared = [_from_pep508(r, sourced) for r in project.get("dependencies") or []]
    for extra, reqs in extras.items():
        declared += [_from_pep508(r, sourced, extra=canonicalize_name(extra)) for r in reqs]
    locked = [_from_lock(item, sourced) for item in metadata.get("requires-dist") or []]
    differences += _compare("[project].dependencies", declared, locked, python_grid, extra_names)

    if "provides-extras" in metadata:
        locked_extras = {canonicalize_name(e) for e in metadata.get("provides-extras") or []}
        if locked_extras != set(extra_names):
            differences.append(
                f"optional-dependency extras are {sorted(extra_names)} in "
                f"pyproject.toml but {sorted(locked_extras)} in uv.lock"
            )

    groups = _declared_groups(pyproject, tool_uv)
    locked_groups = {
        str(canonicalize_name(g)): reqs for g, reqs in (metadata.get("requires-dev") or {}).items()
    }
    for group in sorted(set(groups) | set(locked_groups)):
        declared_group = [_from_pep508(r, sourced) for r in groups.get(group, [])]
        locked_group = [_from_lock(item, sourced) for item in locked_groups.get(group, [])]
        differences += _compare(
            f"[dependency-groups].{group}", declared_group, locked_group, python_grid, extra_names
        )
    return differences


def _lock_entry(text: str, name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The lock's top-level table and the project's own [[package]] (a local source).

    Only those two parts are parsed: a lock of hundreds of packages stays fast.
    """
    chunks = re.split(r"(?m)^\[\[package\]\]\s*$", text)
    try:
        header = tomllib.loads(chunks[0])
    except tomllib.TOMLDecodeError as exc:
        raise LockUnreadable(f"uv.lock is not valid TOML: {exc}") from None
    for chunk in chunks[1:]:
        match = re.search(r'(?m)^name\s*=\s*"([^"]+)"', chunk)
        if not match or match.group(1) != name:
            continue
        try:
            entry = tomllib.loads("[[package]]" + chunk)["package"][0]
        except tomllib.TOMLDecodeError as exc:
            raise LockUnreadable(f"uv.lock is not valid TOML: {exc}") from None
        source = entry.get("source") or {}
        if any(key in source for key in ("virtual", "editable", "directory")):
            return header, entry
    return header, None


def _declared_groups(
    pyproject: Mapping[str, Any], tool_uv: Mapping[str, Any]
) -> dict[str, list[str]]:
    from packaging.utils import canonicalize_name

    raw = pyproject.get("dependency-groups") or {}
    groups: dict[str, list[Any]] = {
        str(canonicalize_name(g)): v for g, v in raw.items() if isinstance(v, list)
    }

    def expand(group: str, seen: tuple[str, ...] = ()) -> list[str]:
        out: list[str] = []
        for item in groups.get(group, []):
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and "include-group" in item:
                included = str(canonicalize_name(str(item["include-group"])))
                if included not in seen:
                    out += expand(included, (*seen, group))
        return out

    expanded: dict[str, list[str]] = {group: expand(group) for group in groups}
    legacy = tool_uv.get("dev-dependencies")
    if isinstance(legacy, list):
        expanded["dev"] = expanded.get("dev", []) + [r for r in legacy if isinstance(r, str)]
    return expanded


def _from_pep508(text: str, sourced: set[str], extra: str | None = None) -> Req:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        req = Requirement(text)
    except InvalidRequirement:
        return Req(f"<invalid requirement {text!r}>", frozenset(), None, None, None)
    name = canonicalize_name(req.name)
    marker = str(req.marker) if req.marker else None
    if extra:
        marker = f"({marker}) and extra == '{extra}'" if marker else f"extra == '{extra}'"
    plain = name in sourced
    return Req(
        name,
        frozenset(canonicalize_name(e) for e in req.extras),
        None if plain or req.url else req.specifier or None,
        marker,
        None if plain else (req.url or None),
    )


def _from_lock(item: Mapping[str, Any], sourced: set[str]) -> Req:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import canonicalize_name

    name = canonicalize_name(str(item.get("name", "")))
    url = (
        item.get("url")
        or item.get("git")
        or item.get("path")
        or item.get("editable")
        or item.get("directory")
    )
    plain = name in sourced
    specifier = None
    if not plain and not url and item.get("specifier"):
        try:
            specifier = SpecifierSet(str(item["specifier"]))
        except InvalidSpecifier:
            specifier = None
    return Req(
        name,
        frozenset(canonicalize_name(e) for e in item.get("extras") or []),
        specifier,
        item.get("marker"),
        None if plain else (str(url) if url else None),
    )


def _compare(
    where: str,
    declared: list[Req],
    locked: list[Req],
    grid: tuple[Any, ...],
    extras: tuple[str, ...],
) -> list[str]:
    def key(req: Req) -> tuple[Any, ...]:
        return (
            req.name,
            req.extras,
            req.specifier,
            _marker_fingerprint(req.marker, grid, extras),
            _url_key(req.url),
        )

    remaining = list(locked)
    unmatched = []
    for req in declared:
        match = next((i for i, other in enumerate(remaining) if key(other) == key(req)), None)
        if match is None:
            unmatched.append(req)
        else:
            remaining.pop(match)
    out = []
    for req in unmatched:
        was = [r for r in remaining if r.name == req.name]
        if was:
            remaining.remove(was[0])
            out.append(f"{where}: {req.show()} is {was[0].show()} in uv.lock")
        else:
            out.append(f"{where}: {req.show()} is not in uv.lock")
    out += [f"{where}: {r.show()} is in uv.lock but no longer declared" for r in remaining]
    return out


def _url_key(url: str | None) -> str | None:
    if url is None:
        return None
    return "url"  # uv rewrites URLs (git+, #subdirectory, ?rev=); only their presence counts


def _same_version(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _same_python(a: Any, b: Any) -> bool:
    if a == b:
        return True
    for minor in range(0, 20):
        for micro in (0, 1, 5, 30):
            version = f"3.{minor}.{micro}"
            if a.contains(version, prereleases=True) != b.contains(version, prereleases=True):
                return False
    return True


def _python_grid(requires_python: str | None) -> tuple[tuple[str, str], ...]:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    versions = [(f"3.{minor}", f"3.{minor}.{micro}") for minor in range(6, 17) for micro in (0, 9)]
    if requires_python:
        try:
            allowed = SpecifierSet(requires_python)
        except InvalidSpecifier:
            return tuple(versions)
        kept = [v for v in versions if allowed.contains(v[1], prereleases=True)]
        return tuple(kept or versions)
    return tuple(versions)


_PLATFORMS = (
    ("linux", "Linux", "posix", ("x86_64", "aarch64")),
    ("darwin", "Darwin", "posix", ("x86_64", "arm64")),
    ("win32", "Windows", "nt", ("AMD64", "ARM64")),
)
_IMPLEMENTATIONS = (("cpython", "CPython"), ("pypy", "PyPy"))


@cache
def _marker_fingerprint(
    marker: str | None, grid: tuple[tuple[str, str], ...], extras: tuple[str, ...]
) -> Any:
    """The marker's value on a grid of environments: two markers that uv wrote differently
    but that select the same environments get the same fingerprint."""
    if marker is None:
        return None
    from packaging.markers import InvalidMarker, Marker, default_environment

    try:
        parsed = Marker(marker)
    except InvalidMarker:
        return ("invalid", marker)
    base: dict[str, str] = dict(default_environment())  # type: ignore[arg-type]
    values = []
    for python_version, full_version in grid:
        for sys_platform, system, os_name, machines in _PLATFORMS:
            for machine in machines:
                for implementation, python_implementation in _IMPLEMENTATIONS:
                    for extra in ("", *extras):
                        env = {
                            **base,
                            "python_version": python_version,
                            "python_full_version": full_version,
                            "implementation_version": full_version,
                            "sys_platform": sys_platform,
                            "platform_system": system,
                            "os_name": os_name,
                            "platform_machine": machine,
                            "implementation_name": implementation,
                            "platform_python_implementation": python_implementation,
                            "extra": extra,
                        }
                        try:
                            values.append(parsed.evaluate(env))
                        except Exception:  # noqa: BLE001 - an odd marker: compare by text
                            return ("text", marker)
    if all(values):
        return None  # always true: the same as no marker
    return tuple(values)


def read_lock_version(root: Path, name: str) -> tuple[str | None, int | None]:
    """The version uv.lock records for the project itself, and its line (None if absent)."""
    from packaging.utils import canonicalize_name

    path = root / LOCK
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None, None
    normalized = canonicalize_name(name)
    lines = text.splitlines()
    for index, raw in enumerate(lines):
        if (
            raw.strip() == f'name = "{normalized}"'
            and index
            and lines[index - 1].strip() == "[[package]]"
        ):
            for offset in range(index + 1, min(index + 6, len(lines))):
                match = re.match(r'^version\s*=\s*"([^"]+)"', lines[offset].strip())
                if match:
                    return match.group(1), offset + 1
                if lines[offset].strip().startswith("[") or not lines[offset].strip():
                    break
    return None, None
