"""Which checks run before build, push and release."""

from __future__ import annotations

from buildlib.checks import CheckResult
from buildlib.checks.files import check_line_endings, check_lock
from buildlib.config import Config
from buildlib.plan import ImageBuild


def run_preflight(config: Config, builds: tuple[ImageBuild, ...],
                  purpose: str) -> list[CheckResult]:
    dockerfiles = sorted({b.dockerfile for b in builds})
    results = [check_line_endings(config.root, dockerfiles)]
    results.append(check_lock(config.root))
    return results
