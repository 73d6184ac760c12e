"""What a stop signal does first (signals.first_at_stop): the action at once, then what the
signal did before, held or not; an ignored signal stays ignored."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from buildlib.signals import first_at_stop, signals_held


@pytest.fixture
def sigterm() -> Iterator[None]:
    """SIGTERM's handler as the test leaves it is put back."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_action_runs_before_the_handler_and_the_handler_comes_back(sigterm: None) -> None:
    done: list[str] = []

    def handler(signum: int, frame: object) -> None:
        done.append(f"handler {signum}")

    signal.signal(signal.SIGTERM, handler)
    with first_at_stop(lambda: done.append("first")):
        signal.raise_signal(signal.SIGTERM)

    assert done == ["first", f"handler {signal.SIGTERM}"]
    assert signal.getsignal(signal.SIGTERM) is handler


def test_a_held_signal_runs_the_action_at_once(sigterm: None) -> None:
    done: list[str] = []

    with first_at_stop(lambda: done.append("first")):
        with signals_held(lambda signum: done.append("noted")) as caught:
            signal.raise_signal(signal.SIGTERM)
            assert done == ["first", "noted"]  # while the section still holds it

    assert caught == [signal.SIGTERM]


def test_an_ignored_signal_stays_ignored(sigterm: None) -> None:
    done: list[str] = []

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with first_at_stop(lambda: done.append("first")):
        signal.raise_signal(signal.SIGTERM)

    assert done == []


def test_a_signal_at_its_default_action_still_ends_the_process_after_the_action() -> None:
    program = (
        "import signal\n"
        "from buildlib.signals import first_at_stop\n"
        "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
        "with first_at_stop(lambda: print('first', flush=True)):\n"
        "    signal.raise_signal(signal.SIGTERM)\n"
        "print('went on')\n"
    )

    ran = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)

    assert (ran.returncode, ran.stdout) == (-signal.SIGTERM, "first\n")
