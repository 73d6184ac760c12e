"""The checks that build, push and release run first (docs/doctor.md, "Before build, push and
release"): the fast, offline subset of ``doctor``, so a stale lock or a CRLF Dockerfile fails
before the build starts, not at its end, and github-files, which only publishing needs. It
never fixes anything and never needs the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from buildlib.checks import CheckResult
from buildlib.checks.files import line_ending_results
from buildlib.checks.lock import LOCK, check_lock_fresh
from buildlib.checks.project import Project
from buildlib.checks.publishing import check_branch, check_credentials, check_release_tag
from buildlib.checks.release_please import check_version_agreement
from buildlib.checks.secrets import check_secret_build_args
from buildlib.options import github_files

if TYPE_CHECKING:
    from buildlib.config import Config
    from buildlib.plan import ImageBuild

Purpose = Literal["build", "push", "release"]


def preflight(
    config: Config, builds: tuple[ImageBuild, ...], purpose: Purpose, **options: Any
) -> None:
    """Raise :class:`CheckFailed` for the first failed check of :func:`run_preflight`, which
    takes the same arguments."""
    failed = [r for r in run_preflight(config, builds, purpose, **options) if r.status == "fail"]
    if failed:
        more = f" (and {len(failed) - 1} more: `invoke doctor`)" if len(failed) > 1 else ""
        raise failed[0].error(more)


def run_preflight(
    config: Config,
    builds: tuple[ImageBuild, ...],
    purpose: Purpose,
    *,
    registry: str | None = None,
    lock_fresh: Callable[[], CheckResult] | None = None,
    tags: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> list[CheckResult]:
    """``registry``: the run's, as its options resolved it (a push's credentials are those
    for it); ``lock_fresh``: gives the uv-lock-fresh result the caller started (``build`` starts uv
    beside its docker probes); ``tags``: every tag a push writes; ``environ``: the
    environment the run uses (its credentials), the process's when ``None``."""
    project = Project.load(config.root, environ=environ, registry=registry, config=config)
    dockerfiles = sorted({project.rel(b.dockerfile) for b in builds})
    results = line_ending_results(project.root, dockerfiles)
    # only images that install from uv.lock need it (bytes: no decoding to go wrong)
    uses_lock = any(LOCK.encode() in b.dockerfile.read_bytes() for b in builds)
    if uses_lock and not (project.root / LOCK).is_file():
        missing = "uv.lock is missing (the images install from it)"
        results.append(CheckResult("uv-lock", "fail", missing, file=LOCK, hint="uv lock"))
    elif uses_lock:
        results.append(lock_fresh() if lock_fresh else check_lock_fresh(project))
    results += check_secret_build_args(project, [b.image for b in builds])
    if purpose in ("push", "release"):
        results.append(check_credentials(project, for_=purpose))
    if purpose == "push":
        main, main_tag = project.settings.main_branch, project.settings.main_tag
        # what the registry gets: a push builds under a local name of its own run and pushes
        # it as ``published``, then adds its other tags
        if main_tag in {b.published.rsplit(":", 1)[-1] for b in builds} | set(tags):
            branch = check_branch(project, for_="push")
            if not project.is_git:
                # doctor may skip it; a push may not: outside git neither the branch nor
                # the files the image ships are known (its revision label says "unknown")
                branch = CheckResult(
                    "git-branch",
                    "fail",
                    f"not a git repository: :{main_tag} images are pushed from a clone on {main}",
                    hint=f"run it in a clone on {main} (or push another tag: "
                    "invoke push --tag NAME)",
                )
            results.append(branch)
    if purpose == "release":
        results.append(check_release_tag(project, for_="release"))
        results.append(check_version_agreement(project))
    if purpose in ("push", "release"):  # last: what they write once the registry has changed
        results.append(check_github_files())
    return results


def check_github_files() -> CheckResult:
    """$GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY, where set, can be written: push and release
    write them last (report.py), once the registry has changed, so they are tried first."""
    output, summary = github_files()
    for name, path in (("GITHUB_OUTPUT", output), ("GITHUB_STEP_SUMMARY", summary)):
        try:
            if path:
                open(path, "ab").close()  # only to try it
        except OSError as error:
            message = f"${name} ({path}) cannot be written: {error.strerror or error}"
            hint = f"point {name} at a file this user can write, or unset it"
            return CheckResult("github-files", "fail", message, hint=hint)
    written = "$GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY can be written where set"
    return CheckResult("github-files", "ok", written)
