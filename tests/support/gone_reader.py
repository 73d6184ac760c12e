"""Running a command whose standard output has no reader left, as `buildlib --list | head -0`
leaves it: the first write fails with EPIPE (BrokenPipeError in Python)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def run_with_reader_gone(
    command: list[str], cwd: Path, *, buffered: bool = False
) -> tuple[int, str]:
    """Run ``command`` in ``cwd`` with both ends of its stdout pipe closed here before the
    child writes a byte; its exit code and stderr. Unbuffered (PYTHONUNBUFFERED), a Python
    child meets the closed pipe at its first write; ``buffered``, maybe only as it exits."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update({} if buffered else {"PYTHONUNBUFFERED": "1"})
    read, write = os.pipe()
    child = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=write, stderr=subprocess.PIPE, text=True
    )
    os.close(write)
    os.close(read)
    _, err = child.communicate(timeout=60)
    return child.returncode, err
