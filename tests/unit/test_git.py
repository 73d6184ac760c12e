"""buildlib.git on real repositories made in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildlib.git import Git
from buildlib.urls import public_url
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


def test_without_git_installed_a_repository_reads_as_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "repo").mkdir()
    repo = Git(make(tmp_path / "repo"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))
    assert not repo.is_repository() and repo.head() is None
    assert repo.files() is None and repo.dirty_files() == []


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


def test_a_file_name_that_is_not_utf8_is_judged_by_its_own_bytes(tmp_path: Path) -> None:
    # os.listdir names such a file with a surrogate escape for byte 0xE9
    root = make(tmp_path)
    (root / ".gitignore").write_text("*.env\n")
    try:
        (root / os.fsdecode(b"tracked-\xe9.txt")).write_text("tracked\n")
    except OSError:
        pytest.skip("this filesystem refuses file names that are not UTF-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "chore: a name that is not UTF-8")
    for name in (b"caf\xe9.env", b"caf\xe9.txt"):
        (root / os.fsdecode(name)).write_text("untracked\n")
    names = sorted(os.listdir(root))
    assert "caf\udce9.env" in names  # what buildlib's own walks hand to git

    repo = Git(root)
    assert repo.ignored(names) == {"caf\udce9.env"}
    assert "tracked-\udce9.txt" in (repo.tracked_files() or set())
    listed = repo.files() or []
    assert "caf\udce9.txt" in listed and "caf\udce9.env" not in listed
