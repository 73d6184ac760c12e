"""The words and verdicts of releaseplan, and the registry reads of existing, each from given
facts: what a refused or stopped release says is what a user acts on."""

from __future__ import annotations

import dataclasses

import pytest

from buildlib import digests, existing, releaseplan
from buildlib.errors import CommandFailed, NotVerified, PublishError, RegistryError
from buildlib.plan import REVISION_LABEL
from buildlib.releaseplan import Published
from tests.unit.test_publish_multiplatform import HEAD, MULTI, OTHER, a_build

IMAGE = "sha256:" + "a" * 64
LOCAL = "sha256:" + "b" * 64
IMMUTABLE = "bump the version (a fix: commit), or pass --force to overwrite it"


def test_a_version_built_from_this_commit_for_the_same_platforms_is_not_refused() -> None:
    build = a_build("lb", ("linux/amd64", "linux/arm64", "linux/arm"))
    listed = ("linux/amd64", "linux/arm64/v8", "LINUX/ARM/V7")

    # this release, run again: no PublishError
    releaseplan.refuse_other_release(
        build, "acme/lb:1.2.3", "r.example", listed, {REVISION_LABEL: HEAD}
    )


@pytest.mark.parametrize(
    ("build", "platforms", "labels", "what"),
    [
        (
            a_build("lb", MULTI),
            (),
            {REVISION_LABEL: HEAD},
            "for one platform (this build: linux/amd64, linux/arm64)",
        ),
        (
            a_build("lb", MULTI),
            ("linux/amd64",),
            {REVISION_LABEL: HEAD},
            "for linux/amd64 (this build: linux/amd64, linux/arm64)",
        ),
        (
            a_build("lb", MULTI),
            MULTI,
            {REVISION_LABEL: OTHER},
            f"from commit {OTHER[:12]} (this build: {HEAD[:12]})",
        ),
        (
            dataclasses.replace(a_build("lb", MULTI), labels=()),
            MULTI,
            None,
            "from commit unknown (this build: unknown)",
        ),
    ],
)
def test_any_other_image_under_the_version_is_refused(build, platforms, labels, what) -> None:
    with pytest.raises(PublishError) as caught:
        releaseplan.refuse_other_release(build, "acme/lb:1.2.3", "r.example", platforms, labels)

    assert caught.value.message == (
        f"acme/lb:1.2.3 already exists in r.example, built {what}; release tags are immutable. "
        "Nothing was built or pushed"
    )
    assert caught.value.hint == IMMUTABLE


def test_platforms_compare_as_registries_list_them() -> None:
    # an index lists linux/arm64/v8 (Docker Hub's official images: docker-library/bashbrew
    # architecture/oci-platform.go) or linux/arm64 (buildx: containerd's Normalize drops v8)
    listed = releaseplan.platform_set(["linux/arm64/v8", "linux/arm/v7"])
    assert releaseplan.platform_set(["linux/arm64", "Linux/ARM"]) == listed
    assert releaseplan.platform_set(["linux/arm64", "linux/arm/v6"]) != listed


def test_a_loaded_image_is_unchanged_only_when_it_is_the_same_image() -> None:
    assert releaseplan.is_unchanged("acme/gpu:1.2.3", "r.example", IMAGE, IMAGE, force=False)
    assert not releaseplan.is_unchanged("acme/gpu:1.2.3", "r.example", IMAGE, LOCAL, force=True)

    for local, shown in [(LOCAL, "b" * 12), (None, "?")]:
        with pytest.raises(PublishError) as caught:
            releaseplan.is_unchanged("acme/gpu:1.2.3", "r.example", IMAGE, local, force=False)
        assert caught.value.message == (
            f"acme/gpu:1.2.3 already exists in r.example with different content (image "
            f"{'a' * 12}, this build {shown}); release tags are immutable. Nothing was pushed"
        )
        assert caught.value.hint == IMMUTABLE


def test_a_stopped_release_names_what_it_wrote_and_what_it_could_not_check() -> None:
    pushed = [
        Published("gpu", "acme/gpu", "acme/gpu:1.2.3", IMAGE, ["1.2.3"]),
        Published("cpu", "acme/cpu", "acme/cpu:1.2.3", IMAGE, ["1.2.3"]),
        Published("lb", "acme/lb", "acme/lb:1.2.3", IMAGE, ["1.2.3"], unchanged=True),
    ]

    error = releaseplan.release_stopped(
        CommandFailed("bake failed"), pushed, unknown=("acme/x:1.2.3", "acme/y:1.2.3")
    )

    assert error.message == (
        "release stopped: bake failed. Pushed and verified: acme/gpu:1.2.3, acme/cpu:1.2.3. "
        "Not known whether the registry holds: acme/x:1.2.3, acme/y:1.2.3 (it did not answer). "
        "No floating tag (X.Y, X, latest) of any image was moved"
    )
    assert error.hint == "fix the cause and run `invoke release` again (it is safe to re-run)"
    nothing = releaseplan.release_stopped(RegistryError("gone", hint="wait"), pushed[2:])
    assert nothing.message == (
        "release stopped: gone. Nothing was pushed. No floating tag (X.Y, X, latest) of any "
        "image was moved"
    )
    assert nothing.hint == "wait"


def test_a_push_the_last_check_could_not_confirm_is_not_also_named_as_verified() -> None:
    """The check after every push (``still_ours``) gets no answer for gpu: gpu is named once,
    as pushed but not verified; cpu, checked before, stays verified."""
    from buildlib.pushing import still_ours

    pushed = [
        Published("cpu", "acme/cpu", "acme/cpu:1.2.3", IMAGE, ["1.2.3"]),
        Published("gpu", "acme/gpu", "acme/gpu:1.2.3", IMAGE, ["1.2.3"]),
    ]
    client = Tags({"acme/cpu": IMAGE, "acme/gpu": None})  # None: no answer
    with pytest.raises(NotVerified) as caught:
        still_ours(client, pushed)  # type: ignore[arg-type]

    error = releaseplan.release_stopped(caught.value, pushed)

    assert error.message == (
        "release stopped: acme/gpu:1.2.3 was pushed, but the registry could not confirm it: "
        "acme/gpu: no answer. Pushed and verified: acme/cpu:1.2.3. Pushed, not verified: "
        "acme/gpu:1.2.3. No floating tag (X.Y, X, latest) of any image was moved"
    )


def test_a_push_the_registry_could_not_confirm_keeps_the_cause() -> None:
    error = NotVerified("acme/gpu:1.2.3", RegistryError("r.example: timed out", hint="retry"))

    assert error.message == (
        "acme/gpu:1.2.3 was pushed, but the registry could not confirm it: r.example: timed out"
    )
    assert (error.hint, error.reference) == ("retry", "acme/gpu:1.2.3")


class Tags:
    """A registry client's ``manifest_digest`` from a dict; ``None`` there: no answer."""

    host = "r.example"

    def __init__(self, digests: dict[str, str | None]) -> None:
        self.digests = digests

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        if repo not in self.digests:
            return None
        if self.digests[repo] is None:
            raise RegistryError(f"{repo}: no answer")
        return self.digests[repo]


def test_after_a_failed_bake_the_changed_tags_and_the_unanswered_are_named() -> None:
    builds = tuple(a_build(name, MULTI) for name in ("a", "b", "c", "d", "e"))
    client = Tags(
        {"acme/a": None, "acme/b": IMAGE, "acme/c": LOCAL, "acme/e": None, "acme/d": IMAGE}
    )
    before = {"b": LOCAL, "c": LOCAL}

    found, unknown = existing.changed_since(client, builds, "1.2.3", before)  # type: ignore[arg-type]

    assert found == [
        Published("b", "acme/b", "acme/b:1.2.3", IMAGE, ["1.2.3"]),
        Published("d", "acme/d", "acme/d:1.2.3", IMAGE, ["1.2.3"]),
    ]
    assert unknown == ("acme/a:1.2.3", "acme/e:1.2.3")
    assert existing.digests(client, builds, "1.2.3") == {  # type: ignore[arg-type]
        "b": IMAGE,
        "c": LOCAL,
        "d": IMAGE,
    }


def test_the_other_images_of_a_per_image_release_are_found_or_awaited(tmp_path) -> None:
    from buildlib import config as config_module
    from tests.support.config_repo import write_repo

    write_repo(tmp_path)
    config = config_module.load(tmp_path)
    gpu, cpu = config.images
    client = Tags({"runpod/tetra-rp-cpu": IMAGE})
    client.host = "ghcr.io"

    found, waiting = existing.released_elsewhere(client, config, (gpu,), "1.2.3")  # type: ignore[arg-type]
    assert found == [
        Published("cpu", cpu.repository, f"ghcr.io/{cpu.repository}:1.2.3", IMAGE, ["1.2.3"], True)
    ]
    assert waiting == []
    assert existing.released_elsewhere(client, config, (cpu,), "1.2.3") == ([], ["gpu"])  # type: ignore[arg-type]


def test_loaded_images_already_under_their_version_are_unchanged_or_refused() -> None:
    from tests.unit.test_publish_multiplatform import plan

    class Configs:
        host = "r.example"

        def __init__(self, held: dict[str, str]) -> None:
            self.held = held

        def config_digest(self, repo: str, tag: str) -> str | None:
            return self.held.get(f"{repo}:{tag}")

    class Local:
        def image_id(self, reference: str) -> str:
            return LOCAL

    loaded = plan(a_build("gpu", ("linux/amd64",)), a_build("cpu", ("linux/amd64",)))

    unchanged = existing.unchanged_versions(
        Configs({"acme/cpu:1.2.3": LOCAL}),  # type: ignore[arg-type]
        Local(),  # type: ignore[arg-type]
        loaded,
        "1.2.3",
        force=False,
    )
    assert unchanged == {"cpu"}
    with pytest.raises(PublishError) as caught:
        existing.unchanged_versions(
            Configs({"acme/cpu:1.2.3": IMAGE}),  # type: ignore[arg-type]
            Local(),  # type: ignore[arg-type]
            loaded,
            "1.2.3",
            force=False,
        )
    assert caught.value.message.startswith(
        "acme/cpu:1.2.3 already exists in r.example with different content"
    )


def test_a_tag_just_pushed_that_the_registry_does_not_list_is_an_error() -> None:
    assert digests.listed_digest(Tags({"acme/gpu": IMAGE}), "acme/gpu", "1") == IMAGE  # type: ignore[arg-type]
    with pytest.raises(PublishError) as caught:
        digests.listed_digest(Tags({}), "acme/gpu", "1.2.3")  # type: ignore[arg-type]
    assert caught.value.message == "r.example lists nothing under acme/gpu:1.2.3"
    assert caught.value.hint == "check r.example's storage, then push again"


def test_full_tags_pushed_or_found_in_place_and_where_a_release_stopped() -> None:
    from buildlib.pushing import push_full_tags
    from tests.unit.test_publish_multiplatform import plan

    loaded = plan(a_build("gpu", ("linux/amd64",)), a_build("cpu", ("linux/amd64",)))
    client = Tags({"acme/gpu": IMAGE})

    with pytest.raises(PublishError) as caught:
        push_full_tags(None, client, loaded.builds, "1.2.3", {"gpu", "cpu"}, {}, {})  # type: ignore[arg-type]

    # gpu was found in place, not pushed: it is not named as pushed
    assert caught.value.message.startswith(
        "release stopped at acme/cpu:1.2.3: r.example lists nothing under acme/cpu:1.2.3. "
        "Nothing was pushed."
    )
    client.digests["acme/cpu"] = LOCAL
    results = push_full_tags(None, client, loaded.builds, "1.2.3", {"gpu", "cpu"}, {}, {})  # type: ignore[arg-type]
    assert results == [
        Published("gpu", "acme/gpu", "acme/gpu:1.2.3", IMAGE, ["1.2.3"], True),
        Published("cpu", "acme/cpu", "acme/cpu:1.2.3", LOCAL, ["1.2.3"], True),
    ]
