"""buildlib as another repository gets it: the wheel `uv build` makes, installed into a
fresh virtual environment on Python 3.10 (the oldest supported), used in a repository that
is not this one: four images, two of which share their first stage, and a committed
uv.lock. There the `buildlib` command and the README's tasks.py run, plan and build on the
real engine. Nothing of this checkout is importable there: PYTHONPATH is unset and the
repository lies elsewhere.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, unavailable
from tests.support.fixture_repo import commit, git, lock_for, write
from tests.support.readme import adopting_tasks_py

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stand_ins")]

BASE = "python:3.12-slim"  # a base image the stand-ins provide (.ci/setup-engine)

PYPROJECT = """\
[project]
name = "acme-shop"
version = "2.3.0"
description = "A repository that adopted buildlib."
requires-python = ">=3.10"
dependencies = []

[tool.uv]
package = false

[tool.buildlib]
default-group = ["api", "worker"]
tag-env = "ACME_IMAGE_TAG"

[tool.buildlib.images.api]
repository = "acme-shop/api"
dockerfile = "docker/Dockerfile.api"

[tool.buildlib.images.worker]
repository = "acme-shop/worker"
dockerfile = "docker/Dockerfile.worker"

[tool.buildlib.images.web]
repository = "acme-shop/web"
dockerfile = "docker/Dockerfile.web"

[tool.buildlib.images.cron]
repository = "acme-shop/cron"
dockerfile = "docker/Dockerfile.cron"
"""

# api and worker share their first stage (the same base, files and RUN), so buildlib
# builds it once and starts the second image from it.
SHARED = f"""\
FROM {BASE}
WORKDIR /srv
COPY pyproject.toml uv.lock ./
RUN echo "dependencies of $(grep -c name uv.lock) locked packages" > /srv/deps.txt
"""
DOCKERFILES = {
    "api": SHARED + 'COPY app/ ./app/\nCMD ["python3", "-m", "app.api"]\n',
    "worker": SHARED + 'COPY app/ ./app/\nCMD ["python3", "-m", "app.worker"]\n',
    "web": f'FROM {BASE}\nWORKDIR /www\nCOPY app/ ./app/\nCMD ["python3", "-m", "http.server"]\n',
    "cron": f'FROM {BASE}\nRUN echo "0 * * * * true" > /etc/crontab.acme\nCMD ["true"]\n',
}


def python310() -> str | None:
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(f"{root}/versions/3.10.*/bin/python3.10"))
    candidates.append(shutil.which("python3.10") or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
                capture_output=True,
                text=True,
            )
            if probe.stdout.strip() == "True":
                return candidate
    return None


def clean_env() -> dict[str, str]:
    """The environment of a shell in the adopting repository: none of this checkout's."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT", "PYTHONHOME")
    return {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith(("BUILDLIB_", "TETRA_", "DOCKERHUB_", "GITHUB_"))
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`uv build` in buildlib/: an sdist and a wheel of the version in its pyproject.toml."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        ["uv", "build", "--out-dir", str(out)],
        cwd=REPO / "buildlib",
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = out.glob("buildlib-*-py3-none-any.whl")
    (sdist,) = out.glob("buildlib-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def venv(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment on Python 3.10 with the wheel and its dependencies."""
    interpreter = python310()
    if interpreter is None:
        unavailable("no Python 3.10 interpreter (pyenv's or python3.10 on PATH)")
    assert interpreter is not None
    where = tmp_path_factory.mktemp("adopter-venv") / "venv"
    env = {**clean_env(), "UV_PYTHON_DOWNLOADS": "never"}
    for argv in (
        ["uv", "venv", "--quiet", "--python", interpreter, str(where)],
        [
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            str(where / "bin" / "python"),
            str(dist["wheel"]),
        ],
    ):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{argv}: {result.stderr[-2000:]}"
    return where


@pytest.fixture(scope="module")
def adopter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The adopting repository: four images, a committed uv.lock, no tasks.py."""
    repo = tmp_path_factory.mktemp("adopter") / "acme-shop"
    repo.mkdir()
    files: dict[str, str | bytes] = {
        "pyproject.toml": PYPROJECT,
        "uv.lock": lock_for(PYPROJECT),
        ".gitignore": "__pycache__/\n",
        "app/__init__.py": "",
        "app/api.py": "print('api')\n",
        "app/worker.py": "print('worker')\n",
    }
    files.update({f"docker/Dockerfile.{name}": text for name, text in DOCKERFILES.items()})
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "feat: the shop's four images", files)
    assert "uv.lock" in git(repo, "ls-files")
    return repo


@pytest.fixture
def run(venv: Path, adopter: Path, docker_bin: str) -> Iterator[object]:
    def run_in(
        *argv: str, cwd: Path = adopter, timeout: int = 900
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **clean_env(),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "BUILDLIB_DOCKER": docker_bin,
            "NO_COLOR": "1",
        }
        return subprocess.run(
            list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )

    yield run_in


def test_uv_build_makes_a_wheel_and_an_sdist(dist: dict[str, Path]) -> None:
    text = (REPO / "buildlib" / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'(?m)^version = "([^"]+)"', text)
    assert version
    assert dist["wheel"].name == f"buildlib-{version.group(1)}-py3-none-any.whl"
    assert dist["sdist"].name == f"buildlib-{version.group(1)}.tar.gz"
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = wheel.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "buildlib = buildlib.cli:main" in wheel.read(entry_points).decode()
    assert "buildlib/py.typed" in names and "buildlib/checks/suite.py" in names
    assert not [n for n in names if n.startswith(("tests/", "worker/"))]


def test_the_installed_buildlib_is_the_wheel_on_python_3_10(run, venv: Path) -> None:
    result = run(
        "python", "-c", "import sys, buildlib; print(sys.version_info[:2], buildlib.__file__)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("(3, 10) ")
    assert str(venv) in result.stdout and str(REPO) not in result.stdout
    version = run("buildlib", "--version")
    assert version.returncode == 0 and re.fullmatch(r"buildlib \d+\.\d+\.\d+\n", version.stdout)


def test_buildlib_list_shows_the_four_image_tasks(run, adopter: Path) -> None:
    result = run("buildlib", "--list", cwd=adopter / "app")
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^  ([\w-]+)", result.stdout, re.M))
    assert {"build", "build-api", "build-worker", "build-web", "build-cron"} <= listed
    assert {"push", "release", "doctor"} <= listed


def test_the_readme_tasks_py_serves_the_same_tasks_through_invoke(
    run, adopter: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "with-tasks"
    shutil.copytree(adopter, copy)
    write(copy / "tasks.py", adopting_tasks_py())
    through_invoke = run("invoke", "--list", cwd=copy)
    through_buildlib = run("buildlib", "--list", cwd=copy)
    assert through_invoke.returncode == 0, through_invoke.stderr
    tasks = set(re.findall(r"^  ([\w-]+)", through_invoke.stdout, re.M))
    assert tasks == set(re.findall(r"^  ([\w-]+)", through_buildlib.stdout, re.M))
    assert {"build-api", "build-worker", "build-web", "build-cron"} <= tasks


def test_doctor_json_passes_in_the_adopting_repository(run) -> None:
    result = run("buildlib", "doctor", "--json")
    document = json.loads(result.stdout)
    failed = [c for c in document["checks"] if c["status"] == "fail"]
    assert result.returncode == 0 and document["ok"], failed
    statuses = {c["id"]: c["status"] for c in document["checks"]}
    assert statuses["uv-lock"] == "ok"  # committed
    assert statuses["uv-lock-fresh"] == "ok"
    for check in document["checks"]:
        assert "invoke " not in (check["hint"] or ""), check  # advice names `buildlib`


def test_build_all_dry_run_plans_four_images_and_changes_nothing(run, docker_bin: str) -> None:
    result = run("buildlib", "build", "--all", "--dry-run", "--tag", "adopt-dry")
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("api", "worker", "web", "cron"):
        assert re.search(
            rf"docker/Dockerfile\.{name}\b.*acme-shop/{name}:adopt-dry", result.stderr
        ), name
    # the pair that shares its first stage is planned as such
    assert re.search(r"worker: .*\(after api: shares its first steps\)", result.stderr), (
        result.stderr
    )
    made = subprocess.run(
        [docker_bin, "image", "ls", "--quiet", "--filter", "reference=acme-shop/*:adopt-dry"],
        capture_output=True,
        text=True,
    )
    assert made.stdout.strip() == ""


def test_one_real_build_on_the_engine(
    run, docker_bin: str, unique_tag: str, cleanup_images: list[str]
) -> None:
    reference = f"acme-shop/api:{unique_tag}"
    cleanup_images.append(reference)
    result = run("buildlib", "build-api", "--tag", unique_tag)
    assert result.returncode == 0, result.stderr[-3000:]
    inspected = subprocess.run(
        [docker_bin, "image", "inspect", "--format", "{{json .Config.Labels}}", reference],
        capture_output=True,
        text=True,
    )
    assert inspected.returncode == 0, inspected.stderr
    labels = json.loads(inspected.stdout)
    assert labels["org.opencontainers.image.version"] == unique_tag  # a build is no release
