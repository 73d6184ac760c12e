"""uv.lock: it exists, git keeps it, and it matches pyproject.toml.

Freshness is uv's own verdict, ``uv lock --check --offline`` (docs/doctor.md, "uv.lock
freshness"). This module must never re-derive uv's resolution (uv alone decides what "matches"
means), nor write uv.lock: the fix is the adopter's ``uv lock``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from buildlib.checks import CheckResult
from buildlib.checks.project import Project
from buildlib.repofiles import mentions
from buildlib.runner import ask, find_program

LOCK = "uv.lock"


def check_lock_present(project: Project) -> CheckResult:
    result = partial(CheckResult, "uv-lock", file=LOCK)
    if not (project.root / LOCK).is_file():
        if not mentions((project.root / i.dockerfile for i in project.settings.images), LOCK):
            # A repository that does not build its images from uv.lock needs none.
            message = "no uv.lock, and no configured Dockerfile names one"
            return CheckResult("uv-lock", "skipped", message)
        message = "uv.lock is missing (the images install from it)"
        hint = "uv lock (then commit uv.lock)" if _committed_here(project) else "uv lock"
        return result("fail", message, hint=hint)
    if not project.is_git or project.git.is_tracked(LOCK):
        return result("ok", "uv.lock exists" + (" and is committed" if project.is_git else ""))
    source = project.git.ignore_source(LOCK)
    if source is None:
        message = "uv.lock is not committed: a fresh clone, as in CI, has none"
        return result("warn", message, hint="git add uv.lock")
    ignore_file, line = source
    pinned = ((project.data or {}).get("tool", {}).get("uv", {}) or {}).get("exclude-newer")
    if pinned:
        return result(
            "ok",
            f"uv.lock is generated locally, not committed ({ignore_file}:{line}); "
            f"resolution is pinned by [tool.uv] exclude-newer = {pinned!r}, and `uv run` "
            "or `uv lock` recreate it",
        )
    return result(
        "fail",
        f"uv.lock is ignored by git ({ignore_file}:{line}) and resolution is not pinned: "
        "each fresh clone, as in CI, resolves its own versions",
        file=ignore_file,
        line=line or None,
        hint="delete that line, then `git add uv.lock`; "
        "or pin resolution with [tool.uv] exclude-newer",
    )


def check_lock_fresh(project: Project, *, online: bool = False) -> CheckResult:
    if not (project.root / LOCK).is_file():
        return CheckResult("uv-lock-fresh", "skipped", "no uv.lock (see uv-lock)")
    result = partial(CheckResult, "uv-lock-fresh", file=LOCK)
    uv = find_program("uv")
    if uv is None:
        message = "uv is not installed, so uv.lock was not compared with pyproject.toml"
        return result("skipped", message, hint="install uv, then `uv lock --check`")
    offline = ["--offline"]
    answer = run_uv(project, [uv, "lock", "--check", *offline])
    if not answer.ok and _STALE not in answer.output and online:
        offline = []  # what uv could not decide from its cache alone
        answer = run_uv(project, [uv, "lock", "--check"])
    if answer.ok:
        return result("ok", "uv.lock matches pyproject.toml (uv lock --check)")
    if _STALE in answer.output:
        message = f"uv.lock is out of date (uv lock --check): {_changes(project, uv, offline)}"
    elif offline and any(marker in answer.output for marker in _UNRESOLVED_OFFLINE):
        # A lock that matches is checked without resolving; uv resolved, so it does not match.
        message = (
            "uv.lock is out of date: it was not made from pyproject.toml's current "
            "requirements (uv lock --check --offline; what changed needs packages that are "
            "not in uv's cache to say)"
        )
    else:
        message = f"uv lock --check could not check uv.lock: {_reason(answer.output)}"
    upgrade = "(or `uv lock --upgrade` to also move every pin to its newest allowed version)"
    return result("fail", message, hint=f"uv lock {upgrade}{then_commit(project)}")


_STALE = "needs to be updated"
_UNRESOLVED_OFFLINE = ("No solution found", "not found in the cache", "network was disabled")


@dataclass(frozen=True)
class UvResult:
    ok: bool
    output: str  # stderr, then stdout


def run_uv(project: Project, argv: list[str]) -> UvResult:
    """One uv command in the repository: the lock checks' only process (their tests' seam)."""
    result = ask(argv, cwd=project.root)
    return UvResult(result.ok, f"{result.stderr}\n{result.stdout}")


def _changes(project: Project, uv: str, offline: list[str]) -> str:
    """What ``uv lock`` would change, as uv says it (``Add x v1``, ``Update y v1 -> v2``)."""
    result = run_uv(project, [uv, "lock", "--dry-run", *offline])
    lines = [
        line.strip()
        for line in result.output.splitlines()
        if re.match(r"\s*(Add|Remove|Update|Downgrade|Upgrade)\b", line)
    ]
    if not result.ok or not lines:
        return "pyproject.toml's requirements changed since `uv lock` last ran"
    return "; ".join(lines[:4]) + (f"; and {len(lines) - 4} more" if len(lines) > 4 else "")


def _reason(output: str) -> str:
    """uv's cause, else its error line; a TOML parse error's words come after the quoted
    lines (a missing ``project.version``, an unclosed string)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    found = next((line for p in ("cause:", "error:") for line in lines if line.startswith(p)), None)
    last = lines[-1] if lines else ""
    reason = (found or last or "no output").split(":", 1)[-1].strip()
    if "TOML parse error" in reason and last != found and not re.match(r"^\d*\s*\|", last):
        reason = f"{reason}: {last}"
    return reason[:300]


def then_commit(project: Project) -> str:
    return ", then commit uv.lock" if _committed_here(project) else ""


def _committed_here(project: Project) -> bool:
    """Whether uv.lock belongs in commits here: not where git ignores it."""
    return not project.is_git or project.git.ignore_source(LOCK) is None


def read_lock_version(root: Path, name: str) -> tuple[str | None, int | None]:
    """The version uv.lock records for the project itself, and its line (None if absent)."""
    try:
        text = (root / LOCK).read_text(encoding="utf-8")
    except OSError:
        return None, None
    # packaging.utils imports packaging.tags (platform probes) at import: only here, where a
    # release or doctor needs it, not in every build's pre-flight
    from packaging.utils import canonicalize_name

    # the project's [[package]] table: its name, then (after at most a few keys) its version
    name = re.escape(canonicalize_name(name))
    table = rf'^\[\[package\]\]\nname = "{name}"\n(?:[^\[\n].*\n){{0,4}}?version = "([^"]+)"'
    match = re.search(table, text, re.MULTILINE)
    return (match[1], text.count("\n", 0, match.start(1)) + 1) if match else (None, None)
