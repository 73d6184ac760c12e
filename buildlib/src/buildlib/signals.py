"""Holding the signals that stop a run off a section that must not stop half way (a handler
would unwind the stack wherever it lands, a default action end the process there). The
section's owner says what a noted signal means once the section has ended or let go."""

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


@contextmanager
def signals_held(note: Callable[[int], object]) -> Iterator[list[int]]:
    """While the block runs, the STOPS signals are added to the list yielded and given to
    ``note`` (in the main thread, between two bytecodes). An ignored one stays ignored, and
    one whose handler Python did not install too: ``signal.getsignal`` gives None for it,
    which ``signal.signal`` cannot put back (the signal module's docs). Python runs handlers
    in the main thread only (the same docs): in another thread nothing is held."""
    caught: list[int] = []
    main = threading.current_thread() is threading.main_thread()

    def noted(signum: int, frame: object) -> None:
        caught.append(signum)
        note(signum)

    previous: dict[int, Any] = {}
    try:
        for signum in STOPS:
            handler = signal.getsignal(signum)
            if main and (callable(handler) or handler == signal.SIG_DFL):
                previous[signum] = signal.signal(signum, noted)
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """The STOPS signals wait (blocked) until a step too short to hand over has ended, then
    arrive as usual. The mask is this thread's, and a signal another thread receives still
    runs its handler in the main thread (the signal module's docs): the block defers while
    the main thread runs alone."""
    previous = None
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask"):
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOPS))
    try:
        yield
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
