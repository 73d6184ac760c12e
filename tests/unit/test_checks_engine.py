"""docker-engine, docker-builder, docker-disk without a real engine: a dead DOCKER_HOST,
and fake capabilities and engine facts."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import pytest

from buildlib import docker as docker_module
from buildlib.checks import engine as checks_engine
from buildlib.checks.engine import check_docker_builder, check_docker_disk, check_docker_engine
from buildlib.checks.project import Project
from buildlib.checks.suite import run_checks
from buildlib.engine import Capabilities, EngineInfo
from buildlib.errors import DockerUnavailable
from tests.support.fixture_repo import make_repo

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def dead_engine(monkeypatch, tmp_path):
    socket = tmp_path / "nothing-listens-here.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    return socket


def test_unreachable_engine_fails_and_the_rest_still_run(tmp_path, dead_engine):
    repo = make_repo(tmp_path)

    results = {r.id: r for r in run_checks(Project.load(repo))}

    engine = results["docker-engine"]
    assert engine.status == "fail"
    assert f"unix://{dead_engine}" in engine.message and "DOCKER_HOST" in engine.message
    assert "DOCKER_HOST" in engine.hint
    assert results["docker-disk"].status == "skipped"
    assert "see docker-engine" in results["docker-disk"].message
    others = [
        r
        for r in results.values()
        if r.id
        not in ("docker-engine", "docker-disk", "docker-builder", "attestations", "annotations")
    ]
    assert all(r.status in ("ok", "skipped") for r in others), others


def fake_info(monkeypatch, root_dir, free_gib):
    info = EngineInfo("27.0.1", "1.46", "linux", "amd64", str(root_dir))
    monkeypatch.setattr(checks_engine, "engine_info", lambda project: info)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(
        checks_engine.shutil,
        "disk_usage",
        lambda path: usage(100 * 1024**3, 0, int(free_gib * 1024**3)),
    )


@pytest.mark.parametrize(("free", "status"), [(50, "ok"), (5, "warn"), (1, "fail")])
def test_disk_space_thresholds(tmp_path, monkeypatch, free, status):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    fake_info(monkeypatch, tmp_path, free)

    result = check_docker_disk(Project.load(tmp_path))

    assert (result.id, result.status) == ("docker-disk", status)
    assert f"{free:.1f} GiB free" in result.message
    if status != "ok":
        assert "docker builder prune" in result.hint


def test_disk_of_a_remote_engine_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://build-host.example.invalid:2376")
    fake_info(monkeypatch, tmp_path, 50)

    result = check_docker_disk(Project.load(tmp_path))

    assert result.status == "skipped"
    assert "not on this machine" in result.message


def test_disk_of_an_engine_that_names_no_root_dir_is_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    info = EngineInfo("27.0.1", "1.46", "linux", "amd64", None)
    monkeypatch.setattr(checks_engine, "engine_info", lambda project: info)

    result = check_docker_disk(Project.load(tmp_path))

    assert result.status == "skipped" and "DockerRootDir" in result.message


def test_engine_ok_names_version_and_api(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    fake_info(monkeypatch, tmp_path, 50)

    result = check_docker_engine(Project.load(tmp_path))

    assert result.status == "ok"
    assert "Docker Engine 27.0.1 (API 1.46" in result.message


def test_engine_error_is_one_line_with_hint(tmp_path, monkeypatch):
    error = DockerUnavailable("Docker engine not reachable at x", hint="start it")
    monkeypatch.setattr(checks_engine, "engine_info", lambda project: error)

    result = check_docker_engine(Project.load(tmp_path))

    assert (result.status, result.message, result.hint) == (
        "fail",
        "Docker engine not reachable at x",
        "start it",
    )


@pytest.mark.parametrize(
    ("capabilities", "status", "words"),
    [
        (Capabilities("/usr/bin/docker", "buildx", "27.0", "v0.16.2"), "ok", "buildx (v0.16.2)"),
        (Capabilities("/usr/bin/docker", "buildkit", "20.10.24"), "ok", "BuildKit built into"),
        (Capabilities("/usr/local/bin/docker", "legacy", "28.2.2"), "warn", "legacy builder"),
    ],
)
def test_builder_kinds(tmp_path, monkeypatch, capabilities, status, words):
    monkeypatch.setattr(docker_module, "detect", lambda: capabilities)

    result = check_docker_builder(Project.load(tmp_path))

    assert (result.id, result.status) == ("docker-builder", status)
    assert words in result.message
    if status == "warn":
        # Docker's package name and the manual install: no distribution package that
        # some distributions (Debian 12) do not have
        assert "docker-buildx-plugin" in result.hint
        assert "~/.docker/cli-plugins/docker-buildx" in result.hint
        assert "apt-get" not in result.hint


@pytest.mark.parametrize(
    ("for_", "status"), [(None, "warn"), ("push", "fail"), ("release", "fail")]
)
def test_an_image_of_several_platforms_without_buildx_is_named(tmp_path, monkeypatch, for_, status):
    # push and release stop at its plan: doctor must not call the builder fine
    repo = make_repo(tmp_path, with_lock=False)
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(
        text.replace(
            'context = "."\n', 'context = "."\nplatforms = ["linux/amd64", "linux/arm64"]\n'
        )
    )
    caps = Capabilities("/usr/bin/docker", "buildkit", "20.10.24")
    monkeypatch.setattr(docker_module, "detect", lambda: caps)
    project = Project.load(repo)

    result = check_docker_builder(project, for_)

    assert (result.status, result.file, result.line) == (status, "pyproject.toml", 24)
    assert result.message == (
        "/usr/bin/docker: BuildKit built into the engine (client 20.10.24): app is built for "
        "linux/amd64, linux/arm64 by push and release, which needs docker buildx"
    )
    assert result.hint.startswith("install the buildx plugin: docker-buildx-plugin")
    assert result.hint.endswith("; or pass one --platform to push and release")
    one = check_docker_builder(Project.load(make_repo(tmp_path, name="one", with_lock=False)), for_)
    assert one.status == "ok"


def test_missing_docker_client_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("BUILDLIB_DOCKER", str(tmp_path / "no-docker-here"))

    result = check_docker_builder(Project.load(tmp_path))

    assert result.status == "fail"
    assert "not found" in result.message
    assert "BUILDLIB_DOCKER" in result.hint


def test_doctor_asks_the_engine_docker_context_picks_and_names_it(tmp_path, monkeypatch):
    from tests.unit.test_engine import make_context

    socket = tmp_path / "context-engine.sock"  # nothing listens: not the machine's engine
    make_context(Path(os.environ["DOCKER_CONFIG"]), "elsewhere", f"unix://{socket}")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONTEXT", "elsewhere")

    result = check_docker_engine(Project.load(tmp_path))

    assert result.status == "fail"
    assert result.message.startswith(
        f"Docker engine not reachable at unix://{socket} (DOCKER_CONTEXT=elsewhere)"
    )
    assert "DOCKER_CONTEXT" in result.hint


def test_engine_ok_names_what_picked_the_engine(tmp_path, monkeypatch):
    from tests.unit.test_engine import make_context

    make_context(Path(os.environ["DOCKER_CONFIG"]), "lab", "tcp://lab.example:2376", current=True)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    fake_info(monkeypatch, tmp_path, 50)

    result = check_docker_engine(Project.load(tmp_path))

    assert result.status == "ok"
    assert result.message.endswith("answers at tcp://lab.example:2376 (docker context lab)")
