"""The questions buildlib asks the docker client once per process (:func:`detect`,
:func:`buildx_driver`, :func:`engine_info`) and the unprobed client they ask with
(:meth:`Docker.client`), against a stand-in ``docker`` program (a shell script) that logs
each call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildlib.credentials import Credentials
from buildlib.docker import Docker, buildx_driver, detect, engine_info
from buildlib.engine import Capabilities, EngineInfo
from buildlib.errors import DockerUnavailable
from buildlib.runner import Runner

# Answers only the exact questions a docker client understands; the engine is down when
# $ENGINE_DOWN is set, as `docker version` says it then (client part, error, exit 1).
ENGINE = """#!/bin/sh
echo "$*" >> "$0.calls"
case "$*" in
  "buildx version") echo "github.com/docker/buildx v0.17.1 abc" ;;
  "version --format {{json .}}")
    if [ -n "$ENGINE_DOWN" ]; then
      echo '{"Client":{"Version":"27.3.1"},"Server":null}'
      echo "Cannot connect to the Docker daemon at unix:///x.sock." >&2; exit 1
    fi
    echo '{"Client":{"Version":"27.3.1"},"Server":{"Version":"27.4.0","ApiVersion":"1.47",'\\
'"Os":"linux","Arch":"arm64"}}' ;;
  "buildx inspect") printf 'Name: default\\nDriver: docker\\n' ;;
  "buildx inspect remote-one") printf 'Name: remote-one\\nDriver: docker-container\\n' ;;
  "info --format {{json .DockerRootDir}}") echo '"/srv/docker"' ;;
  "push "*) echo "pushed $2"; echo "to the registry" >&2 ;;
  *) echo "unknown command: $*" >&2; exit 1 ;;
esac
"""


def stand_in(tmp_path: Path, script: str = ENGINE) -> str:
    path = tmp_path / "docker"
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "docker.calls"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.fixture(autouse=True)
def no_other_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that is not the one given would not be found: only the stand-in answers."""
    monkeypatch.setenv("BUILDLIB_DOCKER", "/nonexistent/docker")
    monkeypatch.delenv("ENGINE_DOWN", raising=False)


# --- detect -----------------------------------------------------------------------------


def test_detect_names_the_client_it_probed(tmp_path: Path) -> None:
    docker = stand_in(tmp_path)
    caps = detect(docker)
    assert caps.docker == docker
    assert (caps.builder, caps.server_version) == ("buildx", "27.4.0")


def test_detect_without_a_client_probes_the_one_buildlib_docker_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker = stand_in(tmp_path)
    monkeypatch.setenv("BUILDLIB_DOCKER", docker)
    caps = detect()
    assert caps.docker == docker
    assert caps.buildx_version == "v0.17.1"


def test_a_buildx_that_fails_is_no_buildx_whatever_it_printed(tmp_path: Path) -> None:
    broken = ENGINE.replace(
        '"buildx version") echo "github.com/docker/buildx v0.17.1 abc" ;;',
        '"buildx version") echo "github.com/docker/buildx v0.17.1 abc"; exit 1 ;;',
    )
    caps = detect(stand_in(tmp_path, broken))
    assert caps.builder == "legacy"  # client 27: no BuildKit built in without buildx
    assert caps.buildx_version is None


# --- buildx_driver ----------------------------------------------------------------------


def test_the_driver_is_asked_once_per_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    docker = stand_in(tmp_path)
    assert buildx_driver(docker) == "docker"
    assert buildx_driver(docker, "remote-one") == "docker-container"
    assert buildx_driver(docker) == "docker"
    assert buildx_driver(docker, "remote-one") == "docker-container"
    assert calls(tmp_path) == ["buildx inspect", "buildx inspect remote-one"]


def test_the_driver_is_asked_again_of_another_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker = stand_in(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", "unix:///one.sock")
    buildx_driver(docker)
    monkeypatch.setenv("DOCKER_HOST", "unix:///two.sock")
    assert buildx_driver(docker) == "docker"
    assert calls(tmp_path) == ["buildx inspect", "buildx inspect"]


# --- engine_info ------------------------------------------------------------------------


def test_engine_info_is_the_probed_engine_with_its_root_dir(tmp_path: Path) -> None:
    assert engine_info(stand_in(tmp_path)) == EngineInfo(
        version="27.4.0", api_version="1.47", os="linux", arch="arm64", root_dir="/srv/docker"
    )


def test_engine_info_of_an_engine_that_does_not_answer_is_docker_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGINE_DOWN", "1")
    with pytest.raises(DockerUnavailable, match="Docker engine not reachable"):
        engine_info(stand_in(tmp_path))
    assert "info --format {{json .DockerRootDir}}" not in calls(tmp_path)


# --- Docker.client ----------------------------------------------------------------------


def test_an_unprobed_client_claims_no_builder_feature_and_no_version(tmp_path: Path) -> None:
    docker = stand_in(tmp_path)
    caps = Docker.client(docker).caps
    assert caps == Capabilities(docker, "legacy", None)
    assert not caps.buildkit


def test_a_client_without_a_runner_runs_quietly(tmp_path: Path, capsys) -> None:
    result = Docker.client(stand_in(tmp_path)).push("acme/demo:1")
    assert result.ok
    assert calls(tmp_path) == ["push acme/demo:1"]
    out, err = capsys.readouterr()
    assert out + err == ""


def test_a_client_runs_through_the_runner_it_is_given(tmp_path: Path, capsys) -> None:
    Docker.client(stand_in(tmp_path), Runner(dry_run=True)).push("acme/demo:1")
    assert calls(tmp_path) == []
    assert "push acme/demo:1" in capsys.readouterr().err


def test_a_failed_inspect_has_no_driver_whatever_it_printed(tmp_path: Path) -> None:
    docker = Docker.client(stand_in(tmp_path, "#!/bin/sh\necho 'Driver: docker'\nexit 1\n"))
    assert docker.driver() is None


# --- the temporary login's config -------------------------------------------------------


def test_a_login_works_where_the_user_setup_cannot_be_linked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "user"
    (user / "buildx").mkdir(parents=True)
    monkeypatch.setenv("DOCKER_CONFIG", str(user))

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # a file system without links

    monkeypatch.setattr(os, "symlink", refused)
    docker = Docker.client(stand_in(tmp_path, '#!/bin/sh\necho "$*" >> "$0.calls"\n'))
    with docker.login("registry.example", Credentials("someone", "a-long-enough-token-123")):
        config = Path(docker.env["DOCKER_CONFIG"])
        assert sorted(p.name for p in config.iterdir()) == ["config.json"]
    assert calls(tmp_path) == ["login registry.example --username someone --password-stdin"]
