"""Checks: one function per check, each returning a :class:`CheckResult` with a hint.

``doctor`` runs all of them (:mod:`buildlib.checks.suite`); ``build``/``push``/``release`` run
:func:`buildlib.checks.preflight.run_preflight`. This package's own module holds only the
result type and must never import a check: every check imports it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from buildlib.errors import CheckFailed

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
        return f"{self.file}:{self.line}" if self.file and self.line else self.file

    def error(self, more: str = "") -> CheckFailed:
        """This (failed) check as the error that stops a run; ``more``: added to the message."""
        return CheckFailed(self.message + more, hint=self.hint, location=self.where())

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
