"""push and release against a real registry (htpasswd auth on a loopback port), read back
over the Registry HTTP API. The docker client is wrapped by a script that records every
command line, so the token is checked against the argv of every docker process."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, invoke, unavailable
from tests.support.registry_server import RegistryServer, tools_missing

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stand_ins", "uv_lock")]

USER = "ci-robot"
REPOS = {"gpu": "runpod/tetra-rp", "cpu": "runpod/tetra-rp-cpu", "lb": "runpod/tetra-rp-lb"}
COPIED = [
    "Dockerfile",
    "Dockerfile-cpu",
    "Dockerfile-lb",
    ".dockerignore",
    "worker",
    "pyproject.toml",
    "tasks.py",
    # pyproject.toml names buildlib/ as a uv workspace member: `uv lock` needs it there.
    "buildlib",
]


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
    _remove_images(docker_bin, server.host)


def _remove_images(docker_bin: str, host: str) -> None:
    listed = subprocess.run(
        [docker_bin, "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    ours = [ref for ref in listed if ref.startswith(host + "/")]
    if ours:
        subprocess.run([docker_bin, "image", "rm", "--force", *ours], capture_output=True)


@pytest.fixture
def docker_log(tmp_path, docker_bin) -> tuple[Path, Path]:
    """A docker wrapper that logs each argv; it kills the PID in ``kill-on-push`` (if that
    file exists) when the push number in it is reached."""
    log = tmp_path / "docker-argv.log"
    wrapper = tmp_path / "docker"
    wrapper.write_text(f"""#!/bin/sh
printf '%s\\n' "$*" >> {log}
if [ "$1" = push ] && [ -f {tmp_path}/kill-on-push ]; then
  count=$(($(cat {tmp_path}/push-count 2>/dev/null || echo 0) + 1))
  echo $count > {tmp_path}/push-count
  set -- "$@"
  read pid nth < {tmp_path}/kill-on-push
  if [ "$count" -ge "$nth" ]; then kill -9 "$pid"; sleep 0.5; fi
fi
exec {docker_bin} "$@"
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper, log


def make_repo(root: Path, version: str, *, tag: bool = True) -> Path:
    """A clone-like copy of this repository at ``version``, committed and tagged."""
    root.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source,
                root / name,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        else:
            shutil.copy2(source, root / name)
    text = (REPO / "pyproject.toml").read_text()
    current = text.split('version = "', 1)[1].split('"', 1)[0]
    (root / "pyproject.toml").write_text(
        text.replace(f'version = "{current}"', f'version = "{version}"', 1)
    )
    shutil.copy2(REPO / "uv.lock", root / "uv.lock")
    subprocess.run(["uv", "lock", "--quiet"], cwd=root, check=True)
    git(root, "init", "-q", "-b", "main")
    commit_all(root, f"chore(main): release {version}")
    if tag:
        git(root, "tag", f"v{version}")
    return root


def git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def set_version(root: Path, version: str) -> None:
    text = (root / "pyproject.toml").read_text()
    current = text.split('version = "', 1)[1].split('"', 1)[0]
    (root / "pyproject.toml").write_text(
        text.replace(f'version = "{current}"', f'version = "{version}"', 1)
    )
    subprocess.run(["uv", "lock", "--quiet"], cwd=root, check=True)
    commit_all(root, f"chore(main): release {version}")
    git(root, "tag", f"v{version}")


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


def assert_secret_never_leaked(
    password: str, result: subprocess.CompletedProcess[str], argv_log: Path, tmp_path: Path
) -> None:
    assert password not in result.stdout
    assert password not in result.stderr
    assert password not in argv_log.read_text()
    user_config = tmp_path / "user-docker-config"
    assert not user_config.exists() or password not in "".join(
        p.read_text(errors="replace") for p in user_config.rglob("*") if p.is_file()
    )


def release_digests(registry: RegistryServer, tag: str) -> dict[str, str | None]:
    return {name: registry.digest(repo, tag) for name, repo in REPOS.items()}


def test_push_main_all_images(registry, env_for, password, docker_log, tmp_path):
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    env = env_for(registry, GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary))

    result = invoke("push", "--tag", "main", env=env)

    assert result.returncode == 0, result.stderr[-3000:]
    outputs = output.read_text()
    for name, repo in REPOS.items():
        assert registry.tags(repo) == ["main"]
        digest = registry.digest(repo, "main")
        assert digest and f"{name}-digest={digest}" in outputs
        assert digest in summary.read_text()
    assert f"login {registry.host} --username {USER} --password-stdin" in docker_log[1].read_text()
    assert_secret_never_leaked(password, result, docker_log[1], tmp_path)


def test_push_refuses_release_tags_without_force(registry, env_for):
    for tag in ("latest", "1.2.3", "1.2", "v2"):
        result = invoke("push", "--tag", tag, "--image", "cpu", env=env_for(registry))
        assert result.returncode == 2, (tag, result.stderr)
        assert "belongs to releases" in result.stderr and "Traceback" not in result.stderr
    assert registry.tags(REPOS["cpu"]) == []


def test_wrong_password_fails_in_one_line(registry, env_for, docker_log, tmp_path):
    env = env_for(registry, DOCKERHUB_TOKEN="wrong-" + secrets.token_hex(6))

    result = invoke("push", "--tag", "main", "--image", "cpu", env=env)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert registry.host in errors[0]
    assert "DOCKERHUB_USERNAME" in errors[0] and "DOCKERHUB_TOKEN" in errors[0]
    assert env["DOCKERHUB_TOKEN"] not in result.stderr
    assert registry.tags(REPOS["cpu"]) == []


def test_release_lifecycle(registry, env_for, password, docker_log, tmp_path):
    repo = make_repo(tmp_path / "repo", "1.2.3")
    env = env_for(registry)

    plan = invoke("release", "--dry-run", "--json", env=env, cwd=repo)
    assert plan.returncode == 0, plan.stderr
    document = json.loads(plan.stdout)
    assert document["version"] == "1.2.3" and document["login"] is True
    assert [(i["name"], i["repository"], i["tags"]) for i in document["images"]] == [
        (name, repo_name, ["1.2.3", "1.2", "1", "latest"]) for name, repo_name in REPOS.items()
    ]
    assert registry.tags(REPOS["gpu"]) == []

    first = invoke("release", env=env, cwd=repo)
    assert first.returncode == 0, first.stderr[-3000:]
    for name, repo_name in REPOS.items():
        assert sorted(registry.tags(repo_name)) == ["1", "1.2", "1.2.3", "latest"]
        digests = {registry.digest(repo_name, t) for t in ("1.2.3", "1.2", "1", "latest")}
        assert len(digests) == 1, (name, digests)
    released = release_digests(registry, "1.2.3")
    assert_secret_never_leaked(password, first, docker_log[1], tmp_path)
    pushes = [line for line in docker_log[1].read_text().splitlines() if line.startswith("push")]
    assert len(pushes) == 3, pushes  # floating tags are added in the registry, not uploaded

    again = invoke("release", env=env, cwd=repo)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already in the registry with the same content" in again.stderr
    assert release_digests(registry, "latest") == released

    set_version(repo, "1.3.0rc1")
    pre = invoke("release", "--image", "cpu", env=env, cwd=repo)
    assert pre.returncode == 0, pre.stderr[-3000:]
    assert "1.3.0rc1" in registry.tags(REPOS["cpu"])
    assert "1.3" not in registry.tags(REPOS["cpu"])
    assert release_digests(registry, "latest") == released
    assert registry.digest(REPOS["cpu"], "1") == released["cpu"]


def test_changed_image_under_existing_version_is_refused(registry, env_for, tmp_path):
    repo = make_repo(tmp_path / "repo", "2.0.0")
    env = env_for(registry)
    assert invoke("release", "--image", "cpu", env=env, cwd=repo).returncode == 0
    before = registry.digest(REPOS["cpu"], "2.0.0")
    (repo / "worker" / "changed.py").write_text("CHANGED = True\n")
    commit_all(repo, "fix: change the worker without bumping")
    git(repo, "tag", "-f", "v2.0.0")

    result = invoke("release", "--image", "cpu", env=env, cwd=repo)

    assert result.returncode != 0
    assert "immutable" in result.stderr and "Traceback" not in result.stderr
    assert "--force" in result.stderr
    assert registry.digest(REPOS["cpu"], "2.0.0") == before


def test_release_needs_its_git_tag_at_head(registry, env_for, tmp_path):
    repo = make_repo(tmp_path / "repo", "3.1.0", tag=False)

    result = invoke("release", env=env_for(registry), cwd=repo)

    assert result.returncode == 2
    assert "git tag v3.1.0" in result.stderr and "does not exist" in result.stderr
    assert registry.tags(REPOS["gpu"]) == []


def test_registry_killed_mid_release_leaves_floating_tags(registry, env_for, tmp_path, docker_log):
    repo = make_repo(tmp_path / "repo", "1.2.3")
    env = env_for(registry)
    assert invoke("release", env=env, cwd=repo).returncode == 0
    previous = release_digests(registry, "latest")
    set_version(repo, "1.2.4")
    (tmp_path / "kill-on-push").write_text(f"{registry._process.pid} 2\n")

    result = invoke("release", env=env, cwd=repo)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "No floating tag" in result.stderr
    registry.stop()
    registry.start()
    for tag in ("1.2", "1", "latest"):
        assert release_digests(registry, tag) == previous, tag


def test_per_image_release_jobs_move_floating_tags_only_after_the_last(registry, env_for, tmp_path):
    """CI runs one docker-prod job per image; none moves `latest` until all have the version."""
    repo = make_repo(tmp_path / "repo", "4.0.0")
    env = env_for(registry)

    for name in ("cpu", "gpu"):
        result = invoke("release", "--image", name, env=env, cwd=repo)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "floating tags not moved yet" in result.stderr
        assert release_digests(registry, "latest") == {"gpu": None, "cpu": None, "lb": None}

    last = invoke("release", "--image", "lb", env=env, cwd=repo)

    assert last.returncode == 0, last.stderr[-3000:]
    for name, repo_name in REPOS.items():
        full = registry.digest(repo_name, "4.0.0")
        assert full is not None
        assert {registry.digest(repo_name, t) for t in ("4.0", "4", "latest")} == {full}, name
