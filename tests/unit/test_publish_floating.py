"""What a release says when it stops: a push the registry could not confirm is "pushed, not
verified" (never "nothing was pushed"), and a failed or interrupted move of the floating tags
names every floating tag and where it points now, rolled back where it can be."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from buildlib import floating
from buildlib.errors import BuildlibError, CommandFailed, NotVerified, PublishError, RegistryError
from buildlib.floating import Interrupted, move_floating
from buildlib.releaseplan import ImagePublication, Published, release_stopped

NEW = {"acme/gpu": "sha256:" + "a" * 64, "acme/cpu": "sha256:" + "b" * 64}
OLD = {"acme/gpu": "sha256:" + "c" * 64, "acme/cpu": "sha256:" + "d" * 64}
FLOATING = ("1.3", "1", "latest")
# The longest a test waits for what it waits for: a run that never brings it fails the test
# instead of hanging it.
AT_MOST = 30.0


class FakeRegistry:
    """Tags in memory; ``fail_at`` makes the n-th ``add_tag`` fail, ``on_add`` runs before
    each one (to send a signal while a move is under way)."""

    host = "registry.test"

    def __init__(self, tags: dict[tuple[str, str], str], fail_at: int | None = None) -> None:
        self.tags = dict(tags)
        self.fail_at = fail_at
        self.added = 0
        self.on_add = lambda: None

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        return self.tags.get((repo, tag))

    def add_tag(self, repo: str, source: str, tag: str) -> str:
        self.added += 1
        self.on_add()
        if self.fail_at is not None and self.added == self.fail_at:
            raise RegistryError("registry.test: add tag failed: HTTP 500")
        digest = source if source.startswith("sha256:") else self.tags[(repo, source)]
        self.tags[(repo, tag)] = digest
        return digest


def results() -> list[Published]:
    return [
        Published(name, repo, f"{repo}:1.3.0", NEW[repo], ["1.3.0"])
        for name, repo in (("gpu", "acme/gpu"), ("cpu", "acme/cpu"))
    ]


def publications() -> dict[str, ImagePublication]:
    return {
        name: ImagePublication(name, repo, ("1.3.0", *FLOATING))
        for name, repo in (("gpu", "acme/gpu"), ("cpu", "acme/cpu"))
    }


def released_before() -> dict[tuple[str, str], str]:
    return {(repo, tag): OLD[repo] for repo in OLD for tag in ("1", "latest")}


def test_every_floating_tag_moves() -> None:
    registry = FakeRegistry(released_before())
    published = results()
    move_floating(registry, published, publications())  # type: ignore[arg-type]
    assert all(registry.tags[(repo, tag)] == NEW[repo] for repo in NEW for tag in FLOATING)
    assert published[0].tags == ["1.3.0", *FLOATING]


def test_a_failed_move_puts_back_what_it_can_and_says_where_every_tag_points() -> None:
    registry = FakeRegistry(released_before(), fail_at=5)  # cpu:1 fails

    with pytest.raises(BuildlibError) as caught:
        move_floating(registry, results(), publications())  # type: ignore[arg-type]

    message = caught.value.message
    assert registry.tags[("acme/gpu", "latest")] == OLD["acme/gpu"]
    assert registry.tags[("acme/gpu", "1")] == OLD["acme/gpu"]
    # 1.3 did not exist before: a tag cannot be deleted, so it stays on this release
    assert registry.tags[("acme/gpu", "1.3")] == NEW["acme/gpu"]
    assert f"acme/gpu:latest → the previous release ({OLD['acme/gpu'][7:19]}) again" in message
    assert "acme/gpu:1.3 → 1.3.0" in message and "acme/cpu:1.3 → 1.3.0" in message
    assert f"acme/cpu:latest → the previous release ({OLD['acme/cpu'][7:19]}), not moved" in (
        message
    )
    assert "put back on the previous release" not in message


def test_a_first_release_never_claims_a_previous_one() -> None:
    registry = FakeRegistry({}, fail_at=2)

    with pytest.raises(BuildlibError) as caught:
        move_floating(registry, results(), publications())  # type: ignore[arg-type]

    message = caught.value.message
    assert "previous release" not in message
    assert "acme/gpu:1.3 → 1.3.0" in message  # moved, and nothing to put back
    assert "acme/cpu:latest does not exist" in message
    assert "acme/gpu:1 unknown" in message  # its PUT failed: whether it landed is unknown
    assert registry.tags == {("acme/gpu", "1.3"): NEW["acme/gpu"]}


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGHUP, 129, "hung up"),
    ],
)
def test_a_signal_during_the_moves_rolls_them_back_and_names_every_tag(
    signum: int,
    code: int,
    word: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert threading.current_thread() is threading.main_thread()
    if signal.getsignal(signum) == signal.SIG_IGN:
        # inherited from a parent that ignores it (mutmut's worker ignores SIGINT), and kept
        # ignored by the moves (the test below): this test is about a signal that stops them
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        signal.signal(signum, default)
        request.addfinalizer(lambda: signal.signal(signum, signal.SIG_IGN))
    registry = FakeRegistry(released_before())
    sent = []
    noted = threading.Event()
    held = floating.signals_held

    def held_and_told(note: Callable[[int], object]) -> AbstractContextManager[list[int]]:
        def noting(number: int) -> None:
            note(number)
            noted.set()

        return held(noting)

    monkeypatch.setattr(floating, "signals_held", held_and_told)

    def signal_once() -> None:
        if registry.added == 2 and not sent:
            sent.append(signum)
            os.kill(os.getpid(), signum)
            noted.wait(AT_MOST)  # the handler runs in the main thread: it notes the signal

    registry.on_add = signal_once
    before = signal.getsignal(signum)

    with pytest.raises(Interrupted) as caught:
        move_floating(registry, results(), publications())  # type: ignore[arg-type]

    assert caught.value.exit_code == code
    assert caught.value.message.startswith(
        f"{word} while moving the floating tags; full version tags are pushed. Now: "
    )
    assert caught.value.hint == "run `invoke release` again to move them (it is safe to re-run)"
    assert registry.tags == {**released_before(), ("acme/gpu", "1.3"): NEW["acme/gpu"]}
    for repo in NEW:
        for tag in FLOATING:
            assert f"{repo}:{tag} " in caught.value.message
    assert signal.getsignal(signum) == before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_the_process_ignores_stays_ignored_while_the_tags_move(signum: int) -> None:
    """A shell without job control starts a background job with SIGINT ignored, nohup one
    with SIGHUP ignored, and a supervisor may ignore SIGTERM: such a signal must not stop
    the release."""
    registry = FakeRegistry(released_before())

    def signal_once() -> None:
        if registry.added == 2:
            os.kill(os.getpid(), signum)
            time.sleep(0.5)  # a handler would run in the main thread meanwhile

    registry.on_add = signal_once
    before = signal.signal(signum, signal.SIG_IGN)
    try:
        move_floating(registry, results(), publications())  # type: ignore[arg-type]
        assert signal.getsignal(signum) == signal.SIG_IGN
    finally:
        signal.signal(signum, before)

    assert all(registry.tags[(repo, tag)] == NEW[repo] for repo in NEW for tag in FLOATING)


def test_a_push_the_registry_could_not_confirm_is_not_nothing() -> None:
    cause = RegistryError("registry.test: look up acme/gpu:1.3.0 failed: connection refused")
    error = release_stopped(NotVerified("acme/gpu:1.3.0", cause), [], at="acme/gpu:1.3.0")
    assert "Nothing was pushed" not in error.message
    assert "Pushed, not verified: acme/gpu:1.3.0" in error.message
    unknown = release_stopped(CommandFailed("bake failed"), [], unknown=("acme/lb:1.3.0",))
    assert "Nothing was pushed" not in unknown.message
    assert "Not known whether the registry holds: acme/lb:1.3.0" in unknown.message


class LostAnswer(FakeRegistry):
    """The ``fail_at``-th re-tag lands in the registry, but its answer is lost."""

    def add_tag(self, repo: str, source: str, tag: str) -> str:
        self.added += 1
        self.tags[(repo, tag)] = source
        if self.added == self.fail_at:
            raise RegistryError("registry.test: add tag failed: connection reset")
        return source


def test_a_move_whose_answer_was_lost_is_put_back_too() -> None:
    registry = LostAnswer(released_before(), fail_at=3)  # gpu:latest lands, then fails

    with pytest.raises(BuildlibError) as caught:
        move_floating(registry, results(), publications())  # type: ignore[arg-type]

    assert registry.tags[("acme/gpu", "latest")] == OLD["acme/gpu"]
    assert registry.tags[("acme/gpu", "1")] == OLD["acme/gpu"]
    again = f"the previous release ({OLD['acme/gpu'][7:19]}) again"
    assert f"acme/gpu:latest → {again}" in caught.value.message
    assert f"acme/gpu:1 → {again}" in caught.value.message


def test_a_tag_that_already_held_the_release_stays_and_the_rest_go_back() -> None:
    before = {**released_before(), ("acme/gpu", "latest"): NEW["acme/gpu"]}
    registry = FakeRegistry(before, fail_at=4)  # cpu:1 fails (gpu:latest needs no write)

    with pytest.raises(BuildlibError) as caught:
        move_floating(registry, results(), publications())  # type: ignore[arg-type]

    assert registry.tags[("acme/gpu", "latest")] == NEW["acme/gpu"]
    assert registry.tags[("acme/gpu", "1")] == OLD["acme/gpu"], "put back after the kept one"
    assert "acme/gpu:latest → 1.3.0;" in caught.value.message
    assert caught.value.message.startswith(
        "moving the floating tags failed: registry.test: add tag failed: HTTP 500. Full "
        "version tags are pushed. Now: acme/gpu:1.3 → 1.3.0; "
    )
    assert caught.value.hint == "run `invoke release` again once the registry answers"


def test_a_stalled_roll_back_after_a_signal_ends_at_the_grace_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grace, stall = 0.2, 60.0
    monkeypatch.setattr(floating, "SIGNAL_GRACE_SECONDS", grace)
    registry = FakeRegistry(released_before())
    threads: set[tuple[str, bool]] = set()
    unstall = threading.Event()

    def signal_then_stall() -> None:
        current = threading.current_thread()
        threads.add((current.name, current.daemon))
        if registry.added == 3:  # gpu:latest: signalled while it moves, which then stalls
            os.kill(os.getpid(), signal.SIGTERM)
            unstall.wait(stall)

    registry.on_add = signal_then_stall
    started = time.monotonic()

    try:
        with pytest.raises(Interrupted) as caught:
            move_floating(registry, results(), publications())  # type: ignore[arg-type]
        elapsed = time.monotonic() - started
    finally:
        unstall.set()

    # the grace period, not the stalled move: it is waited for, neither thread longer (the
    # bound leaves a loaded machine plenty of room and still fails if the stall is waited)
    assert grace <= elapsed < stall / 4
    message = caught.value.message
    # gpu:1 went back at once; gpu:latest's move is still under way
    assert f"acme/gpu:1 → the previous release ({OLD['acme/gpu'][7:19]}) again" in message
    assert "acme/gpu:latest unknown (its change was under way when buildlib stopped)" in message
    assert threads == {("floating-tags", True), ("roll-back", True)}


def test_a_failure_waits_for_a_slow_roll_back_to_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(floating, "SIGNAL_GRACE_SECONDS", 0.05)
    registry = FakeRegistry(released_before(), fail_at=4)  # cpu:1.3 fails

    def slow_roll_back() -> None:
        if threading.current_thread().name == "roll-back":
            time.sleep(0.2)

    registry.on_add = slow_roll_back

    with pytest.raises(BuildlibError):
        move_floating(registry, results(), publications())  # type: ignore[arg-type]

    assert registry.tags[("acme/gpu", "1")] == OLD["acme/gpu"]
    assert registry.tags[("acme/gpu", "latest")] == OLD["acme/gpu"]


def test_tags_not_read_before_a_failure_are_not_moved() -> None:
    class Unreadable(FakeRegistry):
        def manifest_digest(self, repo: str, tag: str) -> str | None:
            if (repo, tag) == ("acme/cpu", "1"):
                raise RegistryError("registry.test: look up acme/cpu:1 failed: HTTP 500")
            return super().manifest_digest(repo, tag)

    registry = Unreadable(released_before())

    with pytest.raises(BuildlibError) as caught:
        move_floating(registry, results(), publications())  # type: ignore[arg-type]

    assert registry.added == 0
    assert "acme/gpu:1.3 does not exist; " in caught.value.message
    assert "acme/cpu:1 not moved; acme/cpu:latest not moved" in caught.value.message


class Raising(FakeRegistry):
    """``raising`` maps the n-th ``add_tag`` to the exception it raises instead."""

    def __init__(self, tags: dict[tuple[str, str], str], raising: dict[int, Exception]) -> None:
        super().__init__(tags)
        self.raising = raising

    def add_tag(self, repo: str, source: str, tag: str) -> str:
        error = self.raising.get(self.added + 1)
        if error is not None:
            self.added += 1
            raise error
        return super().add_tag(repo, source, tag)


def test_an_unexpected_exception_mid_move_is_put_back_and_is_one_error() -> None:
    """Not a registry error but a bug (a KeyError) on the third move, gpu:latest: the moved
    tags go back as for any failure, and the error is a PublishError, one line."""
    registry = Raising(released_before(), {3: KeyError("Docker-Content-Digest")})
    published = results()

    with pytest.raises(PublishError) as caught:
        move_floating(registry, published, publications())  # type: ignore[arg-type]

    again = f"the previous release ({OLD['acme/gpu'][7:19]}) again"
    assert caught.value.message == (
        "moving the floating tags failed: KeyError: 'Docker-Content-Digest'. Full version tags "
        "are pushed. Now: acme/gpu:1.3 → 1.3.0; "
        f"acme/gpu:1 → {again}; acme/gpu:latest → {again}; "
        f"acme/cpu:1.3 does not exist; acme/cpu:1 → the previous release ({OLD['acme/cpu'][7:19]}),"
        f" not moved; acme/cpu:latest → the previous release ({OLD['acme/cpu'][7:19]}), not moved"
    )
    assert "\n" not in str(caught.value)
    assert registry.tags == {**released_before(), ("acme/gpu", "1.3"): NEW["acme/gpu"]}
    assert [p.tags for p in published] == [["1.3.0"], ["1.3.0"]]  # no floating tag claimed


def test_an_unexpected_exception_while_putting_back_leaves_the_others_put_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The third move fails; putting back gpu:latest then raises what is no registry error
    (an OSError a client let through): gpu:1 is still put back, and the report says that
    gpu:latest stays on the new release, with no traceback from the roll-back's thread."""
    uncaught: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: uncaught.append(args.exc_value))
    registry = Raising(
        released_before(),
        {3: RegistryError("registry.test: add tag failed: HTTP 500"), 4: OSError("reset")},
    )

    with pytest.raises(PublishError) as caught:
        move_floating(registry, results(), publications())  # type: ignore[arg-type]

    assert uncaught == []
    assert registry.tags[("acme/gpu", "1")] == OLD["acme/gpu"]
    assert "acme/gpu:latest → 1.3.0 (putting it back failed)" in caught.value.message
    again = f"the previous release ({OLD['acme/gpu'][7:19]}) again"
    assert f"acme/gpu:1 → {again}" in caught.value.message


def test_a_signal_while_a_move_stalls_starts_the_roll_back_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The signal lands while the main thread waits for the moves (not before it starts to):
    the moved tags go back at once, not once the stalled move ends, and the run ends at the
    grace period."""
    monkeypatch.setattr(floating, "SIGNAL_GRACE_SECONDS", 0.3)
    registry = FakeRegistry(released_before())
    sent: list[float] = []
    put_back: list[float] = []
    unstall = threading.Event()

    def signal_then_stall() -> None:
        if threading.current_thread().name == "roll-back":
            put_back.append(time.monotonic())
        elif registry.added == 3:  # gpu:latest
            time.sleep(0.1)  # the main thread is waiting for the moves by now
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGTERM)
            unstall.wait(5)

    registry.on_add = signal_then_stall
    try:
        with pytest.raises(Interrupted) as caught:
            move_floating(registry, results(), publications())  # type: ignore[arg-type]
        ended = time.monotonic()
    finally:
        unstall.set()

    # bounds a loaded machine keeps, and a wait for the stalled move (or a second) misses:
    # the roll-back starts at once, and the run ends once the grace period is over
    assert put_back and put_back[0] - sent[0] < 0.5
    assert ended - sent[0] < 0.3 + 0.5
    assert f"acme/gpu:1 → the previous release ({OLD['acme/gpu'][7:19]}) again" in (
        caught.value.message
    )


def test_each_image_claims_only_its_own_floating_tags() -> None:
    """Images of a release may float different tags (here cpu only ``1.3``): each result
    lists the tags moved in its own repository, as the report and the outputs show them."""
    every = publications()
    every["cpu"] = ImagePublication("cpu", "acme/cpu", ("1.3.0", "1.3"))
    published = results()

    move_floating(FakeRegistry(released_before()), published, every)  # type: ignore[arg-type]

    assert [p.tags for p in published] == [["1.3.0", *FLOATING], ["1.3.0", "1.3"]]
