"""Fixtures of the push, release and fault tests: a real registry with htpasswd auth on a
loopback port, a docker wrapper that records every command line (and can inject faults),
and the environment a CI job would give ``invoke``."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, unavailable
from tests.support.publishing import USER, docker_wrapper, remove_images
from tests.support.registry_server import RegistryServer, tools_missing


@pytest.fixture
def password() -> str:
    return "pw-" + secrets.token_hex(12)


@pytest.fixture
def registry(tmp_path, password, docker_bin) -> Iterator[RegistryServer]:
    missing = tools_missing()
    if missing:
        unavailable(f"{', '.join(missing)} not installed (run .ci/setup-engine)")
    with RegistryServer(tmp_path, USER, password) as server:
        yield server
    remove_images(docker_bin, server.host)


@pytest.fixture
def docker_log(tmp_path, docker_bin) -> tuple[Path, Path]:
    """(wrapper, argv log): see :func:`tests.support.publishing.docker_wrapper`."""
    return docker_wrapper(tmp_path, docker_bin)


@pytest.fixture
def env_for(task_env, password, docker_log, tmp_path):
    wrapper, _ = docker_log

    def make(registry: RegistryServer, **extra: str) -> dict[str, str]:
        return {
            **task_env,
            "BUILDLIB_DOCKER": str(wrapper),
            "PYTHONPATH": str(REPO),
            "BUILDLIB_REGISTRY": registry.host,
            "DOCKERHUB_USERNAME": USER,
            "DOCKERHUB_TOKEN": password,
            "GITHUB_ACTIONS": "",
            "DOCKER_CONFIG": str(tmp_path / "user-docker-config"),
            **extra,
        }

    return make
