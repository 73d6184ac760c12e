"""uv-lock and uv-lock-fresh: presence, git, and uv lock --check's verdict."""

from __future__ import annotations

import pytest

from buildlib.checks import lock as lock_module
from buildlib.checks.lock import check_lock_fresh, check_lock_present
from buildlib.checks.project import Project
from tests.support.fixture_repo import commit, git, make_repo, write

pytestmark = pytest.mark.usefixtures("isolated")


def add_dependency(repo, requirement='"tomli-w>=1.0"'):
    path = repo / "pyproject.toml"
    text = path.read_text()
    path.write_text(
        text.replace('    "cloudpickle>=3.0",\n', f'    "cloudpickle>=3.0",\n    {requirement},\n')
    )


def generated_lock(repo, pinned=False):
    """uv.lock becomes a file git ignores (.gitignore's line 2), made anew by each install;
    ``pinned``: with resolution pinned by exclude-newer, as this repository keeps it."""
    if pinned:
        path = repo / "pyproject.toml"
        path.write_text(
            path.read_text().replace(
                "[tool.uv]\n", '[tool.uv]\nexclude-newer = "2026-11-01T00:00:00Z"\n', 1
            )
        )
    write(repo / ".gitignore", ".venv/\nuv.lock\n")
    git(repo, "rm", "-q", "--cached", "uv.lock")
    commit(repo, "chore: generate the lock" + (", pin resolution" if pinned else ""))


def test_clean_lock_is_present_and_fresh(repo):
    project = Project.load(repo)
    assert check_lock_present(project).status == "ok"
    result = check_lock_fresh(project)
    assert (result.id, result.status) == ("uv-lock-fresh", "ok")
    assert result.message == "uv.lock matches pyproject.toml (uv lock --check)"


def test_missing_lock_fails_with_uv_lock_hint(tmp_path):
    repo = make_repo(tmp_path, with_lock=False)
    project = Project.load(repo)

    present = check_lock_present(project)
    fresh = check_lock_fresh(project)

    assert (present.id, present.status, present.file) == ("uv-lock", "fail", "uv.lock")
    assert present.hint == "uv lock (then commit uv.lock)"
    assert fresh.status == "skipped" and "no uv.lock" in fresh.message


def test_lock_made_stale_by_a_new_dependency(repo):
    add_dependency(repo)

    result = check_lock_fresh(Project.load(repo))

    assert (result.id, result.status, result.file) == ("uv-lock-fresh", "fail", "uv.lock")
    assert result.message.startswith("uv.lock is out of date")
    assert result.hint.startswith("uv lock")
    assert "uv lock --upgrade" in result.hint
    assert result.hint.endswith("then commit uv.lock")


def test_a_stale_lock_says_what_uv_lock_would_change(repo, monkeypatch):
    said = {
        "--check": "error: The lockfile at `uv.lock` needs to be updated, but `--check` was "
        "provided.\n\nhint: To update the lockfile, run `uv lock`.",
        "--dry-run": "Resolved 2 packages in 1ms\nRemove cloudpickle v3.1.2\n"
        "Update demo-app v0.1.0 -> v0.2.0",
    }
    monkeypatch.setattr(
        lock_module,
        "run_uv",
        lambda project, argv: lock_module.UvResult(argv[2] == "--dry-run", said[argv[2]]),
    )

    result = check_lock_fresh(Project.load(repo))

    assert result.status == "fail"
    assert result.message == (
        "uv.lock is out of date (uv lock --check): "
        "Remove cloudpickle v3.1.2; Update demo-app v0.1.0 -> v0.2.0"
    )


@pytest.mark.parametrize("dry_run", [(False, "error: no network"), (True, "Resolved 2 packages")])
def test_a_stale_lock_whose_changes_uv_does_not_list_says_the_requirements_changed(
    repo, monkeypatch, dry_run
):
    said = "error: The lockfile at `uv.lock` needs to be updated, but `--check` was provided."
    monkeypatch.setattr(
        lock_module,
        "run_uv",
        lambda project, argv: (
            lock_module.UvResult(*dry_run)
            if argv[2] == "--dry-run"
            else lock_module.UvResult(False, said)
        ),
    )

    result = check_lock_fresh(Project.load(repo))

    assert result.message == (
        "uv.lock is out of date (uv lock --check): "
        "pyproject.toml's requirements changed since `uv lock` last ran"
    )


def test_a_version_change_makes_the_lock_stale(repo):
    path = repo / "pyproject.toml"
    path.write_text(path.read_text().replace('version = "0.1.0"', 'version = "0.2.0"', 1))

    result = check_lock_fresh(Project.load(repo))

    assert (result.status, result.file) == ("fail", "uv.lock")
    assert result.message.startswith("uv.lock is out of date")


def test_where_git_ignores_the_lock_the_hint_does_not_say_commit(repo):
    generated_lock(repo)
    add_dependency(repo)

    result = check_lock_fresh(Project.load(repo))

    assert result.status == "fail"
    assert "commit" not in result.hint


def test_without_uv_freshness_is_skipped_with_the_reason(repo, monkeypatch):
    monkeypatch.setattr(lock_module, "find_program", lambda name: None)

    result = check_lock_fresh(Project.load(repo))

    assert result.status == "skipped"
    assert "uv is not installed" in result.message


def test_what_uv_cannot_decide_offline_is_asked_online_with_for(repo, monkeypatch):
    calls = []

    def fake_uv(project, argv):
        calls.append(argv[1:])
        if "--offline" in argv:
            return lock_module.UvResult(
                False, "error: No solution found\n  cause: x is not in the cache"
            )
        return lock_module.UvResult(True, "")

    monkeypatch.setattr(lock_module, "run_uv", fake_uv)

    offline = check_lock_fresh(Project.load(repo))
    assert offline.status == "fail"
    assert offline.message.startswith("uv.lock is out of date")
    assert calls == [["lock", "--check", "--offline"]]

    calls.clear()
    online = check_lock_fresh(Project.load(repo), online=True)
    assert online.status == "ok"
    assert calls == [["lock", "--check", "--offline"], ["lock", "--check"]]


def test_ignored_lock_fails_at_the_ignore_line(repo):
    write(repo / ".gitignore", ".venv/\nuv.lock\n")
    commit(repo, "chore: ignore the lock")
    git(repo, "rm", "-q", "--cached", "uv.lock")
    commit(repo, "chore: untrack the lock")

    result = check_lock_present(Project.load(repo))

    assert (result.status, result.file, result.line) == ("fail", ".gitignore", 2)
    assert "ignored by git (.gitignore:2)" in result.message
    assert result.hint.startswith("delete that line, then `git add uv.lock`")  # place said once


@pytest.mark.parametrize("folder", ["réglages", "a:b"])
def test_an_ignored_lock_names_its_ignore_file_as_written(repo, folder):
    """An ignore file whose path is not ASCII, or holds a ":", is named as it is (git's -v
    line C-quotes the one and takes the other for its separator)."""
    excludes = repo.parent / folder / "ignore"
    write(excludes, "# generated\nuv.lock\n")
    git(repo, "config", "core.excludesFile", str(excludes))
    git(repo, "rm", "-q", "--cached", "uv.lock")
    commit(repo, "chore: untrack the lock")

    result = check_lock_present(Project.load(repo))

    assert (result.status, result.file, result.line) == ("fail", str(excludes), 2)
    assert f"ignored by git ({excludes}:2)" in result.message


def test_ignored_lock_with_pinned_resolution_is_ok(repo):
    """This repository's own policy: uv.lock is generated, resolution pinned by exclude-newer."""
    generated_lock(repo, pinned=True)

    result = check_lock_present(Project.load(repo))

    assert result.status == "ok"
    assert "not committed (.gitignore:2)" in result.message
    assert "exclude-newer" in result.message


def test_the_stale_lock_hint_says_commit_only_where_git_keeps_the_lock(repo):
    add_dependency(repo)
    kept = check_lock_fresh(Project.load(repo))
    assert kept.status == "fail" and kept.hint.endswith(", then commit uv.lock")

    generated_lock(repo, pinned=True)
    project = Project.load(repo)

    stale = check_lock_fresh(project)
    assert stale.status == "fail"
    assert stale.hint.startswith("uv lock")
    assert "commit" not in stale.hint
    (repo / "uv.lock").unlink()
    assert check_lock_present(Project.load(repo)).hint in (None, "uv lock")


def test_uncommitted_lock_warns(tmp_path):
    repo = make_repo(tmp_path)
    git(repo, "rm", "-q", "--cached", "uv.lock")
    git(repo, "commit", "-q", "-m", "chore: untrack the lock")

    result = check_lock_present(Project.load(repo))

    assert result.status == "warn"
    assert result.hint == "git add uv.lock"


def test_a_lock_a_negated_pattern_keeps_is_not_ignored(repo):
    """``*.lock`` then ``!uv.lock``: the last pattern that matches keeps uv.lock, which is
    then only not committed yet."""
    write(repo / ".gitignore", ".venv/\n*.lock\n!uv.lock\n")
    commit(repo, "chore: ignore locks but uv.lock")
    git(repo, "rm", "-q", "--cached", "uv.lock")
    git(repo, "commit", "-q", "-m", "chore: untrack the lock")

    result = check_lock_present(Project.load(repo))

    assert (result.status, result.hint) == ("warn", "git add uv.lock"), result.message


def test_no_lock_is_fine_when_no_dockerfile_installs_from_one(repo):
    """A repository whose images do not install from uv.lock (pip, Poetry...) needs none."""
    (repo / "uv.lock").unlink(missing_ok=True)
    for dockerfile in repo.glob("Dockerfile*"):
        dockerfile.write_text("FROM scratch\n")
    result = check_lock_present(Project.load(repo))
    assert result.status == "skipped", result.message


def test_what_uv_cannot_resolve_online_is_said_in_uv_words(repo, monkeypatch):
    said = "error: No solution found\n  cause: your project depends on nothing>=99"
    monkeypatch.setattr(
        lock_module, "run_uv", lambda project, argv: lock_module.UvResult(False, said)
    )

    result = check_lock_fresh(Project.load(repo), online=True)

    assert result.status == "fail"
    assert result.message.endswith("your project depends on nothing>=99")


def test_a_pyproject_uv_cannot_read_is_said_with_uv_s_reason_not_only_its_position(repo):
    path = repo / "pyproject.toml"
    text = path.read_text()
    version = next(line for line in text.splitlines() if line.startswith("version = "))
    path.write_text(text.replace(version + "\n", "", 1))

    result = check_lock_fresh(Project.load(repo))

    assert result.status == "fail"
    assert result.message.startswith("uv lock --check could not check uv.lock: TOML parse error")
    # the position alone (line 1, column 1: the [project] header) names no problem
    assert "project.version" in result.message
