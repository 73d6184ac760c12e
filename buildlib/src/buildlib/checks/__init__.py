"""Checks: one function per check, each returning a :class:`CheckResult` with a hint.

``doctor`` runs all of them; ``build``/``push``/``release`` run :func:`run_preflight`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail", "skipped"]


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: Status
    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def where(self) -> str | None:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "status": self.status,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "hint": self.hint,
        }


from buildlib.checks.preflight import run_preflight  # noqa: E402

__all__ = ["CheckResult", "Status", "run_preflight"]
