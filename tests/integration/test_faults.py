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

import base64
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from buildlib.signals import STOPS
from tests.conftest import REPO, invoke
from tests.support.publishing import (
    REPOS,
    USER,
    commit_all,
    docker_wrapper,
    git,
    make_repo,
    release_digests,
    set_version,
)
from tests.support.signals import end, start_signalable
from tests.support.stall_proxy import StallProxy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.fault,
    pytest.mark.usefixtures("stand_ins", "uv_lock"),
]


@pytest.fixture
def start() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``start(*ARGS, env=..., cwd=...)``: ``invoke ARGS`` in the background (to be
    signalled). One still running when the test ends (it failed, or timed out waiting) gets
    SIGTERM, so that it removes its docker login rather than outlive the test with it."""
    started: list[subprocess.Popen[str]] = []

    def run(*args: str, env: dict[str, str], cwd: Path = REPO) -> subprocess.Popen[str]:
        process = start_signalable(
            [sys.executable, "-m", "invoke", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield run
    for process in started:
        end(process)


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


@pytest.mark.parametrize("task", [("push", "--tag", "ci"), ("release",)])
def test_wrong_password_fails_in_one_line(registry, env_for, tmp_path, task):
    env = env_for(registry, DOCKERHUB_TOKEN="wrong-" + secrets.token_hex(6))

    result = invoke(*task, "--image", "cpu", env=env, cwd=make_repo(tmp_path / "repo", "1.2.3"))

    assert result.returncode == 7  # a release used to give 8 (stopped part-way) at its listing
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
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGHUP, 129, "hung up"),
    ],
)
def test_a_signal_during_the_builds_stops_them_and_removes_the_login(
    registry, env_for, tmp_path, start, signum, code, word
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


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_takes_the_login_off_the_disk_while_builds_are_slow_to_stop(
    registry, env_for, password, tmp_path, start, signum, code
):
    # a cancelled GitHub Actions job kills the process tree of a step slow to stop (github/docs
    # content/actions/reference/workflows-and-actions/workflow-cancellation.md)
    (tmp_path / "hold-build").write_text("120\n")
    (tmp_path / "slow-stop").touch()
    process = start("push", "--tag", "ci", env=env_for(registry))
    wait_for(tmp_path / "build-held")
    login = next(
        Path(line)
        for line in (tmp_path / "docker-configs.log").read_text().splitlines()
        if line and line != str(tmp_path / "user-docker-config")
    )
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    assert token in (login / "config.json").read_text()

    process.send_signal(signum)
    deadline = time.monotonic() + 60
    while token in (login / "config.json").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)

    assert token not in (login / "config.json").read_text()
    assert password not in (login / "config.json").read_text()
    assert process.poll() is None, "the builds were still stopping"
    (tmp_path / "release-build").touch()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr[-3000:]
    assert one_error_line(stderr) == f"error: {STOPS[signum]}"
    assert not login.exists()
    assert all(registry.tags(repo) == [] for repo in REPOS.values())


# --- release ------------------------------------------------------------------------------


def released_then_bumped(env: dict[str, str], tmp_path: Path) -> Path:
    """A repository released as 1.2.3 with ``env``, its version then set to 1.2.4."""
    repo = make_repo(tmp_path / "repo", "1.2.3")
    assert invoke("release", env=env, cwd=repo).returncode == 0
    set_version(repo, "1.2.4")
    return repo


def test_registry_killed_mid_release_leaves_floating_tags(registry, env_for, tmp_path):
    env = env_for(registry)
    repo = released_then_bumped(env, tmp_path)
    previous = release_digests(registry, "latest")
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

    assert result.returncode == 5
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

    assert refused.returncode == 5
    assert "worker/untracked_debug.py (untracked)" in one_error_line(refused.stderr)
    assert warned.returncode == 0, warned.stderr[-3000:]
    assert "worker/untracked_debug.py (untracked)" in warned.stderr
    assert registry.tags(REPOS["cpu"]) == ["wip"]


def test_registry_killed_right_after_a_version_tag_says_pushed_not_verified(
    registry, env_for, tmp_path
):
    env = env_for(registry)
    repo = released_then_bumped(env, tmp_path)
    previous = release_digests(registry, "latest")
    (tmp_path / "kill-after-push").write_text(f"{registry._process.pid}\n")

    result = invoke("release", env=env, cwd=repo)

    assert result.returncode != 0
    error = one_error_line(result.stderr)
    assert "Nothing was pushed" not in error
    assert f"Pushed, not verified: {registry.host}/runpod/tetra-rp:1.2.4" in error
    registry.stop()
    registry.start()
    assert registry.digest(REPOS["gpu"], "1.2.4") is not None  # the message told the truth
    assert release_digests(registry, "latest") == previous


FLOATING = ("1.2", "1", "latest")


@pytest.mark.parametrize("stall_ends", [True, False], ids=["within-grace", "never"])
def test_a_signal_while_a_floating_tag_move_stalls_rolls_back_and_names_every_tag(
    registry, env_for, tmp_path, start, stall_ends
):
    with StallProxy(registry.port) as proxy:
        env = env_for(registry, BUILDLIB_REGISTRY=proxy.host)
        repo = released_then_bumped(env, tmp_path)
        previous = {tag: release_digests(registry, tag) for tag in FLOATING}
        # gpu's floating tags move first; cpu's first one stalls in the registry
        proxy.stall_requests(r"^PUT /v2/runpod/tetra-rp-cpu/manifests/1\.2 ")
        process = start("release", env=env, cwd=repo)
        assert proxy.stalled.wait(timeout=600), "the release never moved a floating tag"
        process.send_signal(signal.SIGTERM)
        if stall_ends:
            time.sleep(1)
            proxy.release()
        _, stderr = process.communicate(timeout=120)

    assert process.returncode == 143, stderr[-3000:]
    error = one_error_line(stderr)
    assert error.startswith("error: terminated while moving the floating tags")
    for tag in FLOATING:
        assert release_digests(registry, tag) == previous[tag], tag
        for repo_name in REPOS.values():
            assert f"{repo_name}:{tag} " in error
    cpu = f"{REPOS['cpu']}:1.2"
    if stall_ends:
        assert f"{cpu} → the previous release ({previous['1.2']['cpu'][7:19]}) again" in error
    else:
        assert f"{cpu} unknown" in error
    gpu_latest = previous["latest"]["gpu"]
    assert f"{REPOS['gpu']}:latest → the previous release ({gpu_latest[7:19]}) again" in error


def test_a_failed_floating_move_on_a_first_release_says_what_each_tag_holds(
    registry, env_for, tmp_path
):
    with StallProxy(registry.port) as proxy:
        env = env_for(registry, BUILDLIB_REGISTRY=proxy.host)
        repo = make_repo(tmp_path / "repo", "1.0.0")
        proxy.fail_requests(r"^PUT /v2/runpod/tetra-rp-cpu/manifests/latest ")

        result = invoke("release", env=env, cwd=repo)

    assert result.returncode != 0
    error = one_error_line(result.stderr)
    assert "previous release" not in error  # there is none
    for name, repo_name in REPOS.items():
        new = registry.digest(repo_name, "1.0.0")
        for tag in ("1.0", "1", "latest"):
            held = registry.digest(repo_name, tag)
            if held is None:
                assert f"{repo_name}:{tag} does not exist" in error or (
                    f"{repo_name}:{tag} unknown" in error
                )
            else:
                assert held == new and f"{repo_name}:{tag} → 1.0.0" in error, (name, tag)


# --- concurrent runs ------------------------------------------------------------------------


def test_two_pushes_of_one_tag_at_once_each_push_their_own_image(
    registry, env_for, tmp_path, docker_bin, start
):
    """Two clones at different commits push `race` at once on one engine: the first holds
    at its first push until the second has built every image (which, with one shared local
    name, swapped the first's images for the second's)."""
    runs = {}
    for name in ("one", "two"):
        repo = make_repo(tmp_path / name, "1.0.0")
        if name == "two":
            (repo / "worker" / "race.py").write_text("RACE = 2\n")
            commit_all(repo, "feat: the second commit")
        faults = tmp_path / f"{name}-docker"
        faults.mkdir()
        wrapper, _ = docker_wrapper(faults, docker_bin)
        env = env_for(registry, BUILDLIB_DOCKER=str(wrapper))
        runs[name] = (repo, faults, env, git(repo, "rev-parse", "HEAD"))
    (runs["one"][1] / "hold-push").write_text("300\n")
    (runs["two"][1] / "note-builds").write_text("")

    first = start("push", "--tag", "race", env=runs["one"][2], cwd=runs["one"][0])
    wait_for(runs["one"][1] / "push-held")
    second = start("push", "--tag", "race", env=runs["two"][2], cwd=runs["two"][0])
    done = runs["two"][1] / "builds-done"
    deadline = time.monotonic() + 600
    while not (done.exists() and len(done.read_text().splitlines()) >= len(REPOS)):
        assert second.poll() is None, second.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the second run never built its images"
        time.sleep(0.2)
    (runs["one"][1] / "release-push").write_text("")
    outcomes = {}
    for name, process in (("one", first), ("two", second)):
        _, stderr = process.communicate(timeout=600)
        outcomes[name] = (process.returncode, stderr)

    revision = "org.opencontainers.image.revision"
    for name, (code, stderr) in outcomes.items():
        commit = runs[name][3]
        # every digest a run says it pushed is an image of its own commit
        pushed = re.findall(r"pushed \S+/(runpod/\S+):race \((sha256:[0-9a-f]{64})\)", stderr)
        assert len(pushed) >= 1, stderr[-3000:]
        for repo_name, digest in pushed:
            assert registry.labels(repo_name, digest)[revision] == commit, (name, repo_name)
        if code != 0:
            assert "another writer replaced" in one_error_line(stderr), stderr[-3000:]
    final = {
        repo_name: registry.labels(repo_name, "race")[revision] for repo_name in REPOS.values()
    }
    if len(set(final.values())) > 1:  # a mix of both commits: someone must have said so
        assert any(code != 0 for code, _ in outcomes.values()), final
