"""A run whose output has nowhere to go: its terminal hung up (a write fails with EIO) or its
pipe's reader is gone (EPIPE). Python flushes stdout as it exits, and a failure then makes
the exit status 120 ("Exception ignored in: <_io.TextIOWrapper name='<stdout>'>"): the run
must end with its own status, without a traceback.

PYTHONUNBUFFERED (set in some shells and CI images) makes stdout write through, so nothing
waits for the exit: the runs here go without it, as most users' do."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from tests.conftest import REPO

# `invoke ARGS` once this process writes a byte to its stdin: its stdout is set up by then,
# as a terminal's (line-buffered) when it is one.
INVOKE_ON_CUE = (
    "import os, sys\n"
    "print('ready', file=sys.stderr, flush=True)\n"
    "os.read(0, 1)\n"
    "from invoke.main import program\n"
    "program.run(['invoke', *sys.argv[1:]])\n"
)


def invoke_into(stdout: int, *args: str, gone: int | None = None) -> tuple[int, str]:
    """``invoke ARGS`` writing to ``stdout`` (closed here once given); ``gone``, the other end
    of it, is closed once the run has started (the terminal hangs up under it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "GITHUB_ACTIONS")}
    process = subprocess.Popen(
        [sys.executable, "-c", INVOKE_ON_CUE, *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(stdout)
    try:
        assert process.stderr is not None
        assert process.stderr.readline() == "ready\n"
        if gone is not None:
            os.close(gone)
        _, stderr = process.communicate("go", timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stderr


def closed_terminal() -> int:
    main, terminal = pty.openpty()
    os.close(main)
    return terminal


def closed_pipe() -> int:
    reader, writer = os.pipe()
    os.close(reader)
    return writer


@pytest.mark.parametrize(
    ("gone", "args", "ended"),
    [
        (closed_pipe, ("images", "--json"), (141, "")),
        (closed_terminal, ("images", "--json"), (1, "error: Input/output error\n")),
        # Invoke's own output, which it wrote whole: the closed pipe is met at exit
        (closed_pipe, ("--list",), (0, "")),
        (closed_terminal, ("--list",), (0, "")),
    ],
)
def test_output_to_a_reader_gone_before_the_run_ends_with_its_own_status(gone, args, ended) -> None:
    assert invoke_into(gone(), *args) == ended


def test_a_task_whose_terminal_hangs_up_says_so_in_one_line_and_exits_1() -> None:
    main, terminal = pty.openpty()

    assert invoke_into(terminal, "images", "--json", gone=main) == (
        1,
        "error: Input/output error\n",
    )


def test_the_list_to_a_terminal_that_hangs_up_ends_without_a_traceback() -> None:
    main, terminal = pty.openpty()

    assert invoke_into(terminal, "--list", gone=main) == (1, "")
