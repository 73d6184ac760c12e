"""workflows: check-jsonschema's vendored GitHub workflow schema, offline."""

from __future__ import annotations

import pytest

from buildlib.checks import workflows as workflows_module
from buildlib.checks.project import Project
from buildlib.checks.workflows import check_workflows, locate
from tests.support.fixture_repo import make_repo, write

pytestmark = pytest.mark.usefixtures("isolated")

needs_tool = pytest.mark.skipif(
    workflows_module.find_tool() is None, reason="check-jsonschema is not installed (uv sync)"
)


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path, with_git=False)


@needs_tool
def test_valid_workflow_passes_then_is_remembered(repo, monkeypatch):
    first = check_workflows(Project.load(repo))
    assert [(r.id, r.status) for r in first] == [("workflows", "ok")]
    assert "unchanged" not in first[0].message

    second = check_workflows(Project.load(repo))
    assert second[0].status == "ok" and "unchanged since it last ran" in second[0].message

    monkeypatch.setenv("BUILDLIB_NO_CACHE", "1")
    third = check_workflows(Project.load(repo, environ={"BUILDLIB_NO_CACHE": "1"}))
    assert "unchanged" not in third[0].message


@needs_tool
def test_schema_error_is_located(repo):
    path = repo / ".github/workflows/ci.yml"
    step = "      - run: echo test\n"
    path.write_text(path.read_text().replace(step, step + "        timeout-minutes: soon\n"))

    [result] = check_workflows(Project.load(repo))

    assert (result.id, result.status) == ("workflows", "fail")
    assert (result.file, result.line) == (".github/workflows/ci.yml", 11)
    assert "'soon' is not of type 'number'" in result.message
    assert "check-jsonschema" in result.hint


@needs_tool
def test_a_changed_file_is_validated_again(repo):
    assert check_workflows(Project.load(repo))[0].status == "ok"
    path = repo / ".github/workflows/ci.yml"
    path.write_text(path.read_text().replace("    runs-on:", "    runs_on:"))

    [result] = check_workflows(Project.load(repo))

    assert result.status == "fail" and result.line == 6  # jobs.test lacks runs-on


@needs_tool
def test_yaml_syntax_error(repo):
    write(repo / ".github/workflows/broken.yml", "on: push\njobs:\n  a: [\n")

    results = check_workflows(Project.load(repo))

    [broken] = [r for r in results if r.file == ".github/workflows/broken.yml"]
    assert broken.status == "fail" and "not valid YAML" in broken.message


def test_no_workflows_is_skipped(tmp_path):
    repo = make_repo(tmp_path, with_git=False, with_workflow=False)
    [result] = check_workflows(Project.load(repo))
    assert result.status == "skipped" and "no workflow files" in result.message


def test_missing_tool_is_skipped_with_a_reason(repo, monkeypatch):
    monkeypatch.setattr(workflows_module, "find_tool", lambda: None)
    [result] = check_workflows(Project.load(repo))
    assert result.status == "skipped"
    assert "check-jsonschema is not installed" in result.message
    assert result.hint and "uv sync" in result.hint


def test_locate(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text(
        "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo\n"
        "        timeout-minutes: abc\n  b:\n    runs-on: y\n"
    )
    assert locate(path, "$.jobs.a") == 3
    assert locate(path, "$.jobs.a.steps[1]['timeout-minutes']") == 8
    assert locate(path, "$.jobs.a.steps[0]") == 6
    assert locate(path, "$.jobs.b.runs-on") == 10
    assert locate(path, "$") is None
