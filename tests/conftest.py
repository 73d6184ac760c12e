"""Shared fixtures. Integration tests need a real Docker engine (and the stand-in base
images that `.ci/setup-engine` makes); on a laptop without them they skip, under CI=true
they fail."""

from __future__ import annotations

import locale
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from buildlib.signals import STOPS
from tests.support import signals

REPO = Path(__file__).resolve().parent.parent
# nodeid -> whether the fault case ended with nothing lost (its assertions all held)
_FAULT_CASES: dict[str, bool] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and item.get_closest_marker("fault") is not None:
        _FAULT_CASES[item.nodeid] = report.passed


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault suite's figure (tests/integration/test_faults.py), when any case ran."""
    if _FAULT_CASES:
        intact = sum(_FAULT_CASES.values())
        terminalreporter.write_sep(
            "=",
            f"fault suite: {len(_FAULT_CASES)} fault cases ran, {intact} ended with nothing lost",
        )


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip on a developer machine; fail under CI=true (a missing engine is a broken CI)."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _buildkit_capable_docker() -> str | None:
    """The docker client the integration tests drive: $BUILDLIB_DOCKER if set, else the
    first client on PATH (or Debian's /usr/bin/docker) that can build with BuildKit."""
    from buildlib.docker import detect

    if os.environ.get("BUILDLIB_DOCKER"):
        return shutil.which(os.environ["BUILDLIB_DOCKER"])
    candidates = [shutil.which("docker"), "/usr/bin/docker", "/usr/local/bin/docker"]
    found = [c for c in dict.fromkeys(candidates) if c and os.path.exists(c)]
    for candidate in found:
        if detect(candidate).builder != "legacy":
            return candidate
    return found[0] if found else None


@pytest.fixture(scope="session")
def docker_bin() -> str:
    docker = _buildkit_capable_docker()
    if docker is None:
        unavailable("no docker client is installed (run .ci/setup-engine)")
    assert docker is not None
    probe = subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        unavailable(
            f"the Docker engine does not answer ({probe.stderr.strip()[:200]}); "
            "start it with .ci/setup-engine"
        )
    return docker


@pytest.fixture(scope="session")
def stand_ins(docker_bin: str) -> None:
    """The base images the Dockerfiles name must be present locally (nothing can be pulled)."""
    from buildlib.plan import dockerfile_steps

    missing = []
    for dockerfile in sorted(REPO.glob("Dockerfile*")):
        for step in dockerfile_steps(dockerfile, {}):
            ref = None
            if step.startswith("FROM "):
                ref = step.split()[1]
            elif step.startswith("COPY --from="):
                ref = step.split()[1].split("=", 1)[1]
            if (
                ref
                and subprocess.run(
                    [docker_bin, "image", "inspect", ref], capture_output=True
                ).returncode
                != 0
            ):
                missing.append(ref)
    if missing:
        unavailable(
            f"stand-in base images missing: {', '.join(sorted(set(missing)))} "
            "(run .ci/setup-engine)"
        )


@pytest.fixture(scope="session")
def uv_lock() -> Path:
    lock = REPO / "uv.lock"
    if not lock.exists():
        subprocess.run(["uv", "lock"], cwd=REPO, check=True)
    return lock


def _ignored(signum: int, frame: Any) -> None:
    """A stop signal pytest was started ignoring, still doing nothing in pytest."""


@pytest.fixture(autouse=True)
def stop_signals_at_their_default_in_what_a_test_runs() -> Iterator[None]:
    """A test's signals reach what it runs, however pytest was started: under `nohup`
    (SIGHUP ignored), as a background job without job control (SIGINT, POSIX Shell Command
    Language 2.11), by a supervisor or mutmut's workers, buildlib rightly leaves an ignored
    stop signal ignored, and a command inherits it across exec. Caught instead, pytest
    still shrugs it off, buildlib in this process sees a handler to replace, and a command
    it starts gets the default action (exec resets a caught signal)."""
    ignored = [s for s in STOPS if signal.getsignal(s) == signal.SIG_IGN]
    for signum in ignored:
        signal.signal(signum, _ignored)
    yield
    for signum in ignored:
        signal.signal(signum, signal.SIG_IGN)


@pytest.fixture(autouse=True)
def temporary_directory_of_the_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own directory in place of the machine's temporary one, here and in the
    commands it starts: what a run leaves there for the next one (a push lock per pushed
    reference, and a test's references are new each time) goes when pytest prunes it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))


@pytest.fixture
def ascii_locale() -> Iterator[None]:
    """The C locale at run time, whose preferred encoding is ASCII (at start-up Python would
    take C.UTF-8 instead, PEP 538), as on a host without a UTF-8 locale: what open() and a
    text pipe decode with when no encoding is given. Set in this process, so that a mutation
    run sees the test reach the code under it."""
    if sys.flags.utf8_mode:  # pragma: no cover - Python's UTF-8 mode ignores the locale
        pytest.skip("Python's UTF-8 mode is on: text is UTF-8 whatever the locale")
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        assert "utf" not in locale.getpreferredencoding(False).lower()  # the locale under test
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)


@pytest.fixture
def unique_tag() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def task_env(docker_bin: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKERHUB_", "GITHUB_", "TETRA_", "BUILDLIB_"))
    }
    env["BUILDLIB_DOCKER"] = docker_bin
    env["NO_COLOR"] = "1"
    return env


def invoke(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    """Run `invoke ARGS` the way the README does (in the repository, via this Python); one
    still running at ``timeout`` gets SIGTERM, so that it removes its docker login."""
    return signals.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cleanup_images(docker_bin: str) -> Iterator[list[str]]:
    """Append image references here; they are removed after the test."""
    created: list[str] = []
    yield created
    if created:
        subprocess.run([docker_bin, "image", "rm", "--force", *created], capture_output=True)


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the machine out of a test: see :func:`tests.support.fixture_repo.isolate`."""
    from tests.support.fixture_repo import isolate

    isolate(monkeypatch, tmp_path)


@pytest.fixture
def no_docker_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty DOCKER_CONFIG: resolve_access reads the user's docker login when no
    credentials are in the environment."""
    empty = tmp_path / "docker-config"
    empty.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(empty))


@pytest.fixture
def repo(tmp_path: Path, isolated: None) -> Path:
    """A clean repository that adopted buildlib (:func:`tests.support.fixture_repo.make_repo`),
    made with the machine kept out; a test file that wants another one defines its own."""
    from tests.support.fixture_repo import make_repo

    return make_repo(tmp_path)
