"""Remembered "this passed" verdicts of slow checks, so an unchanged input is not checked again.

A verdict is a SHA-256 key of everything the check read (file contents, the checking code or
tool); a list of recent keys per check lives in ``$XDG_CACHE_HOME/buildlib/NAME``
(``~/.cache/buildlib/NAME``). Only passes are remembered: a failure is always checked again.
``BUILDLIB_NO_CACHE=1`` turns it off. Nothing secret is read by these checks or written here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from buildlib.options import verdict_cache

KEPT = 200  # keys per check


def key_of(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


class Verdicts:
    def __init__(self, name: str, environ: Mapping[str, str]) -> None:
        directory = verdict_cache(environ)
        self.path: Path | None = None if directory is None else Path(directory) / name

    def passed(self, key: str) -> bool:
        try:
            return self.path is not None and key in self.path.read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError):
            return False

    def remember(self, key: str) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            known = self.path.read_text(encoding="ascii").split() if self.path.exists() else []
            known = [k for k in known if k != key][-(KEPT - 1) :] + [key]
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text("\n".join(known) + "\n", encoding="ascii")
            os.replace(tmp, self.path)
        except (OSError, UnicodeDecodeError):
            pass
