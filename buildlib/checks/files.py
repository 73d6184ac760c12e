"""Checks on files in the repository: line endings, uv.lock presence."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from buildlib.checks import CheckResult


def first_bad_line_ending(path: Path) -> tuple[int, str] | None:
    """(line number, "CRLF" | "CR") of the first non-LF line ending, or None."""
    data = path.read_bytes()
    index = data.find(b"\r")
    if index < 0:
        return None
    line = data.count(b"\n", 0, index) + 1
    return line, "CRLF" if data[index + 1:index + 2] == b"\n" else "CR"


def check_line_endings(root: Path, files: Iterable[Path]) -> CheckResult:
    for path in files:
        found = first_bad_line_ending(path)
        if found:
            number, kind = found
            rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
            return CheckResult(
                "line-endings", "fail", f"{rel} has {kind} line endings (first at line {number})",
                file=rel, line=number, hint="invoke doctor --fix (rewrites them to LF)",
            )
    return CheckResult("line-endings", "ok", "all checked files use LF line endings")


def check_lock(root: Path) -> CheckResult:
    if not (root / "uv.lock").is_file():
        return CheckResult("uv-lock", "fail", "uv.lock is missing (the images install from it)",
                           file="uv.lock", hint="uv lock")
    return CheckResult("uv-lock", "ok", "uv.lock exists", file="uv.lock")
