"""A repository's own files read as plain text: its GitHub workflows, and whether a file
names a word. Both the release path and doctor's checks read them, so they live outside
:mod:`buildlib.checks`; nothing here parses a file or judges what it says.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path


def workflow_paths(root: Path) -> list[Path]:
    folder = root / ".github" / "workflows"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))


def mentions(paths: Iterable[Path], word: str) -> bool:
    """Whether any of the files (of those that can be read) contains ``word``."""
    for path in paths:
        with contextlib.suppress(OSError):
            if word in path.read_text(encoding="utf-8", errors="replace"):
                return True
    return False
