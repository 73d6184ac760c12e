"""What ``push`` and ``release`` hand to the parts they order: the login every docker
command runs under, the pre-flight checks of their purpose, the environment, the registry
and the secrets they were given, the attestations and annotations of their builds, the
registry client a dry run asks. Driven through the public functions against the stand-ins
of tests/support/publish_fakes.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import buildlib.attest as attest
import buildlib.publish as publish
import buildlib.pushing as pushing
from buildlib.checks.preflight import preflight, run_preflight
from buildlib.errors import CheckFailed, PublishError, RegistryError, UsageError
from buildlib.flags import PushFlags, ReleaseFlags
from buildlib.publish import push, release
from buildlib.runner import Result
from tests.support.publish_fakes import (
    BUILDX,
    CAPS,
    CPU,
    GPU,
    FakeDocker,
    StubRegistry,
    publishing,
    reconfigure,
    released_project,
)

CREDENTIALS = {"DOCKERHUB_USERNAME": "robot", "DOCKERHUB_TOKEN": "dckr_pat_not-a-real-token"}
MULTI = "linux/amd64,linux/arm64"


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch, no_docker_login: None) -> None:
    for name in (*CREDENTIALS, "TETRA_IMAGE_TAG", "BUILDLIB_REGISTRY", "BUILDLIB_BUILDER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return released_project(tmp_path / "repo", "1.2.3")


class LoginDocker(FakeDocker):
    """The fake docker, which also logs in; it records the DOCKER_CONFIG of every command."""

    def __init__(self, registry: StubRegistry) -> None:
        super().__init__(registry)
        self.configs: list[tuple[str, str | None]] = []

    def run(self, argv: Any, **kwargs: Any) -> Result:  # type: ignore[override]
        argv = [str(a) for a in argv]
        self.configs.append((argv[1], (kwargs.get("env") or {}).get("DOCKER_CONFIG")))
        if argv[1] == "login":
            return Result(argv, 0)
        return super().run(argv, **kwargs)


def login_dirs(docker: LoginDocker) -> set[str | None]:
    assert docker.configs[0][0] == "login"
    return {config for _, config in docker.configs}


# --- the login ----------------------------------------------------------------------------


def test_a_push_builds_and_pushes_under_the_login_from_the_environment(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = StubRegistry()
    with publishing(monkeypatch, registry):
        docker = LoginDocker(registry)
        push(root, PushFlags(images=("gpu",), tag="main"), environ=CREDENTIALS, runner=docker)

    (config,) = login_dirs(docker)  # one DOCKER_CONFIG for the login, build and push
    assert config is not None and "buildlib-docker-config-" in config
    assert {command for command, _ in docker.configs} >= {"login", "build", "push"}
    assert not Path(config).exists(), "the login is removed after the push"


@pytest.mark.parametrize("platform", [None, MULTI])
def test_a_release_builds_and_pushes_under_the_login_from_the_environment(
    root: Path, monkeypatch: pytest.MonkeyPatch, platform: str | None
) -> None:
    registry = StubRegistry()
    registry.store(CPU, "1.2.3", "sha256:" + "c" * 64)
    with publishing(monkeypatch, registry, BUILDX if platform else CAPS):
        monkeypatch.setattr(attest, "buildx_driver", lambda docker, builder=None: "docker")
        docker = LoginDocker(registry)
        flags = ReleaseFlags(images=("gpu",), platform=platform)
        release(root, flags, environ=CREDENTIALS, runner=docker)

    (config,) = login_dirs(docker)
    assert config is not None
    assert any(command == "build" or command == "buildx" for command, _ in docker.configs)
    assert registry.tag_map(GPU)["1.2.3"]


# --- the pre-flight checks of each purpose --------------------------------------------------


@pytest.mark.parametrize("unwritable", [False, True])
@pytest.mark.parametrize("task", ["push", "release"])
def test_a_task_without_credentials_is_refused_before_any_docker_command(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task: str, unwritable: bool
) -> None:
    for name, value in CREDENTIALS.items():  # not in the environment the task was given
        monkeypatch.setenv(name, value)
    if unwritable:  # a later check fails too: counted, as the dry run warns of both
        monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path))  # a folder
    with publishing(monkeypatch, StubRegistry()) as docker:
        monkeypatch.setattr(publish, "preflight", preflight)
        with pytest.raises(CheckFailed) as caught:
            if task == "push":
                push(root, PushFlags(images=("gpu",), tag="topic"), environ={}, runner=docker)
            else:
                release(root, ReleaseFlags(images=("gpu",)), environ={}, runner=docker)

    more = " (and 1 more: `invoke doctor`)" if unwritable else ""
    assert caught.value.message == (
        "no credentials for docker.io: neither $DOCKERHUB_USERNAME/$DOCKERHUB_TOKEN nor a "
        f"docker login{more}"
    )
    assert docker.calls == []


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_checks_look_for_the_credentials_of_the_registry_the_push_resolved(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dry_run: bool,
) -> None:
    with publishing(monkeypatch, StubRegistry()) as docker:
        monkeypatch.setattr(publish, "preflight", preflight)
        monkeypatch.setattr(publish, "run_preflight", run_preflight)
        flags = PushFlags(images=("gpu",), tag="topic", registry="ghcr.io", dry_run=dry_run)
        try:
            push(root, flags, environ={}, runner=docker)
        except CheckFailed as refused:
            print(refused, file=sys.stderr)

    assert "no credentials for ghcr.io: neither" in capsys.readouterr().err


def test_a_dry_run_push_warns_of_each_check_the_real_push_would_stop_at(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.fixture_repo import git

    git(root, "switch", "-q", "-c", "topic")
    with publishing(monkeypatch, StubRegistry()) as docker:
        monkeypatch.setattr(publish, "run_preflight", run_preflight)
        flags = PushFlags(images=("gpu",), tag="main", dry_run=True, as_json=True)
        assert push(root, flags, environ={}, runner=docker) == []  # no error: exit 0

    captured = capsys.readouterr()
    would_stop = [line for line in captured.err.splitlines() if "would stop" in line]
    credentials, branch = would_stop  # one line per problem, each with its fix
    assert credentials.startswith(
        "warning: a real push would stop here: no credentials for docker.io: neither "
        "$DOCKERHUB_USERNAME/$DOCKERHUB_TOKEN nor a docker login (fix: "
    )
    assert branch.startswith(
        "warning: a real push would stop here: on branch topic, but :main images are pushed "
        "from main only (fix: git switch main"
    )
    assert json.loads(captured.out)["images"][0]["tags"] == ["main"], "the plan is printed"


def test_a_dry_run_push_whose_second_tag_is_main_warns_of_the_branch_and_where_each_check_stops(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.fixture_repo import git

    # the build publishes :topic; only the second tag, main, makes the branch check apply
    (root / "Dockerfile").write_text("FROM scratch\nARG HF_TOKEN\n", encoding="utf-8")
    git(root, "commit", "-q", "-am", "chore: a secret-like ARG")
    git(root, "switch", "-q", "-c", "topic")
    with publishing(monkeypatch, StubRegistry()) as docker:
        monkeypatch.setattr(publish, "run_preflight", run_preflight)
        flags = PushFlags(images=("gpu",), tag=("topic", "main"), dry_run=True)
        assert push(root, flags, environ=CREDENTIALS, runner=docker) == []

    err = capsys.readouterr().err
    would_stop = [line for line in err.splitlines() if "would stop" in line]
    secret, branch = would_stop
    # the check's file:line, as the real push's error names it
    assert secret.startswith(
        "warning: a real push would stop here: Dockerfile:2: ARG HF_TOKEN looks like a secret"
    )
    assert branch.startswith(
        "warning: a real push would stop here: on branch topic, but :main images are pushed "
        "from main only (fix: git switch main"
    )


@pytest.mark.parametrize("task", ["push", "release"])
def test_a_dry_run_warns_of_a_workflow_file_the_real_run_could_not_write(
    root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    task: str,
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path))  # a folder
    with publishing(monkeypatch, StubRegistry()) as docker:
        monkeypatch.setattr(publish, "run_preflight", run_preflight)
        if task == "push":
            push(root, PushFlags(tag="topic", dry_run=True), environ=CREDENTIALS, runner=docker)
        else:
            release(root, ReleaseFlags(dry_run=True), environ=CREDENTIALS, runner=docker)

    would_stop = [line for line in capsys.readouterr().err.splitlines() if "would stop" in line]
    assert would_stop == [
        f"warning: a real {task} would stop here: $GITHUB_OUTPUT ({tmp_path}) cannot be "
        "written: Is a directory (fix: point GITHUB_OUTPUT at a file this user can write, "
        "or unset it)"
    ]


def test_a_dry_run_push_the_real_push_would_make_warns_of_nothing(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the credentials are in the environment the push was given only (the fixture
    # removed them from the process's): the pre-flight reads that one too
    with publishing(monkeypatch, StubRegistry()) as docker:
        monkeypatch.setattr(publish, "run_preflight", run_preflight)
        push(root, PushFlags(tag="main", dry_run=True), environ=CREDENTIALS, runner=docker)

    assert "would stop" not in capsys.readouterr().err


def test_a_dry_run_release_warns_once_of_its_tag_and_of_its_missing_credentials(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.fixture_repo import git

    git(root, "tag", "-d", "v1.2.3")
    with publishing(monkeypatch, StubRegistry()) as docker:
        monkeypatch.setattr(publish, "run_preflight", run_preflight)
        flags = ReleaseFlags(images=("gpu",), dry_run=True)
        assert release(root, flags, environ={}, runner=docker) == []

    err = capsys.readouterr().err
    would_stop = [line for line in err.splitlines() if "would stop" in line]
    assert len(would_stop) == 2, would_stop
    assert would_stop[0].startswith(
        "warning: a real release would stop here: git tag v1.2.3 for version 1.2.3"
    )
    assert would_stop[1].startswith(
        "warning: a real release would stop here: no credentials for docker.io"
    )
    # the others lack 1.2.3, so the floating tags wait, as in the real run
    assert f"gpu: {GPU} ← 1.2.3\n" in err
    for floating in ("1.2", "1", "latest"):
        assert f"not moving {floating}: cpu lacks 1.2.3 in the registry\n" in err


def test_a_dry_run_release_of_the_last_image_plans_the_floating_tags(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = StubRegistry()
    registry.store(CPU, "1.2.3", "sha256:" + "c" * 64)  # the other image is released
    with publishing(monkeypatch, registry) as docker:
        flags = ReleaseFlags(images=("gpu",), dry_run=True)
        assert release(root, flags, environ=CREDENTIALS, runner=docker) == []

    err = capsys.readouterr().err
    assert f"gpu: {GPU} ← 1.2.3, 1.2, 1, latest\n" in err and "not moving" not in err


@pytest.mark.parametrize("task", ["push", "release"])
@pytest.mark.parametrize(
    ("present", "missing"),
    [("DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN"), ("DOCKERHUB_TOKEN", "DOCKERHUB_USERNAME")],
)
def test_a_dry_run_with_half_set_credentials_warns_of_the_missing_one_and_shows_its_plan(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    task: str,
    present: str,
    missing: str,
) -> None:
    # as a dry run without any credentials: the plan, and a warning where the real run stops
    with publishing(monkeypatch, StubRegistry()) as docker:
        monkeypatch.setattr(publish, "run_preflight", run_preflight)
        env = {present: CREDENTIALS[present]}
        if task == "push":
            flags = PushFlags(images=("gpu",), tag="topic", dry_run=True)
            assert push(root, flags, environ=env, runner=docker) == []
        else:
            assert release(root, ReleaseFlags(images=("gpu",), dry_run=True), environ=env) == []

    captured = capsys.readouterr()
    would_stop = [line for line in captured.err.splitlines() if "would stop" in line]
    assert would_stop == [
        f"warning: a real {task} would stop here: {present} is set but {missing} is not "
        "(or is empty) (fix: set both DOCKERHUB_USERNAME and DOCKERHUB_TOKEN, or neither)"
    ]
    assert f"gpu: {GPU} ← " in captured.err, "the plan is printed"
    assert "dckr_pat" not in captured.out + captured.err


# --- the environment, the registry, the secrets ---------------------------------------------


def test_a_push_without_a_tag_says_how_to_give_one(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with publishing(monkeypatch, StubRegistry()) as docker:
        with pytest.raises(UsageError) as caught:
            push(root, PushFlags(images=("gpu",)), environ={}, runner=docker)

    assert (caught.value.message, caught.value.hint) == (
        "push needs a tag",
        "invoke push --tag main",
    )
    assert docker.calls == []


def test_push_and_release_read_the_process_environment_when_given_none(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = StubRegistry()
    monkeypatch.setenv("TETRA_IMAGE_TAG", "from-env")
    with publishing(monkeypatch, registry) as docker:
        push(root, PushFlags(images=("gpu",)), runner=docker)
        release(root, ReleaseFlags(images=("gpu", "cpu")), runner=docker)

    assert set(registry.tag_map(GPU)) == {"from-env", "1.2.3", "1.2", "1", "latest"}


@pytest.mark.parametrize("value", ["hf_0123456789abcdef", "short"])
def test_a_secret_from_the_given_environment_is_redacted_or_named(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with publishing(monkeypatch, StubRegistry()) as docker:
        flags = PushFlags(images=("gpu",), tag="main", secret=("id=hf,env=HF_TOKEN",))
        push(root, flags, environ={"HF_TOKEN": value}, runner=docker)

    build = next(argv for argv in docker.calls if argv[1] == "build")
    assert "id=hf,env=HF_TOKEN" in build
    if len(value) >= 8:
        assert value not in docker.redact(f"step 3: echo {value}")
    else:
        assert "--secret hf is shorter than 8 characters" in capsys.readouterr().err


def test_a_dry_run_push_names_the_registry_and_every_configured_image(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with publishing(monkeypatch, StubRegistry()) as docker:
        flags = PushFlags(tag="main", registry="127.0.0.1:5000", dry_run=True, as_json=True)
        assert push(root, flags, environ={}, runner=docker) == []

    document = json.loads(capsys.readouterr().out)
    assert document["registry"] == "127.0.0.1:5000"
    assert [(i["name"], i["tags"]) for i in document["images"]] == [
        ("gpu", ["main"]),
        ("cpu", ["main"]),
    ]
    # each built under the run's local name, as the real push builds it
    tagged = [argv[argv.index("--tag") + 1].rpartition("-")[0] for argv in docker.builds()]
    assert tagged == [f"127.0.0.1:5000/{GPU}:main-buildlib", f"127.0.0.1:5000/{CPU}:main-buildlib"]


def test_a_dry_run_without_a_runner_runs_no_docker_command(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess

    import buildlib.runner as runner

    def guarded(real: Any) -> Any:
        def run(argv: list[str], *args: Any, **kwargs: Any) -> Any:
            assert Path(argv[0]).name != "docker", f"a dry run ran {argv}"
            return real(argv, *args, **kwargs)  # git may answer questions

        return run

    with publishing(monkeypatch, StubRegistry()):
        monkeypatch.setattr(runner.subprocess, "run", guarded(subprocess.run))
        monkeypatch.setattr(runner.subprocess, "Popen", guarded(subprocess.Popen))
        push(root, PushFlags(images=("gpu",), tag="main", dry_run=True), environ={})

    assert f"--tag {GPU}:main" in capsys.readouterr().err


def test_a_real_push_builds_under_a_name_of_its_own_run(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two runs on one engine must not push each other's image: REPO:TAG is written only by
    # the push, from the run's own local name
    registry = StubRegistry()
    with publishing(monkeypatch, registry) as docker:
        push(root, PushFlags(images=("gpu",), tag="main"), environ={}, runner=docker)

    (build,) = docker.builds()
    local = build[build.index("--tag") + 1]
    assert local.startswith(f"{GPU}:main-buildlib-") and local != f"{GPU}:main"
    assert docker.pushes() == [f"{GPU}:main"]
    inspected = [argv for argv in docker.calls if argv[1:3] == ["image", "inspect"]]
    assert inspected == [], "the build's own image id is pushed: no second look"


# --- attestations and annotations -----------------------------------------------------------


@pytest.mark.parametrize(("task", "mode"), [("push", "min"), ("release", "max")])
def test_a_pushed_build_carries_the_provenance_of_its_task_from_the_chosen_builder(
    root: Path, monkeypatch: pytest.MonkeyPatch, task: str, mode: str
) -> None:
    asked: list[str | None] = []

    def driver(docker: str, builder: str | None = None) -> str:
        asked.append(builder)
        return "docker-container"

    registry = StubRegistry()
    registry.store(CPU, "1.2.3", "sha256:" + "c" * 64)
    with publishing(monkeypatch, registry, BUILDX) as docker:
        monkeypatch.setattr(attest, "buildx_driver", driver)
        common = {"images": ("gpu",), "platform": MULTI, "builder": "ci-builder"}
        if task == "push":
            push(root, PushFlags(tag="main", **common), environ={}, runner=docker)
        else:
            release(root, ReleaseFlags(**common), environ={}, runner=docker)

    (build,) = docker.builds()
    assert f"--provenance=mode={mode}" in build and "--sbom=true" in build
    assert build[build.index("--builder") + 1] == "ci-builder"
    assert asked and set(asked) == {"ci-builder"}
    annotations = [build[i + 1] for i, word in enumerate(build) if word == "--annotation"]
    assert (
        "index,manifest:org.opencontainers.image.version=" + ("main" if task == "push" else "1.2.3")
        in annotations
    )


def test_a_builder_without_annotations_is_named_in_the_push(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with publishing(monkeypatch, StubRegistry()) as docker:
        push(root, PushFlags(images=("gpu",), tag="main"), environ={}, runner=docker)

    assert (
        "images are published without OCI annotations (labels only): the "
        f"{CAPS.describe()} has no --annotation (buildx 0.12 or later has)"
    ) in capsys.readouterr().err
    (build,) = docker.builds()
    assert "--annotation" not in build


def test_images_pushed_by_docker_push_are_named_as_going_without_annotations(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with publishing(monkeypatch, StubRegistry(), BUILDX) as docker:
        monkeypatch.setattr(attest, "buildx_driver", lambda docker, builder=None: "docker")
        push(root, PushFlags(images=("gpu",), tag="main"), environ={}, runner=docker)

    assert (
        "gpu: published without OCI annotations (labels only): pushed by docker push"
    ) in capsys.readouterr().err


# --- the registry a release asks ------------------------------------------------------------


class Unlisted(StubRegistry):
    def tags(self, repo: str) -> list[str]:
        raise RegistryError("connection refused")

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        raise RegistryError("connection refused")


def clients_made(monkeypatch: pytest.MonkeyPatch, registry: StubRegistry) -> list[dict[str, Any]]:
    """Hand ``registry`` to every RegistryClient publish makes; the list fills with the
    keyword arguments of each (its retries and timeout)."""
    made: list[dict[str, Any]] = []

    def client(*args: Any, **kwargs: Any) -> StubRegistry:
        made.append(kwargs)
        return registry

    monkeypatch.setattr(pushing, "RegistryClient", client)
    return made


def test_a_dry_run_release_asks_the_registry_once_briefly_and_plans_from_git_without_it(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = Unlisted()
    with publishing(monkeypatch, registry) as docker:
        made = clients_made(monkeypatch, registry)
        flags = ReleaseFlags(images=("gpu",), dry_run=True)
        assert release(root, flags, environ={}, runner=docker) == []

    quick = [kwargs for kwargs in made if kwargs.get("retries") == 0]
    assert len(quick) == 1 and quick[0]["timeout"] == 5
    err = capsys.readouterr().err
    assert "could not list runpod/tetra-rp's tags (connection refused)" in err
    assert f"gpu: {GPU} ← 1.2.3, 1.2, 1, latest" in err


def test_a_real_release_asks_the_registry_with_its_retries(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = StubRegistry()
    with publishing(monkeypatch, registry) as docker:
        made = clients_made(monkeypatch, registry)
        release(root, ReleaseFlags(images=("gpu", "cpu")), environ={}, runner=docker)

    assert made and all("retries" not in kwargs for kwargs in made)


# --- what a release says when it stops, and what it reports ----------------------------------


def test_a_file_only_the_dockerfile_s_own_ignore_file_leaves_out_does_not_stop_a_release(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BuildKit reads <Dockerfile>.dockerignore; the classic builder reads only .dockerignore
    from tests.support.fixture_repo import git

    for dockerfile in ("Dockerfile", "Dockerfile-cpu"):
        (root / f"{dockerfile}.dockerignore").write_text(".git\nnotes.txt\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "chore: ignore notes")
    git(root, "tag", "-f", "v1.2.3")
    (root / "notes.txt").write_text("not committed")
    registry = StubRegistry()
    with publishing(monkeypatch, registry) as docker:
        release(root, ReleaseFlags(images=("gpu", "cpu")), environ={}, runner=docker)

    assert set(registry.tag_map(GPU)) == {"1.2.3", "1.2", "1", "latest"}


def test_a_release_whose_build_reported_another_digest_is_refused(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = StubRegistry()
    with publishing(monkeypatch, registry, BUILDX) as docker:
        monkeypatch.setattr(attest, "buildx_driver", lambda docker, builder=None: "docker")
        docker.reported = "sha256:" + "e" * 64
        with pytest.raises(PublishError) as caught:
            release(root, ReleaseFlags(images=("gpu",), platform=MULTI), environ={}, runner=docker)

    assert f"another writer replaced {GPU}:1.2.3 during this run" in caught.value.message
    assert caught.value.message.endswith("No floating tag (X.Y, X, latest) of any image was moved")
    assert set(registry.tag_map(GPU)) == {"1.2.3"}, "no floating tag moved"


class RivalDocker(FakeDocker):
    """While it pushes the cpu image, another writer does ``rival`` to the registry."""

    def __init__(self, registry: StubRegistry, rival: Callable[[StubRegistry], None]) -> None:
        super().__init__(registry)
        self.rival = rival

    def run(self, argv: Any, **kwargs: Any) -> Result:  # type: ignore[override]
        if str(argv[1]) == "push" and str(argv[2]).startswith(CPU + ":"):
            self.rival(self.registry)
        return super().run(argv, **kwargs)


def release_stopped_by(
    root: Path, monkeypatch: pytest.MonkeyPatch, rival: Callable[[StubRegistry], None]
) -> tuple[PublishError, StubRegistry]:
    """The error of a release of gpu and cpu that ``rival`` meddles with, and its registry."""
    registry = StubRegistry()
    with publishing(monkeypatch, registry):
        with pytest.raises(PublishError) as caught:
            release(
                root,
                ReleaseFlags(images=("gpu", "cpu")),
                environ={},
                runner=RivalDocker(registry, rival),
            )
    return caught.value, registry


def test_a_version_tag_replaced_during_the_release_stops_it_before_the_floating_tags(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error, registry = release_stopped_by(
        root, monkeypatch, lambda registry: registry._write(GPU, "1.2.3", "sha256:" + "f" * 64)
    )

    message = error.message
    assert message.startswith(
        f"release stopped: another writer replaced {GPU}:1.2.3 (now sha256:ffffffffffff, "
    )
    assert f"Pushed and verified: {CPU}:1.2.3. " in message, "the replaced tag is not verified"
    assert message.endswith("No floating tag (X.Y, X, latest) of any image was moved")
    assert error.hint is not None and error.hint != (
        "fix the cause and run `invoke release` again (it is safe to re-run)"
    )
    assert set(registry.tag_map(CPU)) == {"1.2.3"}


def test_a_version_tag_deleted_during_the_release_is_named_gone_not_verified(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error, _ = release_stopped_by(
        root, monkeypatch, lambda registry: registry.repos[GPU].pop("1.2.3")
    )

    message = error.message
    assert message.startswith(f"release stopped: the registry no longer holds {GPU}:1.2.3 (")
    assert "deleted during this run. " in message and "replaced" not in message
    assert f"Pushed and verified: {CPU}:1.2.3. " in message, "the deleted tag is not verified"


class Flaky(StubRegistry):
    """Stops answering once a build has run."""

    down = False

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        if self.down:
            raise RegistryError("connection reset")
        return super().manifest_digest(repo, tag)


class FailingBuildx(FakeDocker):
    """A buildx build that pushes, then fails; the registry may stop answering after it."""

    def __init__(self, registry: Flaky, registry_down: bool) -> None:
        super().__init__(registry)
        self.flaky, self.registry_down = registry, registry_down
        self.build_failure = "error: failed to export cache"

    def _buildx(self, argv: list[str], kwargs: dict[str, Any]) -> Result:
        result = super()._buildx(argv, kwargs)
        self.flaky.down = self.registry_down
        return result


@pytest.mark.parametrize("registry_down", [False, True])
def test_a_failed_multi_platform_re_release_says_what_it_knows_was_pushed(
    root: Path, monkeypatch: pytest.MonkeyPatch, registry_down: bool
) -> None:
    registry = Flaky()
    with publishing(monkeypatch, registry, BUILDX) as docker:
        monkeypatch.setattr(attest, "buildx_driver", lambda docker, builder=None: "docker")
        release(root, ReleaseFlags(images=("gpu",), platform=MULTI), environ={}, runner=docker)
        docker = FailingBuildx(registry, registry_down)
        flags = ReleaseFlags(images=("gpu",), platform=MULTI, force=True)
        with pytest.raises(PublishError) as caught:
            release(root, flags, environ={}, runner=docker)

    message = caught.value.message
    if registry_down:
        assert f"Not known whether the registry holds: {GPU}:1.2.3 (it did not answer). " in message
    else:
        # the build wrote the very image the tag held before: nothing changed in the registry
        assert "Nothing was pushed. " in message and "Pushed and verified" not in message


def test_a_backport_release_reports_the_other_image_whose_line_it_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = StubRegistry()
    root = released_project(tmp_path / "repo", "1.2.4")
    with publishing(monkeypatch, registry) as docker:
        release(root, ReleaseFlags(images=("gpu", "cpu")), environ={}, runner=docker)
    released_project(root, "1.1.0", dockerfile="FROM scratch\nLABEL line=1.1\n")
    with publishing(monkeypatch, registry) as docker:
        release(root, ReleaseFlags(images=("cpu",)), environ={}, runner=docker)
        assert "floating tags not moved yet: gpu lacks 1.1.0" in capsys.readouterr().err
        release(root, ReleaseFlags(images=("gpu",), as_json=True), environ={}, runner=docker)

    document = json.loads(capsys.readouterr().out)
    assert [(image["name"], image["tags"]) for image in document["images"]] == [
        ("gpu", ["1.1.0", "1.1"]),
        ("cpu", ["1.1.0", "1.1"]),
    ]


class FailingBuild(FakeDocker):
    """Every ``docker build`` fails as a Dockerfile with a missing file does."""

    def _answer(self, argv: list[str], kwargs: dict[str, Any]) -> Result:
        if argv[1] == "build":
            return Result(argv, 1, "", "ERROR: failed to solve: no such file")
        return super()._answer(argv, kwargs)


@pytest.mark.parametrize("task", ["push", "release"])
def test_a_failed_build_stops_the_task_with_the_build_s_error_and_pushes_nothing(
    root: Path, monkeypatch: pytest.MonkeyPatch, task: str
) -> None:
    from buildlib.errors import BuildlibError

    registry = StubRegistry()
    with publishing(monkeypatch, registry):
        docker = FailingBuild(registry)
        with pytest.raises(BuildlibError) as caught:
            if task == "push":
                push(root, PushFlags(images=("gpu",), tag="main"), environ={}, runner=docker)
            else:
                release(root, ReleaseFlags(images=("gpu",)), environ={}, runner=docker)

    assert caught.value.message == "build of gpu (Dockerfile) failed (exit 1): no such file"
    assert registry.writes == [] and docker.pushes() == []


def test_an_empty_tag_falls_back_to_the_tag_variable(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `invoke push --tag "$TAG"` with TAG unset in CI
    registry = StubRegistry()
    with publishing(monkeypatch, registry) as docker:
        flags = PushFlags(images=("gpu",), tag="")
        push(root, flags, environ={"TETRA_IMAGE_TAG": "nightly"}, runner=docker)

    assert set(registry.tag_map(GPU)) == {"nightly"}


@pytest.mark.parametrize("given", [("",), ("", "nightly")])
def test_an_empty_tag_without_the_tag_variable_is_refused(
    root: Path, monkeypatch: pytest.MonkeyPatch, given: tuple[str, ...]
) -> None:
    # `invoke push --tag "$TAG"` with TAG unset, and no $TETRA_IMAGE_TAG: no tag was meant,
    # so the default tag (a local build's) is not pushed to the registry
    registry = StubRegistry()
    with publishing(monkeypatch, registry) as docker:
        with pytest.raises(UsageError) as caught:
            push(root, PushFlags(images=("gpu",), tag=given), environ={}, runner=docker)
        assert docker.calls == []

    assert (caught.value.message, caught.value.hint) == (
        "push needs a tag: --tag is empty and $TETRA_IMAGE_TAG is not set",
        "invoke push --tag main",
    )
    assert registry.writes == []


def test_a_release_of_one_image_names_every_image_still_waiting_for_the_version(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.fixture_repo import git

    with (root / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write(
            '\n[tool.buildlib.images.arm]\nrepository = "runpod/tetra-rp-arm"\n'
            'dockerfile = "Dockerfile-cpu"\n'
        )
    git(root, "commit", "-qam", "chore: a third image")
    git(root, "tag", "-f", "v1.2.3")
    registry = StubRegistry()
    with publishing(monkeypatch, registry) as docker:
        release(root, ReleaseFlags(images=("gpu",)), environ={}, runner=docker)

    assert (
        "floating tags not moved yet: cpu, arm lack 1.2.3 in the registry; the release of the "
        "last image moves them for every image"
    ) in capsys.readouterr().err
    assert set(registry.tag_map(GPU)) == {"1.2.3"}


def test_a_push_without_images_publishes_every_image_not_only_the_default_group(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    default_group = 'default-group = ["gpu", "cpu"]'
    reconfigure(root, default_group, 'default-group = ["cpu"]', "chore: plain builds build cpu")
    with publishing(monkeypatch, StubRegistry()) as docker:
        push(root, PushFlags(tag="topic", dry_run=True, as_json=True), environ={}, runner=docker)

    names = [image["name"] for image in json.loads(capsys.readouterr().out)["images"]]
    assert names == ["gpu", "cpu"]


def test_a_push_of_main_from_another_branch_is_refused_before_any_build(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.fixture_repo import git

    git(root, "switch", "-q", "-c", "topic")
    for name, value in CREDENTIALS.items():  # the pre-flight reads the process environment
        monkeypatch.setenv(name, value)
    registry = StubRegistry()
    with publishing(monkeypatch, registry):
        monkeypatch.setattr(publish, "preflight", preflight)
        docker = LoginDocker(registry)
        with pytest.raises(CheckFailed) as caught:
            flags = PushFlags(images=("gpu",), tag=("nightly", "main"))  # main as a later tag
            push(root, flags, environ=CREDENTIALS, runner=docker)

    assert caught.value.message == "on branch topic, but :main images are pushed from main only"
    assert docker.builds() == [] and registry.writes == []


def test_only_the_images_buildx_does_not_push_are_named_as_going_without_annotations(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    two = '["linux/amd64", "linux/arm64"]'
    reconfigure(root, '["linux/amd64"]', two, "chore: gpu for two platforms")
    with publishing(monkeypatch, StubRegistry(), BUILDX):
        monkeypatch.setattr(attest, "buildx_driver", lambda docker, builder=None: "docker")
        push(root, PushFlags(tag="topic", dry_run=True), environ={})

    err = capsys.readouterr().err
    assert "warning: cpu: published without OCI annotations (labels only)" in err
    assert "gpu, cpu" not in err and "gpu: published without" not in err
