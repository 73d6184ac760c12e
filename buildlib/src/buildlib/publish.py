"""``push`` and ``release``: build every image, then publish in an order that protects users.

push:    build all → push ``REPO:TAG`` of every image → verify each digest in the registry.
release: check the git tag and tree → build all → refuse a changed image under an existing
         version tag → push every full version tag → verify → only then move the floating
         tags (``X.Y``, ``X``, ``latest``) by re-tagging the pushed manifest in the registry
         (no upload). A failure before the last step leaves every floating tag untouched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildlib import attest, console, tags
from buildlib import config as config_module
from buildlib.build import execute
from buildlib.config import Config, ImageSpec
from buildlib.context import IGNORE_FILE, ignore_file_for, strays
from buildlib.credentials import Credentials
from buildlib.credentials import find as find_credentials
from buildlib.digests import verify_pushed
from buildlib.docker import Docker
from buildlib.engine import detect
from buildlib.errors import AuthError, BuildlibError, CommandFailed, PublishError, UsageError
from buildlib.flags import PushFlags, ReleaseFlags
from buildlib.git import Git
from buildlib.options import (
    BuildOptions,
    environment,
    github_files,
    options_for,
    resolve_tag,
    secret_values,
)
from buildlib.plan import REVISION_LABEL, BuildPlan, ImageBuild, image_reference, make_plan
from buildlib.preflight import Purpose, preflight
from buildlib.registry import RegistryClient
from buildlib.runner import Result, Runner
from buildlib.versions import (
    docker_tag_for,
    plan_release_tags,
    version_from_tag,
    version_in_tag,
)

TRANSIENT = re.compile(
    r"connection refused|connection reset|broken pipe|i/o timeout|timeout|timed out|"
    r"\b50[0-4]\b|too many requests|\b429\b|EOF|TLS handshake",
    re.IGNORECASE,
)
AUTH_FAILURE = re.compile(
    r"unauthorized|authentication required|denied|\b401\b|\b403\b", re.IGNORECASE
)
PUSH_ATTEMPTS = 3


@dataclass(frozen=True)
class ImagePublication:
    """What will be written for one image, in order."""

    name: str
    repository: str
    full_tag: str
    tags: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repository": self.repository,
            "tags": list(self.tags),
            "skipped": [{"tag": t, "reason": r} for t, r in self.skipped],
        }


@dataclass
class Published:
    name: str
    repository: str
    reference: str
    digest: str
    tags: list[str] = field(default_factory=list)
    unchanged: bool = False


@dataclass(frozen=True)
class Access:
    """How to reach the registry: credentials from the environment (a temporary login), an
    existing docker login, or none."""

    registry: str
    credentials: Credentials | None
    from_environment: bool
    hint: str

    def client(self) -> RegistryClient:
        return RegistryClient(self.registry, self.credentials, credential_hint=self.hint)


def resolve_access(config: Config, registry: str, environ: Mapping[str, str]) -> Access:
    names = config.credentials
    hint = f"set {names.username_env} and {names.token_env} (or `docker login {registry}`)"
    found = find_credentials(names.username_env, names.token_env, registry, environ)
    return Access(registry, found.credentials, found.from_environment, hint)


@contextmanager
def docker_login(cli: Docker, access: Access) -> Iterator[None]:
    """A temporary DOCKER_CONFIG holding the login when credentials come from the
    environment; the user's own docker config otherwise."""
    if access.credentials is not None:
        cli.runner.add_secret(access.credentials.secret, f"the token for {access.registry}")
    if not access.from_environment or access.credentials is None:
        yield
        return
    with cli.login(access.registry, access.credentials, access.hint):
        yield


@dataclass(frozen=True)
class _Job:
    """What push and release both start from: options, images, registry access, runner."""

    config: Config
    options: BuildOptions
    selected: tuple[ImageSpec, ...]
    access: Access
    runner: Runner

    def plan(self, provenance: attest.Mode, version: str | None = None) -> BuildPlan:
        """The builds; pushes carry provenance ``min``, releases ``max``, and an SBOM;
        ``version``: the version label (a push's first tag). Builds that buildx pushes
        repeat their labels as OCI annotations where this buildx writes them."""
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
        loaded = [build.name for build in plan.builds if build.output != "push"]
        note = tags.annotations_note(reason, loaded)
        if note is not None:
            plan = dataclasses.replace(plan, notes=(*plan.notes, note))
        return plan if self.options.dry_run else _run_local(plan)


def _run_local(plan: BuildPlan) -> BuildPlan:
    """Each loaded build under a local name only this run uses (``REPO:TAG-buildlib-RUN``),
    pushed as ``REPO:TAG`` later: two runs at once on one engine (two clones, two CI jobs)
    would otherwise each tag ``REPO:TAG`` and one would push the other's image."""
    run = secrets.token_hex(4)
    builds = []
    for build in plan.builds:
        if build.output == "push":
            builds.append(build)
            continue
        name, _, tag = build.published.rpartition(":")
        local = f"{name}:{(tag + '-buildlib-' + run)[-128:].lstrip('.-')}"
        builds.append(dataclasses.replace(build, references=(local,), publish_as=build.published))
    return dataclasses.replace(plan, builds=tuple(builds))


def _job(
    config: Config,
    tag: str,
    flags: PushFlags | ReleaseFlags,
    env: Mapping[str, str],
    runner: Runner | None,
) -> _Job:
    options = options_for(config, flags, tag=tag, registry=flags.registry, environ=env)
    selected = config.select(flags.images) if flags.images else config.images
    access = resolve_access(config, options.registry or config.registry, env)
    runner = runner or Runner(dry_run=options.dry_run)
    for label, value in secret_values(options.secrets, env):
        runner.add_secret(value, label)
    return _Job(config, options, selected, access, runner)


@contextmanager
def _logged_in(job: _Job, plan: BuildPlan, purpose: Purpose) -> Iterator[Docker]:
    """Pre-flight, then a docker login that lasts while the caller builds and pushes."""
    preflight(job.config, plan.builds, purpose=purpose)
    cli = Docker(job.runner, plan.capabilities)
    with docker_login(cli, job.access):
        yield cli


def _subplan(plan: BuildPlan, keep: Callable[[ImageBuild], bool]) -> BuildPlan:
    """The builds of ``plan`` that ``keep`` selects; an ``after`` edge to a build left out
    is dropped (there is nothing to wait for)."""
    kept = [build for build in plan.builds if keep(build)]
    names = {build.name for build in kept}
    kept = [
        b if b.after is None or b.after in names else dataclasses.replace(b, after=None)
        for b in kept
    ]
    return dataclasses.replace(plan, builds=tuple(kept))


# --- push ---------------------------------------------------------------------------------


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
    given = [flags.tag] if isinstance(flags.tag, str) else list(flags.tag or ())
    if not given and not env.get(config.tag_env):
        raise UsageError("push needs a tag", hint="invoke push --tag main")
    named = [resolve_tag(config, each, env) for each in given] or [resolve_tag(config, None, env)]
    sha = tags.sha_tag(Git(config.root).head()) if (flags.sha_tag or config.sha_tag) else None
    pushed_tags = tags.push_tags(named, sha)
    tags.refuse_release_tags(pushed_tags, flags.force)
    tag = pushed_tags[0]
    job = _job(config, tag, flags, env, runner)
    plan = job.plan("min", version=tags.version_label(pushed_tags))
    # A :main image is what main's commit builds, as a release is its tag's: refused. Any
    # other tag (a branch or test push) warns, so a developer can still push work in progress.
    stray = _stray_files(config, job.selected, f"{tag} would not be the commit")
    if stray is not None and tag == config.main_branch and not job.options.dry_run:
        raise stray
    if stray is not None:
        console.warn(stray.render())
    publications = [ImagePublication(i.name, i.repository, tag, pushed_tags) for i in job.selected]
    if job.options.dry_run:
        _print_plan(job.access, publications, flags.as_json, version=None)
        execute(plan, job.runner)
        return []
    client = job.access.client()
    with _logged_in(job, plan, "push") as cli:
        try:
            made = execute(plan, job.runner, cli)
            built = {image.name: image.image_id for image in made}
            reported = {image.name: image.digest for image in made}
            results = []
            for build in plan.builds:
                digest = _push_verified(
                    cli, client, build, tag, built.get(build.name), reported.get(build.name)
                )
                for extra in pushed_tags[1:]:
                    _add_tag_verified(client, build.image.repository, digest, extra)
                results.append(
                    Published(
                        build.name,
                        build.image.repository,
                        build.published,
                        digest,
                        list(pushed_tags),
                    )
                )
            _still_ours(client, results)
        finally:
            _forget_local_names(cli, plan)
    _report(results, job.access.registry, flags.as_json, version=None)
    return results


# --- release ------------------------------------------------------------------------------


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
    force, as_json = flags.force, flags.as_json
    access, dry_run = job.access, job.options.dry_run
    client = access.client()
    problems = _git_problems(config, git, job.selected)
    if problems and not dry_run:
        raise problems[0]
    # A dry run asks the registry once, briefly: it must stay fast offline.
    lister = (
        RegistryClient(
            access.registry, access.credentials, retries=0, timeout=5, credential_hint=access.hint
        )
        if dry_run
        else client
    )
    released = _released(config, git, config.images, lister, quiet=dry_run)
    every = {}
    for image in config.images:
        planned = plan_release_tags(
            config.version, config.release.floating_tags, released.get(image.name, ())
        )
        every[image.name] = ImagePublication(
            image.name, image.repository, planned.full, planned.tags, planned.skipped
        )
    publications = [every[image.name] for image in job.selected]
    plan = job.plan("max")
    if dry_run:
        for problem in problems:
            console.warn(f"a real release would stop here: {problem}")
        _print_plan(access, publications, as_json, version=config.version_text)
        execute(plan, job.runner)
        return []
    plan, released_here = _pushed_by_build_already_released(client, plan, full_tag, force)
    with _logged_in(job, plan, "release") as cli:
        # Images that buildx pushes from the build (multi-platform) go last: the loaded
        # ones are built and checked against the registry first, so a refusal there comes
        # before any version tag is written.
        loaded = _subplan(plan, lambda build: build.output != "push")
        pushed = _subplan(plan, lambda build: build.output == "push")
        try:
            built = {image.name: image.image_id for image in execute(loaded, job.runner, cli)}
            unchanged = _unchanged_versions(client, cli, loaded, publications, force)
            before = {b.name: _digest_or_none(client, b, full_tag) for b in pushed.builds}
            try:
                reported = {image.name: image.digest for image in execute(pushed, job.runner, cli)}
            except BuildlibError as error:
                # a bake of several may have pushed some before the failure: name those whose
                # version tag changed during this run
                found, unknown = [], []
                for build in pushed.builds:
                    try:
                        digest = client.manifest_digest(build.image.repository, full_tag)
                    except BuildlibError:
                        unknown.append(build.published)
                        continue
                    if digest is not None and digest != before[build.name]:
                        found.append(
                            Published(
                                build.name,
                                build.image.repository,
                                build.published,
                                digest,
                                [full_tag],
                            )
                        )
                raise _release_stopped(error, found, unknown=tuple(unknown)) from None
            pushed_by_build = [
                _pushed_by_build(client, build, full_tag, reported.get(build.name))
                for build in pushed.builds
            ] + released_here
            results = _push_full_tags(
                cli, client, loaded, publications, unchanged, pushed_by_build, built
            )
            try:
                _still_ours(client, results)
            except BuildlibError as error:
                raise _release_stopped(error, results) from None
        finally:
            _forget_local_names(cli, loaded)

        results = _in_plan_order(config, results)
        others, waiting = _released_elsewhere(client, config, job.selected, full_tag)
        if waiting:
            console.warn(
                f"floating tags not moved yet: {', '.join(waiting)} lack {full_tag} in the "
                "registry; the release of the last image moves them for every image"
            )
        else:
            _move_floating(client, results + others, list(every.values()))
    _report(
        results + [o for o in others if o.tags[1:]],
        access.registry,
        as_json,
        version=config.version_text,
    )
    return results


def _released_elsewhere(
    client: RegistryClient, config: Config, selected: tuple[ImageSpec, ...], full_tag: str
) -> tuple[list[Published], list[str]]:
    """With ``--image`` (one CI job per image), the other images of the matrix: those whose
    full version tag is already pushed, and the names of those still missing it. Floating
    tags move only once every image has the version, so a failed job moves no one's."""
    chosen = {image.name for image in selected}
    found, waiting = [], []
    for image in config.images:
        if image.name in chosen:
            continue
        digest = client.manifest_digest(image.repository, full_tag)
        if digest is None:
            waiting.append(image.name)
        else:
            reference = image_reference(client.host, image.repository, full_tag)
            found.append(
                Published(
                    image.name, image.repository, reference, digest, [full_tag], unchanged=True
                )
            )
    return found, waiting


def _git_problems(config: Config, git: Git, images: tuple[ImageSpec, ...]) -> list[BuildlibError]:
    tag = config.release.git_tag_for(config.version_text)
    if not git.is_repository():
        return [
            UsageError(
                f"release needs a git checkout to find the tag {tag}",
                hint="run it from a clone with tags (actions/checkout fetch-tags)",
            )
        ]
    problems: list[BuildlibError] = []
    commit = git.tag_commit(tag)
    head = git.head()
    if commit is None:
        problems.append(
            UsageError(
                f"git tag {tag} (made by release-please for version {config.version_text}) does "
                "not exist",
                hint=f"merge the release PR, or `git fetch --tags`; to tag by hand: "
                f"git tag {tag} && git push origin {tag}",
            )
        )
    elif commit != head:
        problems.append(
            UsageError(
                f"git tag {tag} points at {commit[:12]}, not at HEAD ({(head or '?')[:12]})",
                hint=f"git checkout {tag}",
            )
        )
    dirty = git.dirty_files()
    if dirty:
        problems.append(
            UsageError(
                f"the working tree has uncommitted changes ({', '.join(dirty[:3])}"
                f"{'...' if len(dirty) > 3 else ''}): the images would not match {tag}",
                hint="commit or stash them (git stash)",
            )
        )
    stray = _stray_files(config, images, f"the images would not be {tag}")
    if stray is not None:
        problems.append(stray)
    return problems


def _stray_files(
    config: Config, images: tuple[ImageSpec, ...], consequence: str
) -> UsageError | None:
    """One line naming the files the builds would send that git does not track (an
    untracked script, a git-ignored ``.env``): a ``COPY`` would put them in the image."""
    builds = [
        (image.name, config.root / image.dockerfile, config.root / image.context)
        for image in images
    ]
    found = strays(config.root, builds, buildkit=detect().buildkit)
    if not found:
        return None
    shown = ", ".join(stray.describe() for stray in found[:4])
    if len(found) > 4:
        shown += f" and {len(found) - 4} more"
    names = sorted({name for stray in found for name in stray.images})
    ignore = ignore_file_for(
        config.root / images[0].dockerfile, config.root / images[0].context
    ) or (config.root / images[0].context / IGNORE_FILE)
    try:
        where = ignore.relative_to(config.root).as_posix()
    except ValueError:
        where = str(ignore)
    return UsageError(
        f"the build context of {', '.join(names)} holds {len(found)} file(s) git does not "
        f"track: {shown}; {consequence}",
        hint=f"delete or move them, `git add` and commit what belongs in the image, or "
        f"exclude them in {where} (a line `{found[0].path}`)",
    )


def _released(
    config: Config, git: Git, images: tuple[ImageSpec, ...], client: RegistryClient, *, quiet: bool
) -> dict[str, list[str]]:
    """Versions already released, per image: from git tags and the registry.

    A real release stops when the registry cannot list them: git alone may not know every
    release (a shallow CI checkout), and ``latest`` must never move back. Tags with fewer
    version parts than a release has (a build number ``842``, a date ``20240115``) are not
    versions of this project."""
    in_tags = (version_in_tag(config.release.git_tag, t) for t in git.tags())
    from_git = [text for text in in_tags if text is not None]
    parts = min(3, len(config.version.release))
    released = {}
    for image in images:
        try:
            from_registry = client.tags(image.repository)
        except BuildlibError as error:
            if not quiet:
                raise PublishError(
                    f"could not list {image.repository}'s tags in {client.host} "
                    f"({error.message}); without them a floating tag could move back. "
                    "Nothing was built or pushed",
                    hint=error.hint or "run `invoke release` again when the registry answers",
                ) from None
            console.warn(
                f"could not list {image.repository}'s tags ({error.message}); "
                "this plan uses git tags only"
            )
            from_registry = []
        released[image.name] = [
            tag for tag in from_git + from_registry if _release_parts(tag) >= parts
        ]
    return released


def _release_parts(tag: str) -> int:
    version = version_from_tag(tag)
    return len(version.release) if version is not None else 0


def _pushed_by_build_already_released(
    client: RegistryClient, plan: BuildPlan, full_tag: str, force: bool
) -> tuple[BuildPlan, list[Published]]:
    """Multi-platform images go from the builder straight to the registry, so their
    immutability check must come before their build. Without a local image to compare, a
    version tag built from this same commit (its ``revision`` label) for the same platforms
    counts as this release (a re-run: not built again); anything else under the version is
    refused. ``force`` builds and pushes over it either way."""
    skipped, released = set(), []
    for build in plan.builds:
        if build.output != "push" or force:
            continue
        repository = build.image.repository
        platforms = client.platforms(repository, full_tag)
        if platforms is None:
            continue
        labels = client.config_labels(repository, full_tag, platform=build.platforms[0])
        ours = dict(build.labels).get(REVISION_LABEL)
        theirs = (labels or {}).get(REVISION_LABEL)
        same_commit = bool(ours) and ours != "unknown" and theirs == ours
        if same_commit and _platform_set(platforms) == _platform_set(build.platforms):
            console.info(
                f"{repository}:{full_tag} is already in the registry, built from this "
                f"commit ({(ours or '')[:12]}) for {', '.join(platforms)}: not built or pushed "
                "again"
            )
            digest = _listed_digest(client, repository, build.published, full_tag)
            released.append(
                Published(build.name, repository, build.published, digest, [full_tag], True)
            )
            skipped.add(build.name)
            continue
        what = (
            f"for {', '.join(platforms) or 'one platform'} (this build: "
            f"{', '.join(build.platforms)})"
            if same_commit
            else f"from commit {(theirs or 'unknown')[:12]} (this build: "
            f"{(ours or 'unknown')[:12]})"
        )
        raise PublishError(
            f"{repository}:{full_tag} already exists in {client.host}, built {what}; "
            "release tags are immutable. Nothing was built or pushed",
            hint="bump the version (a fix: commit), or pass --force to overwrite it",
        )
    if not skipped:
        return plan, released
    return _subplan(plan, lambda build: build.name not in skipped), released


def _platform_set(platforms: Iterable[str]) -> frozenset[str]:
    """Platforms as registries list them: ``linux/arm`` is ``linux/arm/v7`` and
    ``linux/arm64`` is ``linux/arm64/v8`` (containerd's defaults)."""
    defaults = {"linux/arm": "linux/arm/v7", "linux/arm64": "linux/arm64/v8"}
    return frozenset(defaults.get(p.lower(), p.lower()) for p in platforms)


def _digest_or_none(client: RegistryClient, build: ImageBuild, tag: str) -> str | None:
    """The digest under ``tag``, or ``None`` (also when the registry cannot say: this only
    serves an error message, which must not be replaced by another)."""
    try:
        return client.manifest_digest(build.image.repository, tag)
    except BuildlibError:
        return None


def _in_plan_order(config: Config, results: list[Published]) -> list[Published]:
    order = {image.name: index for index, image in enumerate(config.images)}
    return sorted(results, key=lambda published: order.get(published.name, len(order)))


def _unchanged_versions(
    client: RegistryClient,
    cli: Docker,
    loaded: BuildPlan,
    publications: list[ImagePublication],
    force: bool,
) -> set[str]:
    """The loaded images whose version tag already holds this very image (a re-run); any
    other content under an existing version tag is refused before anything is pushed."""
    by_name = {p.name: p for p in publications}
    unchanged = set()
    for build in loaded.builds:
        publication = by_name[build.name]
        existing = client.config_digest(build.image.repository, publication.full_tag)
        if existing is None:
            continue
        local = cli.image_id(build.primary)
        if existing == local:
            unchanged.add(build.name)
        elif not force:
            raise PublishError(
                f"{build.image.repository}:{publication.full_tag} already exists in "
                f"{client.host} with different content (image {existing[7:19]}, this build "
                f"{(local or '?')[7:19]}); release tags are immutable. Nothing was pushed",
                hint="bump the version (a fix: commit), or pass --force to overwrite it",
            )
    return unchanged


def _pushed_by_build(
    client: RegistryClient, build: ImageBuild, tag: str, reported: str | None
) -> Published:
    """What buildx pushed from the build: the registry must hold the digest it reported."""
    try:
        digest = verify_pushed(client, build.image.repository, build.published, tag, reported)
    except BuildlibError as error:
        if isinstance(error, PublishError):
            raise
        raise NotVerified(build.published, error) from None
    return Published(build.name, build.image.repository, build.published, digest, [tag])


class NotVerified(PublishError):
    """``docker push`` reported success, but the registry could not confirm what it holds."""

    def __init__(self, reference: str, cause: BuildlibError):
        super().__init__(
            f"{reference} was pushed, but the registry could not confirm it: {cause.message}",
            hint=cause.hint,
        )
        self.reference = reference


def _release_stopped(
    error: BuildlibError,
    pushed: list[Published],
    at: str | None = None,
    unknown: tuple[str, ...] = (),
) -> PublishError:
    """What a release that stopped before its floating tags wrote: verified pushes,
    unverified ones, and what could not be checked; "nothing" only when that is known."""
    done = ", ".join(f"{p.repository}:{p.tags[0]}" for p in pushed if not p.unchanged)
    unverified = error.reference if isinstance(error, NotVerified) else None
    unsure = ", ".join(unknown)
    return PublishError(
        (f"release stopped at {at}: " if at else "release stopped: ")
        + f"{error.message}. "
        + (f"Pushed and verified: {done}. " if done else "")
        + (f"Pushed, not verified: {unverified}. " if unverified else "")
        + (
            f"Not known whether the registry holds: {unsure} (it did not answer). "
            if unsure
            else ""
        )
        + ("Nothing was pushed. " if not (done or unverified or unsure) else "")
        + "No floating tag (X.Y, X, latest) of any image was moved",
        hint=error.hint or "fix the cause and run `invoke release` again (it is safe to re-run)",
    )


def _push_full_tags(
    cli: Docker,
    client: RegistryClient,
    loaded: BuildPlan,
    publications: list[ImagePublication],
    unchanged: set[str],
    already: list[Published],
    built: Mapping[str, str | None],
) -> list[Published]:
    """Push the full version tag of every loaded image (``already``: what the builds
    pushed, or found in place; ``built``: the image ids); a failure names everything
    pushed so far."""
    by_name = {p.name: p for p in publications}
    results: list[Published] = list(already)
    for build in loaded.builds:
        publication = by_name[build.name]
        repository = build.image.repository
        try:
            if build.name in unchanged:
                console.info(
                    f"{build.published} is already in the registry with the same "
                    "content: not pushed again"
                )
                digest = _listed_digest(client, repository, build.published, publication.full_tag)
            else:
                digest = _push_verified(
                    cli, client, build, publication.full_tag, built.get(build.name)
                )
        except BuildlibError as error:
            raise _release_stopped(error, results, at=build.published) from None
        results.append(
            Published(
                build.name,
                repository,
                build.published,
                digest,
                [publication.full_tag],
                build.name in unchanged,
            )
        )
    return results


# Once the floating tags have begun to move, a signal (a cancelled CI job) waits this long
# for the moves to be rolled back: CI runners send SIGKILL some seconds after SIGTERM, and
# the report of where every tag points must be printed before that.
SIGNAL_GRACE_SECONDS = 5.0


class Interrupted(PublishError):
    """A signal stopped a release after its floating tags began to move."""

    def __init__(self, message: str, *, signum: int, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.exit_code = 128 + signum


@dataclass
class _TagMove:
    """One floating tag: where it pointed before, where it goes, and what was done so far."""

    repository: str
    tag: str
    new: str
    version: str
    previous: str | None = None
    read: bool = False  # ``previous`` was read from the registry
    # untouched | moving | moved | restoring | restored | unknown | stuck
    state: str = "untouched"

    def now(self) -> str:
        """Where the tag points now, in words."""
        name = f"{self.repository}:{self.tag}"
        before = f"the previous release ({self.previous[7:19]})" if self.previous else None
        if self.state == "moved":
            return f"{name} → {self.version}"
        if self.state == "restored":
            return f"{name} → {before} again"
        if self.state == "untouched" and self.read and self.previous == self.new:
            return f"{name} → {self.version}"
        if self.state == "untouched" and self.read:
            return f"{name} → {before}, not moved" if before else f"{name} does not exist"
        if self.state == "untouched":
            return f"{name} not moved"
        if self.state == "stuck":
            return f"{name} → {self.version} (putting it back failed)"
        return f"{name} unknown (its change was under way when buildlib stopped)"


def _move_floating(
    client: RegistryClient,
    results: list[Published],
    publications: list[ImagePublication],
) -> None:
    """Add the floating tags to the pushed manifests. On a failure, or on SIGINT/SIGTERM,
    put back the ones already moved, so all images keep pointing at the same release; the
    error names every floating tag and where it points now.

    The moves run in a worker thread, so that a signal neither interrupts a request half
    way nor waits for a stalled registry longer than ``SIGNAL_GRACE_SECONDS``."""
    by_name = {p.name: p for p in publications}
    moves = [
        _TagMove(result.repository, tag, result.digest, by_name[result.name].full_tag)
        for result in results
        for tag in by_name[result.name].tags
        if tag != by_name[result.name].full_tag
    ]
    if not moves:
        return
    stop = threading.Event()
    failure: list[BuildlibError] = []
    worker = threading.Thread(
        target=_run_moves, args=(client, moves, stop, failure), name="floating-tags", daemon=True
    )
    caught: list[int] = []
    with _deferred_signals(caught, stop):
        worker.start()
        while worker.is_alive() and not caught:
            worker.join(0.05)
        if caught or failure:
            # put back what moved, on connections of its own: a move stalled in the
            # registry must not keep the others from being put back before the deadline
            roller = threading.Thread(
                target=_roll_back, args=(client, moves, worker), name="roll-back", daemon=True
            )
            roller.start()
            deadline = None
            while roller.is_alive():
                if caught and deadline is None:
                    deadline = time.monotonic() + SIGNAL_GRACE_SECONDS
                if deadline is not None and time.monotonic() > deadline:
                    break
                roller.join(0.05)
    now = "; ".join(move.now() for move in moves)
    if caught:
        name = "interrupted" if caught[0] == signal.SIGINT else "terminated"
        raise Interrupted(
            f"{name} while moving the floating tags; full version tags are pushed. Now: {now}",
            signum=caught[0],
            hint="run `invoke release` again to move them (it is safe to re-run)",
        )
    if failure:
        raise PublishError(
            f"moving the floating tags failed: {failure[0].message}. Full version tags are "
            f"pushed. Now: {now}",
            hint="run `invoke release` again once the registry answers",
        )
    for result in results:
        result.tags += [m.tag for m in moves if m.repository == result.repository]


def _run_moves(
    client: RegistryClient,
    moves: list[_TagMove],
    stop: threading.Event,
    failure: list[BuildlibError],
) -> None:
    try:
        for move in moves:
            move.previous = client.manifest_digest(move.repository, move.tag)
            move.read = True
        for move in moves:
            if stop.is_set():
                return
            move.state = "moving"
            if move.previous != move.new:
                client.add_tag(move.repository, move.new, move.tag)
            move.state = "moved"
    except BuildlibError as error:
        failure.append(error)
    except Exception as error:  # a bug must not leave half the tags moved
        failure.append(BuildlibError(f"{type(error).__name__}: {error}"))


def _roll_back(client: RegistryClient, moves: list[_TagMove], worker: threading.Thread) -> None:
    """Put every moved tag back where it was, including the one under way once the
    worker is done with it. A tag that did not exist before cannot be deleted through the
    registry API: it stays on the new release (and says so)."""
    while True:
        finished = not worker.is_alive()
        for move in reversed(moves):
            under_way = move.state == "moving" and finished  # its request failed
            if not (move.state == "moved" or under_way) or not move.read:
                continue
            if move.previous is None:
                continue  # "moved" stays true; "moving" stays unknown
            if move.previous == move.new:
                move.state = "untouched"  # it already held this release
                continue
            move.state = "restoring"
            try:
                client.add_tag(move.repository, move.previous, move.tag)
            except BuildlibError:
                move.state = "stuck"
            else:
                move.state = "restored"
        if finished:
            return
        worker.join(0.05)


@contextmanager
def _deferred_signals(caught: list[int], stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM are noted (and ``stop`` set) instead of unwinding the stack."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, frame: object) -> None:
        caught.append(signum)
        stop.set()

    previous = {signum: signal.signal(signum, note) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --- pushing one reference, with retries and verification ----------------------------------


def _listed_digest(client: RegistryClient, repository: str, reference: str, tag: str) -> str:
    """The digest the registry lists for a tag just pushed (an error when it lists none)."""
    remote = client.manifest_digest(repository, tag)
    if remote is None:
        raise PublishError(
            f"{reference} was pushed but the registry does not list it",
            hint=f"check {client.host}'s storage, then push again",
        )
    return remote


def _push_verified(
    cli: Docker,
    client: RegistryClient,
    build: ImageBuild,
    tag: str,
    image_id: str | None,
    reported: str | None = None,
) -> str:
    """Push the image this run built as ``build.published`` (unless the build pushed it:
    then the registry must hold the digest the build ``reported``), then check that the
    registry holds that very image under ``tag``."""
    repository, reference = build.image.repository, build.published
    if build.output == "push":
        try:
            return verify_pushed(client, repository, reference, tag, reported)
        except BuildlibError as error:
            if isinstance(error, PublishError):
                raise
            raise NotVerified(reference, error) from None
    image_id = image_id or cli.image_id(build.primary)
    with _push_lock(reference):
        # tag by image id: the shared name holds this run's image from here to the push
        cli.tag(image_id or build.primary, reference)
        pushed = _pushed_digest(_push_with_retries(cli, reference, client.host))
        try:
            remote = _listed_digest(client, repository, reference, tag)
            content = client.config_digest(repository, remote, platform=build.platforms[0])
        except BuildlibError as error:
            raise NotVerified(reference, error) from None
    if (pushed is not None and remote != pushed) or (
        image_id is not None and image_id not in (remote, content)
    ):
        raise PublishError(
            f"another writer replaced {reference} during this run: the registry has "
            f"{remote[:19]}, this run pushed {(pushed or '?')[:19]} (image "
            f"{(image_id or '?')[7:19]})",
            hint="run it again; runs that push the same tag must take turns "
            "(a CI concurrency group)",
        )
    console.success(f"pushed {reference} ({remote})")
    return remote


def _add_tag_verified(client: RegistryClient, repository: str, digest: str, tag: str) -> None:
    """Another tag of a push (``sha-…``, a second ``--tag``): the pushed manifest tagged in
    the registry, then read back."""
    reference = f"{repository}:{tag}"
    try:
        client.add_tag(repository, digest, tag)
        now = client.manifest_digest(repository, tag)
    except BuildlibError as error:
        raise NotVerified(reference, error) from None
    if now != digest:
        raise PublishError(
            f"another writer replaced {reference} during this run: the registry has "
            f"{(now or 'nothing')[:19]}, this run tagged {digest[:19]}",
            hint="run it again; runs that push the same tag must take turns "
            "(a CI concurrency group)",
        )
    console.success(f"tagged {reference} ({digest})")


def _still_ours(client: RegistryClient, results: list[Published]) -> None:
    """After every push: each tag still holds what this run pushed there. Another writer
    (a second run, another machine) may have replaced one since."""
    replaced = []
    for result in results:
        try:
            now = client.manifest_digest(result.repository, result.tags[0])
        except BuildlibError as error:
            raise NotVerified(result.reference, error) from None
        if now != result.digest:
            held = now[:19] if now else "nothing"
            replaced.append(
                f"{result.reference} (now {held}, this run pushed {result.digest[:19]})"
            )
    if replaced:
        raise PublishError(
            f"another writer replaced {', '.join(replaced)} during this run",
            hint="run it again; runs that push the same tag must take turns "
            "(a CI concurrency group)",
        )


@contextmanager
def _push_lock(reference: str) -> Iterator[None]:
    """Runs on this machine that push the same reference take turns from ``docker tag``
    to the registry's answer, so neither pushes the other's image under that name."""
    try:
        import fcntl
    except ImportError:  # Windows: the registry check still catches a swap
        yield
        return
    digest = hashlib.sha256(reference.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"buildlib-push-{digest}.lock"
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


def _pushed_digest(result: Result) -> str | None:
    """The manifest digest ``docker push`` reports (its last ``digest:`` line)."""
    found = _PUSHED_DIGEST.findall(result.stderr or result.stdout)
    return found[-1] if found else None


def _forget_local_names(cli: Docker, plan: BuildPlan) -> None:
    """Remove this run's local names (the pushed names stay): only a tag goes, not an
    image another name still holds."""
    for build in plan.builds:
        if build.publish_as is not None:
            cli.untag(build.primary)


def _push_with_retries(cli: Docker, reference: str, registry: str) -> Result:
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        result = cli.push(reference)
        if result.ok:
            return result
        output = result.stderr or result.stdout
        detail = cli.runner.redact(output.strip().splitlines()[-1] if output.strip() else "")
        if AUTH_FAILURE.search(output):
            raise AuthError(
                f"{registry} refused the push of {reference}: {detail}",
                hint="check the token in the variables [tool.buildlib.credentials] names "
                "(default DOCKERHUB_USERNAME/DOCKERHUB_TOKEN), or `docker login`",
            )
        if not TRANSIENT.search(output) or attempt == PUSH_ATTEMPTS:
            raise CommandFailed(f"push of {reference} failed after {attempt} attempt(s): {detail}")
        wait = 2 ** (attempt - 1)
        console.warn(f"push of {reference} failed ({detail}); retrying in {wait}s")
        time.sleep(wait)
    raise AssertionError("unreachable")  # the last attempt returns or raises


# --- reporting ----------------------------------------------------------------------------


def _print_plan(
    access: Access, publications: list[ImagePublication], as_json: bool, version: str | None
) -> None:
    """The plan: every tag of every image, in the order it will be written."""
    document = {
        "version": version,
        "registry": access.registry,
        "login": access.from_environment,
        "images": [p.as_dict() for p in publications],
    }
    if as_json:
        print(json.dumps(document, indent=2))
        return
    console.step(
        f"plan for {access.registry}"
        + (f", version {version}" if version else "")
        + (
            ": login from the environment"
            if access.from_environment
            else ": using the existing docker login"
            if access.credentials
            else ": no credentials (anonymous)"
        )
    )
    for publication in publications:
        console.info(
            f"  {publication.name}: {publication.repository} ← {', '.join(publication.tags)}"
        )
        for tag, reason in publication.skipped:
            console.info(f"    not moving {tag}: {reason}")


def _references(registry: str, result: Published) -> list[str]:
    """Every tag pushed, as a full reference with the registry (``docker.io/org/app:main``)."""
    return [tags.full_reference(registry, result.repository, tag) for tag in result.tags]


def _report(results: list[Published], registry: str, as_json: bool, version: str | None) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "version": version,
                    "registry": registry,
                    "images": [
                        {
                            "name": r.name,
                            "repository": r.repository,
                            "tags": r.tags,
                            "digest": r.digest,
                        }
                        for r in results
                    ],
                },
                indent=2,
            )
        )
    for result in results:
        note = " (already there)" if result.unchanged else ""
        console.success(
            f"{result.name}: {result.repository}:{', '.join(result.tags)} → {result.digest}{note}"
        )
    output, summary = github_files()
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            for result in results:
                handle.write(f"{result.name}-digest={result.digest}\n")
                handle.write(f"{result.name}-tags={','.join(result.tags)}\n")
                handle.write(
                    f"{result.name}-references={','.join(_references(registry, result))}\n"
                )
            handle.write(
                "images="
                + json.dumps(
                    [
                        {
                            "name": r.name,
                            "repository": r.repository,
                            "digest": r.digest,
                            "tags": r.tags,
                            "references": _references(registry, r),
                        }
                        for r in results
                    ]
                )
                + "\n"
            )
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(
                f"### Images pushed to {registry}\n\n| image | tags | digest |\n|---|---|---|\n"
            )
            for result in results:
                shown = ", ".join(f"`{t}`" for t in result.tags)
                handle.write(f"| `{result.repository}` | {shown} | `{result.digest}` |\n")


__all__ = ["push", "release", "resolve_access"]
