"""Concurrent builds on a real engine: prefixed output, shared-first-steps ordering, and one
failure stopping the rest."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import REPO, invoke

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stand_ins")]

BASE = "stand-in/debian:bookworm"


def fixture_repo(root: Path, dockerfiles: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tables = []
    for name, body in dockerfiles.items():
        (root / f"Dockerfile-{name}").write_text(body)
        tables.append(
            f'[tool.buildlib.images.{name}]\nrepository = "bench/{name}"\n'
            f'dockerfile = "Dockerfile-{name}"\n'
        )
    (root / "pyproject.toml").write_text(
        '[project]\nname = "fixture"\nversion = "1.0.0"\n\n[tool.buildlib]\n\n' + "\n".join(tables)
    )
    (root / "tasks.py").write_text(
        "from pathlib import Path\n\nfrom buildlib.tasks import "
        "collection\n\nns = collection(Path(__file__).parent)\n"
    )
    return root


def env_with_repo(task_env: dict[str, str]) -> dict[str, str]:
    return {**task_env, "PYTHONPATH": str(REPO)}


def test_one_failure_stops_the_others(tmp_path, task_env, unique_tag, cleanup_images):
    repo = fixture_repo(
        tmp_path / "repo",
        {
            "slow": f"FROM {BASE}\nRUN echo {unique_tag} && sleep 60\n",
            "broken": f"FROM {BASE}\nRUN echo {unique_tag} && sleep 2 && exit 3\n",
        },
    )
    cleanup_images.extend(f"bench/{n}:{unique_tag}" for n in ("slow", "broken"))
    started = time.monotonic()

    result = invoke("build", "--tag", unique_tag, env=env_with_repo(task_env), cwd=repo)

    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 45, f"the slow build was not stopped ({elapsed:.0f}s)"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert "build of broken" in errors[0] and "stopped: slow" in errors[0]
    assert "Traceback" not in result.stderr


def test_independent_images_build_concurrently_with_prefixes(
    tmp_path, task_env, unique_tag, cleanup_images, docker_bin
):
    repo = fixture_repo(
        tmp_path / "repo",
        {
            "one": f"FROM {BASE}\nRUN echo one-{unique_tag} && sleep 3\n",
            "two": f"FROM {BASE}\nRUN echo two-{unique_tag} && sleep 3\n",
        },
    )
    cleanup_images.extend(f"bench/{n}:{unique_tag}" for n in ("one", "two"))

    result = invoke("build", "--tag", unique_tag, env=env_with_repo(task_env), cwd=repo)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 at a time" in result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("[one] ") for line in lines)
    assert any(line.startswith("[two] ") for line in lines)
    assert "built one" in result.stderr and "built two" in result.stderr


def test_shared_first_steps_build_once_then_the_rest_side_by_side(
    tmp_path, task_env, unique_tag, cleanup_images
):
    shared = f"FROM {BASE}\nRUN echo shared-{unique_tag} && sleep 2\n"
    repo = fixture_repo(
        tmp_path / "repo",
        {
            "first": shared + f"RUN echo first-{unique_tag} && sleep 6\n",
            "second": shared + f"RUN echo second-{unique_tag}\n",
        },
    )
    cleanup_images.extend(f"bench/{n}:{unique_tag}" for n in ("first", "second"))

    result = invoke("build", "--tag", unique_tag, env=env_with_repo(task_env), cwd=repo)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "second: bench/second:" in result.stderr
    assert "(after first: shares its first steps)" in result.stderr
    if "DOCKER_BUILDKIT=1" not in result.stderr:
        return  # the legacy builder's output shows no steps: second waits for the end
    lines = result.stderr.splitlines()
    second_log = "\n".join(line for line in lines if line.startswith("[second] "))
    assert f"RUN echo shared-{unique_tag}" in second_log
    assert "CACHED" in second_log  # the shared step ran once, in first
    # second started once first's shared step was done, while first still ran its own
    first_own = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("[first] ") and f"echo first-{unique_tag}" in line
    )
    first_export = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("[first] ") and "exporting to image" in line
    )
    second_start = next(i for i, line in enumerate(lines) if line.startswith("[second] "))
    second_done = max(i for i, line in enumerate(lines) if line.startswith("[second] "))
    assert second_start < first_export and second_done < first_export, "\n".join(lines[-60:])
    assert first_own < first_export
