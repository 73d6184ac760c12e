"""Tags and metadata of a push, as docker/metadata-action makes them: several tags, the
``sha-<commit>`` tag, the version label of a push that is not a release, OCI annotations
where buildx writes them, and full references in the workflow outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildlib import tags
from buildlib.bake import bake_target
from buildlib.docker import build_command
from buildlib.engine import Capabilities
from buildlib.errors import DockerUnavailable, UsageError
from buildlib.flags import ImageFlags, PushFlags
from buildlib.options import options_for
from buildlib.plan import make_plan
from buildlib.publish import push
from tests.support.config_repo import write_repo
from tests.support.fixture_repo import git
from tests.support.publish_fakes import (
    GPU,
    StubRegistry,
    publishing,
    reconfigure,
    released_project,
)
from tests.unit.test_attestations import REPO, build_lines, dry_run

DOCKER = "/usr/bin/docker"
BUILDX = Capabilities(DOCKER, "buildx", "27.3.1", buildx_version="v0.17.1", server_version="27")
OLD_BUILDX = Capabilities(DOCKER, "buildx", "24.0.7", buildx_version="v0.11.2", server_version="24")
BUILDKIT = Capabilities(DOCKER, "buildkit", "20.10.24", server_version="20.10.24")
VERSION = "org.opencontainers.image.version"


pytestmark = pytest.mark.usefixtures("no_docker_login")


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


# --- pure rules ----------------------------------------------------------------------------


def test_the_sha_tag_is_metadata_actions_short_form() -> None:
    assert tags.sha_tag("1a2b3c4d5e6f" + "0" * 28) == "sha-1a2b3c4"
    with pytest.raises(UsageError, match="needs a git commit"):
        tags.sha_tag(None)


def test_push_tags_keep_their_order_and_come_once() -> None:
    assert tags.push_tags(["main", "nightly", "main"], "sha-1a2b3c4") == (
        "main",
        "nightly",
        "sha-1a2b3c4",
    )


@pytest.mark.parametrize(
    ("version", "writes"),
    [
        ("v0.12.0", True),
        ("v0.17.1", True),
        ("0.12.1-desktop.4", True),
        ("v0.11.2", False),
        ("unknown", False),  # a version buildlib cannot read: no --annotation
    ],
)
def test_annotations_need_buildx_0_12(version: str, writes: bool) -> None:
    assert (tags.annotations_unsupported("buildx", "buildx", version) is None) is writes


def test_full_references_always_name_the_registry() -> None:
    assert tags.full_reference("docker.io", "runpod/tetra-rp", "main") == (
        "docker.io/runpod/tetra-rp:main"
    )
    assert tags.full_reference("index.docker.io", "a/b", "x") == "docker.io/a/b:x"
    assert tags.full_reference("127.0.0.1:5000", "a/b", "x") == "127.0.0.1:5000/a/b:x"


# --- push: several tags, one upload ----------------------------------------------------------


def test_push_writes_every_tag_and_the_sha_tag_by_one_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    registry = StubRegistry()
    root = released_project(tmp_path / "repo", "1.2.3")
    sha = "sha-" + head(root)[:7]
    with publishing(monkeypatch, registry) as docker:
        (result,) = push(
            root,
            PushFlags(images=("gpu",), tag=("main", "nightly"), sha_tag=True),
            environ={},
            runner=docker,
        )

    held = registry.tag_map(GPU)
    assert set(held) == {"main", "nightly", sha}
    assert len(set(held.values())) == 1, "every tag names the one pushed manifest"
    assert docker.pushes() == [f"{GPU}:main"], "the other tags are added in the registry"
    assert result.tags == ["main", "nightly", sha]
    (build,) = [argv for argv in docker.calls if argv[1] == "build"]
    assert f"{VERSION}=main" in build, "a branch push does not claim the release 1.2.3"
    lines = output.read_text().splitlines()
    refs = [f"docker.io/{GPU}:{tag}" for tag in ("main", "nightly", sha)]
    assert f"gpu-references={','.join(refs)}" in lines
    images = json.loads(next(line for line in lines if line.startswith("images="))[7:])
    assert images[0]["references"] == refs


def test_the_sha_tag_can_be_on_in_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = StubRegistry()
    root = released_project(tmp_path / "repo", "1.2.3")
    reconfigure(root, "[tool.buildlib]\n", "[tool.buildlib]\nsha-tag = true\n", "chore: sha tags")
    with publishing(monkeypatch, registry) as docker:
        push(root, PushFlags(images=("gpu",), tag="main"), environ={}, runner=docker)

    assert set(registry.tag_map(GPU)) == {"main", "sha-" + head(root)[:7]}


@pytest.mark.parametrize("refused", ["latest", "1.2.3"])
def test_any_release_tag_among_several_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    root = released_project(tmp_path / "repo", "1.2.3")
    with publishing(monkeypatch, StubRegistry()) as docker:
        with pytest.raises(UsageError, match="belongs to releases"):
            flags = PushFlags(images=("gpu",), tag=("main", refused))
            push(root, flags, environ={}, runner=docker)
        assert docker.calls == []


def test_the_tag_from_the_environment_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = StubRegistry()
    root = released_project(tmp_path / "repo", "1.2.3")
    with publishing(monkeypatch, registry) as docker:
        push(root, PushFlags(images=("gpu",)), environ={"TETRA_IMAGE_TAG": "dev"}, runner=docker)
    assert set(registry.tag_map(GPU)) == {"dev"}


# --- annotations: where buildx writes them -------------------------------------------------


def a_plan(tmp_path: Path, caps: Capabilities, *, multi: bool, annotate: bool):
    from buildlib import attest

    write_repo(tmp_path)
    from buildlib import config as config_module

    config = config_module.load(tmp_path)
    platform = "linux/amd64,linux/arm64" if multi else None
    options = options_for(config, ImageFlags(platform=platform), tag="main", environ={})
    return make_plan(
        config,
        config.select(["cpu"]),
        options,
        caps,
        output="push",
        attestations=attest.Attestations(),
        version="main",
        annotate=annotate,
    )


def test_a_build_pushed_by_buildx_repeats_its_labels_as_annotations(tmp_path: Path) -> None:
    (build,) = a_plan(tmp_path, BUILDX, multi=True, annotate=True).builds
    assert build.output == "push"
    assert f"index,manifest:{VERSION}=main" in build.annotations
    argv, _ = build_command(build, BUILDX)
    assert argv[argv.index("--annotation") + 1].startswith("index,manifest:org.opencontainers")
    assert bake_target(build)["annotations"] == list(build.annotations)
    labels = dict(build.labels)
    assert build.annotations == tuple(f"index,manifest:{k}={v}" for k, v in labels.items())


def test_a_loaded_build_has_no_annotations(tmp_path: Path) -> None:
    (build,) = a_plan(tmp_path, BUILDX, multi=False, annotate=True).builds
    assert build.output == "load" and build.annotations == ()
    assert "--annotation" not in build_command(build, BUILDX)[0]


def test_the_plan_says_why_images_go_without_annotations() -> None:
    assert tags.annotations_note(None, []) is None
    old = tags.annotations_unsupported("buildx", "buildx (v0.11.2)", "v0.11.2")
    assert tags.annotations_note(old, ["gpu"]) == (
        "images are published without OCI annotations (labels only): buildx v0.11.2 has no "
        "--annotation (0.12 or later has)"
    )
    none = tags.annotations_unsupported("buildkit", BUILDKIT.describe(), None)
    assert none is not None and "has no --annotation" in none
    loaded = tags.annotations_note(None, ["gpu", "cpu"])
    assert loaded is not None and loaded.startswith("gpu, cpu: published without OCI annotations")


def test_the_dry_run_shows_the_tags_the_annotations_and_the_version_label(
    tmp_path: Path,
) -> None:
    out = dry_run(
        REPO,
        tmp_path,
        "docker-container",
        "push",
        "--tag",
        "main",
        "--tag",
        "nightly",
        "--sha-tag",
        "--image",
        "cpu",
    )
    (line,) = build_lines(out)
    assert f"--label {VERSION}=main" in line
    assert f"--annotation index,manifest:{VERSION}=main" in line
    assert "runpod/tetra-rp-cpu ← main, nightly, sha-" in out


def test_the_dry_run_says_when_the_images_get_no_annotations(tmp_path: Path) -> None:
    out = dry_run(REPO, tmp_path, "docker", "push", "--tag", "main", "--image", "cpu")
    (line,) = build_lines(out)
    assert "--annotation" not in line
    assert "published without OCI annotations (labels only): pushed by docker push" in out


def test_the_doctor_says_whether_pushes_get_annotations(monkeypatch) -> None:
    from buildlib.checks.engine import check_annotations
    from buildlib.checks.project import Project

    monkeypatch.setattr("buildlib.docker.detect", lambda docker=None: OLD_BUILDX)
    result = check_annotations(Project.load(REPO))
    assert (result.id, result.status) == ("annotations", "warn")
    assert "buildx v0.11.2 has no --annotation" in result.message
    assert "buildx 0.12 or later" in (result.hint or "")
    monkeypatch.setattr("buildlib.docker.detect", lambda docker=None: BUILDKIT)
    assert check_annotations(Project.load(REPO)).status == "warn"
    monkeypatch.setattr("buildlib.docker.detect", lambda docker=None: BUILDX)
    assert check_annotations(Project.load(REPO)).status == "ok"

    def no_client(docker=None):
        raise DockerUnavailable("docker client 'docker' not found (looked in PATH)")

    monkeypatch.setattr("buildlib.docker.detect", no_client)
    result = check_annotations(Project.load(REPO))
    assert (result.status, result.message) == (
        "skipped",
        "no docker client: docker client 'docker' not found (looked in PATH)",
    )
