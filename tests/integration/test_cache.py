"""Registry caches end to end on this engine's builder: an image pushed with its inline
cache (``--cache-to type=inline``) is read back by a later build through
``--cache-from type=registry,ref=...``, which built-in BuildKit only honours in the plain
reference form buildlib turns it into."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.conftest import invoke, unavailable
from tests.support.registry_server import RegistryServer, docker_login_config, tools_missing

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stand_ins", "uv_lock")]

USER = "cache-robot"


@pytest.fixture
def password() -> str:
    return "pw-" + secrets.token_hex(12)


@pytest.fixture
def registry(tmp_path, password) -> Iterator[RegistryServer]:
    missing = tools_missing()
    if missing:
        unavailable(f"{', '.join(missing)} not installed (run .ci/setup-engine)")
    with RegistryServer(tmp_path, USER, password) as server:
        yield server


def test_inline_cache_pushed_then_read_from_the_registry(
    registry, password, task_env, unique_tag, docker_bin, tmp_path, cleanup_images
):
    from buildlib.docker import detect

    builder = detect(docker_bin).builder
    if builder == "legacy":
        pytest.skip("the legacy builder exports no cache (refused: see the test below)")
    source = f"{registry.host}/runpod/tetra-rp-cpu:{unique_tag}-cache"
    cleanup_images += [source, f"runpod/tetra-rp-cpu:{unique_tag}"]
    pushed = invoke(
        "push",
        "--image",
        "cpu",
        "--tag",
        f"{unique_tag}-cache",
        "--cache-to",
        "type=inline",
        env={
            **task_env,
            "BUILDLIB_REGISTRY": registry.host,
            "DOCKERHUB_USERNAME": USER,
            "DOCKERHUB_TOKEN": password,
        },
    )
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    if builder == "buildkit":
        assert "BUILDKIT_INLINE_CACHE=1" in pushed.stderr + pushed.stdout
    else:
        assert "--cache-to type=inline" in pushed.stderr + pushed.stdout
    assert registry.digest("runpod/tetra-rp-cpu", f"{unique_tag}-cache")

    # A build reads a private registry's cache with the user's own docker login.
    login = docker_login_config(tmp_path, registry.host, USER, password, docker_bin)
    built = invoke(
        "build-cpu",
        "--tag",
        unique_tag,
        "--cache-from",
        f"type=registry,ref={source}",
        env={**task_env, "DOCKER_CONFIG": str(login)},
    )

    log = built.stdout + built.stderr
    assert built.returncode == 0, log[-3000:]
    if builder == "buildkit":
        assert f"--cache-from {source}" in log  # unwrapped for built-in BuildKit
    else:
        assert f"--cache-from type=registry,ref={source}" in log
    assert f"importing cache manifest from {source}" in log, log[-3000:]


def test_a_cache_the_builder_cannot_read_is_refused_before_building(
    task_env, unique_tag, docker_bin
):
    from buildlib.docker import detect

    if detect(docker_bin).builder == "buildx":
        pytest.skip("buildx reads local caches; this refusal is for the builders without it")
    result = invoke(
        "build-cpu", "--tag", unique_tag, "--cache-from", "type=local,src=/tmp/c", env=task_env
    )

    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "--cache-from type=local,src=/tmp/c" in result.stderr
    assert "$ " not in result.stderr  # no docker command ran
