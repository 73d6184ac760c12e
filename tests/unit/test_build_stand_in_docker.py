"""``buildlib build`` as a user runs it, in its own process, against a stand-in ``docker``
(a shell script named by ``BUILDLIB_DOCKER``): what the user sees when the build succeeds
but docker writes no image id, and when Ctrl-C lands while two builds run side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fixture_repo import commit, make_repo
from tests.support.signals import start_signalable

pytestmark = pytest.mark.usefixtures("isolated")

# `docker version --format '{{json .}}'` of a 20.10 client and engine, without buildx:
# buildlib then runs `DOCKER_BUILDKIT=1 docker build`, one process per image.
VERSION = (
    '{"Client":{"Version":"20.10.24"},"Server":{"Version":"20.10.24","ApiVersion":"1.41",'
    '"Os":"linux","Arch":"amd64"}}'
)

BAKE_STARTED = "#1 [internal] load local bake definitions"
BUILD_STARTED = "#1 [internal] load build definition from Dockerfile"

# Each build notes its process id in $STAND_IN_PIDS and prints its first line, then does what
# $STAND_IN_BUILD says: "no-id" ends well but writes no --iidfile; "hang" becomes a sleep
# (exec keeps the pid, as the real client is one process) that outlasts every wait below, so
# only a signal ends it.
STAND_IN = f"""#!/bin/sh
[ "$1" = buildx ] && [ "$STAND_IN_BUILDX" ] && shift && case "$1" in
version) echo "github.com/docker/buildx v0.17.1 abcdef0"; exit 0;;
bake)
    echo $$ > "$STAND_IN_PIDS/bake"
    echo "{BAKE_STARTED}"
    [ "$STAND_IN_BUILD" = hang ] && exec sleep 3600
    echo "#1 DONE 0.0s"
    exit 0;;
esac
case "$1" in
version) echo '{VERSION}'; exit 0;;
build)
    for arg; do [ "$prev" = --tag ] && name=$arg; prev=$arg; done
    echo $$ > "$STAND_IN_PIDS/$(basename "${{name%%:*}}")"
    echo "{BUILD_STARTED}"
    [ "$STAND_IN_BUILD" = hang ] && exec sleep 3600
    echo "#1 DONE 0.0s"
    exit 0;;
esac
exit 1
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """The fixture repository with a second image, ``worker``, of a Dockerfile that shares no
    step with ``app``'s: neither waits for the other."""
    repo = make_repo(tmp_path)
    (repo / "Dockerfile.worker").write_text("FROM alpine:3.20\nRUN true\n", encoding="utf-8")
    with (repo / "pyproject.toml").open("a", encoding="utf-8") as file:
        file.write(
            '\n[tool.buildlib.images.worker]\nrepository = "acme/demo-worker"\n'
            'dockerfile = "Dockerfile.worker"\ncontext = "."\n'
        )
    commit(repo, "feat: a worker image")
    yield repo
    # a failed test must not leave its hanging stand-ins behind
    for path in (repo.parent / "pids").glob("*"):
        pid = path.read_text().strip()
        if pid.isdigit() and alive(int(pid)):
            os.kill(int(pid), signal.SIGKILL)


def start(
    repo: Path, behaviour: str, *args: str, buildx: bool = False
) -> tuple[subprocess.Popen[str], Path]:
    pids = repo.parent / "pids"
    pids.mkdir()
    docker = repo.parent / "docker"
    docker.write_text(STAND_IN, encoding="utf-8")
    docker.chmod(0o755)
    env = {
        **os.environ,
        "BUILDLIB_DOCKER": str(docker),
        "STAND_IN_BUILD": behaviour,
        "STAND_IN_PIDS": str(pids),
        "STAND_IN_BUILDX": "1" if buildx else "",
        "NO_COLOR": "1",
    }
    command = [sys.executable, "-m", "buildlib.cli", "build", *args]
    # stderr goes to a file, which a test reads while buildlib runs (see shown)
    with (repo.parent / "stderr").open("w", encoding="utf-8") as stderr:
        process = start_signalable(
            command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    return process, pids


def shown(pids: Path) -> str:
    """What buildlib (started with these ``pids``) has written to stderr so far."""
    return (pids.parent / "stderr").read_text(encoding="utf-8")


def finish(process: subprocess.Popen[str], pids: Path, seconds: float) -> tuple[str, str]:
    """buildlib's stdout and stderr once it has exited; a failure if it runs ``seconds``."""
    try:
        out, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"buildlib still ran after {seconds} s: {process.communicate()}, {shown(pids)}")
    return out, shown(pids)


def wait_until_shown(process: subprocess.Popen[str], pids: Path, line: str, count: int) -> None:
    """Wait until buildlib has shown ``line`` ``count`` times: it then reads those commands'
    output, which is where a signal must find it. Reading a line shown also means the
    stand-in that printed it has written its pid file."""
    deadline = time.monotonic() + 120
    while shown(pids).count(line) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{count} x {line!r} not shown: {process.communicate()}, {shown(pids)}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_build_that_writes_no_image_id_is_one_error_line_and_exit_4(project: Path) -> None:
    process, pids = start(project, "no-id", "--image", "app")
    out, err = finish(process, pids, 60)

    assert process.returncode == 4, err  # CommandFailed, as the README's exit codes say
    assert (pids / "demo-app").is_file()  # the stand-in did run the build
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: app: docker reported success but wrote no image id "
        "(fix: check the docker client ($BUILDLIB_DOCKER): its `build --iidfile FILE` must "
        "write the image id to FILE)"
    ]
    assert err.rstrip().endswith(errors[0])
    assert "Traceback" not in err
    assert "built app" not in out + err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_two_builds_stops_both_and_reports_no_success(
    project: Path, signum: int
) -> None:
    """Ctrl-C (SIGINT) exits 130, a cancelled CI job (SIGTERM) 143, a closed terminal
    (SIGHUP) 129 (tasks.user_errors); here only buildlib gets the signal, not its process
    group as from a terminal, so buildlib itself must stop the builds."""
    process, pids = start(project, "hang", "--all", "--jobs", "2")
    wait_until_shown(process, pids, BUILD_STARTED, count=2)
    builds = {path.name: int(path.read_text()) for path in pids.iterdir()}
    assert sorted(builds) == ["demo-app", "demo-worker"], process.communicate()

    process.send_signal(signum)
    out, err = finish(process, pids, 60)

    assert process.returncode == 128 + signum, err
    said = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}.get(signum, "hung up")
    assert err.rstrip().splitlines()[-1] == f"error: {said}"
    assert "Traceback" not in err
    assert not [line for line in (out + err).splitlines() if line.startswith("built ")]
    assert [name for name, pid in builds.items() if alive(pid)] == []


def test_a_bake_that_writes_no_image_id_is_one_error_line_and_exit_4(project: Path) -> None:
    """With buildx, two images are one ``docker buildx bake``; without its metadata file,
    buildlib asks the engine, which (here) has no such image either."""
    process, pids = start(project, "no-id", "--all", buildx=True)
    out, err = finish(process, pids, 60)

    assert process.returncode == 4, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: app, worker: docker buildx bake reported success but acme/demo-app:local, "
        "acme/demo-worker:local are not in the engine (fix: check the builder: a loaded image "
        "needs the docker driver or --load support)"
    ]
    assert "Traceback" not in err
    assert not [line for line in (out + err).splitlines() if line.startswith("built ")]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_a_bake_stops_it(project: Path, signum: int) -> None:
    """With buildx, the two images are one ``docker buildx bake``, read by the main thread:
    the signal lands there, and the bake must not go on after buildlib has exited."""
    process, pids = start(project, "hang", "--all", buildx=True)
    wait_until_shown(process, pids, BAKE_STARTED, count=1)
    bake = int((pids / "bake").read_text())

    process.send_signal(signum)
    out, err = finish(process, pids, 60)

    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert not alive(bake)
