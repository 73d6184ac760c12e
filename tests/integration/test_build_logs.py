"""Logs of concurrent builds on a real engine: whole prefixed lines in a pipe, one group per
image in GitHub Actions, and a failed build annotated at its Dockerfile line."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.conftest import invoke

pytestmark = [pytest.mark.integration]

BASE = "stand-in/debian:bookworm"
PYPROJECT = """\
[project]
name = "logs-demo"
version = "0.1.0"

[tool.buildlib]
default-group = ["good", "broken"]

[tool.buildlib.images.good]
repository = "buildlib-it/good"
dockerfile = "Dockerfile-good"

[tool.buildlib.images.broken]
repository = "buildlib-it/broken"
dockerfile = "Dockerfile-broken"
"""
GOOD = f"""\
FROM {BASE}
RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo "good line $i of a longer output"; done
"""
BROKEN = f"""\
FROM {BASE}
RUN echo "broken line of output"

# the failing step, on two lines
RUN echo about to fail && \\
    false
"""


@pytest.fixture
def repo(tmp_path: Path, docker_bin: str) -> Path:
    import subprocess

    if subprocess.run([docker_bin, "image", "inspect", BASE], capture_output=True).returncode:
        pytest.skip(f"{BASE} is not in the engine (run .ci/setup-engine)")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "Dockerfile-good").write_text(GOOD)
    (tmp_path / "Dockerfile-broken").write_text(BROKEN)
    (tmp_path / "tasks.py").write_text(
        "from pathlib import Path\nfrom buildlib.tasks import collection\n"
        "ns = collection(Path(__file__).parent)\n"
    )
    return tmp_path


def build(repo: Path, task_env: dict[str, str], **extra: str):
    env = {**task_env, **extra}
    return invoke("build", "--tag", f"it-{uuid.uuid4().hex[:8]}", env=env, cwd=repo, timeout=600)


def test_a_pipe_gets_whole_prefixed_lines(repo: Path, task_env: dict[str, str]) -> None:
    result = build(repo, task_env)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    output = [line for line in lines if line.startswith("[")]
    assert any(line.startswith("[good] ") for line in output)
    assert any(line.startswith("[broken] ") for line in output)
    for line in lines:
        # never two prefixes or an echo glued to another line
        assert len(re.findall(r"\[(?:good|broken)\] ", line)) <= 1, line
        assert "$ " not in line[1:] or not line.startswith("["), line
    (error,) = [line for line in lines if line.startswith("error:")]
    assert error.startswith("error: Dockerfile-broken:5: build of broken failed")
    assert "RUN echo about to fail && false" in error
    assert len(error) < 400


def test_github_actions_gets_groups_and_an_annotation_at_the_line(
    repo: Path, task_env: dict[str, str]
) -> None:
    result = build(repo, task_env, GITHUB_ACTIONS="true")
    assert result.returncode != 0
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1
    assert annotations[0].startswith(
        "::error file=Dockerfile-broken,line=5::build of broken failed"
    )
    assert len(annotations[0]) < 300
    lines = result.stderr.splitlines()
    opened = [i for i, line in enumerate(lines) if line.startswith("::group::build of broken")]
    assert len(opened) == 1
    start = opened[0]
    end = lines.index("::endgroup::", start)
    body = lines[start + 1 : end]
    assert any("about to fail" in line for line in body), body
    assert not any(line.startswith("::group::") for line in body), "groups never nest"
