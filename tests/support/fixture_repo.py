"""A clean repository that adopted buildlib, made in ``tmp_path``, for the doctor tests.

``make_repo(tmp_path)`` writes a minimal pyproject.toml ([project] + [tool.buildlib], one
image), a small Dockerfile, an entrypoint script, a valid workflow, release-please's two
files, a real ``uv.lock`` (``uv lock --offline`` when uv's cache allows, else ``uv lock``;
made once per pyproject text and reused), and a git repository on ``main`` with
conventional commits and the tag ``v{version}`` at HEAD. Every doctor check passes on it
(the engine ones aside); each test then breaks one thing.

``isolate(monkeypatch, tmp_path)`` keeps the machine out: no GitHub Actions variables, no
registry credentials, an empty docker config, a private cache directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

NAME = "demo-app"
VERSION = "0.1.0"
USER_ENV = "DEMO_REGISTRY_USERNAME"
TOKEN_ENV = "DEMO_REGISTRY_TOKEN"

PYPROJECT = f"""\
[project]
name = "{NAME}"
version = "{{version}}"
description = "A fixture for buildlib's doctor."
requires-python = ">=3.11"
dependencies = [
    "cloudpickle>=3.0",
]

[dependency-groups]
dev = ["packaging>=24"]

[tool.uv]
package = false

[tool.buildlib]
registry = "docker.io"
default-group = ["app"]

[tool.buildlib.images.app]
repository = "acme/demo-app"
dockerfile = "Dockerfile"
context = "."

[tool.buildlib.release]
git-tag = "v{{{{version}}}}"

[tool.buildlib.credentials]
username-env = "{USER_ENV}"
token-env = "{TOKEN_ENV}"
"""

DOCKERFILE = """\
FROM scratch
ARG APP_VERSION=dev
COPY entrypoint.sh /entrypoint.sh
COPY pyproject.toml uv.lock /app/
ENTRYPOINT ["/entrypoint.sh"]
"""

ENTRYPOINT = '#!/bin/sh\nset -eu\nexec "$@"\n'

WORKFLOW = """\
name: CI
on:
  push:
    branches: [main]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - run: echo test
"""

RELEASE_PLEASE_CONFIG = {
    "release-type": "python",
    "include-component-in-tag": False,
    "include-v-in-tag": True,
    "packages": {
        ".": {
            "package-name": NAME,
            "extra-files": [
                {
                    "type": "toml",
                    "path": "uv.lock",
                    "jsonpath": f"$.package[?(@.name.value=='{NAME}')].version",
                },
            ],
        },
    },
}

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Fixture",
    "GIT_AUTHOR_EMAIL": "fixture@example.invalid",
    "GIT_COMMITTER_NAME": "Fixture",
    "GIT_COMMITTER_EMAIL": "fixture@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T12:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T12:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}

_LOCKS: dict[str, str] = {}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` (no user config, fixed identity and dates); return stdout."""
    env = {**os.environ, **GIT_ENV, "HOME": str(repo.parent / ".fixture-home")}
    result = subprocess.run(
        [
            "git",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def commit(repo: Path, message: str, files: dict[str, str | bytes] | None = None) -> str:
    """Write ``files`` (relative path -> content), commit everything; return the short hash."""
    for rel, content in (files or {}).items():
        write(repo / rel, content)
    git(repo, "add", "-A")
    git(repo, "commit", "--allow-empty", "-q", "-m", message)
    return git(repo, "rev-parse", "--short", "HEAD")


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")


def lock_for(pyproject_text: str) -> str:
    """uv.lock for a pyproject.toml text, made once per text (offline when uv's cache can)."""
    if pyproject_text not in _LOCKS:
        with tempfile.TemporaryDirectory(prefix="buildlib-fixture-lock-") as work:
            Path(work, "pyproject.toml").write_text(pyproject_text, encoding="utf-8")
            env = {
                k: v
                for k, v in os.environ.items()
                if k
                not in (
                    "VIRTUAL_ENV",
                    "UV_PROJECT_ENVIRONMENT",
                    "UV_FROZEN",
                    "UV_LOCKED",
                    "UV_OFFLINE",
                )
            }
            attempts = (["uv", "lock", "--offline", "--quiet"], ["uv", "lock", "--quiet"])
            errors = []
            for argv in attempts:
                result = subprocess.run(
                    argv, cwd=work, env=env, capture_output=True, text=True, check=False
                )
                if result.returncode == 0:
                    break
                errors.append(result.stderr.strip()[-500:])
            else:
                raise AssertionError("uv lock failed for the fixture: " + " | ".join(errors))
            _LOCKS[pyproject_text] = Path(work, "uv.lock").read_text(encoding="utf-8")
    return _LOCKS[pyproject_text]


def make_repo(
    tmp_path: Path,
    *,
    name: str = "repo",
    version: str = VERSION,
    with_git: bool = True,
    with_lock: bool = True,
    with_workflow: bool = True,
    with_release_please: bool = True,
    tagged: bool = True,
) -> Path:
    """A clean repository at ``tmp_path/name``; see the module docstring."""
    if shutil.which("uv") is None and with_lock:
        raise AssertionError("uv is not installed: the fixture needs it for uv.lock")
    repo = tmp_path / name
    repo.mkdir(parents=True)
    pyproject = PYPROJECT.format(version=version)
    write(repo / "pyproject.toml", pyproject)
    write(repo / "Dockerfile", DOCKERFILE)
    write(repo / "entrypoint.sh", ENTRYPOINT)
    (repo / "entrypoint.sh").chmod(0o755)
    write(repo / ".gitignore", ".venv/\n__pycache__/\n")
    if with_lock:
        write(repo / "uv.lock", lock_for(pyproject))
    if with_workflow:
        write(repo / ".github" / "workflows" / "ci.yml", WORKFLOW)
    if with_release_please:
        write(
            repo / "release-please-config.json", json.dumps(RELEASE_PLEASE_CONFIG, indent=2) + "\n"
        )
        write(repo / ".release-please-manifest.json", json.dumps({".": version}, indent=2) + "\n")
    if with_git:
        git(repo, "init", "-q", "-b", "main")
        commit(repo, "feat: first version of the demo app", {"CHANGELOG.md": "# Changelog\n"})
        commit(
            repo,
            f"chore(main): release {version}",
            {"CHANGELOG.md": f"# Changelog\n\n## {version}\n\n* first version\n"},
        )
        if tagged:
            git(repo, "tag", f"v{version}")
    return repo


def set_version(
    repo: Path, version: str, *, pyproject: bool = True, manifest: bool = False
) -> None:
    """Change the version where asked (the way a hand edit or a half release-please would)."""
    if pyproject:
        path = repo / "pyproject.toml"
        text = path.read_text(encoding="utf-8")
        path.write_text(
            re.sub(r'(?m)^version = "[^"]*"', f'version = "{version}"', text, count=1),
            encoding="utf-8",
        )
    if manifest:
        write(repo / ".release-please-manifest.json", json.dumps({".": version}, indent=2) + "\n")


def isolate(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Keep the machine's CI variables, credentials and docker login out of a test."""
    for name in (
        "GITHUB_ACTIONS",
        "GITHUB_REF_NAME",
        "GITHUB_REF_TYPE",
        "BUILDLIB_REGISTRY",
        USER_ENV,
        TOKEN_ENV,
        "DOCKERHUB_USERNAME",
        "DOCKERHUB_TOKEN",
        "FORCE_COLOR",
        "BUILDLIB_NO_CACHE",
    ):
        monkeypatch.delenv(name, raising=False)
    docker_config = tmp_path / ".docker-config"
    docker_config.mkdir(exist_ok=True)
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
