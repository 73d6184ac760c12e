"""pyproject-toml, pyproject-version, buildlib-config."""

from __future__ import annotations

import pytest

from buildlib.checks.project import Project
from buildlib.checks.pyproject import (
    check_buildlib_config,
    check_pyproject_toml,
    check_pyproject_version,
)
from tests.support.fixture_repo import make_repo, set_version

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path, with_git=False)


def edit(repo, old, new):
    path = repo / "pyproject.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_clean_pyproject_passes(repo):
    project = Project.load(repo)
    assert check_pyproject_toml(project).status == "ok"
    version = check_pyproject_version(project)
    assert (version.status, version.file, version.line) == ("ok", "pyproject.toml", 3)
    assert check_buildlib_config(project).status == "ok"


def test_broken_toml_gives_line_and_column(repo):
    edit(repo, 'description = "A fixture', "description = A fixture")

    project = Project.load(repo)
    result = check_pyproject_toml(project)

    assert (result.id, result.status, result.file, result.line) == (
        "pyproject-toml",
        "fail",
        "pyproject.toml",
        4,
    )
    assert "invalid TOML" in result.message
    assert result.hint == "fix the syntax at that position (column 15)"  # the line: the location
    assert check_pyproject_version(project).status == "skipped"
    assert check_buildlib_config(project).status == "skipped"
    assert "see pyproject-toml" in check_buildlib_config(project).message


def test_a_bom_before_the_toml_is_reported_as_a_bom(repo):
    path = repo / "pyproject.toml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    result = check_pyproject_toml(Project.load(repo))

    assert (result.status, result.line) == ("fail", 1)
    assert "UTF-8 byte order mark (BOM)" in result.message
    assert result.hint == "save pyproject.toml as UTF-8 without a BOM"


def test_missing_pyproject_says_where_to_run(tmp_path):
    result = check_pyproject_toml(Project.load(tmp_path))

    assert result.status == "fail"
    assert "pyproject.toml not found" in result.message
    assert "--root" in (result.hint or "")


def test_invalid_version_points_at_its_line(repo):
    set_version(repo, "1.0-beta_x!")

    project = Project.load(repo)
    result = check_pyproject_version(project)

    assert (result.id, result.status, result.file, result.line) == (
        "pyproject-version",
        "fail",
        "pyproject.toml",
        3,
    )
    assert "'1.0-beta_x!' is not a PEP 440 version" in result.message
    assert "PEP 440" in (result.hint or "")
    assert check_buildlib_config(project).status == "skipped"


def test_unnormalized_version_warns_with_the_normal_form(repo):
    set_version(repo, "1.0.0-rc.1")

    result = check_pyproject_version(Project.load(repo))

    assert result.status == "warn"
    assert result.hint == 'write version = "1.0.0rc1"'


def test_dynamic_version_fails(repo):
    edit(repo, 'version = "0.1.0"\n', 'dynamic = ["version"]\n')

    result = check_pyproject_version(Project.load(repo))

    assert result.status == "fail"
    assert "dynamic" in result.message


def test_no_project_table_and_a_version_that_is_no_string_fail_with_their_fix(repo):
    edit(repo, 'version = "0.1.0"\n', "version = 1.2\n")
    result = check_pyproject_version(Project.load(repo))
    assert (result.status, result.line) == ("fail", 3)
    assert result.message == "[project].version must be a string, not float"
    assert result.hint == 'quote it: version = "1.2"'

    edit(repo, "[project]\n", "[other]\n")
    result = check_pyproject_version(Project.load(repo))
    assert (result.status, result.message, result.line) == ("fail", "no [project] table", None)
    assert result.hint == 'add [project] with name = "..." and version = "0.1.0"'


def test_invalid_buildlib_table_is_located(repo):
    edit(repo, 'context = "."', 'context = "."\nplatform = ["linux/amd64"]')

    result = check_buildlib_config(Project.load(repo))

    assert (result.id, result.status, result.file, result.line) == (
        "buildlib-config",
        "fail",
        "pyproject.toml",
        24,
    )
    assert "unknown key" in result.message and "platforms" in result.message
    assert result.hint


def test_missing_dockerfile_fails_the_config(repo):
    (repo / "Dockerfile").unlink()

    result = check_buildlib_config(Project.load(repo))

    assert result.status == "fail"
    assert "'Dockerfile' does not exist" in result.message


def test_an_invalid_table_leaves_the_other_checks_buildlibs_defaults(repo):
    """The checks read [tool.buildlib] only as config.py parsed it: when it does not
    validate, buildlib's defaults, never a second reading of the raw table."""
    from buildlib import config as config_module
    from buildlib.checks.suite import run_checks

    edit(repo, "[tool.buildlib]", '[tool.buildlib]\nmain-branch = "trunk"\nunknown-key = 1')
    project = Project.load(repo, environ={})

    assert project.config is None and project.config_error is not None
    assert project.settings == config_module.Config(root=project.root)
    assert (project.settings.main_branch, project.registry) == ("main", "docker.io")
    results = run_checks(project, engine=False)
    assert [r.status for r in results if r.id == "buildlib-config"] == ["fail"]
