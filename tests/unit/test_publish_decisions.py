"""What ``push`` and ``release`` decide, run through the public functions against a stub
registry and a fake docker (tests/support/publish_fakes.py): what is pushed and in which
order, what floats, what is refused, what is put back, what is retried."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import buildlib.publish as publish
from buildlib.checks.preflight import preflight
from buildlib.engine import Capabilities
from buildlib.errors import (
    AuthError,
    BuildlibError,
    CheckFailed,
    CommandFailed,
    PublishError,
    RegistryError,
    UsageError,
)
from buildlib.flags import PushFlags, ReleaseFlags
from buildlib.publish import push, release
from tests.support.fixture_repo import git
from tests.support.http_replies import Reply, ReplyServer, Seen
from tests.support.publish_fakes import (
    BUILDX,
    CAPS,
    CPU,
    GPU,
    StubRegistry,
    publishing,
    released_project,
)

# the classic builder: no BuildKit, so no Dockerfile.dockerignore
LEGACY = Capabilities("docker", "legacy", "28.0.1", server_version="28.0.1")
NO_LOGIN = {"DOCKER_CONFIG": "/nonexistent-buildlib-test"}
FLOATING = ("1.2", "1", "latest")


pytestmark = pytest.mark.usefixtures("no_docker_login")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The two-image project, released as 1.2.3 (a test moves it on with released_project)."""
    return released_project(tmp_path / "repo", "1.2.3")


@pytest.fixture
def registry() -> StubRegistry:
    return StubRegistry()


def do_release(root: Path, runner, images=("gpu", "cpu"), **flags):
    return release(root, ReleaseFlags(images=tuple(images), **flags), environ={}, runner=runner)


def released_then_moved_on(
    root: Path,
    registry: StubRegistry,
    monkeypatch: pytest.MonkeyPatch,
    version: str = "1.2.4",
    dockerfile: str = "FROM scratch\nLABEL changed=yes\n",
) -> dict[str, str]:
    """Releases the project as it stands, then makes it ``version`` with another Dockerfile
    (other content to push); returns gpu's tags as the first release left them."""
    with publishing(monkeypatch, registry) as docker:
        do_release(root, runner=docker)
    before = registry.tag_map(GPU)
    released_project(root, version, dockerfile=dockerfile)
    return before


# --- floating tags ------------------------------------------------------------------------


def test_a_first_release_pushes_every_full_tag_then_floats_them(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry) as docker:
        results = do_release(root, runner=docker)

    for repository in (GPU, CPU):
        tags = registry.tag_map(repository)
        assert set(tags) == {"1.2.3", *FLOATING}
        assert len(set(tags.values())) == 1, "every tag names the pushed manifest"
    assert [(r.name, r.tags) for r in results] == [
        ("gpu", ["1.2.3", *FLOATING]),
        ("cpu", ["1.2.3", *FLOATING]),
    ]
    # every full version tag is written (and verified) before any floating tag
    kinds = ["full" if tag == "1.2.3" else "floating" for _, tag, _ in registry.writes]
    assert kinds == ["full", "full"] + ["floating"] * 6
    assert docker.pushes() == [f"{GPU}:1.2.3", f"{CPU}:1.2.3"]


def test_a_newer_release_moves_the_floating_tags_that_already_exist(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = released_then_moved_on(root, registry, monkeypatch)["1.2.3"]
    with publishing(monkeypatch, registry) as docker:
        results = do_release(root, runner=docker)

    tags = registry.tag_map(GPU)
    assert tags["1.2.4"] != first
    assert {tag: tags[tag] for tag in FLOATING} == dict.fromkeys(FLOATING, tags["1.2.4"])
    assert tags["1.2.3"] == first
    assert results[0].tags == ["1.2.4", *FLOATING]


def test_a_backport_moves_only_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = StubRegistry()
    root = released_project(tmp_path / "repo", "1.2.4")
    newest = released_then_moved_on(
        root, registry, monkeypatch, "1.1.0", dockerfile="FROM scratch\nLABEL line=1.1\n"
    )["1.2.4"]
    with publishing(monkeypatch, registry) as docker:
        results = do_release(root, runner=docker)

    tags = registry.tag_map(GPU)
    assert tags["1.1"] == tags["1.1.0"] != newest
    assert (tags["1.2"], tags["1"], tags["latest"]) == (newest, newest, newest)
    assert results[0].tags == ["1.1.0", "1.1"]


def test_a_failed_floating_move_puts_back_the_tags_already_moved(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = released_then_moved_on(root, registry, monkeypatch)
    registry.fail_add_tag[(GPU, "1")] = RegistryError("registry.test: 503 unavailable")
    with publishing(monkeypatch, registry) as docker:
        with pytest.raises(PublishError) as caught:
            do_release(root, runner=docker)

    after = registry.tag_map(GPU)
    assert {tag: after[tag] for tag in FLOATING} == {tag: before[tag] for tag in FLOATING}
    assert after["1.2.4"] != before["1.2.3"]  # the full version tag stays pushed
    message = caught.value.message
    assert "moving the floating tags failed: registry.test: 503 unavailable" in message
    held = before["1.2"][7:19]
    assert f"{GPU}:1.2 → the previous release ({held}) again" in message


def test_a_failed_first_floating_move_touches_nothing(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.fail_add_tag[(GPU, "1.2")] = RegistryError("registry.test: 503 unavailable")
    with publishing(monkeypatch, registry) as docker:
        with pytest.raises(PublishError) as caught:
            do_release(root, runner=docker)

    assert set(registry.tag_map(GPU)) == {"1.2.3"}
    # a first release: no tag existed, and the message claims no previous release
    assert f"{GPU}:1 does not exist" in caught.value.message
    assert "previous release" not in caught.value.message


def test_a_put_back_that_fails_is_named(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    released_then_moved_on(root, registry, monkeypatch)
    registry.fail_add_tag[(GPU, "latest")] = RegistryError("registry.test: 503 unavailable")
    original_add_tag = registry.add_tag

    def add_tag(repo: str, source_ref: str, new_tag: str) -> str:
        digest = original_add_tag(repo, source_ref, new_tag)
        if new_tag == "1":  # from now on, putting `1` back fails
            registry.fail_add_tag[(GPU, "1")] = RegistryError("gone")
        return digest

    registry.add_tag = add_tag  # type: ignore[method-assign]
    with publishing(monkeypatch, registry) as docker:
        with pytest.raises(PublishError) as caught:
            do_release(root, runner=docker)

    assert f"{GPU}:1 → 1.2.4 (putting it back failed)" in caught.value.message


def test_a_failed_full_tag_moves_no_floating_tag(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry) as docker:
        # gpu's push succeeds, cpu's is refused: no image may float
        docker.push_failures = []
        original_run = docker.run

        def run(argv, **kwargs):
            if list(argv)[1:3] == ["push", f"{CPU}:1.2.3"]:
                docker.push_failures = ["denied: requested access to the resource is denied"]
            return original_run(argv, **kwargs)

        docker.run = run  # type: ignore[method-assign]
        with pytest.raises(PublishError) as caught:
            do_release(root, runner=docker)

    assert set(registry.tag_map(GPU)) == {"1.2.3"}
    assert CPU not in registry.repos
    assert f"Pushed and verified: {GPU}:1.2.3" in caught.value.message
    assert "No floating tag" in caught.value.message


# --- immutability -------------------------------------------------------------------------


def test_other_content_under_an_existing_version_is_refused_without_force(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.store(GPU, "1.2.3", "sha256:" + "e" * 64)  # someone else's 1.2.3
    before = registry.tag_map(GPU)
    with publishing(monkeypatch, registry) as docker:
        with pytest.raises(PublishError) as caught:
            do_release(root, runner=docker)

    assert registry.tag_map(GPU) == before
    assert docker.pushes() == []
    assert "already exists" in caught.value.message and "immutable" in caught.value.message
    assert caught.value.hint is not None and "--force" in caught.value.hint


def test_force_overwrites_an_existing_version(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = registry.store(GPU, "1.2.3", "sha256:" + "e" * 64)
    with publishing(monkeypatch, registry) as docker:
        do_release(root, runner=docker, force=True)

    tags = registry.tag_map(GPU)
    assert tags["1.2.3"] != old
    assert tags["latest"] == tags["1.2.3"]
    assert docker.pushes() == [f"{GPU}:1.2.3", f"{CPU}:1.2.3"]


def test_a_rerun_of_the_same_release_pushes_nothing_again(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry) as docker:
        do_release(root, runner=docker)
    writes = len(registry.writes)

    with publishing(monkeypatch, registry) as docker:
        results = do_release(root, runner=docker)

    assert docker.pushes() == []
    assert len(registry.writes) == writes  # floating tags already right: not re-written
    assert results[0].unchanged and results[0].tags == ["1.2.3", *FLOATING]


# --- push: retries and refusals -------------------------------------------------------------


def do_push(root: Path, docker, environ=None, images=("gpu",), **flags):
    return push(root, PushFlags(images=images, **flags), environ=environ or {}, runner=docker)


def test_transient_push_failures_are_retried(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry) as docker:
        docker.push_failures = ["net/http: TLS handshake timeout", "received unexpected 503"]
        results = do_push(root, docker, tag="main")

    assert docker.pushes() == [f"{GPU}:main"] * 3
    assert results[0].digest == registry.tag_map(GPU)["main"]


def test_the_last_transient_failure_is_raised(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry) as docker:
        docker.push_failures = ["first: 502 bad gateway", "second: EOF", "third: 504 timeout"]
        with pytest.raises(CommandFailed) as caught:
            do_push(root, docker, tag="main")

    assert docker.pushes() == [f"{GPU}:main"] * 3
    assert caught.value.message == (
        f"push of {GPU}:main failed after 3 attempt(s): third: 504 timeout"
    )
    assert GPU not in registry.repos


@pytest.mark.parametrize(
    ("output", "error"),
    [
        ("unknown: 400 bad request: manifest invalid", CommandFailed),
        ("denied: requested access to the resource is denied", AuthError),
        ("unauthorized: authentication required", AuthError),
    ],
)
def test_a_client_error_is_tried_once(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch, output: str, error: type
) -> None:
    with publishing(monkeypatch, registry) as docker:
        docker.push_failures = [output, output, output]
        with pytest.raises(error) as caught:
            do_push(root, docker, tag="main")

    assert docker.pushes() == [f"{GPU}:main"]
    assert output in caught.value.message


def test_push_verifies_the_digest_the_registry_lists(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry) as docker:
        original_store = registry.store

        def racing_store(repository: str, tag: str, image_id: str) -> str:
            digest = original_store(repository, tag, image_id)
            registry._write(repository, tag, "sha256:" + "0" * 64)  # another push won
            return digest

        registry.store = racing_store  # type: ignore[method-assign]
        with pytest.raises(PublishError) as caught:
            do_push(root, docker, tag="main")

    assert (
        f"another writer replaced {GPU}:main during this run: the registry has "
        f"sha256:{'0' * 12}" in caught.value.message
    )
    assert caught.value.hint == (
        "run it again; runs that push the same tag must take turns (a CI concurrency group)"
    )


@pytest.mark.parametrize("tag", ["latest", "1.2", "1.2.3", "v2"])
@pytest.mark.parametrize("source", ["flag", "environment"])
def test_push_refuses_release_tags(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch, tag: str, source: str
) -> None:
    kwargs = {"tag": tag} if source == "flag" else {"environ": {"TETRA_IMAGE_TAG": tag}}
    with publishing(monkeypatch, registry) as docker:
        with pytest.raises(UsageError) as caught:
            do_push(root, docker, **kwargs)
        assert docker.calls == []
        # --force is the way to do it on purpose
        do_push(root, docker, force=True, **kwargs)

    assert "belongs to releases" in caught.value.message
    assert docker.pushes() == [f"{GPU}:{tag}"]


def test_push_needs_a_tag(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with publishing(monkeypatch, StubRegistry()) as docker:
        with pytest.raises(UsageError, match="push needs a tag"):
            do_push(root, docker)
        assert docker.calls == []
    with publishing(monkeypatch, StubRegistry()) as docker, pytest.raises(UsageError) as caught:
        do_push(root, docker)
    assert caught.value.hint == "invoke push --tag main"


# --- what a release says: plan, report, outputs for the workflow ----------------------------


def test_the_dry_run_plan_names_every_tag_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = StubRegistry()
    root = released_project(tmp_path / "repo", "1.2.4")
    registry.store(GPU, "1.3.0", "sha256:" + "d" * 64)  # a newer line already out
    registry.store(GPU, "latest", "sha256:" + "d" * 64)
    with publishing(monkeypatch, registry) as docker:
        assert do_release(root, runner=docker, dry_run=True, as_json=True) == []
        document = json.loads(capsys.readouterr().out)
        do_release(root, runner=docker, dry_run=True)
        text = capsys.readouterr().err

    assert document["version"] == "1.2.4"
    assert document["registry"] == "docker.io"
    assert document["login"] is False
    gpu, cpu = document["images"]
    assert (gpu["name"], gpu["repository"], gpu["tags"]) == ("gpu", GPU, ["1.2.4", "1.2"])
    assert [s["tag"] for s in gpu["skipped"]] == ["1", "latest"]
    assert all(s["reason"] for s in gpu["skipped"])
    assert cpu["tags"] == ["1.2.4", *FLOATING] and cpu["skipped"] == []
    assert "plan for docker.io, version 1.2.4: no credentials (anonymous)" in text
    assert f"  gpu: {GPU} ← 1.2.4, 1.2" in text
    assert "    not moving latest: " in text
    assert registry.writes[2:] == []  # a dry run writes nothing
    assert docker.pushes() == []


def test_the_plan_says_where_the_login_comes_from(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "token-" + "x" * 20
    env = {"DOCKERHUB_USERNAME": "robot", "DOCKERHUB_TOKEN": secret}
    with publishing(monkeypatch, StubRegistry()) as docker:
        release(root, ReleaseFlags(dry_run=True, as_json=True), environ=env, runner=docker)
        document = json.loads(capsys.readouterr().out)
        release(root, ReleaseFlags(dry_run=True), environ=env, runner=docker)
        text = capsys.readouterr().err

    assert document["login"] is True
    assert "plan for docker.io, version 1.2.3: login from the environment" in text
    assert secret not in text


@pytest.mark.parametrize("variable", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
@pytest.mark.parametrize("task", ["push", "release"])
def test_a_workflow_file_that_cannot_be_written_stops_before_any_build(
    root: Path,
    registry: StubRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    task: str,
) -> None:
    # it used to fail after every push, the floating tags moved: "Is a directory", exit 1
    monkeypatch.setenv(variable, str(tmp_path))
    env = {"DOCKERHUB_USERNAME": "robot", "DOCKERHUB_TOKEN": "dckr_pat_not-a-real-token"}
    with publishing(monkeypatch, registry) as docker, pytest.raises(CheckFailed) as caught:
        monkeypatch.setattr(publish, "preflight", preflight)  # the check is one of it
        if task == "push":
            do_push(root, docker, environ=env, tag="topic")
        else:
            release(root, ReleaseFlags(), environ=env, runner=docker)

    assert docker.calls == [] and registry.tag_map(GPU) == {}
    assert caught.value.message == f"${variable} ({tmp_path}) cannot be written: Is a directory"


class Full(io.StringIO):
    """A stdout on a full disk: its buffer cannot be written out."""

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("written", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "--json"])
@pytest.mark.parametrize("task", ["push", "release"])
def test_an_output_that_fails_once_the_tags_are_pushed_says_they_are(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch, written: str, task: str
) -> None:
    # a full disk passes the check of the file up front; it used to end the run with the
    # system's words only, "No space left on device", exit 1
    if written == "--json":
        monkeypatch.setattr(sys, "stdout", Full())
    else:
        monkeypatch.setenv(written, "/dev/full")
    with publishing(monkeypatch, registry) as docker, pytest.raises(BuildlibError) as caught:
        if task == "push":
            do_push(root, docker, tag="topic", as_json=written == "--json")
        else:
            do_release(root, docker, as_json=written == "--json")

    where = f"${written} (/dev/full)" if written != "--json" else "the --json output (stdout)"
    assert caught.value.message == (
        f"{where} could not be written: No space left on device; "
        f"the {task} itself is done: the registry holds its tags"
    )
    pushed = {"topic"} if task == "push" else {"1.2.3", "1.2", "1", "latest"}
    assert caught.value.exit_code == 1 and set(registry.tag_map(GPU)) >= pushed


def test_the_report_and_the_workflow_outputs_name_every_tag_and_digest(
    root: Path,
    registry: StubRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    with publishing(monkeypatch, registry) as docker:
        do_release(root, runner=docker, as_json=True)
    captured = capsys.readouterr()

    gpu, cpu = registry.tag_map(GPU)["1.2.3"], registry.tag_map(CPU)["1.2.3"]
    gpu_refs = [f"docker.io/{GPU}:{tag}" for tag in ("1.2.3", *FLOATING)]
    cpu_refs = [f"docker.io/{CPU}:{tag}" for tag in ("1.2.3", *FLOATING)]
    document = json.loads(captured.out)
    assert document == {
        "version": "1.2.3",
        "registry": "docker.io",
        "images": [
            {
                "name": "gpu",
                "repository": GPU,
                "tags": ["1.2.3", *FLOATING],
                "digest": gpu,
                "references": gpu_refs,
            },
            {
                "name": "cpu",
                "repository": CPU,
                "tags": ["1.2.3", *FLOATING],
                "digest": cpu,
                "references": cpu_refs,
            },
        ],
    }
    lines = output.read_text().splitlines()
    assert lines[:6] == [
        f"gpu-digest={gpu}",
        "gpu-tags=1.2.3,1.2,1,latest",
        f"gpu-references={','.join(gpu_refs)}",
        f"cpu-digest={cpu}",
        "cpu-tags=1.2.3,1.2,1,latest",
        f"cpu-references={','.join(cpu_refs)}",
    ]
    assert json.loads(lines[6].removeprefix("images=")) == [
        {
            "name": "gpu",
            "repository": GPU,
            "digest": gpu,
            "tags": ["1.2.3", *FLOATING],
            "references": gpu_refs,
        },
        {
            "name": "cpu",
            "repository": CPU,
            "digest": cpu,
            "tags": ["1.2.3", *FLOATING],
            "references": cpu_refs,
        },
    ]
    assert summary.read_text() == (
        "### Images pushed to docker.io\n\n| image | tags | digest |\n|---|---|---|\n"
        f"| `{GPU}` | `1.2.3`, `1.2`, `1`, `latest` | `{gpu}` |\n"
        f"| `{CPU}` | `1.2.3`, `1.2`, `1`, `latest` | `{cpu}` |\n"
    )
    assert f"gpu: docker.io/{GPU}:1.2.3, 1.2, 1, latest → {gpu}" in captured.err


def test_a_rerun_is_reported_as_already_there(
    root: Path,
    registry: StubRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with publishing(monkeypatch, registry) as docker:
        do_release(root, runner=docker)
        capsys.readouterr()
        do_release(root, runner=docker)
    err = capsys.readouterr().err
    assert f"{GPU}:1.2.3 is already in the registry with the same content" in err
    assert "(already there)" in err


# --- release needs its tag, at HEAD, on a clean tree ----------------------------------------


# the message says where the version comes from; the fix names release-please as the tag's
# maker only where it runs
MISSING = "git tag v1.2.3 for version 1.2.3 ([project].version in pyproject.toml) does not exist"
NO_TAG = {
    None: (
        MISSING,
        "`git fetch --tags` if it was pushed; else tag HEAD, the commit to release: "
        "git tag v1.2.3 && git push origin v1.2.3",
    ),
    "release-please": (
        MISSING,
        "merge the release-please PR (it creates v1.2.3), or `git fetch --tags`; to tag by hand: "
        "git tag v1.2.3 && git push origin v1.2.3",
    ),
}


@pytest.mark.parametrize(
    "name",
    [
        None,
        "release-please-config.json",
        ".release-please-manifest.json",
        ".github/workflows/r.yml",
    ],
)
def test_release_needs_its_git_tag_and_names_release_please_as_its_tagger_where_it_runs(
    root: Path, monkeypatch: pytest.MonkeyPatch, name: str | None
) -> None:
    if name is not None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("uses: googleapis/release-please-action@v4\n", encoding="utf-8")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "ci: release-please")
    git(root, "tag", "-d", "v1.2.3")
    with publishing(monkeypatch, StubRegistry()) as docker:
        with pytest.raises(CheckFailed) as caught:
            do_release(root, runner=docker)
    message, hint = NO_TAG[None if name is None else "release-please"]
    assert caught.value.message == message
    assert caught.value.hint == hint
    assert docker.calls == []


def test_release_needs_its_tag_at_head(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tagged = git(root, "rev-parse", "HEAD")
    git(root, "commit", "-q", "--allow-empty", "-m", "chore: later")
    head = git(root, "rev-parse", "HEAD")
    with publishing(monkeypatch, StubRegistry()) as docker:
        with pytest.raises(CheckFailed) as caught:
            do_release(root, runner=docker)
    assert caught.value.message == (
        f"git tag v1.2.3 points at {tagged[:12]}, not at HEAD ({head[:12]})"
    )
    assert caught.value.hint == "git checkout v1.2.3"


@pytest.mark.parametrize(("count", "more"), [(3, ""), (4, "...")])
def test_release_needs_a_clean_tree(
    root: Path,
    registry: StubRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    count: int,
    more: str,
) -> None:
    for i in range(count):
        (root / f"stray{i}.txt").write_text("x")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "chore: more files")
    git(root, "tag", "-f", "v1.2.3")
    for i in range(count):
        (root / f"stray{i}.txt").write_text("changed")
    with publishing(monkeypatch, registry) as docker:
        with pytest.raises(CheckFailed) as caught:
            do_release(root, runner=docker)
        capsys.readouterr()
        # a dry run shows the plan anyway, and warns
        do_release(root, runner=docker, dry_run=True)
    assert caught.value.message == (
        f"the working tree has uncommitted changes (stray0.txt, stray1.txt, stray2.txt{more})"
        ": the images would not match v1.2.3"
    )
    assert caught.value.hint == "commit or stash them (git stash)"
    assert caught.value.exit_code == 5  # a pre-flight check, as README's exit codes say
    assert f"a real release would stop here: {caught.value}\n" in capsys.readouterr().err
    assert registry.writes == []


def test_release_outside_git_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    from tests.support.config_repo import write_repo

    write_repo(root)
    with publishing(monkeypatch, StubRegistry()) as docker:
        with pytest.raises(CheckFailed) as caught:
            do_release(root, runner=docker)
    assert caught.value.message == "release needs a git checkout to find the tag v1.2.3"
    assert caught.value.exit_code == 5
    assert caught.value.hint == "run it from a clone with tags (actions/checkout fetch-tags)"


def test_release_on_a_branch_with_no_commit_yet_says_head_is_unknown(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tagged = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "--orphan", "fresh")
    with publishing(monkeypatch, StubRegistry()) as docker:
        with pytest.raises(CheckFailed) as caught:
            do_release(root, runner=docker)
    assert caught.value.message == f"git tag v1.2.3 points at {tagged[:12]}, not at HEAD (?)"
    assert caught.value.hint == "git checkout v1.2.3"
    assert docker.calls == []


# --- one image at a time (one CI job per image) ---------------------------------------------


def test_floating_tags_wait_for_the_last_image_then_move_for_all(
    root: Path,
    registry: StubRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with publishing(monkeypatch, registry) as docker:
        first = do_release(root, runner=docker, images=["cpu"])
        assert (
            "floating tags not moved yet: gpu lacks 1.2.3 in the registry; the release of the "
            "last image moves them for every image"
        ) in capsys.readouterr().err
        assert set(registry.tag_map(CPU)) == {"1.2.3"}
        assert first[0].tags == ["1.2.3"]

        do_release(root, runner=docker, images=["gpu"])

    for repository in (GPU, CPU):
        tags = registry.tag_map(repository)
        assert {tags[t] for t in FLOATING} == {tags["1.2.3"]}, repository
    assert f"cpu: docker.io/{CPU}:1.2.3, 1.2, 1, latest" in capsys.readouterr().err


def test_a_failed_lookup_of_the_other_images_names_what_the_release_pushed(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asking whether gpu has the version comes after cpu's is pushed: a registry failure
    there says so, and that no floating tag moved (exit 8), not only the registry's words."""
    answer = registry.manifest_digest

    def failing(repo: str, tag: str) -> str | None:
        if repo == GPU:
            raise RegistryError("registry unavailable (HTTP 503)")
        return answer(repo, tag)

    monkeypatch.setattr(registry, "manifest_digest", failing)
    with publishing(monkeypatch, registry) as docker, pytest.raises(PublishError) as caught:
        do_release(root, runner=docker, images=["cpu"])

    assert caught.value.message == (
        f"release stopped: registry unavailable (HTTP 503). Pushed and verified: {CPU}:1.2.3. "
        "No floating tag (X.Y, X, latest) of any image was moved"
    )
    assert caught.value.exit_code == 8
    assert set(registry.tag_map(CPU)) == {"1.2.3"}


# --- multi-platform images: buildx pushes them from the build --------------------------------

MULTI = "linux/amd64,linux/arm64"


def cpu_already_released(registry: StubRegistry, version: str) -> None:
    """The other image's CI job already pushed the version: floating tags may move."""
    registry.store(CPU, version, "sha256:" + "c" * 64)


def test_a_multi_platform_release_is_pushed_by_its_build_then_floats(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    cpu_already_released(registry, "1.2.3")
    with publishing(monkeypatch, registry, BUILDX) as docker:
        results = do_release(root, runner=docker, images=["gpu"], platform=MULTI)

    (build,) = docker.builds()
    assert "--push" in build and "--load" not in build
    assert docker.pushes() == []  # nothing left to push: the build did
    tags = registry.tag_map(GPU)
    assert registry.index_platforms[(GPU, "1.2.3")] == ("linux/amd64", "linux/arm64")
    assert {tags[t] for t in FLOATING} == {tags["1.2.3"]}
    assert [(r.name, r.reference, r.digest) for r in results] == [
        ("gpu", f"{GPU}:1.2.3", tags["1.2.3"])
    ]


def test_a_multi_platform_rerun_from_the_same_commit_is_not_built_again(
    root: Path,
    registry: StubRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cpu_already_released(registry, "1.2.3")
    with publishing(monkeypatch, registry, BUILDX) as docker:
        do_release(root, runner=docker, images=["gpu"], platform=MULTI)
    digest = registry.tag_map(GPU)["1.2.3"]
    capsys.readouterr()

    with publishing(monkeypatch, registry, BUILDX) as docker:
        results = do_release(root, runner=docker, images=["gpu"], platform=MULTI)

    assert docker.builds() == []
    assert results[0].unchanged and results[0].digest == digest
    head = git(root, "rev-parse", "HEAD")
    assert (
        f"{GPU}:1.2.3 is already in the registry, built from this commit ({head[:12]}) for "
        "linux/amd64, linux/arm64: not built or pushed again"
    ) in capsys.readouterr().err


def test_a_multi_platform_version_from_another_commit_is_refused_before_building(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry, BUILDX) as docker:
        do_release(root, runner=docker, images=["gpu"], platform=MULTI)
    before = registry.tag_map(GPU)
    git(root, "commit", "-q", "--allow-empty", "-m", "fix: another commit, same version")
    git(root, "tag", "-f", "v1.2.3")

    with publishing(monkeypatch, registry, BUILDX) as docker:
        with pytest.raises(PublishError) as caught:
            do_release(root, runner=docker, images=["gpu"], platform=MULTI)
        assert docker.builds() == []
        # --force builds and pushes over it
        do_release(root, runner=docker, images=["gpu"], platform=MULTI, force=True)

    assert "release tags are immutable. Nothing was built or pushed" in caught.value.message
    assert len(docker.builds()) == 1
    assert registry.writes[-1][:2] == (GPU, "1.2.3")
    assert registry.tag_map(GPU)["1.2.3"] == before["1.2.3"]  # same Dockerfile, same image


def test_a_failed_multi_platform_build_names_what_it_pushed(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry, BUILDX) as docker:
        docker.build_failure = "error: failed to export cache"
        with pytest.raises(PublishError) as caught:
            do_release(root, runner=docker, images=["gpu"], platform=MULTI)

    assert caught.value.message.startswith("release stopped: ")
    assert f"Pushed and verified: {GPU}:1.2.3. " in caught.value.message
    assert set(registry.tag_map(GPU)) == {"1.2.3"}  # no floating tag


def test_a_multi_platform_push_is_verified_in_the_registry(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry, BUILDX) as docker:
        results = do_push(root, docker, tag="main", platform=MULTI)

    assert docker.pushes() == []
    assert results[0].digest == registry.tag_map(GPU)["main"]
    assert registry.index_platforms[(GPU, "main")] == ("linux/amd64", "linux/arm64")


@pytest.mark.parametrize(("count", "more"), [(4, ""), (5, " and 1 more")])
def test_files_git_does_not_track_stop_a_release_before_any_build(
    root: Path, monkeypatch: pytest.MonkeyPatch, count: int, more: str
) -> None:
    for i in range(count):
        (root / f"stray{i}.txt").write_text("not committed")
    with publishing(monkeypatch, StubRegistry()) as docker:
        with pytest.raises(CheckFailed) as caught:
            do_release(root, runner=docker)
        assert docker.calls == []
    assert caught.value.message.startswith(
        f"the build context of cpu, gpu holds {count} file(s) git does not track: "
    )
    shown = caught.value.message.split("track: ", 1)[1].split(";", 1)[0]
    assert shown == ", ".join(f"stray{i}.txt (untracked)" for i in range(4)) + more
    assert caught.value.message.endswith(f"{more}; the images would not be v1.2.3")


# --- push: the plan, the report, the checkout --------------------------------------------


def test_a_push_dry_run_prints_its_plan_and_writes_nothing(
    root: Path,
    registry: StubRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with publishing(monkeypatch, registry) as docker:
        assert do_push(root, docker, tag=("main", "nightly"), dry_run=True, as_json=True) == []
        out = capsys.readouterr().out
        do_push(root, docker, tag="main", dry_run=True)
        text = capsys.readouterr().err

    image = {"name": "gpu", "repository": GPU, "tags": ["main", "nightly"], "skipped": []}
    document = {"version": None, "registry": "docker.io", "login": False, "images": [image]}
    assert out == json.dumps(document, indent=2) + "\n"
    assert "plan for docker.io: no credentials (anonymous)\n" in text
    assert f"  gpu: {GPU} ← main\n" in text
    assert registry.writes == [] and docker.pushes() == []
    assert any("build" in argv[1:3] for argv in docker.calls), "a dry run shows its builds"


@pytest.mark.parametrize("task", ["push", "release"])
def test_a_dry_run_shows_the_build_its_real_run_makes(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    """The local name of the run (REPO:TAG-buildlib-RUN, pushed as REPO:TAG), not REPO:TAG:
    each run draws its own RUN; the created time differs, and only a real build has an id to
    write."""
    runs = []
    for dry_run in (True, False):
        with publishing(monkeypatch, registry) as docker:
            if task == "push":
                do_push(root, docker, tag="main", dry_run=dry_run)
            else:
                do_release(root, runner=docker, images=["gpu"], dry_run=dry_run)
        (build,) = docker.builds()
        text = re.sub(r"-buildlib-[0-9a-f]{8}\b", "-buildlib-RUN", " ".join(build))
        runs.append(re.sub(r"created=\S+| --iidfile \S+", "", text))

    dry, real = runs
    assert dry == real
    assert f"--tag {GPU}:{'main' if task == 'push' else '1.2.3'}-buildlib-RUN " in dry


def test_the_plan_names_an_existing_docker_login(capsys: pytest.CaptureFixture[str]) -> None:
    from buildlib.credentials import Credentials
    from buildlib.pushing import Access
    from buildlib.report import print_plan

    access = Access("ghcr.io", Credentials("robot", "s3cret"), "hint")
    print_plan(access, [], as_json=False, version="1.2.3")

    text = capsys.readouterr().err
    assert "plan for ghcr.io, version 1.2.3: using the existing docker login\n" in text
    assert "s3cret" not in text


def test_a_push_reports_every_reference_it_pushed(
    root: Path,
    registry: StubRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with publishing(monkeypatch, registry) as docker:
        (result,) = do_push(root, docker, tag=("main", "nightly"), as_json=True)

    digest = registry.tag_map(GPU)["main"]
    assert (result.reference, result.digest, result.tags) == (
        f"{GPU}:main",
        digest,
        ["main", "nightly"],
    )
    image = {
        "name": "gpu",
        "repository": GPU,
        "digest": digest,
        "tags": ["main", "nightly"],
        "references": [f"docker.io/{GPU}:main", f"docker.io/{GPU}:nightly"],
    }
    document = {"version": None, "registry": "docker.io", "images": [image]}
    assert capsys.readouterr().out == json.dumps(document, indent=2) + "\n"


def test_files_git_does_not_track_stop_a_push_whose_second_tag_is_main(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / "notes.txt").write_text("not committed")
    with publishing(monkeypatch, registry) as docker:
        with pytest.raises(CheckFailed) as caught:
            do_push(root, docker, tag=("topic", "main"))
    assert caught.value.message.endswith("notes.txt (untracked); main would not be the commit")
    assert docker.calls == []


@pytest.mark.parametrize(("tag", "dry_run"), [("main", False), ("main", True), ("topic", False)])
def test_files_git_does_not_track_stop_only_a_real_push_of_main(
    root: Path,
    registry: StubRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tag: str,
    dry_run: bool,
) -> None:
    (root / "notes.txt").write_text("not committed")
    with publishing(monkeypatch, registry) as docker:
        if tag == "main" and not dry_run:
            with pytest.raises(CheckFailed) as caught:
                do_push(root, docker, tag=tag)
            assert caught.value.message.endswith(
                "git does not track: notes.txt (untracked); main would not be the commit"
            )
            assert docker.calls == []
            return
        do_push(root, docker, tag=tag, dry_run=dry_run)
    warned = capsys.readouterr().err
    assert f"notes.txt (untracked); {tag} would not be the commit" in warned
    assert ("a real push would stop here: the build context" in warned) is (tag == "main")
    assert bool(registry.tag_map(GPU)) is not dry_run


def test_a_multi_platform_push_another_writer_replaced_is_an_error(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry, BUILDX) as docker:
        docker.reported = "sha256:" + "e" * 64
        with pytest.raises(PublishError) as caught:
            do_push(root, docker, tag="main", platform=MULTI)

    assert caught.value.message.startswith(f"another writer replaced {GPU}:main during this run")
    assert "the build pushed sha256:eeeeeeeeeeee" in caught.value.message


def test_a_release_whose_multi_platform_push_fails_its_check_says_it_stopped(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check of what buildx pushed is part of the release: a failure there says what
    was written and that no floating tag moved, as a failure of any other push does."""
    with publishing(monkeypatch, registry, BUILDX) as docker:
        do_release(root, runner=docker, images=["cpu"])  # then gpu's would move the floating tags
        docker.reported = "sha256:" + "e" * 64
        with pytest.raises(PublishError) as caught:
            do_release(root, runner=docker, images=["gpu"], platform=MULTI)

    assert caught.value.message.startswith(
        f"release stopped at {GPU}:1.2.3: another writer replaced {GPU}:1.2.3 during this run"
    )
    assert caught.value.message.endswith(
        "Nothing was pushed. No floating tag (X.Y, X, latest) of any image was moved"
    )
    assert set(registry.tag_map(GPU)) == {"1.2.3"}


def untracked_notes_beside_a_dockerfile_ignore_file(root: Path, ignored: str) -> None:
    """Commit a Dockerfile.dockerignore of ``ignored`` lines, then leave notes.txt untracked."""
    (root / "Dockerfile.dockerignore").write_text(ignored)
    git(root, "add", "Dockerfile.dockerignore")
    git(root, "commit", "-qm", "chore: an ignore file of the Dockerfile's own")
    (root / "notes.txt").write_text("not committed")


def test_a_dockerfile_s_own_ignore_file_keeps_a_file_out_of_the_stray_check(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # BuildKit reads Dockerfile.dockerignore; the classic builder reads only .dockerignore
    untracked_notes_beside_a_dockerfile_ignore_file(root, ".git\nnotes.txt\n")
    with publishing(monkeypatch, StubRegistry()) as docker:
        do_push(root, docker, tag="main")

    assert "notes.txt" not in capsys.readouterr().err


def test_with_no_ignore_file_a_stray_file_s_hint_names_the_one_to_write(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nothing is left out of the context, not even the repository's own .git
    git(root, "rm", "-q", ".dockerignore")
    git(root, "commit", "-qm", "chore: no ignore file")
    with publishing(monkeypatch, StubRegistry()) as docker:
        with pytest.raises(CheckFailed) as caught:
            do_push(root, docker, tag="main")

    assert "track: .git (the repository itself); main would not be" in caught.value.message
    assert caught.value.hint is not None
    assert caught.value.hint.endswith("or exclude them in .dockerignore (a line `.git`)")


@pytest.mark.parametrize(
    ("caps", "named"), [(CAPS, "Dockerfile.dockerignore"), (LEGACY, ".dockerignore")]
)
def test_a_stray_file_s_hint_names_the_ignore_file_this_builder_reads(
    root: Path, monkeypatch: pytest.MonkeyPatch, caps, named: str
) -> None:
    # BuildKit reads Dockerfile.dockerignore; the classic builder reads only .dockerignore
    untracked_notes_beside_a_dockerfile_ignore_file(root, ".git\n")
    with publishing(monkeypatch, StubRegistry(), caps) as docker:
        with pytest.raises(CheckFailed) as caught:
            do_push(root, docker, tag="main")

    assert caught.value.hint is not None
    assert caught.value.hint.endswith(f"or exclude them in {named} (a line `notes.txt`)")


def test_a_file_only_the_dockerfiles_own_ignore_file_leaves_out_stops_a_classic_build(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BuildKit leaves the file out (test_a_dockerfile_s_own_ignore_file_keeps_...); the
    # classic builder reads only .dockerignore and sends it
    untracked_notes_beside_a_dockerfile_ignore_file(root, ".git\nnotes.txt\n")
    with publishing(monkeypatch, StubRegistry(), LEGACY) as docker:
        with pytest.raises(CheckFailed, match=r"track: notes\.txt \(untracked\); main would"):
            do_push(root, docker, tag="main")
        assert docker.calls == []


def test_a_release_reports_its_images_in_the_configured_order(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry, BUILDX) as docker:
        do_release(root, runner=docker, images=["gpu"], platform=MULTI)
    # a re-run for both: gpu is found released, cpu is pushed by its build before that
    with publishing(monkeypatch, registry, BUILDX) as docker:
        results = do_release(root, runner=docker, platform=MULTI)

    assert len(docker.builds()) == 1
    assert [(result.name, result.unchanged) for result in results] == [
        ("gpu", True),
        ("cpu", False),
    ]


def test_a_push_stopped_part_way_names_every_tag_it_wrote_and_exits_8(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry) as docker:
        answer = docker.run

        def cpu_refused(argv, **kwargs):
            if [str(a) for a in argv][1:2] == ["push"] and str(argv[2]).startswith(CPU):
                docker.push_failures = ["unknown: 400 bad request: manifest invalid"]
            return answer(argv, **kwargs)

        monkeypatch.setattr(docker, "run", cpu_refused)
        with pytest.raises(PublishError) as caught:
            do_push(root, docker, images=("gpu", "cpu"), tag=("main", "nightly"))

    assert caught.value.exit_code == 8
    assert caught.value.message == (
        f"push stopped: push of {CPU}:main failed after 1 attempt(s): unknown: 400 bad "
        f"request: manifest invalid. Pushed and verified before it: {GPU}:main, "
        f"{GPU}:nightly; no image after it was pushed"
    )
    assert caught.value.hint == "fix the cause and run the same `invoke push` again"
    assert set(registry.tag_map(GPU)) == {"main", "nightly"}
    assert CPU not in registry.repos


def test_a_push_replaced_at_the_final_check_names_the_tags_it_still_holds_and_exits_8(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer takes gpu:main after its read-back, while cpu is pushed: the final
    check stops the push, which names what it wrote and still holds, as any stopped push."""
    theirs = "sha256:" + "3" * 64
    with publishing(monkeypatch, registry) as docker:
        add_tag = registry.add_tag

        def racing_add_tag(repo: str, source_ref: str, new_tag: str) -> str:
            digest = add_tag(repo, source_ref, new_tag)
            if repo == CPU:
                registry._write(GPU, "main", theirs)
            return digest

        monkeypatch.setattr(registry, "add_tag", racing_add_tag)
        with pytest.raises(PublishError) as caught:
            do_push(root, docker, images=("gpu", "cpu"), tag=("main", "nightly"))

    ours = registry.tag_map(GPU)["nightly"]
    assert caught.value.exit_code == 8
    assert caught.value.message == (
        f"push stopped: another writer replaced {GPU}:main (now {theirs[:19]}, this run "
        f"pushed {ours[:19]}) during this run. Pushed and verified before it: "
        f"{GPU}:nightly, {CPU}:main, {CPU}:nightly; no image after it was pushed"
    )
    assert caught.value.hint == (
        "run it again; runs that push the same tag must take turns (a CI concurrency group)"
    )


def cpu_lock_made_a_link(root: Path, tmp_path: Path, monkeypatch, tag: str) -> Path:
    """A link in place of the lock of cpu's push (planted by another program): the lock a
    push of cpu alone leaves is the one to replace."""
    with publishing(monkeypatch, StubRegistry()) as docker:
        if tag == "main":
            do_push(root, docker, images=("cpu",), tag=tag)
        else:
            do_release(root, runner=docker, images=("cpu",))
    (lock,) = (tmp_path / f"buildlib-{os.getuid()}").iterdir()
    lock.unlink()
    lock.symlink_to(tmp_path / "elsewhere")
    return lock


@pytest.mark.parametrize("task", ["push", "release"])
def test_a_lock_that_cannot_be_opened_stops_the_publish_naming_what_it_wrote(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, task
) -> None:
    lock = cpu_lock_made_a_link(root, tmp_path, monkeypatch, "main" if task == "push" else "")
    with publishing(monkeypatch, registry) as docker:
        with pytest.raises(PublishError) as caught:
            if task == "push":
                do_push(root, docker, images=("gpu", "cpu"), tag="main")
            else:
                do_release(root, runner=docker)

    cause = (
        f"the lock that makes pushes of {CPU}:{'main' if task == 'push' else '1.2.3'} take "
        f"turns cannot be opened: Too many levels of symbolic links ({lock})"
    )
    done = "main" if task == "push" else "1.2.3"
    assert caught.value.message.startswith(
        f"push stopped: {cause}. Pushed and verified before it: {GPU}:main;"
        if task == "push"
        else f"release stopped at {CPU}:1.2.3: {cause}. Pushed and verified: {GPU}:1.2.3."
    )
    assert caught.value.hint == f"remove {lock}"
    assert set(registry.tag_map(GPU)) == {done} and CPU not in registry.repos
    assert not (tmp_path / "elsewhere").exists()


def test_a_push_that_fails_before_writing_anything_keeps_its_own_error(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, registry) as docker:
        docker.push_failures = ["unknown: 400 bad request: manifest invalid"]
        with pytest.raises(CommandFailed) as caught:
            do_push(root, docker, images=("gpu", "cpu"), tag="main")

    assert caught.value.exit_code == 4
    assert GPU not in registry.repos and CPU not in registry.repos


# --- a registry that needs a login, and no credentials ---------------------------------------


class _Registry401(ReplyServer):
    """A registry behind htpasswd (distribution's auth: basic): 401 to anonymous requests."""

    def __init__(self, status: int = 401) -> None:
        super().__init__()
        self.status = status
        self.seen: list[Seen] = []

    def answer(self, seen: Seen) -> Reply:
        self.seen.append(seen)
        return Reply(self.status, {"WWW-Authenticate": 'Basic realm="basic-realm"'})


@contextmanager
def _registry_401(status: int = 401) -> Iterator[_Registry401]:
    server = _Registry401(status)
    server.start_serving()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("task", ["push", "release"])
def test_without_credentials_a_registry_that_needs_a_login_stops_a_push_or_release_before_any_build(
    root: Path, registry: StubRegistry, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    # a push used to build every image, then fail at the push: "no basic auth credentials";
    # a release to stop at its tag listing: "could not list ...'s tags" (exit 8, "stopped
    # part-way"), where a push says what is missing (exit 5, a pre-flight problem)
    from buildlib import pushing
    from buildlib.registry import RegistryClient

    with _registry_401() as server, publishing(monkeypatch, registry) as docker:
        monkeypatch.setattr(pushing, "RegistryClient", RegistryClient)
        with pytest.raises(CheckFailed) as caught:
            if task == "push":
                do_push(root, docker, tag="topic", registry=server.host)
            else:
                release(root, ReleaseFlags(registry=server.host), environ={}, runner=docker)
    assert docker.calls == []
    assert caught.value.exit_code == 5
    assert caught.value.message == f"{server.host} requires a login, and there are no credentials"
    assert caught.value.hint == (
        f"set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (or `docker login {server.host}`)"
    )
    assert [(s.method, s.path, s.authorization) for s in server.seen] == [("GET", "/v2/", None)]


@pytest.mark.parametrize(("status", "with_credentials"), [(200, False), (401, True)])
def test_the_login_probe_asks_nothing_with_credentials_and_passes_a_registry_open_to_all(
    status: int, with_credentials: bool
) -> None:
    from buildlib.credentials import Credentials
    from buildlib.pushing import Access, refuse_anonymous

    with _registry_401(status) as server:
        creds = Credentials("ci", "token", from_environment=True) if with_credentials else None
        refuse_anonymous(Access(server.host, creds, "set A and B"))
    # with credentials the push logs in and finds out (no extra request, as in bench/)
    assert len(server.seen) == (0 if with_credentials else 1)


def test_the_login_probe_asks_a_failing_registry_once_and_leaves_it_to_the_push() -> None:
    # one short try: a registry answering 503 is not waited for and retried before the
    # builds, as every later request to it is
    from buildlib.pushing import Access, refuse_anonymous

    with _registry_401(503) as server:
        refuse_anonymous(Access(server.host, None, "set A and B"))
    assert [(s.method, s.path) for s in server.seen] == [("GET", "/v2/")]


def test_a_push_warns_of_an_ignored_build_arg_before_its_checks_and_builds(
    root: Path,
    registry: StubRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with publishing(monkeypatch, registry) as docker:
        do_push(root, docker, tag="main", build_arg=("EXTRAS=2",))

    first, *rest = capsys.readouterr().err.splitlines()
    assert first == "warning: --build-arg EXTRAS is ignored: no ARG EXTRAS in Dockerfile"
    assert rest[0].startswith("==> builder: ")  # then the plan, as it is built and pushed
