"""Holding the signals that stop a run off a section that must not stop half way (a handler
would unwind the stack wherever it lands, a default action end the process there). The
section's owner says what a noted signal means once the section has ended or let go. And
what must happen the moment one arrives, before the run stops (:func:`first_at_stop`)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# The signals that stop a run, with the word its error line says. SIGHUP (the terminal
# closed) is SIGTERM's kin; Windows has none (the signal module's docs).
STOPS: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
if hasattr(signal, "SIGHUP"):
    STOPS[signal.SIGHUP] = "hung up"

# What a STOPS signal does first, wherever it lands, held or not (first_at_stop)
_FIRST: list[Callable[[], object]] = []


@contextmanager
def _handled_by(handler: Callable[[int, Any], None]) -> Iterator[dict[int, Any]]:
    """``handler`` on the STOPS signals while the block runs, in the main thread only (where
    Python runs handlers, the signal module's docs); yields those it replaced. An ignored one
    stays ignored, and one whose handler Python did not install too: ``signal.getsignal``
    gives None for it, which ``signal.signal`` cannot put back (the same docs)."""
    previous: dict[int, Any] = {}
    try:
        if threading.current_thread() is threading.main_thread():
            for signum in STOPS:
                current = signal.getsignal(signum)
                if callable(current) or current == signal.SIG_DFL:
                    previous[signum] = signal.signal(signum, handler)
        yield previous
    finally:
        for signum, current in previous.items():
            signal.signal(signum, current)


@contextmanager
def first_at_stop(action: Callable[[], object]) -> Iterator[None]:
    """While the block runs, a STOPS signal runs ``action`` at once, held or not, then does
    what it would have done (its handler, or its default action). ``action`` lands between
    any two bytecodes of the main thread: it must be short, never raise and never print."""

    def acted(signum: int, frame: Any) -> None:
        action()
        if callable(handler := previous[signum]):
            handler(signum, frame)
        else:  # the default action, as if no handler had been here
            signal.signal(signum, handler)
            signal.raise_signal(signum)

    _FIRST.append(action)
    try:
        with _handled_by(acted) as previous:
            yield
    finally:
        _FIRST.remove(action)


@contextmanager
def signals_held(note: Callable[[int], object]) -> Iterator[list[int]]:
    """While the block runs, the STOPS signals are added to the list yielded and given to
    ``note`` (in the main thread, between two bytecodes)."""
    caught: list[int] = []

    def noted(signum: int, frame: object) -> None:
        for action in _FIRST:
            action()
        caught.append(signum)
        note(signum)

    with _handled_by(noted):
        yield caught


@contextmanager
def signals_deferred() -> Iterator[None]:
    """The STOPS signals wait until a step too short to hand over has ended, then arrive as
    usual. Blocking them is not enough: the mask is the main thread's, and a thread that
    does not block them (a worker, the lock check's) takes one, whose handler Python then
    runs in the main thread inside the block (the signal module's docs). So the block also
    holds them as :func:`signals_held` does and raises them again at its end."""
    previous = None
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask"):
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOPS))
    held: list[int] = []
    try:
        with signals_held(held.append):
            yield
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for signum in held:
            signal.raise_signal(signum)
