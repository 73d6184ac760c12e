"""Every doctor check, in report order, run concurrently in a few independent lanes.

The lanes overlap the slow parts (check-jsonschema, the docker SDK, uv, git) so the offline
checks finish within doctor's target (docs/performance.md); the report order never
depends on the timing.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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
    summary: str
    lane: str
    run: Callable[..., CheckResult | list[CheckResult]]
    engine: bool = False


def catalog(*, fix: bool = False, for_: str | None = None) -> list[Check]:
    """The checks, in the order doctor reports them."""
    return [
        Check(
            "pyproject-toml",
            "pyproject.toml parses (TOML errors with line:column)",
            "main",
            check_pyproject_toml,
        ),
        Check(
            "pyproject-version",
            "[project].version is a (normalized) PEP 440 version",
            "main",
            check_pyproject_version,
        ),
        Check("buildlib-config", "[tool.buildlib] validates", "main", check_buildlib_config),
        Check(
            "line-endings",
            "Dockerfiles, scripts, entrypoints, workflows are LF",
            "files",
            lambda p: check_line_endings(p, fix=fix),
        ),
        Check(
            "secret-build-args",
            "no build arg or ARG is named like a secret",
            "files",
            check_secret_build_args,
        ),
        Check("uv-lock", "uv.lock exists and git keeps it", "lock", check_lock_present),
        Check(
            "uv-lock-fresh",
            "uv.lock matches pyproject.toml",
            "lock",
            lambda p: check_lock_fresh(p, online=for_ is not None),
        ),
        Check(
            "docker-engine", "the Docker engine answers", "engine", check_docker_engine, engine=True
        ),
        Check(
            "docker-builder",
            "buildx / built-in BuildKit / legacy builder",
            "builder",
            check_docker_builder,
            engine=True,
        ),
        Check(
            "attestations",
            "pushes and releases get provenance and an SBOM (buildx, not the docker driver)",
            "builder",
            check_attestations,
            engine=True,
        ),
        Check(
            "annotations",
            "pushes write OCI annotations (buildx 0.12 or later)",
            "builder",
            check_annotations,
            engine=True,
        ),
        Check(
            "docker-disk",
            "free disk where the engine keeps images",
            "engine",
            check_docker_disk,
            engine=True,
        ),
        Check(
            "credentials",
            "registry credentials present (never shown)",
            "publish",
            lambda p: check_credentials(p, for_),
        ),
        Check(
            "registry-auth",
            "the registry accepts them (--for only: network)",
            "publish",
            lambda p: check_registry_auth(p, for_),
        ),
        Check(
            "git-branch", "pushes of :main come from main", "git", lambda p: check_branch(p, for_)
        ),
        Check(
            "release-tag",
            "the release tag exists and points at HEAD",
            "git",
            lambda p: check_release_tag(p, for_),
        ),
        Check(
            "conventional-commits",
            "commits since the last release are conventional",
            "git",
            check_conventional_commits,
        ),
        Check("release-preview", "what release-please would propose", "git", check_release_preview),
        Check(
            "release-please-config",
            "release-please-config.json is valid",
            "files",
            check_release_please_config,
        ),
        Check(
            "release-please-manifest",
            ".release-please-manifest.json is valid",
            "files",
            check_release_please_manifest,
        ),
        Check(
            "version-agreement",
            "one version: pyproject, manifest, uv.lock, tag",
            "git",
            check_version_agreement,
        ),
        Check(
            "workflows",
            ".github/workflows/*.yml validate (check-jsonschema, actionlint); actions "
            "beside secrets are pinned to a commit",
            "workflows",
            lambda p: [
                *with_actionlint(check_workflows(p), check_actionlint(p)),
                *check_pinned_actions(p),
            ],
        ),
    ]


def run_checks(
    project: Project, *, fix: bool = False, for_: str | None = None, engine: bool = True
) -> list[CheckResult]:
    """Run every check; ``engine=False`` skips the three that talk to Docker (for tests)."""
    checks = catalog(fix=fix, for_=for_)
    lanes: dict[str, list[Check]] = {}
    for check in checks:
        lanes.setdefault(check.lane, []).append(check)
    outcome: dict[str, list[CheckResult]] = {}

    def run_lane(lane: list[Check]) -> None:
        for check in lane:
            if check.engine and not engine:
                outcome[check.id] = [CheckResult(check.id, "skipped", "engine checks turned off")]
                continue
            outcome[check.id] = _run_one(check, project)

    order = ["workflows", "engine", "builder", "lock", "git", "publish", "files"]
    others = [lane for name, lane in lanes.items() if name not in order and name != "main"]
    with ThreadPoolExecutor(max_workers=len(order)) as pool:
        futures = [pool.submit(run_lane, lanes[name]) for name in order if name in lanes]
        futures += [pool.submit(run_lane, lane) for lane in others]
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
    results = found if isinstance(found, list) else [found]
    return [_one_line(result) for result in results]


def _one_line(result: CheckResult) -> CheckResult:
    """Messages and hints are one line each, whatever a tool printed."""
    message = one_line(result.message)
    hint = one_line(result.hint) if result.hint else result.hint
    if message == result.message and hint == result.hint:
        return result
    return CheckResult(result.id, result.status, message, result.file, result.line, hint)
