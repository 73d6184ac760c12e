"""The temporary docker login under Ctrl-C: a SIGINT (or a closed terminal's SIGHUP) landing
while its directory is made, or a second one while it is removed (``uv run`` outside a
terminal forwards the SIGINT its process group already got, astral-sh/uv#13756), still
leaves no directory behind."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke import Exit

from buildlib.credentials import Credentials
from buildlib.docker import Docker
from buildlib.runner import Result, Runner
from buildlib.tasks import user_errors

CREDS = Credentials("someone", "a-long-enough-token-123")


class LoginRunner(Runner):
    """Answers ``docker login`` with success, without docker."""

    def __init__(self) -> None:
        super().__init__(quiet=True)

    def run(self, argv, **kwargs):  # type: ignore[override]
        return Result(list(argv), 0, stdout="Login Succeeded")


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where tempfile makes directories (the login's among them), with Python's Ctrl-C
    handler: mutmut's workers and a shell's background jobs pass on an ignored SIGINT,
    which would never interrupt."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "user-docker"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield tmp_path / "tmp"
    finally:
        signal.signal(signal.SIGINT, inherited)


def signal_once_made(monkeypatch: pytest.MonkeyPatch, signum: int) -> None:
    """``signum`` arrives right after the login directory is made, before it has a name."""
    made = tempfile.mkdtemp

    def made_then_signalled(*args: object, **kwargs: object) -> str:
        path = made(*args, **kwargs)  # type: ignore[call-overload]
        os.kill(os.getpid(), signum)
        return str(path)

    monkeypatch.setattr(tempfile, "mkdtemp", made_then_signalled)


def test_a_ctrl_c_as_the_login_directory_is_made_leaves_no_directory(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signal_once_made(monkeypatch, signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        with Docker.client("docker", LoginRunner()).login("r.example", CREDS):
            pass

    assert list(scratch.iterdir()) == []


def test_a_hang_up_as_the_login_directory_is_made_leaves_no_directory(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signal_once_made(monkeypatch, signal.SIGHUP)

    with pytest.raises(Exit) as stopped, user_errors():
        with Docker.client("docker", LoginRunner()).login("r.example", CREDS):
            pass

    assert stopped.value.code == 129
    assert list(scratch.iterdir()) == []


def test_a_second_ctrl_c_while_the_login_is_removed_waits_for_its_end(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlink = os.unlink
    unlinked: list[str] = []

    def unlink_then_interrupted(path: str, *args: object, **kwargs: object) -> None:
        unlink(path, *args, **kwargs)  # type: ignore[arg-type]
        unlinked.append(str(path))
        if len(unlinked) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    docker = Docker.client("docker", LoginRunner())
    with pytest.raises(KeyboardInterrupt):
        with docker.login("r.example", CREDS):
            Path(docker.env["DOCKER_CONFIG"], ".buildNodeID").write_text("node\n")
            monkeypatch.setattr(os, "unlink", unlink_then_interrupted)
            raise KeyboardInterrupt  # the first Ctrl-C

    assert len(unlinked) == 2  # config.json and buildx's .buildNodeID
    assert list(scratch.iterdir()) == []


def test_a_login_that_cannot_be_removed_is_named_with_the_command_that_removes_it(
    scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docker = Docker.client("docker", LoginRunner())
    with docker.login("r.example", CREDS):
        config_dir = docker.env["DOCKER_CONFIG"]
        # what its owner cannot remove: a file in a read-only directory, and for root
        # (whom no mode stops) an immutable one
        kept = Path(config_dir, "buildx", "activity")
        kept.parent.mkdir()
        kept.write_text("default\n")
        kept.parent.chmod(0o500)
        chattr = shutil.which("chattr")
        if os.geteuid() == 0 and (not chattr or subprocess.run([chattr, "+i", kept]).returncode):
            pytest.skip("no chattr +i here, and root removes a read-only directory's files")
    try:
        warning = capsys.readouterr().err
        assert f"{config_dir} could not be removed" in warning
        assert f"rm -rf {config_dir}" in warning
    finally:
        if os.geteuid() == 0 and chattr:
            subprocess.run([chattr, "-i", kept], check=True)
        kept.parent.chmod(0o700)
        shutil.rmtree(config_dir)


# A docker command slow to stop: it ignores SIGINT and SIGTERM, stops its parent as a
# cancelled CI job would, then says whether the token left the disk while it still ran.
SLOW_TO_STOP = """
import os, pathlib, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
config = pathlib.Path(os.environ["DOCKER_CONFIG"], "config.json")
os.kill(os.getppid(), int(sys.argv[1]))
deadline = time.monotonic() + 20
while sys.argv[2] in config.read_text() and time.monotonic() < deadline:
    time.sleep(0.05)
pathlib.Path(sys.argv[3]).write_text("still there" if sys.argv[2] in config.read_text() else "gone")
"""


class LoggingInRunner(Runner):
    """``docker login`` writes the token in config.json, as docker's file store does; every
    other command runs."""

    def __init__(self) -> None:
        super().__init__(quiet=True)

    def run(self, argv, **kwargs):  # type: ignore[override]
        if "login" not in argv:
            return super().run(argv, **kwargs)
        config = Path(kwargs["env"]["DOCKER_CONFIG"], "config.json")
        entry = base64.b64encode(f"{CREDS.username}:{CREDS.secret}".encode()).decode()
        config.write_text(json.dumps({"auths": {"r.example": {"auth": entry}}}))
        return Result(list(argv), 0, stdout="Login Succeeded")


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_stop_takes_the_token_off_the_disk_before_the_commands_have_stopped(
    scratch: Path, tmp_path: Path, signum: int, code: int
) -> None:
    verdict = tmp_path / "verdict"
    docker = Docker.client("docker", LoggingInRunner())
    entry = base64.b64encode(f"{CREDS.username}:{CREDS.secret}".encode()).decode()

    with pytest.raises(Exit) as stopped, user_errors():
        with docker.login("r.example", CREDS):
            config = json.loads(Path(docker.env["DOCKER_CONFIG"], "config.json").read_text())
            assert entry in json.dumps(config)  # the login is on the disk while it runs
            docker.run([sys.executable, "-c", SLOW_TO_STOP, str(int(signum)), entry, str(verdict)])

    assert verdict.read_text() == "gone"
    assert stopped.value.code == code
    assert list(scratch.iterdir()) == []


def test_what_a_stop_writes_in_the_logins_place_is_its_owners_alone(scratch: Path) -> None:
    """config.json keeps the user's proxies, whose URLs may hold a password: the file that
    takes the login's place is readable by its owner alone, as the login's own was."""
    proxies = {"default": {"httpProxy": "http://someone:proxy-password@proxy.invalid:3128"}}
    user = scratch.parent / "user-docker"
    user.mkdir()
    (user / "config.json").write_text(json.dumps({"proxies": proxies}))
    docker = Docker.client("docker", LoggingInRunner())
    seen: list[tuple[int, object]] = []

    def look(signum: int, frame: object) -> None:  # the caller's handler: the login is off
        config = Path(docker.env["DOCKER_CONFIG"], "config.json")
        seen.append((stat.S_IMODE(config.stat().st_mode), json.loads(config.read_text())))
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, look)
    umask = os.umask(0o022)  # the usual one: a stricter one would hide a wrong mode
    try:
        with pytest.raises(KeyboardInterrupt):
            with docker.login("r.example", CREDS):
                signal.raise_signal(signal.SIGTERM)
    finally:
        os.umask(umask)
        signal.signal(signal.SIGTERM, previous)

    assert seen == [(0o600, {"proxies": proxies, "auths": {"r.example": {}}})]


def test_a_stop_where_the_login_cannot_be_rewritten_still_ends_as_a_stop(scratch: Path) -> None:
    """The rewrite fails (a full disk; here a directory holds its temporary name): the run
    still ends as the signal says, and the directory still goes."""
    docker = Docker.client("docker", LoggingInRunner())

    with pytest.raises(Exit) as stopped, user_errors():
        with docker.login("r.example", CREDS):
            Path(docker.env["DOCKER_CONFIG"], "config.json.new").mkdir()
            signal.raise_signal(signal.SIGTERM)

    assert stopped.value.code == 143
    assert list(scratch.iterdir()) == []


def test_a_ctrl_c_another_thread_takes_as_the_login_directory_is_made_leaves_no_directory(
    scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A thread that does not block SIGINT (a worker such as the lock check's, a spinner)
    # takes the signal the main thread blocks; Python still runs its handler in the main
    # thread, inside the block that was to defer it.
    release = threading.Event()
    waiting = threading.Thread(target=release.wait)
    waiting.start()
    made = tempfile.mkdtemp

    def made_then_signalled(*args: object, **kwargs: object) -> str:
        path = made(*args, **kwargs)  # type: ignore[call-overload]
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # time for the other thread's signal to reach the main thread
        return str(path)

    monkeypatch.setattr(tempfile, "mkdtemp", made_then_signalled)
    try:
        with pytest.raises(KeyboardInterrupt):
            with Docker.client("docker", LoginRunner()).login("r.example", CREDS):
                pass
    finally:
        release.set()
        waiting.join()

    assert list(scratch.iterdir()) == []
