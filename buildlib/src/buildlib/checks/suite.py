"""Every doctor check, in report order, run concurrently in a few independent lanes.

The lanes overlap the slow parts (check-jsonschema, the docker SDK, uv, git); the report
order must never depend on which lane finishes first, and a check that raises must never
hide the others.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from buildlib.checks import CheckResult
from buildlib.checks.commits import check_conventional_commits, check_release_preview
from buildlib.checks.engine import (
    check_annotations,
    check_attestations,
    check_docker_builder,
    check_docker_disk,
    check_docker_engine,
)
from buildlib.checks.files import check_line_endings
from buildlib.checks.lock import check_lock_fresh, check_lock_present
from buildlib.checks.project import Project
from buildlib.checks.publishing import (
    check_branch,
    check_credentials,
    check_registry_auth,
    check_release_tag,
)
from buildlib.checks.pyproject import (
    check_buildlib_config,
    check_pyproject_toml,
    check_pyproject_version,
)
from buildlib.checks.release_please import (
    check_release_please_config,
    check_release_please_manifest,
    check_version_agreement,
)
from buildlib.checks.secrets import check_secret_build_args
from buildlib.checks.workflows import (
    check_actionlint,
    check_pinned_actions,
    check_workflows,
    with_actionlint,
)
from buildlib.console import one_line

FOR_CHOICES = (None, "push", "release")


@dataclass(frozen=True)
class Check:
    id: str
    lane: str
    run: Callable[..., CheckResult | list[CheckResult]]

    @property
    def engine(self) -> bool:
        """Whether it talks to the Docker engine (its lanes are the engine's)."""
        return self.lane in ("engine", "builder")


def catalog(*, fix: bool = False, for_: str | None = None) -> list[Check]:
    """The checks, in the order doctor reports them (docs/doctor.md says what each does)."""
    table: list[tuple[str, str, Callable[..., CheckResult | list[CheckResult]]]] = [
        ("pyproject-toml", "main", check_pyproject_toml),
        ("pyproject-version", "main", check_pyproject_version),
        ("buildlib-config", "main", check_buildlib_config),
        ("line-endings", "files", lambda p: check_line_endings(p, fix=fix)),
        ("secret-build-args", "files", check_secret_build_args),
        ("uv-lock", "lock", check_lock_present),
        # --for asks uv online what it cannot decide from its cache
        ("uv-lock-fresh", "lock", lambda p: check_lock_fresh(p, online=for_ is not None)),
        ("docker-engine", "engine", check_docker_engine),
        ("docker-builder", "builder", check_docker_builder),
        ("attestations", "builder", check_attestations),
        ("annotations", "builder", check_annotations),
        ("docker-disk", "engine", check_docker_disk),
        ("credentials", "publish", lambda p: check_credentials(p, for_)),
        ("registry-auth", "publish", lambda p: check_registry_auth(p, for_)),
        ("git-branch", "git", lambda p: check_branch(p, for_)),
        ("release-tag", "git", lambda p: check_release_tag(p, for_)),
        ("conventional-commits", "git", check_conventional_commits),
        ("release-preview", "git", check_release_preview),
        ("release-please-config", "files", check_release_please_config),
        ("release-please-manifest", "files", check_release_please_manifest),
        ("version-agreement", "git", check_version_agreement),
        ("workflows", "workflows", _workflows),
    ]
    return [Check(*row) for row in table]


def _workflows(project: Project) -> list[CheckResult]:
    schema = with_actionlint(check_workflows(project), check_actionlint(project))
    return [*schema, *check_pinned_actions(project)]


def run_checks(
    project: Project, *, fix: bool = False, for_: str | None = None, engine: bool = True
) -> list[CheckResult]:
    """Run every check; ``engine=False`` skips the ones that talk to Docker (for tests)."""
    checks = catalog(fix=fix, for_=for_)
    lanes: dict[str, list[Check]] = {}
    for check in checks:
        lanes.setdefault(check.lane, []).append(check)
    outcome: dict[str, list[CheckResult]] = {}

    def run_lane(lane: list[Check]) -> None:
        for check in lane:
            off = check.engine and not engine
            skipped = [CheckResult(check.id, "skipped", "engine checks turned off")]
            outcome[check.id] = skipped if off else _run_one(check, project)

    # a thread a lane, so the slow ones overlap; "main" runs in this thread meanwhile
    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        futures = [pool.submit(run_lane, lane) for name, lane in lanes.items() if name != "main"]
        run_lane(lanes.get("main", []))
        for future in futures:
            future.result()
    return [result for check in checks for result in outcome[check.id]]


def _run_one(check: Check, project: Project) -> list[CheckResult]:
    try:
        found = check.run(project)
    except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
        first = str(exc).splitlines()[0] if str(exc) else ""
        return [
            CheckResult(
                check.id,
                "fail",
                f"the check itself failed: {type(exc).__name__}: {first}",
                hint="a bug in buildlib: run with the traceback "
                "(python -m buildlib.doctor) and report it",
            )
        ]
    # messages and hints are one line each, whatever a tool printed
    return [
        replace(r, message=one_line(r.message), hint=one_line(r.hint) if r.hint else r.hint)
        for r in (found if isinstance(found, list) else [found])
    ]
