"""Whether an excluded folder must still be walked for a ``!`` exception of the ignore file,
and how a stray file of a build context is described."""

from __future__ import annotations

import pytest

from buildlib.context import IgnoreMatcher, Stray
from buildlib.errors import ConfigError


@pytest.mark.parametrize("exception", ["!keep", "!keep/**", "!keep/*"])
def test_an_exception_brings_back_only_its_own_folder(exception: str) -> None:
    matcher = IgnoreMatcher.parse(["*", exception])
    assert matcher.may_reinclude_under("keep")
    assert not matcher.may_reinclude_under("other")
    assert not matcher.may_reinclude_under("kee")


def test_an_exception_inside_a_folder_walks_that_folder() -> None:
    matcher = IgnoreMatcher.parse(["docs", "!docs/keep/**"])
    assert matcher.may_reinclude_under("docs")
    assert matcher.may_reinclude_under("docs/keep")
    assert not matcher.may_reinclude_under("src")


def test_an_exception_with_a_wildcard_walks_every_folder() -> None:
    assert IgnoreMatcher.parse(["*", "!*.md"]).may_reinclude_under("anything")


def test_without_exceptions_no_excluded_folder_is_walked() -> None:
    assert not IgnoreMatcher.parse(["*"]).may_reinclude_under("keep")


def test_a_stray_says_whether_git_ignores_it() -> None:
    assert Stray(".env", ("gpu",), ignored=True).describe() == ".env (git-ignored)"
    assert Stray("notes.txt", ("gpu",), ignored=False).describe() == "notes.txt (untracked)"
    assert Stray(".git", ("gpu",), ignored=False).describe() == ".git (the repository itself)"


def test_a_bare_exclamation_mark_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError) as refused:
        IgnoreMatcher.parse(["*", "!"], "ctx/.dockerignore")
    assert refused.value.message == 'illegal exclusion pattern "!"'
    assert refused.value.hint == "name what to re-include after the !, or delete the line"
    assert refused.value.location == "ctx/.dockerignore"


def test_an_unclosed_class_is_refused_as_the_engine_refuses_it() -> None:
    with pytest.raises(ConfigError) as refused:
        IgnoreMatcher.parse(["a[b"], "ctx/.dockerignore")
    assert refused.value.message == (
        "bad pattern 'a[b' (unterminated character set): the engine refuses it too"
    )
    assert refused.value.hint == "close the [...] class, or escape the character with \\"
    assert refused.value.location == "ctx/.dockerignore"


def test_an_escaped_wildcard_matches_only_itself() -> None:
    matcher = IgnoreMatcher.parse(["a\\*b"])
    assert matcher.excluded("a*b")
    assert not matcher.excluded("axb")
