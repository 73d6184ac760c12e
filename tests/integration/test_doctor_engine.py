"""doctor's engine and registry checks against the real thing: the Docker engine on this
machine, and a throwaway registry with htpasswd auth for the ``--for push`` round trip.

Without an engine (or docker-registry) these skip on a laptop and fail under CI=true.
"""

from __future__ import annotations

import json
import secrets
import subprocess

import pytest

from buildlib.doctor import run_doctor
from tests.conftest import unavailable
from tests.support.fixture_repo import TOKEN_ENV, USER_ENV
from tests.support.registry_server import RegistryServer, tools_missing

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("isolated")]


@pytest.fixture
def engine(docker_bin, monkeypatch):
    """The engine answers (conftest fails under CI=true when it does not)."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("BUILDLIB_DOCKER", docker_bin)
    return docker_bin


@pytest.fixture
def registry(tmp_path):
    missing = tools_missing()
    if missing:
        unavailable(f"{', '.join(missing)} not installed (run .ci/setup-engine)")
    password = secrets.token_urlsafe(16)
    with RegistryServer(tmp_path, "ci-user", password) as server:
        yield server, password


def doctor(repo, capsys, **options):
    code = run_doctor(repo, as_json=True, **options)
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured


def by_id(document):
    return {c["id"]: c for c in document["checks"]}


def test_clean_repository_with_a_real_engine(repo, engine, capsys):
    server_version = subprocess.run(
        [engine, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    code, document, _ = doctor(repo, capsys)

    checks = by_id(document)
    assert code == 0, [c for c in document["checks"] if c["status"] == "fail"]
    assert checks["docker-engine"]["status"] == "ok"
    assert f"Docker Engine {server_version}" in checks["docker-engine"]["message"]
    assert checks["docker-builder"]["status"] in ("ok", "warn")
    assert engine in checks["docker-builder"]["message"]
    assert checks["docker-disk"]["status"] in ("ok", "warn")
    assert "GiB free" in checks["docker-disk"]["message"]


def test_push_round_trip_with_good_credentials(repo, engine, registry, capsys, monkeypatch):
    server, password = registry
    monkeypatch.setenv(USER_ENV, server.username)
    monkeypatch.setenv(TOKEN_ENV, password)

    code, document, captured = doctor(repo, capsys, for_="push", registry=server.host)

    checks = by_id(document)
    assert checks["credentials"]["status"] == "ok"
    assert checks["registry-auth"]["status"] == "ok"
    assert (
        f"{server.host} accepted the credentials of 'ci-user'" in checks["registry-auth"]["message"]
    )
    assert ("GET", "/v2/", 200) in server.requests()
    assert password not in captured.out + captured.err
    assert code == 0


def test_push_round_trip_with_bad_credentials_fails_before_a_build(
    repo, registry, capsys, monkeypatch
):
    server, _ = registry
    wrong = "not-the-password-" + secrets.token_hex(4)
    monkeypatch.setenv(USER_ENV, server.username)
    monkeypatch.setenv(TOKEN_ENV, wrong)

    code, document, captured = doctor(repo, capsys, for_="push", registry=server.host, engine=False)

    auth = by_id(document)["registry-auth"]
    assert code == 1
    assert auth["status"] == "fail"
    # the registry and the rejection said once (they were twice: doctor's words, the client's)
    assert auth["message"] == (
        f"{server.host}: the credentials of user 'ci-user' were rejected (UNAUTHORIZED: "
        f"authentication required); they came from ${USER_ENV} and ${TOKEN_ENV}"
    )
    assert auth["hint"]
    assert wrong not in captured.out + captured.err


def test_push_round_trip_to_a_dead_registry(repo, registry, capsys, monkeypatch):
    server, password = registry
    server.stop()
    monkeypatch.setenv(USER_ENV, server.username)
    monkeypatch.setenv(TOKEN_ENV, password)

    code, document, _ = doctor(repo, capsys, for_="push", registry=server.host, engine=False)

    auth = by_id(document)["registry-auth"]
    assert code == 1 and auth["status"] == "fail"
    assert auth["message"].startswith(f"{server.host} did not answer: ping failed after ")


def test_doctor_asks_the_engine_of_the_docker_context(repo, engine, capsys, monkeypatch, tmp_path):
    """A context made by the real client (its files, its name hashing) picks the engine."""
    answering = subprocess.run(
        [engine, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}", "default"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dead = f"unix://{tmp_path}/no-engine.sock"
    for name, host in (("answering", answering), ("dead", dead)):
        subprocess.run(
            [engine, "context", "create", name, "--docker", f"host={host}"],
            capture_output=True,
            check=True,
        )

    monkeypatch.setenv("DOCKER_CONTEXT", "answering")
    _, document, _ = doctor(repo, capsys)
    check = by_id(document)["docker-engine"]
    assert check["status"] == "ok", check
    assert check["message"].endswith(f"answers at {answering} (DOCKER_CONTEXT=answering)")

    monkeypatch.setenv("DOCKER_CONTEXT", "dead")
    code, document, _ = doctor(repo, capsys)
    check = by_id(document)["docker-engine"]
    assert code != 0 and check["status"] == "fail"
    assert check["message"].startswith(
        f"Docker engine not reachable at {dead} (DOCKER_CONTEXT=dead)"
    )
    assert "DOCKER_CONTEXT" in check["hint"]
