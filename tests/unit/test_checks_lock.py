"""uv-lock and uv-lock-fresh: presence, git, the static comparison, uv's verdict."""

from __future__ import annotations

import pytest

from buildlib.checks import lock as lock_module
from buildlib.checks.lock import check_lock_fresh, check_lock_present, static_differences
from buildlib.checks.project import Project
from tests.support.fixture_repo import commit, git, make_repo, write

pytestmark = pytest.mark.usefixtures("isolated")


def add_dependency(repo, requirement='"tomli-w>=1.0"'):
    path = repo / "pyproject.toml"
    text = path.read_text()
    path.write_text(
        text.replace('    "cloudpickle>=3.0",\n', f'    "cloudpickle>=3.0",\n    {requirement},\n')
    )


def test_clean_lock_is_present_and_fresh(repo):
    project = Project.load(repo)
    assert check_lock_present(project).status == "ok"
    result = check_lock_fresh(project)
    assert (result.id, result.status) == ("uv-lock-fresh", "ok")
    assert "decided by uv lock --check" in result.message


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
    assert "tomli-w>=1.0 is not in uv.lock" in result.message
    assert "decided by" in result.message
    assert result.hint.startswith("uv lock")
    assert "uv lock --upgrade" in result.hint


def test_static_comparison_decides_without_uv(repo, monkeypatch):
    monkeypatch.setattr(lock_module.shutil, "which", lambda name: None)
    project = Project.load(repo)

    fresh = check_lock_fresh(project)
    assert fresh.status == "ok"
    assert "decided by the static comparison; uv is not installed" in fresh.message

    add_dependency(repo)
    stale = check_lock_fresh(Project.load(repo))
    assert stale.status == "fail"
    assert "decided by the static comparison" in stale.message


def test_static_only_mode_runs_no_uv(repo, monkeypatch):
    def no_run(*args, **kwargs):
        raise AssertionError("uv must not run")

    monkeypatch.setattr(lock_module, "_uv_lock_check", no_run)
    add_dependency(repo)

    result = check_lock_fresh(Project.load(repo), run_uv=False)

    assert result.status == "fail"
    assert "static comparison" in result.message


def test_a_static_match_is_remembered_until_an_input_changes(repo, monkeypatch):
    compared = []
    real = lock_module.static_differences

    def counting(*args):
        compared.append(1)
        return real(*args)

    monkeypatch.setattr(lock_module, "static_differences", counting)
    original = (repo / "pyproject.toml").read_text()
    for _ in range(3):
        assert check_lock_fresh(Project.load(repo), run_uv=False).status == "ok"
    assert len(compared) == 1

    add_dependency(repo)  # pyproject.toml changed: compared again, and a miss is not kept
    for _ in range(2):
        assert check_lock_fresh(Project.load(repo), run_uv=False).status == "fail"
    assert len(compared) == 3

    (repo / "pyproject.toml").write_text(original)  # remembered as matching: not compared
    assert check_lock_fresh(Project.load(repo), run_uv=False).status == "ok"
    assert len(compared) == 3

    monkeypatch.setenv("BUILDLIB_NO_CACHE", "1")  # off: compared every time
    assert check_lock_fresh(Project.load(repo), run_uv=False).status == "ok"
    assert len(compared) == 4


def test_uv_verdict_wins_when_it_can_decide(repo, monkeypatch):
    monkeypatch.setattr(lock_module, "_uv_lock_check", lambda project: (False, "uv lock --check"))

    result = check_lock_fresh(Project.load(repo))

    assert result.status == "fail"
    assert "decided by uv lock --check" in result.message


def test_ignored_lock_fails_at_the_ignore_line(repo):
    write(repo / ".gitignore", ".venv/\nuv.lock\n")
    commit(repo, "chore: ignore the lock")
    git(repo, "rm", "-q", "--cached", "uv.lock")
    commit(repo, "chore: untrack the lock")

    result = check_lock_present(Project.load(repo))

    assert (result.status, result.file, result.line) == ("fail", ".gitignore", 2)
    assert "ignored by git" in result.message
    assert "git add uv.lock" in result.hint


def test_ignored_lock_with_pinned_resolution_is_ok(repo):
    """This repository's own policy: uv.lock is generated, resolution pinned by exclude-newer."""
    path = repo / "pyproject.toml"
    path.write_text(
        path.read_text().replace(
            "[tool.uv]\n", '[tool.uv]\nexclude-newer = "2026-11-01T00:00:00Z"\n', 1
        )
    )
    write(repo / ".gitignore", ".venv/\nuv.lock\n")
    git(repo, "rm", "-q", "--cached", "uv.lock")
    commit(repo, "chore: generate the lock, pin resolution")

    result = check_lock_present(Project.load(repo))

    assert result.status == "ok"
    assert "not committed (.gitignore:2)" in result.message
    assert "exclude-newer" in result.message


def test_uncommitted_lock_warns(tmp_path):
    repo = make_repo(tmp_path)
    git(repo, "rm", "-q", "--cached", "uv.lock")
    git(repo, "commit", "-q", "-m", "chore: untrack the lock")

    result = check_lock_present(Project.load(repo))

    assert result.status == "warn"
    assert result.hint == "git add uv.lock"


# --- the static comparison on hand-written locks --------------------------------------

LOCK = """\
version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "cloudpickle"
version = "3.1.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "demo"
version = "1.2.0"
source = { virtual = "." }

[package.metadata]
requires-dist = [
    { name = "cloudpickle", specifier = ">=3.0" },
    { name = "colorama", marker = "sys_platform == 'win32'", specifier = ">=0.4" },
    { name = "packaging", marker = "python_full_version < '3.14' and extra == 'fast'" },
    { name = "rich", extras = ["jupyter"], specifier = ">=13" },
]
provides-extras = ["fast"]

[package.metadata.requires-dev]
dev = [
    { name = "pytest", specifier = ">=8" },
    { name = "ruff", specifier = ">=0.6" },
    { name = "tomli", marker = "python_full_version < '3.11'", specifier = ">=2.0" },
]
lint = [{ name = "ruff", specifier = ">=0.6" }]
"""


def pyproject(**changes):
    project = {
        "name": "Demo",
        "version": "1.2.0",
        "requires-python": ">=3.11",
        "dependencies": [
            "cloudpickle>=3",
            "colorama>=0.4; sys_platform=='win32'",
            "Rich[Jupyter]>=13.0",
        ],
        "optional-dependencies": {"fast": ["packaging; python_version < '3.14'"]},
    }
    project.update(changes)
    return {
        "project": project,
        "dependency-groups": {
            "dev": ["pytest>=8", {"include-group": "lint"}, "tomli>=2.0; python_version < '3.11'"],
            "lint": ["ruff>=0.6"],
        },
    }


def test_equivalent_declarations_match():
    # names normalized, >=3 == >=3.0, python_version rewritten as python_full_version,
    # include-group expanded, the extra's marker added
    assert static_differences(pyproject(), LOCK) == []


def test_changed_specifier_is_reported():
    data = pyproject(
        dependencies=[
            "cloudpickle>=3.1",
            "colorama>=0.4; sys_platform=='win32'",
            "rich[jupyter]>=13",
        ]
    )
    assert static_differences(data, LOCK) == [
        "[project].dependencies: cloudpickle>=3.1 is cloudpickle>=3.0 in uv.lock"
    ]


def test_removed_dependency_and_changed_marker():
    data = pyproject(dependencies=["cloudpickle>=3", "colorama>=0.4; sys_platform=='linux'"])
    found = static_differences(data, LOCK)
    assert any("colorama" in d and "sys_platform" in d for d in found)
    assert any("rich[jupyter]>=13 is in uv.lock but no longer declared" in d for d in found)


def test_group_and_extra_changes():
    data = pyproject(**{"optional-dependencies": {"speed": ["packaging"]}})
    data["dependency-groups"]["lint"] = ["ruff>=0.7"]
    found = static_differences(data, LOCK)
    assert any(d.startswith("optional-dependency extras") for d in found)
    assert any(d.startswith("[dependency-groups].lint: ruff>=0.7") for d in found)
    assert any(d.startswith("[dependency-groups].dev: ruff>=0.7") for d in found)


def test_version_and_requires_python_changes():
    found = static_differences(pyproject(version="1.3.0", **{"requires-python": ">=3.12"}), LOCK)
    assert "the project's version is 1.3.0 in pyproject.toml but 1.2.0 in uv.lock" in found
    assert any(d.startswith("requires-python") for d in found)


def test_project_missing_from_the_lock():
    data = pyproject()
    data["project"]["name"] = "other"
    assert static_differences(data, LOCK) == ["uv.lock has no entry for the project 'other'"]
