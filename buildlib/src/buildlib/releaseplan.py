"""The decisions of ``push`` and ``release``: which tags each image gets, which floating tag
stays where it is, what is refused as a changed release, and what a stopped release says it
wrote. The dry run prints this plan.

Never talks to a registry or the docker engine, and never writes: the facts it decides on
are handed in; it reads git only through the ``Git`` it is given, and the context from disk.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from buildlib.config import Config, ImageSpec, normal_platform
from buildlib.context import IGNORE_FILE, ignore_file_for, strays
from buildlib.errors import BuildlibError, CheckFailed, NotVerified, PublishError, Replaced
from buildlib.git import Git
from buildlib.plan import REVISION_LABEL, BuildPlan, ImageBuild, shown_path
from buildlib.references import TAG_MAX_LENGTH
from buildlib.versions import plan_release_tags, version_from_tag, version_in_tag

IMMUTABLE_HINT = "bump the version (a fix: commit), or pass --force to overwrite it"


@dataclass(frozen=True)
class ImagePublication:
    """What will be written for one image, in order."""

    name: str
    repository: str
    tags: tuple[str, ...]  # the full version tag first
    skipped: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        skipped = [{"tag": t, "reason": r} for t, r in self.skipped]
        return {**dataclasses.asdict(self), "tags": list(self.tags), "skipped": skipped}


@dataclass
class Published:
    name: str
    repository: str
    reference: str
    digest: str
    tags: list[str] = field(default_factory=list)
    unchanged: bool = False


def release_publications(
    config: Config, released: Mapping[str, list[str]]
) -> dict[str, ImagePublication]:
    """Every configured image's tags for this version, given the versions already
    ``released`` per image: a floating tag never moves back to an older version."""
    every = {}
    for image in config.images:
        plan = plan_release_tags(config.version, config.release.floating_tags, released[image.name])
        every[image.name] = ImagePublication(image.name, image.repository, plan.tags, plan.skipped)
    return every


def lacking(waiting: list[str], full_tag: str) -> str:
    """Why a per-image release (``--image``) leaves the floating tags: images ``waiting``."""
    verb = "lacks" if len(waiting) == 1 else "lack"
    return f"{', '.join(waiting)} {verb} {full_tag} in the registry"


def held(publication: ImagePublication, reason: str) -> ImagePublication:
    """``publication`` with its floating tags left where they are, for ``reason``."""
    floating = tuple((tag, reason) for tag in publication.tags[1:])
    tags, skipped = publication.tags[:1], publication.skipped + floating
    return dataclasses.replace(publication, tags=tags, skipped=skipped)


def released_versions(config: Config, git_tags: Iterable[str], listed: list[str]) -> list[str]:
    """The released versions among git tags in the release format, then the registry's
    ``listed`` tags; fewer version parts than a release has (``842``, ``20240115``) is none."""
    from_git = [version_in_tag(config.release.git_tag, tag) for tag in git_tags]
    parts = min(3, len(config.version.release))
    read = [(tag, version_from_tag(tag)) for tag in from_git + listed if tag is not None]
    return [tag for tag, version in read if version is not None and len(version.release) >= parts]


def run_local(plan: BuildPlan) -> BuildPlan:
    """Each loaded build under a local name only this run uses (``REPO:TAG-buildlib-RUN``),
    pushed as ``REPO:TAG`` later: two runs on one engine must not push each other's image."""
    run = secrets.token_hex(4)
    builds = list(plan.builds)
    for i, build in enumerate(builds):
        if build.output != "push":
            name, _, tag = build.published.rpartition(":")
            local = f"{name}:{(tag + '-buildlib-' + run)[-TAG_MAX_LENGTH:].lstrip('.-')}"
            builds[i] = dataclasses.replace(build, references=(local,), publish_as=build.published)
    return dataclasses.replace(plan, builds=tuple(builds))


def subplan(plan: BuildPlan, keep: Callable[[ImageBuild], bool]) -> BuildPlan:
    """The builds of ``plan`` that ``keep`` selects, without ``after`` edges to the others."""
    kept = [build for build in plan.builds if keep(build)]
    names = {build.name for build in kept}
    kept = [
        b if b.after is None or b.after in names else dataclasses.replace(b, after=None)
        for b in kept
    ]
    return dataclasses.replace(plan, builds=tuple(kept))


def platform_set(platforms: Iterable[str]) -> frozenset[str]:
    """Platforms by docker's names (:func:`config.normal_platform`), so a registry's index
    and a build compare alike: an index may list linux/arm64/v8 for a build's linux/arm64."""
    return frozenset(map(normal_platform, platforms))


def refuse_other_release(
    build: ImageBuild, reference: str, host: str, platforms: tuple[str, ...], labels: Any
) -> None:
    """A build that buildx pushes, whose version tag ``reference`` already holds an image
    (for ``platforms``, with ``labels``): passes when that is this release (the same commit
    by its ``revision`` label, the same platforms: a re-run); anything else is refused."""
    ours = dict(build.labels).get(REVISION_LABEL)
    theirs = (labels or {}).get(REVISION_LABEL)
    same_commit = bool(ours) and ours != "unknown" and theirs == ours
    if same_commit and platform_set(platforms) == platform_set(build.platforms):
        return
    what = (
        f"for {', '.join(platforms) or 'one platform'} (this build: {', '.join(build.platforms)})"
        if same_commit
        else f"from commit {(theirs or 'unknown')[:12]} (this build: {(ours or 'unknown')[:12]})"
    )
    raise PublishError(
        f"{reference} already exists in {host}, built {what}; release tags are immutable. "
        "Nothing was built or pushed",
        hint=IMMUTABLE_HINT,
    )


def is_unchanged(reference: str, host: str, existing: str, local: str | None, force: bool) -> bool:
    """A loaded image whose version tag ``reference`` holds the image ``existing``: True
    when that is this very image (a re-run); other content is refused unless ``force``."""
    if existing == local:
        return True
    if force:
        return False
    raise PublishError(
        f"{reference} already exists in {host} with different content (image {existing[7:19]}"
        f", this build {local[7:19] if local else '?'}); release tags are immutable. Nothing "
        "was pushed",
        hint=IMMUTABLE_HINT,
    )


def release_stopped(
    error: BuildlibError,
    pushed: list[Published],
    at: str | None = None,
    unknown: tuple[str, ...] = (),
) -> PublishError:
    """What a release that stopped before its floating tags wrote: verified pushes,
    unverified ones, and what could not be checked; "nothing" only when that is known."""
    unverified = error.reference if isinstance(error, NotVerified) else None
    written = [p for p in pushed if not p.unchanged and p.reference != unverified]
    done = _verified(error, [f"{p.repository}:{p.tags[0]}" for p in written])
    unsure = ", ".join(unknown)
    said = [
        f"Pushed and verified: {done}. " if done else "",
        f"Pushed, not verified: {unverified}. " if unverified else "",
        f"Not known whether the registry holds: {unsure} (it did not answer). " if unsure else "",
    ]
    return PublishError(
        (f"release stopped at {at}: " if at else "release stopped: ")
        + f"{error.message}. "
        + ("".join(said) or ("" if isinstance(error, Replaced) else "Nothing was pushed. "))
        + "No floating tag (X.Y, X, latest) of any image was moved",
        hint=error.hint or "fix the cause and run `invoke release` again (it is safe to re-run)",
    )


def push_stopped(error: BuildlibError, written: list[str]) -> PublishError:
    """A push that stopped after it wrote some tags: they are named, as exit 8 promises, but
    for those the final check found replaced or gone (the error names them)."""
    kept = _verified(error, written)
    return PublishError(
        f"push stopped: {error.message}"
        + (f". Pushed and verified before it: {kept}" if kept else "")
        + "; no image after it was pushed",
        hint=error.hint or "fix the cause and run the same `invoke push` again",
    )


def _verified(error: BuildlibError, written: list[str]) -> str:
    """``written``, but for what a later check found replaced or gone: the error's own words
    say what became of those."""
    taken = error.references if isinstance(error, Replaced) else ()
    return ", ".join(reference for reference in written if reference not in taken)


def git_problems(
    config: Config,
    git: Git,
    images: tuple[ImageSpec, ...],
    *,
    buildkit: bool,
    release_please: bool,
) -> list[BuildlibError]:
    """Why the checkout is not the release: no tag, a tag elsewhere, uncommitted changes,
    files git does not track in a build context. A real release stops at the first. A missing
    tag is release-please's to make only where ``release_please`` says it runs."""
    version = config.version_text
    tag = config.release.git_tag_for(version)
    if not git.is_repository():
        hint = "run it from a clone with tags (actions/checkout fetch-tags)"
        return [CheckFailed(f"release needs a git checkout to find the tag {tag}", hint=hint)]
    commit, head, dirty = git.tag_commit(tag), git.head(), git.dirty_files()
    missing = missing_tag(tag, version, release_please=release_please)
    found = [
        (commit is None, missing.message, missing.hint),
        (
            commit not in (None, head),
            f"git tag {tag} points at {(commit or '')[:12]}, not at HEAD ({(head or '?')[:12]})",
            f"git checkout {tag}",
        ),
        (
            bool(dirty),
            f"the working tree has uncommitted changes ({', '.join(dirty[:3])}"
            f"{'...' if len(dirty) > 3 else ''}): the images would not match {tag}",
            "commit or stash them (git stash)",
        ),
    ]
    problems: list[BuildlibError] = [CheckFailed(m, hint=h) for bad, m, h in found if bad]
    if stray := stray_files(config, images, f"the images would not be {tag}", buildkit=buildkit):
        problems.append(stray)
    return problems


def missing_tag(tag: str, version: str, *, release_please: bool) -> CheckFailed:
    """The release tag ``tag`` for ``version`` is not there: where the version comes from,
    and who makes the tag (release-please where it runs here, else the user). A release stops
    on it; doctor's release-tag check says the same."""
    if release_please:
        make = f"merge the release-please PR (it creates {tag}), or `git fetch --tags`; "
        make += "to tag by hand"
    else:
        make = "`git fetch --tags` if it was pushed; else tag HEAD, the commit to release"
    return CheckFailed(
        f"git tag {tag} for version {version} ([project].version in pyproject.toml) does not exist",
        hint=f"{make}: git tag {tag} && git push origin {tag}",
    )


def stray_files(
    config: Config, images: tuple[ImageSpec, ...], consequence: str, *, buildkit: bool
) -> CheckFailed | None:
    """One line naming the files the builds would send that git does not track."""
    builds = [
        (image.name, config.root / image.dockerfile, config.root / image.context)
        for image in images
    ]
    if not (found := strays(config.root, builds, buildkit=buildkit)):
        return None
    shown = ", ".join(stray.describe() for stray in found[:4])
    if len(found) > 4:
        shown += f" and {len(found) - 4} more"
    names = sorted({name for stray in found for name in stray.images})
    _, dockerfile, context = builds[0]
    ignore = ignore_file_for(dockerfile, context, buildkit=buildkit) or context / IGNORE_FILE
    return CheckFailed(
        f"the build context of {', '.join(names)} holds {len(found)} file(s) git does not "
        f"track: {shown}; {consequence}",
        hint=f"delete or move them, `git add` and commit what belongs in the image, or "
        f"exclude them in {shown_path(ignore, config.root)} (a line `{found[0].path}`)",
    )
