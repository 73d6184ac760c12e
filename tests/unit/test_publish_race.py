"""Each run pushes the image it built: loaded builds get a local name of their own run, the
push tags the image by id, and the registry must hold that image under the tag (else
"another writer replaced" it)."""

from __future__ import annotations

import dataclasses

import pytest

from buildlib.errors import PublishError
from buildlib.pushing import push_verified, still_ours
from buildlib.releaseplan import Published, run_local
from buildlib.runner import Result
from tests.unit.test_publish_multiplatform import MULTI, a_build, plan

OURS = "sha256:" + "1" * 64  # the image id this run built (its config digest)
PUSHED = "sha256:" + "2" * 64  # the manifest digest docker push reported
THEIRS = "sha256:" + "3" * 64


def test_loaded_builds_get_a_local_name_of_their_own_run() -> None:
    original = plan(a_build("gpu", ("linux/amd64",)), a_build("lb", MULTI))

    one, two = run_local(original), run_local(original)

    gpu, lb = one.builds
    assert gpu.published == "acme/gpu:1.2.3"
    assert gpu.primary.startswith("acme/gpu:1.2.3-buildlib-")
    assert gpu.primary != two.builds[0].primary  # another run, another name
    assert lb == original.builds[1]  # buildx pushes it from the build: no local name


class FakeCLI:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def tag(self, source: str, target: str) -> Result:
        self.calls.append(["tag", source, target])
        return Result(["docker", "tag"], 0)

    def push(self, reference: str) -> Result:
        self.calls.append(["push", reference])
        return Result(["docker", "push"], 0, "", f"1.2.3: digest: {PUSHED} size: 1234")


class FakeRegistry:
    host = "registry.test"

    def __init__(self, tag_holds: str, content: str = OURS) -> None:
        self.tag_holds = tag_holds
        self.content = content

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        return self.tag_holds

    def config_digest(self, repo: str, ref: str, *, platform: str | None = None) -> str:
        return self.content


def loaded_build():
    return run_local(plan(a_build("gpu", ("linux/amd64",)))).builds[0]


def test_the_image_is_tagged_by_id_and_pushed_as_the_published_name() -> None:
    cli = FakeCLI()
    build = loaded_build()

    digest = push_verified(cli, FakeRegistry(PUSHED), build, "1.2.3", OURS)  # type: ignore[arg-type]

    assert digest == PUSHED
    assert cli.calls == [["tag", OURS, "acme/gpu:1.2.3"], ["push", "acme/gpu:1.2.3"]]


@pytest.mark.parametrize(
    ("holds", "content"), [(THEIRS, OURS), (PUSHED, THEIRS)], ids=["tag-moved", "other-image"]
)
def test_a_tag_another_writer_replaced_is_an_error(holds: str, content: str) -> None:
    with pytest.raises(PublishError) as caught:
        push_verified(FakeCLI(), FakeRegistry(holds, content), loaded_build(), "1.2.3", OURS)  # type: ignore[arg-type]
    assert "another writer replaced acme/gpu:1.2.3 during this run" in caught.value.message


def test_a_tag_replaced_after_its_push_is_found_at_the_end() -> None:
    pushed = Published("gpu", "acme/gpu", "acme/gpu:main", PUSHED, ["main"])
    still_ours(FakeRegistry(PUSHED), [pushed])  # type: ignore[arg-type]
    with pytest.raises(PublishError) as caught:
        still_ours(FakeRegistry(THEIRS), [dataclasses.replace(pushed)])  # type: ignore[arg-type]
    assert "another writer replaced acme/gpu:main (now sha256:333333333333" in (
        caught.value.message
    )
