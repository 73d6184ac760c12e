"""buildlib.git on real repositories made in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.git import Git, public_url
from tests.support.fixture_repo import git


def make(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    for name in ("a.txt", "b.txt", "with space.txt"):
        (tmp_path / name).write_text(name + "\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "chore: files")
    return tmp_path


def test_clean_tree_has_no_dirty_files(tmp_path: Path) -> None:
    assert Git(make(tmp_path)).dirty_files() == []


def test_modified_staged_and_untracked(tmp_path: Path) -> None:
    root = make(tmp_path)
    (root / "a.txt").write_text("changed\n")
    (root / "with space.txt").write_text("changed\n")
    git(root, "add", "with space.txt")
    (root / "new.txt").write_text("untracked: not counted\n")
    assert sorted(Git(root).dirty_files()) == ["a.txt", "with space.txt"]


def test_a_rename_names_its_new_path_once(tmp_path: Path) -> None:
    root = make(tmp_path)
    git(root, "mv", "a.txt", "renamed-a.txt")
    (root / "b.txt").write_text("changed\n")
    assert sorted(Git(root).dirty_files()) == ["b.txt", "renamed-a.txt"]


def test_head_and_commit_time(tmp_path: Path) -> None:
    root = make(tmp_path)
    repo = Git(root)
    assert repo.head() == git(root, "rev-parse", "HEAD")
    assert repo.head_commit_time() == int(git(root, "log", "-1", "--format=%ct"))
    assert repo.is_repository()


def test_outside_a_repository_everything_is_empty(tmp_path: Path) -> None:
    repo = Git(tmp_path)
    assert not repo.is_repository()
    assert repo.head() is None and repo.head_commit_time() is None
    assert repo.dirty_files() == [] and repo.tags() == []


@pytest.mark.parametrize(
    ("remote", "public"),
    [
        (
            "https://gitlab-ci-token:TOKEN@gitlab.com/org/repo.git",
            "https://gitlab.com/org/repo.git",
        ),
        ("https://TOKEN@github.com/org/repo", "https://github.com/org/repo"),
        ("git@github.com:org/repo.git", "https://github.com/org/repo.git"),
        ("github.com:org/repo", "https://github.com/org/repo"),
        ("ssh://git@github.com:2222/org/repo.git", "https://github.com/org/repo.git"),
        ("git+ssh://git@host.example/org/repo", "https://host.example/org/repo"),
        (
            "https://host.example:8443/org/repo?private_token=TOKEN#x",
            "https://host.example:8443/org/repo",
        ),
        ("http://u:p@[::1]:8080/org/repo", "http://[::1]:8080/org/repo"),
        ("/srv/git/repo.git", None),
        ("file:///srv/git/repo.git", None),
        ("C:\\src\\repo", None),
    ],
)
def test_public_url(remote: str, public: str | None) -> None:
    assert public_url(remote) == public


def test_remote_url_is_the_public_one(tmp_path: Path) -> None:
    root = make(tmp_path)
    git(root, "remote", "add", "origin", "https://oauth2:TOKEN123@gitlab.com/org/repo.git")
    assert Git(root).remote_url() == "https://gitlab.com/org/repo.git"
