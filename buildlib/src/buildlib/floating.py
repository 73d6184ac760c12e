"""Moving a release's floating tags (``X.Y``, ``X``, ``latest``) once every full version tag
is pushed and verified: each is re-tagged in the registry (no upload); on a failure or a
signal the moved ones are put back, so all images keep pointing at the same release.

Never pushes an image nor decides which tags float (releaseplan does), and always says
where every tag points now.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from buildlib.errors import BuildlibError, PublishError
from buildlib.registry import RegistryClient
from buildlib.releaseplan import ImagePublication, Published
from buildlib.signals import STOPS, signals_held

# How long a signal (a cancelled CI job) waits for the moves to be rolled back: CI runners
# send SIGKILL soon after SIGTERM, and where every tag points must be printed before that.
SIGNAL_GRACE_SECONDS = 5.0


class Interrupted(PublishError):
    """A signal stopped a release after its floating tags began to move."""

    def __init__(self, message: str, *, signum: int, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.exit_code = 128 + signum


@dataclass
class TagMove:
    """One floating tag: where it pointed before, where it goes, and what was done so far."""

    repository: str
    tag: str
    new: str
    version: str
    previous: str | None = None
    read: bool = False  # ``previous`` was read from the registry
    # untouched | moving | moved | restoring | restored | stuck
    state: str = "untouched"

    def now(self) -> str:
        """Where the tag points now, in words."""
        name = f"{self.repository}:{self.tag}"
        before = f"the previous release ({self.previous[7:19]})" if self.previous else None
        untouched = self.state == "untouched"
        if self.state == "moved" or (untouched and self.read and self.previous == self.new):
            return f"{name} → {self.version}"
        if self.state == "restored":
            return f"{name} → {before} again"
        if untouched and self.read:
            return f"{name} → {before}, not moved" if before else f"{name} does not exist"
        if untouched:
            return f"{name} not moved"
        if self.state == "stuck":
            return f"{name} → {self.version} (putting it back failed)"
        return f"{name} unknown (its change was under way when buildlib stopped)"


def move_floating(
    client: RegistryClient, results: list[Published], every: Mapping[str, ImagePublication]
) -> None:
    """Add the floating tags (of ``every`` image, by name) to the pushed manifests. On a
    failure or a signal (signals.STOPS), put back the ones already moved; the error names
    every floating tag and where it points now. The moves run in a worker thread, so a signal
    neither interrupts a request half way nor waits on a stalled registry longer than
    ``SIGNAL_GRACE_SECONDS``."""
    moves = [
        TagMove(result.repository, tag, result.digest, result.tags[0])  # its full version tag
        for result in results
        for tag in every[result.name].tags
        if tag != result.tags[0]
    ]
    if not moves:
        return
    stop = threading.Event()
    failure: list[BuildlibError] = []
    worker = threading.Thread(
        target=_run_moves, args=(client, moves, stop, failure), name="floating-tags", daemon=True
    )
    with signals_held(lambda signum: stop.set()) as caught:
        worker.start()
        while worker.is_alive() and not caught:
            worker.join(0.05)
        if caught or failure:
            # put back what moved, on connections of its own: a move stalled in the
            # registry must not keep the others from being put back before the deadline
            roller = threading.Thread(
                target=_roll_back, args=(client, moves, worker), name="roll-back", daemon=True
            )
            roller.start()
            while roller.is_alive() and not caught:
                roller.join(0.05)
            roller.join(SIGNAL_GRACE_SECONDS)  # only a signal leaves it running
    now = "; ".join(move.now() for move in moves)
    if caught:
        raise Interrupted(
            f"{STOPS[caught[0]]} while moving the floating tags; full version tags are pushed. "
            f"Now: {now}",
            signum=caught[0],
            hint="run `invoke release` again to move them (it is safe to re-run)",
        )
    if failure:
        raise PublishError(
            f"moving the floating tags failed: {failure[0].message}. Full version tags are "
            f"pushed. Now: {now}",
            hint="run `invoke release` again once the registry answers",
        )
    for result in results:
        result.tags += [m.tag for m in moves if m.repository == result.repository]


def _run_moves(
    client: RegistryClient,
    moves: list[TagMove],
    stop: threading.Event,
    failure: list[BuildlibError],
) -> None:
    try:
        for move in moves:
            move.previous = client.manifest_digest(move.repository, move.tag)
            move.read = True
        for move in moves:
            if stop.is_set():
                return
            move.state = "moving"
            if move.previous != move.new:
                client.add_tag(move.repository, move.new, move.tag)
            move.state = "moved"
    except BuildlibError as error:
        failure.append(error)
    except Exception as error:  # a bug must not leave half the tags moved
        failure.append(BuildlibError(f"{type(error).__name__}: {error}"))


def _roll_back(client: RegistryClient, moves: list[TagMove], worker: threading.Thread) -> None:
    """Put every moved tag back, the one under way too once the worker is done with it. A
    tag that did not exist cannot be deleted through the registry API: it stays (and says so)."""
    while True:
        finished = not worker.is_alive()
        for move in reversed(moves):
            # every tag is read before the first moves: a moved one's ``previous`` is known
            under_way = move.state == "moving" and finished  # its request failed
            if not (move.state == "moved" or under_way) or move.previous is None:
                continue  # a tag that did not exist: "moved" stays true, "moving" unknown
            if move.previous == move.new:
                move.state = "untouched"  # it already held this release
                continue
            move.state = "restoring"
            try:
                client.add_tag(move.repository, move.previous, move.tag)
            except Exception:  # noqa: BLE001 - whatever it was, the other tags still go back
                move.state = "stuck"
            else:
                move.state = "restored"
        if finished:
            return
        worker.join(0.05)
