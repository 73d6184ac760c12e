"""Releases of multi-platform images: buildx pushes them straight from the build, so the
immutability check runs before any build, on the revision label of what the registry has.
(buildx is not on this machine: these use the plan and a stand-in registry client.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.config import ImageSpec
from buildlib.engine import Capabilities
from buildlib.errors import PublishError
from buildlib.existing import pushed_by_build_already_released
from buildlib.plan import REVISION_LABEL, BuildPlan, ImageBuild
from buildlib.releaseplan import Published

BUILDX = Capabilities("docker", "buildx", "28.0.1", "v0.19.3", server_version="28.0.1")
HEAD = "c0ffee" + "0" * 34
OTHER = "decade" + "0" * 34


class StubRegistry:
    """Answers from a dict of (repository, tag) -> labels; every image there is an index of
    ``platforms``."""

    host = "registry.example"

    def __init__(
        self,
        images: dict[tuple[str, str], dict[str, str]],
        platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64"),
    ) -> None:
        self.images = images
        self.index_platforms = platforms
        self.asked: list[tuple[str, str, str | None]] = []

    def platforms(self, repo: str, tag: str) -> tuple[str, ...] | None:
        return self.index_platforms if (repo, tag) in self.images else None

    def config_labels(self, repo: str, tag: str, *, platform: str | None = None):
        self.asked.append((repo, tag, platform))
        return self.images.get((repo, tag))

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        return "sha256:" + "1" * 64 if (repo, tag) in self.images else None


def a_build(name: str, platforms: tuple[str, ...], after: str | None = None) -> ImageBuild:
    return ImageBuild(
        image=ImageSpec(name, f"acme/{name}", "Dockerfile", "."),
        references=(f"acme/{name}:1.2.3",),
        dockerfile=Path("Dockerfile"),
        context=Path("."),
        platforms=platforms,
        build_args=(),
        labels=((REVISION_LABEL, HEAD),),
        output="push" if len(platforms) > 1 else "load",
        after=after,
    )


MULTI = ("linux/amd64", "linux/arm64")


def plan(*builds: ImageBuild) -> BuildPlan:
    return BuildPlan(BUILDX, builds, jobs=2)


def test_nothing_in_the_registry_builds_everything() -> None:
    original = plan(a_build("gpu", MULTI), a_build("cpu", ("linux/amd64",)))
    registry = StubRegistry({})

    kept, released = pushed_by_build_already_released(registry, original, "1.2.3", False)  # type: ignore[arg-type]

    assert kept == original and released == []


def test_a_rerun_from_the_same_commit_skips_that_build() -> None:
    original = plan(a_build("gpu", MULTI), a_build("lb", MULTI, after="gpu"))
    registry = StubRegistry({("acme/gpu", "1.2.3"): {REVISION_LABEL: HEAD}})

    kept, released = pushed_by_build_already_released(registry, original, "1.2.3", False)  # type: ignore[arg-type]

    assert [b.name for b in kept.builds] == ["lb"]
    assert kept.builds[0].after is None  # what it waited for is not built any more
    assert released == [
        Published("gpu", "acme/gpu", "acme/gpu:1.2.3", "sha256:" + "1" * 64, ["1.2.3"], True)
    ]
    assert registry.asked == [("acme/gpu", "1.2.3", "linux/amd64")]  # its first platform


def test_another_commit_under_the_version_is_refused_before_building() -> None:
    original = plan(a_build("gpu", MULTI))
    registry = StubRegistry({("acme/gpu", "1.2.3"): {REVISION_LABEL: OTHER}})

    with pytest.raises(PublishError) as caught:
        pushed_by_build_already_released(registry, original, "1.2.3", False)  # type: ignore[arg-type]

    assert caught.value.message == (
        "acme/gpu:1.2.3 already exists in registry.example, built from commit decade000000 "
        "(this build: c0ffee000000); release tags are immutable. Nothing was built or pushed"
    )
    assert caught.value.hint is not None and "--force" in caught.value.hint


@pytest.mark.parametrize("revision", [OTHER, HEAD])
def test_force_builds_and_pushes_over_it(revision: str) -> None:
    original = plan(a_build("gpu", MULTI))
    registry = StubRegistry({("acme/gpu", "1.2.3"): {REVISION_LABEL: revision}})

    kept, released = pushed_by_build_already_released(registry, original, "1.2.3", True)  # type: ignore[arg-type]

    assert kept == original and released == []


def test_the_same_commit_for_other_platforms_is_refused() -> None:
    original = plan(a_build("gpu", ("linux/amd64", "linux/arm64", "linux/arm/v7")))
    registry = StubRegistry({("acme/gpu", "1.2.3"): {REVISION_LABEL: HEAD}})

    with pytest.raises(PublishError) as caught:
        pushed_by_build_already_released(registry, original, "1.2.3", False)  # type: ignore[arg-type]

    assert "built for linux/amd64, linux/arm64 (this build: linux/amd64, linux/arm64, " in (
        caught.value.message
    )


def test_a_build_outside_git_never_counts_as_the_same() -> None:
    unknown = ImageBuild(
        **{**a_build("gpu", MULTI).__dict__, "labels": ((REVISION_LABEL, "unknown"),)}
    )
    registry = StubRegistry({("acme/gpu", "1.2.3"): {REVISION_LABEL: "unknown"}})

    with pytest.raises(PublishError):
        pushed_by_build_already_released(registry, plan(unknown), "1.2.3", False)  # type: ignore[arg-type]


def test_subplan_drops_edges_to_builds_left_out() -> None:
    from buildlib.releaseplan import subplan

    original = plan(a_build("gpu", ("linux/amd64",)), a_build("lb", MULTI, after="gpu"))

    pushed = subplan(original, lambda build: build.output == "push")
    assert [(b.name, b.after) for b in pushed.builds] == [("lb", None)]
    both = subplan(original, lambda build: True)
    assert [(b.name, b.after) for b in both.builds] == [("gpu", None), ("lb", "gpu")]


def test_a_stopped_release_names_what_was_pushed_and_not_what_was_in_place() -> None:
    from buildlib.errors import CommandFailed
    from buildlib.releaseplan import Published, release_stopped

    pushed = [
        Published("gpu", "acme/gpu", "acme/gpu:1.2.3", "sha256:1", ["1.2.3"]),
        Published("cpu", "acme/cpu", "acme/cpu:1.2.3", "sha256:2", ["1.2.3"], unchanged=True),
    ]
    error = release_stopped(CommandFailed("push of acme/lb:1.2.3 failed"), pushed, "acme/lb:1.2.3")
    assert error.message == (
        "release stopped at acme/lb:1.2.3: push of acme/lb:1.2.3 failed. Pushed and verified: "
        "acme/gpu:1.2.3. No floating tag (X.Y, X, latest) of any image was moved"
    )
    nothing = release_stopped(CommandFailed("build of lb failed"), pushed[1:])
    assert "Nothing was pushed" in nothing.message


def test_platforms_compare_as_registries_list_them() -> None:
    original = plan(a_build("gpu", ("linux/amd64", "linux/arm")))
    registry = StubRegistry(
        {("acme/gpu", "1.2.3"): {REVISION_LABEL: HEAD}}, platforms=("linux/amd64", "linux/arm/v7")
    )

    kept, released = pushed_by_build_already_released(registry, original, "1.2.3", False)  # type: ignore[arg-type]

    assert kept.builds == () and [p.name for p in released] == ["gpu"]


def test_every_build_buildx_pushes_is_checked_whatever_comes_before_it() -> None:
    loaded, fresh, taken = (
        a_build("cpu", ("linux/amd64",)),
        a_build("gpu", MULTI),
        a_build("lb", MULTI),
    )
    registry = StubRegistry({("acme/lb", "1.2.3"): {REVISION_LABEL: OTHER}})

    with pytest.raises(PublishError, match="acme/lb:1.2.3 already exists"):
        pushed_by_build_already_released(registry, plan(loaded, fresh, taken), "1.2.3", False)  # type: ignore[arg-type]
