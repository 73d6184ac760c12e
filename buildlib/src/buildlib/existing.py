"""What the registry already holds before a release writes: the versions released, this
version's tags from an earlier run, the other images of a per-image matrix. The verdicts
on those facts are releaseplan's. Only reads: never pushes, tags or deletes.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress

from buildlib import console, releaseplan
from buildlib.config import Config, ImageSpec
from buildlib.digests import listed_digest
from buildlib.docker import Docker
from buildlib.errors import BuildlibError
from buildlib.git import Git
from buildlib.plan import REVISION_LABEL, BuildPlan, ImageBuild, image_reference
from buildlib.registry import RegistryClient
from buildlib.releaseplan import Published


def released(
    config: Config, git: Git, client: RegistryClient, *, quiet: bool
) -> dict[str, list[str]]:
    """Versions already released, per configured image, from git tags and the registry. A
    release stops when the registry cannot list them (a shallow checkout's git may not know
    every release, and ``latest`` must never move back); ``quiet`` (a dry run) warns and
    plans from git tags alone."""
    git_tags = git.tags()
    found = {}
    for image in config.images:
        try:
            listed = client.tags(image.repository)
        except BuildlibError as error:
            if not quiet:  # nothing is written yet: the registry's own exit code (6, 7)
                raise type(error)(
                    f"could not list {image.repository}'s tags in {client.host} "
                    f"({error.message}); without them a floating tag could move back. "
                    "Nothing was built or pushed",
                    hint=error.hint or "run `invoke release` again when the registry answers",
                ) from None
            console.warn(
                f"could not list {image.repository}'s tags ({error.message}); "
                "this plan uses git tags only"
            )
            listed = []
        found[image.name] = releaseplan.released_versions(config, git_tags, listed)
    return found


def released_elsewhere(
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
            continue
        reference = image_reference(client.host, image.repository, full_tag)
        found.append(Published(image.name, image.repository, reference, digest, [full_tag], True))
    return found, waiting


def pushed_by_build_already_released(
    client: RegistryClient, plan: BuildPlan, full_tag: str, force: bool
) -> tuple[BuildPlan, list[Published]]:
    """Builds that push (straight from the builder) are checked before they run: those an
    earlier run of this release pushed are left out of ``plan`` and returned as published;
    anything else under the version is refused. ``force`` builds and pushes over it."""
    skipped, found = set(), []
    for build in plan.builds:
        if build.output != "push" or force:
            continue
        repository = build.image.repository
        platforms = client.platforms(repository, full_tag)
        if platforms is None:
            continue
        labels = client.config_labels(repository, full_tag, platform=build.platforms[0])
        reference = f"{repository}:{full_tag}"
        releaseplan.refuse_other_release(build, reference, client.host, platforms, labels)
        commit = dict(build.labels)[REVISION_LABEL]  # this release: the label is there
        console.info(
            f"{reference} is already in the registry, built from this commit "
            f"({commit[:12]}) for {', '.join(platforms)}: not built or pushed again"
        )
        digest = listed_digest(client, repository, full_tag)
        found.append(Published(build.name, repository, build.published, digest, [full_tag], True))
        skipped.add(build.name)
    return releaseplan.subplan(plan, lambda build: build.name not in skipped), found


def unchanged_versions(
    client: RegistryClient, cli: Docker, loaded: BuildPlan, full_tag: str, force: bool
) -> set[str]:
    """The loaded images whose ``full_tag`` already holds this very image (a re-run); any
    other content under an existing version tag is refused before anything is pushed."""
    unchanged = set()
    for build in loaded.builds:
        existing = client.config_digest(build.image.repository, full_tag)
        if existing is None:
            continue
        reference = f"{build.image.repository}:{full_tag}"
        local = cli.image_id(build.primary)
        if releaseplan.is_unchanged(reference, client.host, existing, local, force):
            unchanged.add(build.name)
    return unchanged


def digests(
    client: RegistryClient, builds: tuple[ImageBuild, ...], tag: str
) -> dict[str, str | None]:
    """The digest under ``tag`` of each build's repository (None: it lists none); a build
    the registry cannot answer for is left out (this serves an error message only)."""
    found: dict[str, str | None] = {}
    for build in builds:
        with suppress(BuildlibError):
            found[build.name] = client.manifest_digest(build.image.repository, tag)
    return found


def changed_since(
    client: RegistryClient,
    builds: tuple[ImageBuild, ...],
    tag: str,
    before: Mapping[str, str | None],
) -> tuple[list[Published], tuple[str, ...]]:
    """After a failed bake of several: the builds whose ``tag`` changed during this run, and
    the references the registry did not answer for."""
    now = digests(client, builds, tag)
    found = [
        Published(build.name, build.image.repository, build.published, digest, [tag])
        for build in builds
        if (digest := now.get(build.name)) is not None and digest != before.get(build.name)
    ]
    return found, tuple(build.published for build in builds if build.name not in now)
