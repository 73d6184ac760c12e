"""A floating tag is planned once even when two patterns name the same tag (a one-part
release: X.Y and X are both ``1``); a minor bump before 1.0 may be a patch bump."""

from __future__ import annotations

from buildlib.versions import Version, next_version, plan_release_tags


def test_a_one_part_release_with_an_epoch_floats_each_tag_once() -> None:
    tags = plan_release_tags("1!1")
    assert tags.full == "1_1"
    assert tags.floating == ("1", "latest")
    assert tags.skipped == ()


def test_a_one_part_pre_release_skips_each_tag_once() -> None:
    tags = plan_release_tags("1rc1")
    assert [tag for tag, _ in tags.skipped] == ["1", "latest"]
    assert tags.floating == ()


def test_a_minor_bump_before_1_0_may_bump_the_patch() -> None:
    assert next_version("0.3.1", "minor", bump_patch_for_minor_pre_major=True) == Version("0.3.2")
    assert next_version("0.3.1", "minor") == Version("0.4.0")
    assert next_version("1.3.1", "minor", bump_patch_for_minor_pre_major=True) == Version("1.4.0")
