"""Which BuildKit step is the last one two Dockerfiles share: an empty base and a WORKDIR
that stays at the root are no steps, any other WORKDIR is."""

from __future__ import annotations

from buildlib.plan import last_shared_step


def test_an_empty_base_alone_shares_no_step() -> None:
    assert last_shared_step(["FROM scratch"]) is None
    assert last_shared_step(["FROM scratch", "WORKDIR /"]) is None


def test_a_workdir_below_the_root_is_a_step() -> None:
    assert last_shared_step(["FROM scratch", "WORKDIR X"]) == ("stage-0", 1, "WORKDIR")
    assert last_shared_step(["FROM scratch", "WORKDIR /app/"]) == ("stage-0", 1, "WORKDIR")
