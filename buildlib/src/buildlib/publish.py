"""``push`` and ``release``: build every image, then publish in an order that protects users
(README, "Publishing"): a release pushes and verifies every full version tag before it moves
a floating tag (``X.Y``, ``X``, ``latest``), so a failure leaves every floating tag untouched.

This module only orders the steps: releaseplan decides, existing reads the registry,
pushing writes and verifies, floating moves the floating tags, report tells. It must never
write to the registry before the decisions that could refuse the release are made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from buildlib import attest, console, existing, pushing, release_please, releaseplan, tags
from buildlib import config as config_module
from buildlib.build import execute
from buildlib.checks.preflight import Purpose, preflight, run_preflight
from buildlib.config import Config, ImageSpec
from buildlib.docker import detect
from buildlib.errors import BuildlibError, UsageError
from buildlib.flags import PushFlags, ReleaseFlags, several
from buildlib.floating import move_floating
from buildlib.git import Git
from buildlib.options import BuildOptions, environment, options_for, resolve_tag, secret_values
from buildlib.plan import BuildPlan, make_plan
from buildlib.pushing import Access, resolve_access
from buildlib.releaseplan import ImagePublication, Published
from buildlib.report import print_plan, report
from buildlib.runner import Runner
from buildlib.versions import docker_tag_for


@dataclass(frozen=True)
class _Job:
    """What push and release both start from: options, images, access, runner, environment."""

    config: Config
    options: BuildOptions
    selected: tuple[ImageSpec, ...]
    access: Access
    runner: Runner
    environ: Mapping[str, str]

    def plan(self, provenance: attest.Mode, version: str | None = None) -> BuildPlan:
        """The builds: a push's provenance is ``min``, a release's ``max`` with an SBOM;
        ``version`` labels a push (its first tag). Builds buildx pushes repeat their labels as
        OCI annotations where this buildx writes them."""
        caps = detect()
        attestations = attest.for_publishing(self.config, caps, provenance, self.options.builder)
        reason = tags.annotations_unsupported(caps.builder, caps.describe(), caps.buildx_version)
        plan = make_plan(
            self.config,
            self.selected,
            self.options,
            caps,
            output="push",
            attestations=attestations,
            version=version,
            annotate=reason is None,
        )
        for warning in plan.warnings:
            console.warn(warning)
        loaded = [build.name for build in plan.builds if build.output != "push"]
        if (note := tags.annotations_note(reason, loaded)) is not None:
            plan = dataclasses.replace(plan, notes=(*plan.notes, note))
        return releaseplan.run_local(plan)  # a dry run too: it shows the real build


def _job(
    config: Config,
    tag: str,
    flags: PushFlags | ReleaseFlags,
    env: Mapping[str, str],
    runner: Runner | None,
) -> _Job:
    options = options_for(config, flags, tag=tag, registry=flags.registry, environ=env)
    selected = config.select(flags.images) if flags.images else config.images
    registry = options.registry or config.registry
    access = resolve_access(config, registry, env, dry_run=options.dry_run)
    runner = runner or Runner(dry_run=options.dry_run)
    for label, value in secret_values(options.secrets, env):
        runner.add_secret(value, label)
    return _Job(config, options, selected, access, runner, env)


def _checked(job: _Job, plan: BuildPlan, purpose: Purpose, tags: tuple[str, ...] = ()) -> None:
    """The pre-flight, then a registry that needs a login and has none: push and release
    stop at the same first problem, with the same line (exit 5), before any build."""
    preflight(
        job.config,
        plan.builds,
        purpose=purpose,
        registry=job.options.registry,
        tags=tags,
        environ=job.environ,
    )
    pushing.refuse_anonymous(job.access)


def _would_stop(
    job: _Job, plan: BuildPlan, purpose: Purpose, tags: tuple[str, ...] = (), said: str = ""
) -> None:
    """A dry run warns of every pre-flight check its real run would stop at (each is offline,
    so a dry run without secrets still exits 0); ``said``: a check already warned of."""
    registry, environ = job.options.registry, job.environ
    checks = run_preflight(
        job.config, plan.builds, purpose, registry=registry, tags=tags, environ=environ
    )
    for result in checks:
        if result.status == "fail" and result.id != said:
            console.warn(f"a real {purpose} would stop here: {result.error()}")


def push(
    root: Path | str,
    flags: PushFlags,
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
) -> list[Published]:
    """``invoke push --tag TAG [--tag TAG2] [--sha-tag]``: build every selected image once,
    push it as ``REPO:TAG``, then tag the pushed manifest with every other tag in the
    registry (no second upload). ``--sha-tag`` (or ``sha-tag = true``) adds ``sha-<commit>``."""
    env = environment() if environ is None else environ
    config = config_module.load(root)
    given = several(flags.tag) or ()
    # an empty --tag ("$TAG" of an unset variable) stands for the tag variable, as no --tag
    # does: without it, no tag was meant, and the default (a local build's) is not pushed
    if not all(given or ("",)) and not env.get(config.tag_env):
        empty = f": --tag is empty and ${config.tag_env} is not set" if given else ""
        raise UsageError(f"push needs a tag{empty}", hint="invoke push --tag main")
    named = [resolve_tag(config, each, env) for each in given] or [resolve_tag(config, None, env)]
    sha = tags.sha_tag(Git(config.root).head()) if (flags.sha_tag or config.sha_tag) else None
    pushed_tags = tags.push_tags(named, sha)
    tags.refuse_release_tags(pushed_tags, flags.force)
    tag = pushed_tags[0]
    job = _job(config, tag, flags, env, runner)
    # org.opencontainers.image.version of a push is its first tag, as metadata-action sets it
    plan = job.plan("min", version=tag)
    # A :main image is what main's commit builds, as a release is its tag's: refused. Any
    # other tag (a branch or test push) warns, so a developer can still push work in progress.
    stops = config.main_tag in pushed_tags
    consequence = f"{config.main_tag if stops else tag} would not be the commit"
    stray = releaseplan.stray_files(config, job.selected, consequence, buildkit=detect().buildkit)
    if stray is not None and stops and not job.options.dry_run:
        raise stray
    if stray is not None:
        console.warn(f"a real push would stop here: {stray}" if stops else str(stray))
    if job.options.dry_run:
        _would_stop(job, plan, "push", pushed_tags)
        publications = [ImagePublication(i.name, i.repository, pushed_tags) for i in job.selected]
        print_plan(job.access, publications, flags.as_json, version=None)
        execute(plan, job.runner)  # shows the builds' command lines
        return []
    client = job.access.client()
    _checked(job, plan, "push", pushed_tags)
    with pushing.docker_login(job.runner, plan, job.access) as cli:
        try:
            made = execute(plan, job.runner, cli)
            built = {image.name: image.image_id for image in made}
            reported = {image.name: image.digest for image in made}
            results = []
            written: list[str] = []  # verified tags, named if a later step stops the push
            try:
                for build in plan.builds:
                    repository = build.image.repository
                    digest = pushing.push_verified(
                        cli, client, build, tag, built.get(build.name), reported.get(build.name)
                    )
                    written.append(f"{repository}:{tag}")
                    for extra in pushed_tags[1:]:
                        pushing.add_tag_verified(client, repository, digest, extra)
                        written.append(f"{repository}:{extra}")
                    results.append(
                        Published(
                            build.name, repository, build.published, digest, list(pushed_tags)
                        )
                    )
                pushing.still_ours(client, results)
            except BuildlibError as error:
                if not written:
                    raise
                raise releaseplan.push_stopped(error, written) from None
        finally:
            pushing.forget_local_names(cli, plan)
    report(results, job.access.registry, flags.as_json, version=None)
    return results


def release(
    root: Path | str,
    flags: ReleaseFlags,
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
) -> list[Published]:
    """``invoke release``: publish the pyproject version with its floating tags."""
    env = environment() if environ is None else environ
    config = config_module.load(root)
    git = Git(config.root)
    full_tag = docker_tag_for(config.version)
    job = _job(config, full_tag, flags, env, runner)
    force, access, dry_run = flags.force, job.access, job.options.dry_run
    client = access.client()
    problems = releaseplan.git_problems(
        config,
        git,
        job.selected,
        buildkit=detect().buildkit,
        release_please=release_please.in_use(config.root),
    )
    if problems and not dry_run:
        raise problems[0]
    plan = job.plan("max")
    if not dry_run:  # a missing login stops here, not as a registry that cannot list tags
        _checked(job, plan, "release")
    # A dry run asks the registry once, briefly: it must stay fast offline.
    lister = access.client(quick=True) if dry_run else client
    released = existing.released(config, git, lister, quiet=dry_run)
    every = releaseplan.release_publications(config, released)
    publications = [every[image.name] for image in job.selected]
    if dry_run:
        for problem in problems:
            console.warn(f"a real release would stop here: {problem}")
        # the git problems name a missing or misplaced release tag already
        _would_stop(job, plan, "release", said="release-tag")
        with suppress(BuildlibError):  # a registry that does not answer was warned of above
            if waiting := existing.released_elsewhere(lister, config, job.selected, full_tag)[1]:
                reason = releaseplan.lacking(waiting, full_tag)
                publications = [releaseplan.held(p, reason) for p in publications]
        print_plan(access, publications, flags.as_json, version=config.version_text)
        execute(plan, job.runner)
        return []
    plan, released_here = existing.pushed_by_build_already_released(client, plan, full_tag, force)
    with pushing.docker_login(job.runner, plan, job.access) as cli:
        # Images buildx pushes from the build go last: the loaded ones are checked against
        # the registry first, so a refusal comes before any version tag is written.
        loaded = releaseplan.subplan(plan, lambda build: build.output != "push")
        pushed = releaseplan.subplan(plan, lambda build: build.output == "push")
        try:
            built = {image.name: image.image_id for image in execute(loaded, job.runner, cli)}
            unchanged = existing.unchanged_versions(client, cli, loaded, full_tag, force)
            before = existing.digests(client, pushed.builds, full_tag)
            try:
                reported = {image.name: image.digest for image in execute(pushed, job.runner, cli)}
            except BuildlibError as error:
                found, unknown = existing.changed_since(client, pushed.builds, full_tag, before)
                raise releaseplan.release_stopped(error, found, unknown=unknown) from None
            # what buildx pushed is checked first: it is in the registry already
            results = released_here + pushing.push_full_tags(
                cli, client, pushed.builds + loaded.builds, full_tag, unchanged, built, reported
            )
            try:  # the other images are asked after this one's version tags are written
                pushing.still_ours(client, results)
                others, waiting = existing.released_elsewhere(
                    client, config, job.selected, full_tag
                )
            except BuildlibError as error:
                raise releaseplan.release_stopped(error, results) from None
        finally:
            pushing.forget_local_names(cli, loaded)

        results.sort(key=lambda published: config.image_names.index(published.name))
        if waiting:
            console.warn(
                f"floating tags not moved yet: {releaseplan.lacking(waiting, full_tag)}; "
                "the release of the last image moves them for every image"
            )
        else:
            move_floating(client, results + others, every)
    shown = results + [o for o in others if o.tags[1:]]
    report(shown, access.registry, flags.as_json, version=config.version_text)
    return results


__all__ = ["push", "release", "resolve_access"]
