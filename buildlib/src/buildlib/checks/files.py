"""Line endings of the files the images and CI execute: LF only, and no UTF-8 BOM.

A CRLF breaks a Dockerfile's ``RUN`` lines and heredocs, and makes a script's shebang
``bash\\r``; a byte order mark hides the shebang from the kernel. Which files: docs/doctor.md,
"Line endings: which files". Only ``--fix`` writes, and never a byte but line endings and BOM.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterable
from pathlib import Path

from buildlib import dockerfile
from buildlib.checks import CheckResult
from buildlib.checks.project import Project
from buildlib.git import Git

CHECK_ID = "line-endings"
FIX_HINT = "invoke doctor --fix (rewrites them to LF, nothing else)"
BOM_HINT = (
    "invoke doctor --fix (removes the BOM, nothing else), or save the file as UTF-8 without a BOM"
)
BOM = codecs.BOM_UTF8
_SKIP_DIRS = set(
    ".git .venv venv node_modules __pycache__ .mypy_cache .ruff_cache .pytest_cache .tox .nox "
    "build dist .eggs".split()
)
_SCRIPT_SUFFIXES = (".sh", ".bash")
# .github/workflows/*.yml and .github/**/action.yml (either .yaml)
_GITHUB_FILE = re.compile(r"\.github/(workflows/.*|(.*/)?action)\.ya?ml")
_ENDINGS = {"CRLF": "CRLF line endings", "CR": "a lone CR line ending"}


def _head(path: Path) -> bytes:
    """The first bytes of a file: enough for a UTF-8 BOM and a ``#!`` after it."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(BOM) + 2)
    except OSError:
        return b""


def first_bad_line_ending(path: Path) -> tuple[int, str] | None:
    """(line number, "CRLF" | "CR") of the first non-LF line ending, or None."""
    data = path.read_bytes()
    index = data.find(b"\r")
    if index < 0:
        return None
    line = data.count(b"\n", 0, index) + 1
    return line, "CRLF" if data[index + 1 : index + 2] == b"\n" else "CR"


def to_lf(path: Path) -> None:
    """Rewrite ``path`` in place (mode kept) with LF line endings and no UTF-8 BOM."""
    data = path.read_bytes()
    fixed = data[len(BOM) :] if data.startswith(BOM) else data
    with open(path, "r+b") as handle:
        handle.write(fixed.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
        handle.truncate()


def line_ending_results(
    root: Path, files: Iterable[str], *, fix: bool = False
) -> list[CheckResult]:
    """One result per file with a CRLF, a lone CR (its first one) or a UTF-8 BOM, else one
    ``ok``. With ``fix``, each such file is rewritten and reported ``ok`` ("rewrote ...")."""
    results, checked = [], 0
    for rel in files:
        path = root / rel
        if not path.is_file():
            continue
        checked += 1
        found = first_bad_line_ending(path)
        if _head(path).startswith(BOM):
            results.append(_bom_result(path, rel, found, fix=fix))
        elif found:
            results.append(_line_ending_result(path, rel, *found, fix=fix))
    return results or [CheckResult(CHECK_ID, "ok", f"{checked} file(s) checked, all LF")]


def _line_ending_result(path: Path, rel: str, number: int, kind: str, *, fix: bool) -> CheckResult:
    if fix:
        to_lf(path)
        message = f"rewrote {rel} to LF (it had {_ENDINGS[kind]}, first at line {number})"
        return CheckResult(CHECK_ID, "ok", message, rel)
    hint = FIX_HINT
    # unless git's attributes already keep the file LF (eol=lf): its CRLF then came from an
    # editor, and the line to add to .gitattributes is there
    if Git(path.parent).attribute("eol", path.name) != "lf":
        hint += f"; to keep them LF, add `{_attribute_pattern(rel)} text eol=lf` to .gitattributes"
    # the first one's line is the location's, said once
    return CheckResult(CHECK_ID, "fail", f"{rel} has {_ENDINGS[kind]}", rel, number, hint)


def _bom_result(path: Path, rel: str, found: tuple[int, str] | None, *, fix: bool) -> CheckResult:
    number, kind = found or (1, "")
    also = f" and {_ENDINGS[kind]}" if found else ""
    also += f" from line {number}" if number > 1 else ""
    what = f"a UTF-8 byte order mark (BOM) at its start{also}"
    if fix:
        to_lf(path)
        return CheckResult(CHECK_ID, "ok", f"rewrote {rel} (it had {what})", file=rel)
    # docker's Dockerfile parser skips a BOM; a shell, the kernel (shebang) and most
    # linters do not
    harmless = not found and _is_dockerfile(rel)
    message = f"{rel} has {what}" + (" (docker skips it; other tools do not)" if harmless else "")
    return CheckResult(CHECK_ID, "warn" if harmless else "fail", message, rel, 1, BOM_HINT)


def _is_dockerfile(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1].lower()
    return name.startswith("dockerfile") or name.endswith(".dockerfile")


def check_line_endings(project: Project, *, fix: bool = False) -> list[CheckResult]:
    return line_ending_results(project.root, line_ending_candidates(project), fix=fix)


def line_ending_candidates(project: Project) -> list[str]:
    """Relative paths of the files whose line endings matter, sorted."""
    listed = project.git.files() if project.is_git else None
    files = listed if listed is not None else _walk(project.root)
    chosen: set[str] = set(project.dockerfiles())
    globs = [_glob_regex(pattern) for pattern in project.settings.line_ending_globs]
    executed = _executed_names(project)
    for rel in files:
        name = rel.rsplit("/", 1)[-1]
        lower = name.lower()
        if (
            _is_dockerfile(rel)
            or lower.endswith(_SCRIPT_SUFFIXES)
            or "entrypoint" in lower
            or name in executed
            or _GITHUB_FILE.fullmatch(rel)
            or any(regex.match(rel) for regex in globs)
            or _head(project.root / rel).removeprefix(BOM).startswith(b"#!")
        ):
            chosen.add(rel)
    return sorted(chosen)


def _executed_names(project: Project) -> set[str]:
    """Basenames of the files the Dockerfiles' ENTRYPOINT/CMD name (``/app/start.sh``)."""
    names = set()
    for rel in project.dockerfiles():
        try:
            instructions = dockerfile.read(project.root / rel)
        except OSError:
            continue
        commands = " ".join(i.arguments for i in instructions if i.keyword in ("ENTRYPOINT", "CMD"))
        for token in re.findall(r"[\w./-]+", commands):
            base = token.rstrip("/").rsplit("/", 1)[-1]
            if "." in base or "/" in token:
                names.add(base)
    return names


def _walk(root: Path) -> list[str]:
    found: list[str] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [
            d
            for d in dirs
            if d not in _SKIP_DIRS and not os.path.exists(os.path.join(directory, d, "pyvenv.cfg"))
        ]
        found += (Path(directory, name).relative_to(root).as_posix() for name in files)
    return sorted(found)


_GLOB = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob relative to the root: ``**`` spans folders; without ``/`` it matches anywhere."""
    pattern = pattern.strip().removeprefix("./")
    pattern = pattern if "/" in pattern else "**/" + pattern
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
    return re.compile("".join(_GLOB.get(part, re.escape(part)) for part in parts) + r"\Z")


def _attribute_pattern(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if name.lower().startswith("dockerfile"):
        return "Dockerfile*"
    if "." in name:
        return "*" + name[name.rindex(".") :]
    return rel
