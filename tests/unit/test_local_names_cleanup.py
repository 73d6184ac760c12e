"""A run's local names are removed even when a second Ctrl-C lands during the removal:
`uv run` outside a terminal forwards the SIGINT its process group already got, 200 ms
later (uv's "Received SIGINT, forwarding to child ... in 200ms")."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import pytest

from buildlib.pushing import forget_local_names


@dataclass(frozen=True)
class Build:  # the fields of plan.ImageBuild that forget_local_names reads
    primary: str
    publish_as: str | None


@dataclass(frozen=True)
class Plan:
    builds: tuple[Build, ...]


class SignalledDocker:
    """Removes names; the first removal gets a real SIGINT delivered to this process."""

    def __init__(self) -> None:
        self.untagged: list[str] = []

    def untag(self, reference: str) -> None:
        if not self.untagged:
            os.kill(os.getpid(), signal.SIGINT)
        self.untagged.append(reference)


def test_a_second_ctrl_c_during_the_removal_of_local_names_waits_for_its_end() -> None:
    names = [f"127.0.0.1:5055/shop/{n}:main-buildlib-1" for n in ("api", "worker", "cron")]
    plan = Plan(tuple(Build(name, name.split("-buildlib")[0]) for name in names))
    docker = SignalledDocker()
    # Python's Ctrl-C handler, as a terminal's process has it: mutmut's workers and a shell's
    # background jobs pass on an ignored SIGINT, which would never interrupt
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        with pytest.raises(KeyboardInterrupt):
            forget_local_names(docker, plan)  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGINT, inherited)

    assert docker.untagged == names
