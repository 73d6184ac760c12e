"""What the push and release tests share: clone-like copies of this repository, git helpers,
and readers of what a registry holds."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.support.registry_server import RegistryServer

REPO = Path(__file__).resolve().parents[2]
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


def remove_images(docker_bin: str, host: str) -> None:
    """Remove every local image named under ``host`` (what a test pushed there)."""
    listed = subprocess.run(
        [docker_bin, "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    ours = [ref for ref in listed if ref.startswith(host + "/") or ref.startswith("buildlib-run")]
    if ours:
        subprocess.run([docker_bin, "image", "rm", "--force", *ours], capture_output=True)


def docker_wrapper(directory: Path, docker_bin: str) -> tuple[Path, Path]:
    """A docker wrapper (and the log it writes) that logs each argv. Files in ``directory``
    inject faults at ``docker push``:

    - ``kill-on-push`` holds ``PID N``: the N-th push (and every later one) first kills PID;
    - ``kill-after-push`` holds ``PID``: the first push that succeeds then kills PID;
    - ``hold-push``: a push writes ``push-held`` and waits until ``release-push`` exists
      (at most the seconds ``hold-push`` holds); ``hold-build`` does the same for builds;
    - ``slow-stop``: a held build or push ignores SIGINT and SIGTERM until released, then
      exits 143 if it got one (a command slow to stop);
    - ``note-builds``: each finished build appends its argv to ``builds-done``.

    ``docker-configs.log`` records the DOCKER_CONFIG of every command (a temporary login).
    """
    log = directory / "docker-argv.log"
    wrapper = directory / "docker"
    wrapper.write_text(f"""#!/bin/sh
printf '%s\\n' "$*" >> {log}
printf '%s\\n' "$DOCKER_CONFIG" >> {directory}/docker-configs.log
if [ "$1" = push ] && [ -f {directory}/kill-on-push ]; then
  count=$(($(cat {directory}/push-count 2>/dev/null || echo 0) + 1))
  echo $count > {directory}/push-count
  read pid nth < {directory}/kill-on-push
  if [ "$count" -ge "$nth" ]; then kill -9 "$pid"; sleep 0.5; fi
fi
for step in push build; do
  if [ "$1" = $step ] && [ -f {directory}/hold-$step ]; then
    [ -f {directory}/slow-stop ] && trap 'stopped=1' INT TERM
    touch {directory}/$step-held
    waited=0
    limit=$(cat {directory}/hold-$step)
    while [ ! -f {directory}/release-$step ] && [ "$waited" -lt "$limit" ]; do
      sleep 1; waited=$((waited + 1))
    done
    [ -n "$stopped" ] && exit 143
  fi
done
if [ "$1" = build ] || [ "$1" = buildx ]; then [ -f {directory}/note-builds ] && noted=1; fi
if [ -n "$noted" ]; then
  {docker_bin} "$@"
  status=$?
  printf '%s\\n' "$*" >> {directory}/builds-done
  exit $status
fi
if [ "$1" = push ] && [ -f {directory}/kill-after-push ]; then
  {docker_bin} "$@"
  status=$?
  if [ "$status" -eq 0 ]; then kill -9 "$(cat {directory}/kill-after-push)"; fi
  exit $status
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
