"""Every doctor check, in report order, run concurrently in a few independent lanes.

The lanes overlap the slow parts (check-jsonschema, the docker SDK, uv, git); the report
order must never depend on which lane finishes first, and a check that raises must never
hide the others.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from buildlib.checks import CheckResult, commits, files, lock, publishing, pyproject, secrets
from buildlib.checks import engine as docker
from buildlib.checks import release_please as rp
from buildlib.checks import workflows as wf
from buildlib.checks.project import Project, exception_line
from buildlib.console import one_line

FOR_CHOICES = (None, "push", "release")


@dataclass(frozen=True)
class Check:
    id: str
    lane: str
    run: Callable[..., CheckResult | list[CheckResult]]


def catalog(*, fix: bool = False, for_: str | None = None) -> list[Check]:
    """The checks, in the order doctor reports them (docs/doctor.md says what each does)."""
    return [
        Check("pyproject-toml", "main", pyproject.check_pyproject_toml),
        Check("pyproject-version", "main", pyproject.check_pyproject_version),
        Check("buildlib-config", "main", pyproject.check_buildlib_config),
        Check("line-endings", "files", lambda p: files.check_line_endings(p, fix=fix)),
        Check("secret-build-args", "files", secrets.check_secret_build_args),
        Check("uv-lock", "lock", lock.check_lock_present),
        # --for asks uv online what it cannot decide from its cache
        Check("uv-lock-fresh", "lock", lambda p: lock.check_lock_fresh(p, online=for_ is not None)),
        Check("docker-engine", "engine", docker.check_docker_engine),
        Check("docker-builder", "builder", lambda p: docker.check_docker_builder(p, for_)),
        Check("attestations", "builder", docker.check_attestations),
        Check("annotations", "builder", docker.check_annotations),
        Check("docker-disk", "engine", docker.check_docker_disk),
        Check("credentials", "publish", lambda p: publishing.check_credentials(p, for_)),
        Check("registry-auth", "publish", lambda p: publishing.check_registry_auth(p, for_)),
        Check("git-branch", "git", lambda p: publishing.check_branch(p, for_)),
        Check("release-tag", "git", lambda p: publishing.check_release_tag(p, for_)),
        Check("conventional-commits", "git", commits.check_conventional_commits),
        Check("release-preview", "git", commits.check_release_preview),
        Check("release-please-config", "files", rp.check_release_please_config),
        Check("release-please-manifest", "files", rp.check_release_please_manifest),
        Check("version-agreement", "git", rp.check_version_agreement),
        Check("workflows", "workflows", _workflows),
    ]


def _workflows(p: Project) -> list[CheckResult]:
    return wf.one_verdict(wf.check_workflows(p), wf.check_actionlint(p), wf.check_pinned_actions(p))


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
            off = not engine and check.lane in ("engine", "builder")  # it talks to Docker
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
        message = f"the check itself failed: {exception_line(exc)}"
        hint = "a bug in buildlib: run with the traceback (python -m buildlib.doctor) and report it"
        return [CheckResult(check.id, "fail", message, hint=hint)]
    # messages and hints are one line each, whatever a tool printed
    return [
        replace(r, message=one_line(r.message), hint=one_line(r.hint) if r.hint else r.hint)
        for r in (found if isinstance(found, list) else [found])
    ]
