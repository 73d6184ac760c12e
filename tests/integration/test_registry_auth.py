"""Credentials and the registry client against a real registry and a real Docker engine.

A throwaway ``docker-registry`` with htpasswd runs on a free loopback port. A tiny image
(``FROM scratch`` plus one file) is built with BuildKit, pushed under ``Docker.login``,
read back, and re-tagged through the API. Missing tools skip these tests on a laptop and
fail them under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildlib.credentials import Credentials, from_docker_config
from buildlib.docker import Docker
from buildlib.errors import AuthError, RegistryError
from buildlib.registry import RegistryClient
from buildlib.runner import Runner
from tests.support.registry_server import RegistryServer, docker_login_config, tools_missing

pytestmark = pytest.mark.integration

USER = "buildlib-test"
PASSWORD = "pw-" + secrets.token_hex(12)
HINT = "set REGISTRY_USERNAME and REGISTRY_TOKEN"
REPO = "test/tiny"
HOME_CONFIG = Path.home() / ".docker" / "config.json"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: integration tests must run)")
    pytest.skip(reason)


def _docker_binary() -> str | None:
    # The 20.10 client at /usr/bin/docker does BuildKit builds without the buildx plugin.
    for candidate in (os.environ.get("BUILDLIB_DOCKER"), "/usr/bin/docker", shutil.which("docker")):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def _assert_no_password(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text


def _exception_texts(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), repr(exc.args), str(getattr(exc, "hint", ""))]


def _home_config_state() -> tuple[bool, int | None]:
    return HOME_CONFIG.exists(), HOME_CONFIG.stat().st_mtime_ns if HOME_CONFIG.exists() else None


@pytest.fixture(scope="module")
def docker_bin() -> str:
    binary = _docker_binary()
    if binary is None:
        _unavailable("no docker client on PATH")
    assert binary is not None
    probe = subprocess.run(
        [binary, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        _unavailable(f"no Docker engine answers: {probe.stderr.strip()[-200:]}")
    return binary


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    missing = tools_missing()
    if missing:
        _unavailable(
            f"{', '.join(missing)} not installed (apt-get install docker-registry apache2-utils)"
        )
    with RegistryServer(tmp_path_factory.mktemp("registry"), USER, PASSWORD) as server:
        yield server


@pytest.fixture
def creds() -> Credentials:
    return Credentials(USER, PASSWORD)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``tempfile`` use this test's own directory, so leftovers can be counted."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def tiny_image(
    docker_bin: str, registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A locally built ``<registry>/test/tiny:one``; every tag made on it is removed after."""
    context = tmp_path_factory.mktemp("tiny")
    (context / "hello.txt").write_text(f"hello {secrets.token_hex(8)}\n")  # a unique image
    (context / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    tag = f"{registry.host}/{REPO}:one"
    runner = Runner(quiet=True)
    runner.run(
        [docker_bin, "build", "--tag", tag, str(context)],
        env={"DOCKER_BUILDKIT": "1"},
        capture=True,
        what="docker build",
    )
    yield tag
    tags = [tag, f"{registry.host}/{REPO}:two"]
    runner.run([docker_bin, "image", "rm", *tags], capture=True, check=False)


# -- ping ----------------------------------------------------------------------------------


def test_ping_with_the_right_password(registry: RegistryServer, creds: Credentials) -> None:
    RegistryClient(registry.host, creds).ping()  # raises unless answered and accepted


def test_ping_with_a_wrong_password_names_the_registry_not_the_password(
    registry: RegistryServer, capfd: pytest.CaptureFixture[str]
) -> None:
    wrong = Credentials(USER, PASSWORD + "-wrong")
    client = RegistryClient(registry.host, wrong, credential_hint=HINT, backoff=0.01)

    with pytest.raises(AuthError) as caught:
        client.ping()

    message = str(caught.value)
    assert registry.host in message
    assert HINT in message
    assert "\n" not in message
    _assert_no_password(*_exception_texts(caught.value), repr(client))
    captured = capfd.readouterr()
    _assert_no_password(captured.out, captured.err)


def test_ping_without_credentials_asks_for_them(registry: RegistryServer) -> None:
    with pytest.raises(AuthError, match="requires credentials"):
        RegistryClient(registry.host, None, credential_hint=HINT).ping()


# -- Docker.login --------------------------------------------------------------------------


def test_temporary_login_is_removed_and_never_touches_home(
    registry: RegistryServer, docker_bin: str, creds: Credentials, private_tmp: Path
) -> None:
    before = _home_config_state()
    environ_before = dict(os.environ)

    docker = Docker.client(docker_bin, Runner(quiet=True))
    with docker.login(registry.host, creds):
        env = docker.env
        config_dir = Path(env["DOCKER_CONFIG"])
        assert config_dir.parent == private_tmp
        assert registry.host in (config_dir / "config.json").read_text()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DOCKER_CONFIG", str(config_dir))
            assert from_docker_config(registry.host) == creds

    assert not config_dir.exists()
    assert list(private_tmp.iterdir()) == []
    assert _home_config_state() == before
    assert dict(os.environ) == environ_before


def test_temporary_login_keeps_the_users_plugins_builders_and_context(
    registry: RegistryServer,
    docker_bin: str,
    creds: Credentials,
    private_tmp: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = tmp_path_factory.mktemp("user-docker")
    for name in ("cli-plugins", "buildx", "contexts"):
        (user / name).mkdir(parents=True)
    user_config = {
        "currentContext": "default",
        "proxies": {"default": {"noProxy": "127.0.0.1"}},
        "credsStore": "no-such-helper",  # must not be used for the temporary login
        "auths": {"elsewhere.example": {"auth": "c2VjcmV0OnNlY3JldA=="}},
    }
    (user / "config.json").write_text(json.dumps(user_config))
    monkeypatch.setenv("DOCKER_CONFIG", str(user))

    docker = Docker.client(docker_bin, Runner(quiet=True))
    with docker.login(registry.host, creds):
        env = docker.env
        config_dir = Path(env["DOCKER_CONFIG"])
        for name in ("cli-plugins", "buildx", "contexts"):
            assert (config_dir / name).resolve() == (user / name).resolve()
        written = json.loads((config_dir / "config.json").read_text())
        assert written["currentContext"] == "default" and "proxies" in written
        assert "credsStore" not in written and "elsewhere.example" not in written["auths"]
        assert registry.host in written["auths"]  # the login went into the temporary file
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DOCKER_CONFIG", str(config_dir))
            assert from_docker_config(registry.host) == creds

    assert json.loads((user / "config.json").read_text()) == user_config
    assert sorted(p.name for p in user.iterdir()) == [
        "buildx",
        "cli-plugins",
        "config.json",
        "contexts",
    ]
    assert list(private_tmp.iterdir()) == []


def test_temporary_login_never_reaches_an_os_credential_helper(
    registry: RegistryServer,
    docker_bin: str,
    creds: Credentials,
    private_tmp: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With no auth in its config, the docker CLI picks the platform's credential helper when
    # one is on PATH (on Linux: pass, else secretservice) and `docker login` stores there.
    bin_dir = tmp_path_factory.mktemp("helpers")
    calls = bin_dir / "calls.log"
    for name in ("docker-credential-secretservice", "docker-credential-pass", "pass"):
        helper = bin_dir / name
        helper.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\ncat >> {calls}\n')
        helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path_factory.mktemp("empty-user-config")))

    docker = Docker.client(docker_bin, Runner(quiet=True))
    with docker.login(registry.host, creds):
        env = docker.env
        written = json.loads((Path(env["DOCKER_CONFIG"]) / "config.json").read_text())
        assert written["auths"][registry.host].get("auth")  # the login is in the temp file
        assert "credsStore" not in written

    assert not calls.exists(), calls.read_text()  # no helper ever saw the token


def test_temporary_login_is_removed_when_the_block_fails(
    registry: RegistryServer, docker_bin: str, creds: Credentials, private_tmp: Path
) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        Docker.client(docker_bin, Runner(quiet=True)).login(registry.host, creds),
    ):
        raise RuntimeError("boom")
    assert list(private_tmp.iterdir()) == []


def test_temporary_login_with_a_wrong_password(
    registry: RegistryServer,
    docker_bin: str,
    private_tmp: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = _home_config_state()
    wrong = Credentials(USER, PASSWORD + "-wrong")

    with (
        pytest.raises(AuthError) as caught,
        Docker.client(docker_bin, Runner()).login(registry.host, wrong, HINT),
    ):
        pytest.fail("the login should have failed")

    message = str(caught.value)
    assert registry.host in message and HINT in message and "\n" not in message
    _assert_no_password(*_exception_texts(caught.value))
    captured = capfd.readouterr()
    _assert_no_password(captured.out, captured.err)
    assert "--password-stdin" in captured.err  # the command line was shown, without secret
    assert list(private_tmp.iterdir()) == []
    assert _home_config_state() == before


def test_temporary_login_to_a_dead_registry_is_a_registry_error(
    tmp_path: Path, docker_bin: str, creds: Credentials, private_tmp: Path
) -> None:
    server = RegistryServer(tmp_path / "dead", USER, PASSWORD)  # never started
    with (
        pytest.raises(RegistryError) as caught,
        Docker.client(docker_bin, Runner(quiet=True)).login(server.host, creds, HINT),
    ):
        pytest.fail("the login should have failed")
    assert not isinstance(caught.value, AuthError)
    assert server.host in str(caught.value)
    # the credentials were never sent: the fix names the registry alone
    assert caught.value.hint == "check that the registry is reachable"
    _assert_no_password(*_exception_texts(caught.value))
    assert [p.name for p in private_tmp.iterdir()] == ["dead"]


def test_from_docker_config_reads_a_real_docker_login(
    registry: RegistryServer, docker_bin: str, creds: Credentials, tmp_path: Path, monkeypatch
) -> None:
    config_dir = docker_login_config(tmp_path, registry.host, USER, PASSWORD, docker_bin)
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))

    found = from_docker_config(registry.host)

    assert found == creds
    RegistryClient(registry.host, found).ping()
    assert from_docker_config("registry.invalid:5000") is None


# -- push, read back, re-tag ---------------------------------------------------------------


def test_push_read_back_and_add_a_tag_without_uploading_blobs(
    registry: RegistryServer,
    docker_bin: str,
    tiny_image: str,
    creds: Credentials,
    capfd: pytest.CaptureFixture[str],
) -> None:
    runner = Runner()
    docker = Docker.client(docker_bin, runner)
    with docker.login(registry.host, creds, HINT):
        env = docker.env
        # capture=True: Runner._stream leaves its stdout pipe open (a ResourceWarning).
        runner.run([docker_bin, "push", tiny_image], env=env, capture=True, what="docker push")
    client = RegistryClient(registry.host, creds, credential_hint=HINT)

    digest = client.manifest_digest(REPO, "one")
    assert digest is not None and digest == registry.digest(REPO, "one")
    image_id = runner.run(
        [docker_bin, "image", "inspect", "--format", "{{.Id}}", tiny_image],
        capture=True,
        mutating=False,
    ).stdout.strip()
    assert client.config_digest(REPO, "one") == image_id

    seen_before = len(registry.requests())
    assert client.add_tag(REPO, "one", "two") == digest
    new_requests = registry.requests()[seen_before:]
    assert [r for r in new_requests if "/blobs/" in r[1]] == []
    assert [r for r in new_requests if r[0] == "PUT"] == [("PUT", f"/v2/{REPO}/manifests/two", 201)]

    assert sorted(client.tags(REPO)) == ["one", "two"]
    assert registry.digest(REPO, "two") == digest
    assert client.manifest_digest(REPO, "two") == digest

    # The new tag is a usable image: the engine pulls it by name.
    second = f"{registry.host}/{REPO}:two"
    docker = Docker.client(docker_bin, runner)
    with docker.login(registry.host, creds):
        env = docker.env
        runner.run([docker_bin, "pull", second], env=env, capture=True, what="docker pull")
    inspect = [docker_bin, "image", "inspect", "--format", "{{.Id}}", second]
    assert runner.run(inspect, capture=True, mutating=False).stdout.strip() == image_id

    captured = capfd.readouterr()
    _assert_no_password(captured.out, captured.err, registry.log_path.read_text())


def test_a_dead_registry_is_retried_then_reported_and_recovers(
    tmp_path: Path, creds: Credentials
) -> None:
    with RegistryServer(tmp_path, USER, PASSWORD) as server:
        client = RegistryClient(server.host, creds, retries=2, backoff=0.01, timeout=5)
        assert client.tags(REPO) == []

        server.stop()
        with pytest.raises(RegistryError) as caught:
            client.tags(REPO)
        message = str(caught.value)
        assert server.host in message
        assert f"list the tags of {REPO}" in message
        assert "after 3 attempts: connection refused" in message
        _assert_no_password(*_exception_texts(caught.value))

        server.start()
        client.ping()
        assert client.manifest_digest(REPO, "one") is None


# -- what a build reports it pushed, against what the registry holds -----------------------


def test_the_pushed_digest_is_compared_with_the_registrys_manifest_and_index(
    registry: RegistryServer, docker_bin: str, tiny_image: str, creds: Credentials
) -> None:
    """The path a multi-platform push is verified by (buildx's ``containerimage.digest``
    against the registry's ``Docker-Content-Digest``), run on what this machine can push: a
    single-platform manifest pushed by docker, and an OCI index over it put through the API
    (no buildx here)."""
    import hashlib

    from buildlib.digests import verify_pushed
    from buildlib.errors import PublishError
    from buildlib.registry import Manifest

    runner = Runner(quiet=True)
    docker = Docker.client(docker_bin, runner)
    with docker.login(registry.host, creds, HINT):
        env = docker.env
        pushed = runner.run(
            [docker_bin, "push", tiny_image], env=env, capture=True, what="docker push"
        )
    reported = pushed.stdout.rsplit("digest: ", 1)[1].split()[0]  # what the pusher says
    client = RegistryClient(registry.host, creds, credential_hint=HINT)
    assert verify_pushed(client, REPO, tiny_image, "one", reported) == reported
    other = "sha256:" + "0" * 64
    with pytest.raises(PublishError, match="another writer replaced"):
        verify_pushed(client, REPO, tiny_image, "one", other)

    manifest = client.get_manifest(REPO, "one")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": manifest.media_type,
                    "digest": manifest.digest,
                    "size": len(manifest.body),
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    ).encode()
    index_digest = "sha256:" + hashlib.sha256(index).hexdigest()
    client.put_manifest(
        REPO, "multi", Manifest("application/vnd.oci.image.index.v1+json", index, index_digest)
    )
    reference = f"{registry.host}/{REPO}:multi"
    assert verify_pushed(client, REPO, reference, "multi", index_digest) == index_digest
    with pytest.raises(PublishError, match="the build pushed sha256:0000"):
        verify_pushed(client, REPO, reference, "multi", other)
    with pytest.raises(PublishError, match="could not confirm it: .* lists nothing under"):
        verify_pushed(client, REPO, reference, "absent", index_digest)
