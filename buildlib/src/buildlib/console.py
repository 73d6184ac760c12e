"""Terminal output: colours decided once, GitHub Actions annotations, never a secret.

Colour is on only for a TTY, off with ``NO_COLOR``, forced with ``FORCE_COLOR``; off, every
style is an empty string. Every line goes out whole under one lock, whatever thread writes
it. A *live area* (:mod:`buildlib.progress`'s status lines) stays below everything else: a
line written while it is shown goes above it, and the area is drawn again.
"""

from __future__ import annotations

import atexit
import errno
import functools
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import Protocol, TextIO

# The command that runs the tasks: messages say `invoke TASK`, which reads `buildlib TASK`
# when the `buildlib` command sets its own name.
_program = "invoke"
_INVOKE_COMMAND = re.compile(r"\binvoke(?= (?:--?[a-z]|[a-z]))")


def set_program(name: str) -> str:
    """Name the command that runs the tasks; returns the previous name."""
    global _program
    previous, _program = _program, name
    return previous


def as_typed(text: str) -> str:
    """``text`` with each ``invoke TASK`` written as the command the user runs."""
    return text if _program == "invoke" else _INVOKE_COMMAND.sub(_program, text)


def colour_wanted(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or (hasattr(stream, "isatty") and stream.isatty())


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one line (every run of whitespace one space), cut to ``limit`` with ``...``."""
    line = " ".join(text.split())
    return line if limit is None or len(line) <= limit else line[: limit - 3] + "..."


class Style:
    def __init__(self, enabled: bool):
        codes = ("",) * 7
        if enabled:
            import colorama

            colorama.just_fix_windows_console()
            s, f = colorama.Style, colorama.Fore
            codes = (s.BRIGHT, s.DIM, f.RED, f.GREEN, f.YELLOW, f.CYAN, s.RESET_ALL)
        self.bold, self.dim, self.red, self.green, self.yellow, self.cyan, self.reset = codes


@functools.cache
def style() -> Style:
    return Style(colour_wanted(sys.stderr))


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get("GITHUB_ACTIONS") == "true"


def live_terminal(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """``stream`` is a terminal that can redraw lines (not ``TERM=dumb``)."""
    env = os.environ if environ is None else environ
    return hasattr(stream, "isatty") and stream.isatty() and env.get("TERM") != "dumb"


class LiveArea(Protocol):
    def render(self) -> list[str]:
        """The lines of the area as they are now (each shorter than the terminal)."""
        ...


_lock = threading.RLock()
_live: LiveArea | None = None
_live_height = 0  # lines of the live area now on screen


def _erase_live() -> str:
    # to the start of the area's first line, then clear to the end of the screen
    return f"\x1b[{_live_height}F\x1b[J" if _live_height else ""


def _draw_live() -> str:
    global _live_height
    lines = _live.render() if _live is not None else []
    _live_height = len(lines)
    return "".join(f"{line}\n" for line in lines)


def set_live(area: LiveArea | None) -> None:
    """Show ``area`` below the output (``None``: leave its last drawing where it is)."""
    global _live, _live_height
    with _lock:
        _live, _live_height = area, 0
        refresh_live()


def refresh_live() -> None:
    """Draw the live area again (its lines changed)."""
    emit_lines([])


def emit_lines(lines: list[str], stream: TextIO | None = None) -> None:
    """Write ``lines`` together: no other thread's line comes between them."""
    out = stream or sys.stderr
    with _lock:
        live = out is sys.stderr and _live is not None
        text = "".join(f"{line}\n" for line in lines)
        _write(out, (_erase_live() + text + _draw_live()) if live else text)


def _write(out: TextIO, text: str) -> None:
    try:
        out.write(text)
        out.flush()
    except OSError as error:
        if error.errno != errno.EIO:
            raise
        # the terminal hung up: the lines still to come (cleanups', the live area's, the
        # exit's) go to devnull, so that the run still ends as its signal says
        to_devnull(out)


def to_devnull(stream: TextIO) -> None:
    """Point ``stream``'s file descriptor at devnull: its reader is gone, and a later write or
    flush must not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)


def _flush_at_exit() -> None:
    """Flush stdout before Python does as it exits: a failure then (the pipe's reader or the
    terminal gone) would make the exit status 120 (CPython Modules/main.c, Py_RunMain). What
    is left goes to devnull instead (the note on SIGPIPE in Python's signal module docs
    advises so), and the run ends with its own status."""
    try:
        sys.stdout.flush()
    except OSError as error:
        if error.errno not in (errno.EPIPE, errno.EIO):
            raise
        to_devnull(sys.stdout)
    except (ValueError, AttributeError):  # stdout closed, or none: Python flushes none either
        pass


atexit.register(_flush_at_exit)


def info(text: str) -> None:
    emit_lines([as_typed(text)])


def step(text: str) -> None:
    s = style()
    info(f"{s.bold}{s.cyan}==>{s.reset} {s.bold}{text}{s.reset}")


def command(text: str) -> None:
    info(f"{style().dim}$ {text}{style().reset}")


def success(text: str) -> None:
    info(f"{style().green}{text}{style().reset}")


def warn(text: str) -> None:
    s = style()
    github = in_github_actions()
    info(f"::warning::{_escape(text)}" if github else f"{s.yellow}warning:{s.reset} {text}")


def error(
    text: str, *, file: str | None = None, line: int | None = None, short: str | None = None
) -> None:
    """``error: TEXT``; in GitHub Actions also an annotation, of ``short`` when given (the
    message without its location and hint, which the annotation shows by itself)."""
    info(f"{style().red}error:{style().reset} {text}")
    if in_github_actions():
        annotation(short or text, file=file, line=line)


def annotation(
    text: str, *, file: str | None = None, line: int | None = None, level: str = "error"
) -> None:
    where = (f" file={file}" + (f",line={line}" if line else "")) if file else ""
    emit_lines([f"::{level}{where}::{_escape(as_typed(text))}"], sys.stdout)


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
