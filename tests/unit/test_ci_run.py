""".ci/run, the local CI entry point: the README's test command, then the unit tests on
Python 3.10 when the machine has it; any failure makes it exit non-zero.

It runs here as a copy, next to a stand-in setup-engine, with a stand-in uv that records
its arguments, so nothing is installed and no test runs twice.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV_VERSION = next(
    line.split("=", 1)[1]
    for line in (ROOT / ".ci" / "run").read_text().splitlines()
    if line.startswith("UV_VERSION=")
)


def _script(path: Path, text: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run_ci(tmp_path: Path, *, python310: bool, failing: str = "") -> tuple[int, list[str]]:
    checkout = tmp_path / "checkout"
    (checkout / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", checkout / ".ci" / "run")
    _script(checkout / ".ci" / "setup-engine", "exit 0\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "uv.log"
    # The stand-in uv fails when its arguments contain FAILING.
    _script(
        bin_dir / "uv",
        f'if [ "$1" = --version ]; then echo "uv {UV_VERSION}"; exit 0; fi\n'
        f'echo "$*" >> {log}\n'
        f'case "$*" in *python\\ -V*) echo "Python 3.11.9";; esac\n'
        f'if [ -n "{failing}" ] && [[ "$*" == *"{failing}"* ]]; then exit 1; fi\n',
    )
    pyenv = tmp_path / "pyenv"
    if python310:
        version_bin = pyenv / "versions" / "3.10.13" / "bin"
        version_bin.mkdir(parents=True)
        # Answers the version probe as a 3.10 would.
        _script(version_bin / "python3.10", "exit 0\n")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYENV_ROOT": str(pyenv),
        "TMPDIR": str(tmp_path),
    }
    result = subprocess.run(
        ["bash", str(checkout / ".ci" / "run"), "-k", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result.returncode, calls


@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")
def test_runs_the_readme_command_then_the_unit_tests_on_python_3_10(tmp_path: Path) -> None:
    code, calls = run_ci(tmp_path, python310=True)
    assert code == 0
    assert calls[0] == "run pytest -k x"
    python = tmp_path / "pyenv" / "versions" / "3.10.13" / "bin" / "python3.10"
    assert calls[1] == f"run --python {python} pytest tests/unit"


@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")
def test_without_python_3_10_only_the_readme_command_runs(tmp_path: Path) -> None:
    code, calls = run_ci(tmp_path, python310=False)
    assert code == 0
    assert [c for c in calls if "pytest" in c] == ["run pytest -k x"]


@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")
@pytest.mark.parametrize("failing", ["pytest -k x", "pytest tests/unit"])
def test_a_failure_on_either_python_fails_the_run(tmp_path: Path, failing: str) -> None:
    code, calls = run_ci(tmp_path, python310=True, failing=failing)
    assert code != 0
    assert len([c for c in calls if "pytest" in c]) == 2, "both runs report"
