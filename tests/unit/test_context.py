"""The build context as the engine receives it: ``.dockerignore`` matched with BuildKit's
rules (moby/patternmatcher), and the files of it that git does not track."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.context import (
    IgnoreMatcher,
    context_files,
    go_clean,
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
        ("*.md", "README.md", True),
        ("*.md", "docs/a.md", False),  # `*` never crosses a folder
        ("**/*.md", "docs/a/b.md", True),
        ("**/*.md", "a.md", True),
        ("docs", "docs/deep/file.txt", True),  # a folder takes what is under it
        ("docs/", "docs/file.txt", True),
        ("/docs", "docs/file.txt", True),  # a leading / is the context root
        ("./docs", "docs/file.txt", True),
        ("a/../docs", "docs/file.txt", True),
        ("worker/*.pyc", "worker/x.pyc", True),
        ("worker/*.pyc", "worker/sub/x.pyc", False),
        ("worker/**", "worker/sub/x.py", True),
        ("**/foo", "foo", True),
        ("**/foo", "a/b/foo", True),
        ("**/foo", "a/foo/bar", True),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("?/x", "a/x", True),
        ("[^a]bc", "xbc", True),  # Go's negated class
        ("[^a]bc", "abc", False),
        ("[a-c]x", "bx", True),
        ("a\\*b", "a*b", True),  # an escaped star is a star
        ("a\\*b", "axxb", False),
        ("Secret.env", "secret.env", False),  # case-sensitive, as the engine
        ("file.txt", "fileXtxt", False),  # a dot is a dot
        ("a+b(c)", "a+b(c)", True),
        ("# comment\n.env", ".env", True),
        ("\ufeff.env", ".env", True),
        ("  .env  ", ".env", True),
        ("*\n!worker", "worker/handler.py", False),  # an exception re-includes a folder
        ("*\n!worker\nworker/secret.py", "worker/secret.py", True),  # the last match wins
        ("!README.md\n*.md", "README.md", True),
        ("*.md\n!README.md", "README.md", False),
        ("*.md\n!README.md", "CHANGES.md", True),
        ("docs\n!docs/keep.txt", "docs/keep.txt", False),
        ("docs\n!docs/keep.txt", "docs/other.txt", True),
        ("", "anything", False),
        ("*/**", "a/b", True),  # ``**`` at the end of a pattern with a wildcard before it
        ("*/**", "a", False),
    ],
)
def test_matching(patterns: str, path: str, expected: bool) -> None:
    assert excluded(patterns, path) is expected


def test_go_clean() -> None:
    assert go_clean("a//b/./c/..") == "a/b"
    assert go_clean("/../a") == "/a"
    assert go_clean("../a") == "../a"
    assert go_clean("//a/b") == "/a/b" and go_clean("//") == "/"  # Go keeps one
    assert go_clean("") == "." and go_clean("./") == "."


# "[a*" leaves its class open although the regular expression it becomes compiles
@pytest.mark.parametrize("bad", ["!", "[abc", "a[z-a]", "[a*"])
def test_a_pattern_the_engine_refuses_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        IgnoreMatcher.parse(read_patterns(bad), source=".dockerignore")
    assert caught.value.location == ".dockerignore"


def tree(root: Path, *files: str) -> None:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel + "\n")


def test_context_walk_reincludes_inside_an_excluded_folder(tmp_path: Path) -> None:
    tree(tmp_path, "Dockerfile", "a/keep.txt", "a/drop.txt", "b/x.txt", ".dockerignore")
    (tmp_path / ".dockerignore").write_text("a\nb\n!a/keep.txt\n")
    matcher = matcher_for(tmp_path / "Dockerfile", tmp_path)
    assert context_files(tmp_path, matcher) == [".dockerignore", "Dockerfile", "a/keep.txt"]


def test_the_dockerfiles_own_ignore_file_wins_under_buildkit(tmp_path: Path) -> None:
    tree(tmp_path, "Dockerfile-cpu", "x.txt", "y.txt")
    (tmp_path / ".dockerignore").write_text("x.txt\n")
    (tmp_path / "Dockerfile-cpu.dockerignore").write_text("y.txt\n")
    dockerfile = tmp_path / "Dockerfile-cpu"
    assert "x.txt" in context_files(tmp_path, matcher_for(dockerfile, tmp_path))
    assert "y.txt" not in context_files(tmp_path, matcher_for(dockerfile, tmp_path))
    legacy = matcher_for(dockerfile, tmp_path, buildkit=False)
    assert "x.txt" not in context_files(tmp_path, legacy)


def test_strays_are_untracked_or_ignored_files_the_build_would_receive(tmp_path: Path) -> None:
    tree(tmp_path, "Dockerfile", "worker/handler.py", "tests/test_x.py", ".dockerignore")
    (tmp_path / ".dockerignore").write_text(".git\ntests\n")
    (tmp_path / ".gitignore").write_text(".env\nuv.lock\n*.log\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "chore: files")
    tree(tmp_path, "worker/untracked_debug.py", ".env", "uv.lock", "tests/scratch.py")
    (tmp_path / "worker" / "run.log").write_text("x\n")
    builds = [("cpu", tmp_path / "Dockerfile", tmp_path)]

    found = strays(tmp_path, builds)

    assert found is not None
    assert [(s.path, s.ignored) for s in found] == [
        (".env", True),
        ("worker/run.log", True),
        ("worker/untracked_debug.py", False),
    ]  # uv.lock: generated on purpose (its freshness is checked); tests/: not sent
    assert found[0].images == ("cpu",)


def test_an_untracked_dockerfile_is_a_stray(tmp_path: Path) -> None:
    tree(tmp_path, "app/main.py")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "chore: files")
    tree(tmp_path, "Dockerfile")
    (tmp_path / ".dockerignore").write_text("Dockerfile\n")
    found = strays(tmp_path, [("app", tmp_path / "Dockerfile", tmp_path)])
    assert [s.describe() for s in found or []] == [
        ".dockerignore (untracked)",
        ".git (the repository itself)",  # sent too: its config may hold a token
        "Dockerfile (untracked)",
    ]


def test_outside_git_there_is_nothing_to_compare(tmp_path: Path) -> None:
    tree(tmp_path, "Dockerfile")
    assert strays(tmp_path, [("app", tmp_path / "Dockerfile", tmp_path)]) is None
