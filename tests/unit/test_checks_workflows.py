"""workflows: check-jsonschema's vendored GitHub workflow schema, and actionlint, offline."""

from __future__ import annotations

import json

import pytest

from buildlib.checks import CheckResult
from buildlib.checks import workflows as workflows_module
from buildlib.checks.project import Project
from buildlib.checks.workflows import check_actionlint, check_workflows, one_verdict
from buildlib.doctor import run_doctor
from buildlib.runner import Result, Runner, find_program
from tests.conftest import in_ci, unavailable
from tests.support.fixture_repo import make_repo, write

pytestmark = pytest.mark.usefixtures("isolated")

# check-jsonschema is a dependency of buildlib: missing, these skip on a laptop and fail
# under CI=true (the check would silently stop validating).
needs_tool = pytest.mark.skipif(
    find_program(workflows_module.TOOL) is None and not in_ci(),
    reason="check-jsonschema is not installed (uv sync)",
)


# actionlint is one of buildlib's dependencies (on Linux and Windows): a missing one is a
# skip on a developer's machine elsewhere, and a failure under CI=true.
@pytest.fixture
def actionlint() -> None:
    if find_program("actionlint") is None:
        unavailable("actionlint is not installed (uv sync installs it with buildlib)")


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
def test_schema_error_names_the_file_and_actionlint_its_line(repo, actionlint):
    path = repo / ".github/workflows/ci.yml"
    step = "      - run: echo test\n"
    path.write_text(path.read_text().replace(step, step + "        timeout-minutes: soon\n"))
    project = Project.load(repo)

    [result] = check_workflows(project)

    assert (result.id, result.status) == ("workflows", "fail")
    assert result.file == ".github/workflows/ci.yml"
    assert "'soon' is not of type 'number'" in result.message
    assert "check-jsonschema" in result.hint
    # the schema's finding has no line: actionlint, which runs beside it, locates it
    assert (".github/workflows/ci.yml", 11) in {(r.file, r.line) for r in check_actionlint(project)}


@needs_tool
def test_a_changed_file_is_validated_again(repo, actionlint):
    assert check_workflows(Project.load(repo))[0].status == "ok"
    path = repo / ".github/workflows/ci.yml"
    path.write_text(path.read_text().replace("    runs-on:", "    runs_on:"))

    [result] = check_workflows(Project.load(repo))

    assert result.status == "fail" and "'runs-on' is a required property" in result.message
    lint = " ".join(r.message for r in check_actionlint(Project.load(repo)))
    assert '"runs-on" section is missing' in lint


@needs_tool
def test_yaml_syntax_error(repo, actionlint):
    write(repo / ".github/workflows/broken.yml", "on: push\njobs:\n  a: [\n")

    results = check_workflows(Project.load(repo))

    [broken] = [r for r in results if r.file == ".github/workflows/broken.yml"]
    assert broken.status == "fail" and "not valid YAML" in broken.message
    lint = [r for r in check_actionlint(Project.load(repo)) if r.file == broken.file]
    assert lint and lint[0].line and "could not parse as YAML" in lint[0].message
    # the pinned-actions check reads what it can parse and leaves the broken file to these
    pinned = workflows_module.check_pinned_actions(Project.load(repo))
    assert not [r for r in pinned if r.file == broken.file]


def test_no_workflows_is_skipped(tmp_path):
    repo = make_repo(tmp_path, with_git=False, with_workflow=False)
    [result] = check_workflows(Project.load(repo))
    assert result.status == "skipped" and "no workflow files" in result.message


def test_missing_tool_is_skipped_with_a_reason(repo, monkeypatch):
    monkeypatch.setattr(workflows_module, "find_program", lambda name: None)
    [result] = check_workflows(Project.load(repo))
    assert result.status == "skipped"
    assert "check-jsonschema is not installed" in result.message
    # check-jsonschema is buildlib's dependency, not of the adopter's dev group
    assert result.hint and "pip install check-jsonschema" in result.hint
    assert "dev group" not in result.hint


# --- actions beside secrets are pinned to a commit ------------------------------------------

SHA = "fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09"
SECRET_WORKFLOW = f"""\
name: CI
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - run: echo no secrets here
  publish:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@{SHA} # v5.1.0
      - uses: ./.github/actions/setup
      - uses: docker/login-action@v3
      - run: invoke push
        env:
          TOKEN: ${{{{ secrets.DOCKERHUB_TOKEN }}}}
  reuse:
    uses: acme/workflows/.github/workflows/release.yml@main
    secrets: inherit
"""
SETUP_ACTION = """\
name: setup
description: setup
runs:
  using: composite
  steps:
    - run: echo hi
      shell: bash
    - uses: astral-sh/setup-uv@v7
"""


def test_unpinned_actions_in_jobs_with_secrets_are_warned_with_file_and_line(repo):
    write(repo / ".github/workflows/ci.yml", SECRET_WORKFLOW)
    write(repo / ".github/actions/setup/action.yml", SETUP_ACTION)

    results = workflows_module.check_pinned_actions(Project.load(repo))

    found = {(r.file, r.line, r.status) for r in results}
    assert found == {
        (".github/workflows/ci.yml", 14, "warn"),  # docker/login-action@v3 in publish
        (".github/actions/setup/action.yml", 8, "warn"),  # setup-uv@v7, via publish
        (".github/workflows/ci.yml", 19, "warn"),  # a reusable workflow @main, inherit
    }
    login = next(r for r in results if r.line == 14)
    assert login.id == "workflows"
    assert "docker/login-action@v3" in login.message and "publish" in login.message
    assert "ci.yml:14" in login.message
    assert "commit" in (login.hint or "")
    # the `test` job gets no secret: its unpinned checkout is zizmor's business, not a warning
    assert not any("test," in r.message for r in results)


def test_pinned_actions_and_jobs_without_secrets_give_no_warning(repo):
    write(
        repo / ".github/workflows/ci.yml",
        SECRET_WORKFLOW.split("  reuse:")[0].replace(
            "docker/login-action@v3", f"docker/login-action@{SHA}"
        ),
    )
    write(repo / ".github/actions/setup/action.yml", SETUP_ACTION.replace("@v7", f"@{SHA}"))
    assert workflows_module.check_pinned_actions(Project.load(repo)) == []


def test_this_repository_pins_every_action_beside_its_secrets():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert workflows_module.check_pinned_actions(Project.load(root)) == []


# --- actionlint ---------------------------------------------------------------------------


TYPOS = """\
name: CI
on: push
jobs:
  docker-test:
    runs-on: ubuntu-latest
    outputs:
      tag_name: ${{ steps.tag.outputs.tag }}
    steps:
      - id: tag
        run: echo "tag=x" >> "$GITHUB_OUTPUT"
  publish:
    needs: [docker-tset]
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.docker-test.outputs.tag_nmae }}"
  report:
    needs: docker-test
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ needs.docker-test.outputs.tag_nmae }}"
      - run: echo "${{ steps.nope.outputs.x }}"
"""


def test_actionlint_passes_a_valid_workflow(repo, actionlint):
    [result] = check_actionlint(Project.load(repo))
    assert (result.status, result.message) == ("ok", "actionlint finds nothing")


def test_actionlint_names_undefined_needs_outputs_and_expressions(repo, actionlint):
    write(repo / ".github/workflows/release.yml", TYPOS)

    results = check_actionlint(Project.load(repo))

    where = [(r.status, r.file, r.line) for r in results]
    assert ("fail", ".github/workflows/release.yml", 11) in where  # needs: [docker-tset]
    assert ("fail", ".github/workflows/release.yml", 20) in where  # outputs.tag_nmae
    assert ("fail", ".github/workflows/release.yml", 21) in where  # steps.nope
    text = " ".join(r.message for r in results)
    assert "docker-tset" in text and "tag_nmae" in text and "nope" in text
    assert all(r.message.startswith(f"{r.file}:{r.line}: ") for r in results)


def test_actionlint_findings_become_located_failures(repo, monkeypatch):
    found = [
        {
            "message": 'job "publish" needs job "docker-tset" which does not exist',
            "filepath": ".github/workflows/ci.yml",
            "line": 11,
            "column": 3,
            "kind": "job-needs",
        }
    ]

    def fake_run(self, argv, **kwargs):
        assert "-format" in argv and "-shellcheck=" in argv
        return Result(argv, 1, json.dumps(found), "")

    project = Project.load(repo)
    monkeypatch.setattr(workflows_module, "find_program", lambda name: "/bin/actionlint")
    monkeypatch.setattr(Runner, "run", fake_run)

    [result] = check_actionlint(project)

    assert (result.status, result.file, result.line) == ("fail", ".github/workflows/ci.yml", 11)
    assert result.message == (
        '.github/workflows/ci.yml:11: job "publish" needs job "docker-tset" which does not '
        "exist [job-needs]"
    )


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Result([], 2, "", "flag provided but not defined: -pyflakes\n"), "flag provided but"),
        (Result([], 1, "not json", ""), "not json"),
        (Result([], 3, "", ""), "exit 3"),
    ],
)
def test_an_actionlint_that_cannot_lint_says_why(repo, monkeypatch, answer, reason):
    monkeypatch.setattr(workflows_module, "find_program", lambda name: "/bin/actionlint")
    monkeypatch.setattr(Runner, "run", lambda self, argv, **kwargs: answer)
    [result] = check_actionlint(Project.load(repo))
    assert result.status == "fail"
    assert result.message.startswith(f"actionlint could not lint the workflows: {reason}")
    assert result.hint == "actionlint .github/workflows/ci.yml"


@pytest.mark.parametrize(("code", "status"), [(1, "fail"), (0, "ok")])
def test_a_schema_tool_answer_that_is_not_json_is_said_as_it_is(repo, monkeypatch, code, status):
    monkeypatch.setattr(workflows_module, "find_program", lambda name: "/bin/check-jsonschema")
    monkeypatch.setattr(Runner, "run", lambda self, argv, **kwargs: Result([], code, "", "oops\n"))
    [result] = check_workflows(Project.load(repo, environ={"BUILDLIB_NO_CACHE": "1"}))
    assert (result.status, result.message) == (status, "check-jsonschema said: oops")
    assert result.hint is not None and result.hint.endswith(".github/workflows/ci.yml")


def test_no_workflows_leave_actionlint_nothing_to_say(tmp_path):
    repo = make_repo(tmp_path, with_git=False, with_workflow=False)
    assert check_actionlint(Project.load(repo)) == []


def test_without_actionlint_it_is_skipped_with_the_reason(repo, monkeypatch):
    monkeypatch.setattr(workflows_module, "find_program", lambda name: None)
    [result] = check_actionlint(Project.load(repo))
    assert result.status == "skipped" and "actionlint is not installed" in result.message


def test_passes_and_skips_join_into_one_line_and_findings_stand_alone():
    schema = [CheckResult("workflows", "ok", "1 workflow file(s) valid")]
    skipped = CheckResult("workflows", "skipped", "actionlint is not installed", hint="install")
    [joined] = one_verdict(schema, [skipped], [])
    assert (joined.status, joined.message, joined.hint) == (
        "ok",
        "1 workflow file(s) valid; actionlint is not installed",
        "install",
    )
    finding = CheckResult("workflows", "fail", "ci.yml:3: x", file="ci.yml", line=3)
    warning = CheckResult("workflows", "warn", "ci.yml:5: y", file="ci.yml", line=5)
    assert one_verdict(schema, [finding], [warning]) == [finding, warning]
    assert one_verdict([skipped], [finding], []) == [finding]


@needs_tool
def test_doctor_never_reports_workflows_both_ok_and_failed(repo, capsys):
    """A schema-valid workflow whose job with secrets uses an unpinned action: the report
    gives its findings (actionlint may add its own), never an ``ok`` beside them."""
    write(repo / ".github/workflows/ci.yml", SECRET_WORKFLOW.split("  reuse:")[0])
    write(repo / ".github/actions/setup/action.yml", SETUP_ACTION)

    run_doctor(repo, engine=False)

    lines = [ln.split() for ln in capsys.readouterr().out.splitlines()]
    labels = {words[0] for words in lines if len(words) > 1 and words[1] == "workflows"}
    assert "warn" in labels and not labels & {"ok", "skip"}


@needs_tool
def test_doctor_reports_a_yaml_syntax_error_once_with_its_line(repo, actionlint, capsys):
    # check-jsonschema cannot parse the file either: its "not valid YAML" would say it again
    write(repo / ".github/workflows/broken.yml", "on: push\njobs:\n  a: [\n")

    run_doctor(repo, engine=False)

    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "broken.yml" in line and "fix:" not in line]
    assert len(said) == 1, said
    assert ".github/workflows/broken.yml:" in said[0] and "could not parse as YAML" in said[0]


def test_a_file_actionlint_cannot_parse_is_its_finding_alone():
    schema = [CheckResult("workflows", "fail", "b.yml is not valid YAML", file="b.yml")]
    lint = CheckResult(
        "workflows", "fail", "b.yml:3: could not parse as YAML: x [syntax-check]", "b.yml", 3
    )
    assert one_verdict(schema, [lint], []) == [lint]
    # without actionlint's parse, the schema's is the only word on it
    other = CheckResult("workflows", "fail", "c.yml:1: y [expression]", "c.yml", 1)
    assert one_verdict(schema, [other], []) == [*schema, other]
