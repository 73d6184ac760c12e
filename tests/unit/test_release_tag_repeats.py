"""A floating tag is planned once even when two patterns name the same tag (a one-part
release: X.Y and X are both ``1``)."""

from __future__ import annotations

from buildlib.versions import plan_release_tags


def test_a_one_part_release_with_an_epoch_floats_each_tag_once() -> None:
    tags = plan_release_tags("1!1")
    assert tags.tags == ("1_1", "1", "latest")
    assert tags.skipped == ()


def test_a_one_part_pre_release_skips_each_tag_once() -> None:
    tags = plan_release_tags("1rc1")
    assert [tag for tag, _ in tags.skipped] == ["1", "latest"]
    assert tags.tags == ("1rc1",)
