"""Starting a program that a test will signal as Ctrl-C would: with SIGINT at its default
action, whatever the shell that started pytest did with it. A shell without job control
starts a background command (`pytest ... &`, a script's job) with SIGINT ignored (POSIX,
Shell Command Language 2.11), an ignored signal stays ignored across fork and exec, and
Python then leaves it ignored (the signal module's docs: SIGINT becomes KeyboardInterrupt
only "if the parent process has not changed it"): such a program never sees the signal."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def start_signalable(command: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """``subprocess.Popen(command, **kwargs)``, the new process getting SIGINT at its default
    action: while it starts, this process catches SIGINT, and exec resets a caught signal to
    its default (an ignored one it would leave ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(command, **kwargs)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def end(process: subprocess.Popen[str], grace: float = 60) -> None:
    """Stop ``process`` if it still runs, as a cancelled CI job does: SIGTERM, which buildlib
    turns into an unwinding that stops its builds and removes its temporary docker login.
    SIGKILL, which no program can handle (the login would stay), only after ``grace``
    seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def run(command: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(command, timeout=timeout, **kwargs)``, except that a run still going at
    the timeout (or when the test stops) is ended by :func:`end`, where ``subprocess.run``
    would kill it."""
    if kwargs.pop("capture_output", False):
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process = subprocess.Popen(command, **kwargs)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        end(process)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
