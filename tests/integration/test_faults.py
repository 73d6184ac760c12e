"""The fault suite: each test is one fault injected into a real push or release (a real
engine, a real registry, real signals), and its assertions define "nothing lost" for it:
the registry holds either what it held before or the complete new state, every tag a
message names is where the message says, the exit code is non-zero, the error is one line
without a traceback, and no credential leaks. At the end of the run the terminal summary
prints how many fault cases ran and how many ended with nothing lost (``tests/conftest.py``).

To add a case: write one more ``test_`` function here (the module's ``fault`` mark makes it
count); the fixtures of ``tests/integration/conftest.py`` give a registry, a recording docker
wrapper that can kill the registry or hold a build or push (``docker_wrapper``), and
``make_repo`` a clone of this repository at a version.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, invoke
from tests.support.publishing import (
    REPOS,
    commit_all,
    git,
    make_repo,
    release_digests,
    set_version,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.fault,
    pytest.mark.usefixtures("stand_ins", "uv_lock"),
]


def start(*args: str, env: dict[str, str], cwd: Path = REPO) -> subprocess.Popen[str]:
    """``invoke ARGS`` in the background (to be signalled)."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.1)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


# --- credentials and engine ---------------------------------------------------------------


def test_wrong_password_fails_in_one_line(registry, env_for):
    env = env_for(registry, DOCKERHUB_TOKEN="wrong-" + secrets.token_hex(6))

    result = invoke("push", "--tag", "ci", "--image", "cpu", env=env)

    assert result.returncode != 0
    error = one_error_line(result.stderr)
    assert registry.host in error
    assert "DOCKERHUB_USERNAME" in error and "DOCKERHUB_TOKEN" in error
    assert env["DOCKERHUB_TOKEN"] not in result.stderr
    assert registry.tags(REPOS["cpu"]) == []


def test_engine_down_is_one_clear_line(task_env, tmp_path):
    env = {**task_env, "DOCKER_HOST": f"unix://{tmp_path}/nothing-here.sock"}

    result = invoke("build-lb", "--tag", "never", env=env)

    assert result.returncode != 0
    assert "not reachable" in one_error_line(result.stderr)
    assert f"unix://{tmp_path}/nothing-here.sock (DOCKER_HOST)" in result.stderr


# --- signals during builds ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_a_signal_during_the_builds_stops_them_and_removes_the_login(
    registry, env_for, tmp_path, signum, code, word
):
    (tmp_path / "hold-build").write_text("120\n")
    process = start("push", "--tag", "ci", env=env_for(registry))
    wait_for(tmp_path / "build-held")

    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == code, stderr[-3000:]
    assert one_error_line(stderr) == f"error: {word}"
    logins = {
        line
        for line in (tmp_path / "docker-configs.log").read_text().splitlines()
        if line and line != str(tmp_path / "user-docker-config")
    }
    assert logins, "the push logged in with a temporary DOCKER_CONFIG"
    assert not any(Path(login).exists() for login in logins), logins
    assert all(registry.tags(repo) == [] for repo in REPOS.values())


# --- release ------------------------------------------------------------------------------


def test_registry_killed_mid_release_leaves_floating_tags(registry, env_for, tmp_path):
    repo = make_repo(tmp_path / "repo", "1.2.3")
    env = env_for(registry)
    assert invoke("release", env=env, cwd=repo).returncode == 0
    previous = release_digests(registry, "latest")
    set_version(repo, "1.2.4")
    (tmp_path / "kill-on-push").write_text(f"{registry._process.pid} 2\n")

    result = invoke("release", env=env, cwd=repo)

    assert result.returncode != 0
    assert "No floating tag" in one_error_line(result.stderr)
    registry.stop()
    registry.start()
    for tag in ("1.2", "1", "latest"):
        assert release_digests(registry, tag) == previous, tag


@pytest.mark.parametrize(
    ("stray", "kind"),
    [("worker/untracked_debug.py", "untracked"), (".env", "git-ignored")],
)
def test_a_file_git_does_not_track_stops_the_release_before_a_build(
    registry, env_for, tmp_path, docker_log, stray, kind
):
    repo = make_repo(tmp_path / "repo", "1.0.0")
    (repo / ".gitignore").write_text(".env\n")
    commit_all(repo, "chore: ignore .env")
    git(repo, "tag", "-f", "v1.0.0")
    (repo / stray).write_text("DEBUG = True\n")

    result = invoke("release", env=env_for(registry), cwd=repo)

    assert result.returncode == 2
    error = one_error_line(result.stderr)
    assert f"{stray} ({kind})" in error and ".dockerignore" in error
    assert "build" not in docker_log[1].read_text().split()
    assert all(registry.tags(repo_name) == [] for repo_name in REPOS.values())


def test_a_push_of_main_refuses_a_stray_file_and_another_tag_warns(registry, env_for, tmp_path):
    repo = make_repo(tmp_path / "repo", "1.0.0")
    (repo / "worker" / "untracked_debug.py").write_text("DEBUG = True\n")
    env = env_for(registry)

    refused = invoke("push", "--tag", "main", "--image", "cpu", env=env, cwd=repo)
    warned = invoke("push", "--tag", "wip", "--image", "cpu", env=env, cwd=repo)

    assert refused.returncode == 2
    assert "worker/untracked_debug.py (untracked)" in one_error_line(refused.stderr)
    assert warned.returncode == 0, warned.stderr[-3000:]
    assert "worker/untracked_debug.py (untracked)" in warned.stderr
    assert registry.tags(REPOS["cpu"]) == ["wip"]
