"""The probe (docker.detect) against stand-in docker clients (scripts that answer
like docker): which builder, which versions, and whether the engine answered."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from buildlib.docker import detect
from buildlib.engine import (
    DEFAULT_SOCKET,
    Capabilities,
    Endpoint,
    EngineInfo,
    engine_endpoint,
    engine_unreachable,
    read_capabilities,
    read_engine_info,
)
from buildlib.errors import DockerUnavailable

CLIENT = {"Version": "20.10.24+dfsg1", "ApiVersion": "1.41"}
SERVER = {"Version": "20.10.24+dfsg1", "ApiVersion": "1.41"}
NO_ENGINE = "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?"


def fake_docker(
    tmp_path: Path,
    *,
    client: dict | None = CLIENT,
    server: dict | None = SERVER,
    buildx: str | None = None,
    error: str = NO_ENGINE,
    warning: str = "",
) -> str:
    """A docker client that prints `docker version --format '{{json .}}'` and answers
    `docker buildx version` (or says buildx is not a command)."""
    version = json.dumps({"Client": client, "Server": server})
    script = tmp_path / f"docker-{len(list(tmp_path.iterdir()))}"
    buildx_answer = (
        f"echo 'github.com/docker/buildx {buildx} abc'; exit 0"
        if buildx
        else "echo \"docker: 'buildx' is not a docker command.\" >&2; exit 1"
    )
    warn = f"echo '{warning}' >&2; " if warning else ""
    server_fails = f"{warn}echo '{error}' >&2; exit 1" if server is None else "exit 0"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = buildx ]; then {buildx_answer}; fi\n'
        f"if [ \"$1\" = version ]; then echo '{version}'; {server_fails}; fi\n"
        "exit 2\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_old_client_without_buildx_uses_builtin_buildkit(tmp_path: Path) -> None:
    caps = detect(fake_docker(tmp_path))
    assert caps.builder == "buildkit"
    assert caps.client_version == "20.10.24+dfsg1"
    assert caps.server_version == "20.10.24+dfsg1"
    caps.require_engine()  # answers: no error


def test_new_client_without_buildx_falls_back_to_legacy(tmp_path: Path) -> None:
    caps = detect(fake_docker(tmp_path, client={"Version": "28.2.2"}))
    assert caps.builder == "legacy" and caps.buildkit is False


def test_buildx_wins_when_it_answers(tmp_path: Path) -> None:
    caps = detect(fake_docker(tmp_path, client={"Version": "28.2.2"}, buildx="v0.19.3"))
    assert caps == Capabilities(
        caps.docker, "buildx", "28.2.2", "v0.19.3", server_version="20.10.24+dfsg1"
    )


def test_an_engine_that_does_not_answer_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///x.sock")
    caps = detect(fake_docker(tmp_path, server=None))
    assert caps.builder == "buildkit"  # the client still says what it can do
    assert caps.server_version is None
    with pytest.raises(DockerUnavailable) as caught:
        caps.require_engine()
    assert caught.value.message == (
        "Docker engine not reachable at unix:///x.sock (DOCKER_HOST): no engine answers there"
    )
    assert caught.value.hint is not None and "DOCKER_HOST" in caught.value.hint


def test_permission_denied_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    docker = fake_docker(
        tmp_path,
        server=None,
        error="Got permission denied while trying to connect to the Docker daemon socket",
    )
    with pytest.raises(DockerUnavailable) as caught:
        detect(docker).require_engine()
    assert caught.value.message.endswith("(default socket): permission denied")
    assert caught.value.hint is not None and "usermod -aG docker" in caught.value.hint


def test_the_answer_is_kept_per_engine_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker = fake_docker(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", "unix:///one.sock")
    first = detect(docker)
    assert detect(docker) is first
    monkeypatch.setenv("DOCKER_HOST", "unix:///two.sock")
    assert detect(docker) is not first


def test_a_warning_before_the_error_is_not_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///x.sock")
    docker = fake_docker(
        tmp_path,
        server=None,
        warning="Warning: DOCKER_HOST environment variable overrides the active context.",
    )
    with pytest.raises(DockerUnavailable) as caught:
        detect(docker).require_engine()
    assert caught.value.message.endswith("(DOCKER_HOST): no engine answers there")


def test_the_address_comes_from_the_client_for_a_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONTEXT", "colima")
    docker = fake_docker(
        tmp_path,
        server=None,
        error="Cannot connect to the Docker daemon at unix:///home/u/.colima/docker.sock. "
        "Is the docker daemon running?",
    )
    with pytest.raises(DockerUnavailable) as caught:
        detect(docker).require_engine()
    assert caught.value.message == (
        "Docker engine not reachable at unix:///home/u/.colima/docker.sock "
        "(DOCKER_CONTEXT=colima): no engine answers there"
    )
    assert caught.value.hint is not None and "docker context ls" in caught.value.hint


def test_an_engine_that_answers_with_an_error_is_not_called_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    docker = fake_docker(
        tmp_path,
        server=None,
        error="Error response from daemon: client version 1.50 is too new. "
        "Maximum supported API version is 1.41",
    )
    with pytest.raises(DockerUnavailable) as caught:
        detect(docker).require_engine()
    assert caught.value.message == (
        "Docker engine at unix:///var/run/docker.sock (default socket) answered with an error: "
        "client version 1.50 is too new. Maximum supported API version is 1.41"
    )
    assert caught.value.hint is not None and "DOCKER_API_VERSION" in caught.value.hint


def test_an_engine_that_did_not_answer_is_asked_again(tmp_path: Path) -> None:
    docker = fake_docker(tmp_path, server=None)
    assert detect(docker) is not detect(docker)
    answering = fake_docker(tmp_path)
    assert detect(answering) is detect(answering)


def test_docker_config_is_part_of_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker = fake_docker(tmp_path)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "one"))
    first = detect(docker)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "two"))
    assert detect(docker) is not first


def make_context(config_dir: Path, name: str, host: str, *, current: bool = False) -> None:
    """A docker context as `docker context create` writes it, in a DOCKER_CONFIG folder."""
    import hashlib

    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host}}})
    )
    if current:
        (config_dir / "config.json").write_text(json.dumps({"currentContext": name}))


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    return config_dir


def test_docker_context_names_the_engine_even_when_the_error_does_not(
    docker_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_context(docker_config, "colima", "unix:///home/u/.colima/docker.sock")
    monkeypatch.setenv("DOCKER_CONTEXT", "colima")
    error = engine_unreachable("dial unix: connect: connection refused")
    assert error.message == (
        "Docker engine not reachable at unix:///home/u/.colima/docker.sock "
        "(DOCKER_CONTEXT=colima): connection refused"
    )
    assert error.hint is not None and "unset DOCKER_CONTEXT" in error.hint


def test_the_current_context_of_the_docker_config_is_named(
    docker_config: Path,
) -> None:
    make_context(docker_config, "remote", "tcp://build.example:2376", current=True)
    assert engine_endpoint() == Endpoint("tcp://build.example:2376", "docker context remote")
    error = engine_unreachable("connection refused")
    assert error.message.endswith(
        "at tcp://build.example:2376 (docker context remote): connection refused"
    )
    assert error.hint is not None and "docker context ls" in error.hint


def test_docker_host_beats_docker_context_as_in_the_client(
    docker_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_context(docker_config, "colima", "unix:///c.sock", current=True)
    monkeypatch.setenv("DOCKER_CONTEXT", "colima")
    monkeypatch.setenv("DOCKER_HOST", "unix:///h.sock")
    assert engine_endpoint() == Endpoint("unix:///h.sock", "DOCKER_HOST")
    monkeypatch.delenv("DOCKER_HOST")
    assert engine_endpoint() == Endpoint("unix:///c.sock", "DOCKER_CONTEXT=colima")
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert engine_endpoint() == Endpoint(DEFAULT_SOCKET, "default socket")


def test_an_unknown_context_is_named_not_replaced_by_the_default_socket(
    docker_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONTEXT", "gone")
    endpoint = engine_endpoint()
    assert (endpoint.address, endpoint.source) == (
        "the endpoint of context gone",
        "DOCKER_CONTEXT=gone",
    )


def test_engine_info_reads_the_probe_and_docker_info_root_dir() -> None:
    caps = Capabilities(
        "docker", "buildx", "27.3.1", "v0.17.1", "27.3.1", None, "1.47", "linux/amd64"
    )
    assert read_engine_info(caps, '"/var/lib/docker"\n') == EngineInfo(
        "27.3.1", "1.47", "linux", "amd64", "/var/lib/docker"
    )
    # no answer, not JSON, or not a path: where the images are is unknown, the rest stays
    for answer in (None, "template: info:1: bad", '""', "null"):
        assert read_engine_info(caps, answer).root_dir is None, answer
    unknown = read_engine_info(Capabilities("docker", "legacy", None), None)
    assert (unknown.version, unknown.api_version, unknown.os, unknown.arch) == ("?", "?", "?", "?")


def test_the_version_is_read_from_the_first_json_object_line() -> None:
    # a client or plugin may print a notice first; only a JSON object is the answer
    answer = json.dumps({"Client": {"Version": "20.10.24"}, "Server": SERVER})
    stdout = f"a notice\n[]\n{answer}\n" + json.dumps({"Client": {"Version": "1"}})
    caps = read_capabilities("docker", (stdout, "", 0), None)
    assert (caps.client_version, caps.server_version) == ("20.10.24", "20.10.24+dfsg1")
