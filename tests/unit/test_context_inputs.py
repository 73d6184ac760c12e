"""What the engine receives besides plain files (links, the ignore file itself), which ignore
file it reads by default, and the patterns whose match stops at a name's edge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildlib.context import (
    IgnoreMatcher,
    context_files,
    ignore_file_for,
    matcher_for,
    read_patterns,
    strays,
)
from buildlib.errors import ConfigError
from tests.support.fixture_repo import git
from tests.support.ignore_file import excluded


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        ("worker/**", "worker/x.py", True),
        ("worker/**", "workers/x.py", False),  # a folder's name, not a prefix of one
        ("worker/**", "work/x.py", False),
        ("**/foo", "a/foo", True),
        ("**/foo", "barfoo", False),  # a whole name at the end
        ("**/foo", "a/barfoo", False),
        ("**/foo", "bar", False),
    ],
)
def test_a_trailing_or_leading_double_star_stops_at_a_name_s_edge(
    patterns: str, path: str, expected: bool
) -> None:
    assert excluded(patterns, path) is expected


def test_links_to_folders_are_sent_as_links_unless_excluded(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not in the context\n")
    context = tmp_path / "context"
    (context / "app").mkdir(parents=True)
    (context / "app" / "main.py").write_text("print()\n")
    for name in ("cache", "data", "models"):
        os.symlink(outside, context / name)
    (context / ".dockerignore").write_text("models\n")

    found = context_files(context, matcher_for(context / "Dockerfile", context))

    assert found == [".dockerignore", "app/main.py", "cache", "data"]


def tree(root: Path) -> None:
    """A committed Dockerfile whose own ignore file (not committed) leaves out notes.txt and
    itself; the shared .dockerignore leaves out only the Dockerfile's ignore file."""
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / ".dockerignore").write_text(".git\nDockerfile.dockerignore\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "chore: files")
    (root / "Dockerfile.dockerignore").write_text(".git\nnotes.txt\nDockerfile.dockerignore\n")
    (root / "notes.txt").write_text("not committed\n")


def test_buildkit_is_the_default_and_reads_the_dockerfile_s_own_ignore_file(
    tmp_path: Path,
) -> None:
    tree(tmp_path)
    dockerfile = tmp_path / "Dockerfile"
    assert ignore_file_for(dockerfile, tmp_path) == tmp_path / "Dockerfile.dockerignore"
    assert "notes.txt" not in context_files(tmp_path, matcher_for(dockerfile, tmp_path))

    found = strays(tmp_path, [("app", dockerfile, tmp_path)])

    # what BuildKit reads to decide what it sends is an input of the build too
    assert [(s.path, s.ignored) for s in found or []] == [("Dockerfile.dockerignore", False)]


def test_the_classic_builder_reads_only_the_context_s_ignore_file(tmp_path: Path) -> None:
    tree(tmp_path)
    dockerfile = tmp_path / "Dockerfile"
    assert ignore_file_for(dockerfile, tmp_path, buildkit=False) == tmp_path / ".dockerignore"

    found = strays(tmp_path, [("app", dockerfile, tmp_path)], buildkit=False)

    assert [s.path for s in found or []] == ["notes.txt"]


def test_without_an_ignore_file_everything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "notes.txt").write_text("x\n")
    dockerfile = tmp_path / "Dockerfile"
    assert ignore_file_for(dockerfile, tmp_path) is None
    assert ignore_file_for(dockerfile, tmp_path, buildkit=False) is None
    assert context_files(tmp_path, matcher_for(dockerfile, tmp_path)) == ["Dockerfile", "notes.txt"]


def test_an_ignore_file_that_is_not_utf8_is_still_read(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"# caf\xe9 notes\n.env\n")
    matcher = matcher_for(tmp_path / "Dockerfile", tmp_path)
    assert matcher.excluded(".env") and not matcher.excluded("app.py")


def test_a_bad_pattern_names_the_ignore_file_it_is_in(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.dockerignore").write_text(".git\n[abc\n")
    with pytest.raises(ConfigError) as refused:
        matcher_for(tmp_path / "Dockerfile", tmp_path)
    assert refused.value.location == str(tmp_path / "Dockerfile.dockerignore")


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        ("# a comment\n\n.env\n\n*.log", [".env", "*.log"]),  # blank lines end nothing
        ("#.env\n.env", [".env"]),
        ("Xfile\n", ["Xfile"]),  # only a byte order mark is dropped from the first line
        ("! /docs/./keep.txt", ["!docs/keep.txt"]),  # an exception is cleaned too
        ("/a", ["a"]),
        ("/", ["/"]),
    ],
)
def test_the_ignore_file_reader_cleans_each_pattern(text: str, patterns: list[str]) -> None:
    assert read_patterns(text) == patterns


def test_a_blank_pattern_is_skipped_not_the_end() -> None:
    matcher = IgnoreMatcher.parse(["a", "", "b"])
    assert matcher.excluded("a") and matcher.excluded("b")


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        ("a/**/bc", "a/bc", True),
        ("a/**/bc", "a/x/y/bc", True),
        ("a/**/bc", "a/x/c", False),
        ("a/**/b", "x/b", False),
        ("a/**x", "a/x", True),
        ("*/**", "a/b/c", True),
        ("*/**", "a", False),
        ("ab?", "abc", True),
        ("ab?", "c", False),
        # a file name may hold a newline: `**` at an end is a prefix or suffix test, as
        # the engine's (patternmatcher's prefixMatch and suffixMatch)
        ("docs/**", "docs/a\nb", True),
        ("**/foo", "x\ny/foo", True),
    ],
)
def test_double_stars_wildcards_and_escapes(patterns: str, path: str, expected: bool) -> None:
    assert excluded(patterns, path) is expected


# Python warns of "[[" in a class (a nested set in some future version); Go reads a plain "["
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("bad", ["[*", "a[?", "[^*"])
def test_a_class_the_wildcards_leave_open_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError) as refused:
        IgnoreMatcher.parse([bad], "ctx/.dockerignore")
    assert refused.value.message == (
        f"bad pattern {bad!r} (unterminated character set): the engine refuses it too"
    )


@pytest.mark.parametrize(("patterns", "path"), [("*.md", "notes.md\n"), ("a?", "ab\n")])
def test_a_name_ending_in_a_newline_is_sent_as_the_engine_sends_it(
    patterns: str, path: str
) -> None:
    # patternmatcher's regexp ends in Go's $, the end of the text (\z): a name with one
    # more character, a newline, is not matched, and the engine sends the file
    assert not excluded(patterns, path)
    assert excluded(patterns, path.rstrip("\n"))


@pytest.mark.parametrize("bad", ["a\\", "*.log\\"])
def test_a_trailing_backslash_is_refused_as_the_engine_refuses_it(bad: str) -> None:
    # patternmatcher.New asks Go's filepath.Match(pattern, "."), which returns
    # ErrBadPattern for a \ that escapes nothing (Go 1.16 and later check the whole
    # pattern, not only the part before the first mismatch)
    with pytest.raises(ConfigError) as refused:
        IgnoreMatcher.parse([".git", bad], "ctx/.dockerignore")
    assert refused.value.message == (
        f"bad pattern {bad!r} (trailing backslash): the engine refuses it too"
    )
    assert refused.value.location == "ctx/.dockerignore"
