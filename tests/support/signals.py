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
