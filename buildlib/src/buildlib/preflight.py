"""The subset of ``doctor`` checks that ``build``, ``push`` and ``release`` run first, so a
stale lock or a CRLF Dockerfile fails before the build starts, not at its end. It never
fixes anything: ``invoke doctor --fix`` does, when asked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from buildlib.checks import CheckResult
from buildlib.checks.preflight import run_preflight
from buildlib.config import Config
from buildlib.errors import CheckFailed
from buildlib.plan import ImageBuild

Purpose = Literal["build", "push", "release"]


def preflight(
    config: Config,
    builds: Iterable[ImageBuild],
    purpose: Purpose,
    *,
    lock_fresh: CheckResult | None = None,
) -> None:
    """``lock_fresh``: the uv-lock-fresh result when the caller ran it already."""
    results = run_preflight(config, tuple(builds), purpose, lock_fresh=lock_fresh)
    failed = [r for r in results if r.status == "fail"]
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more: `invoke doctor`)" if len(failed) > 1 else ""
        raise CheckFailed(first.message + more, hint=first.hint, location=first.where())
