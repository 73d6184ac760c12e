"""docs/Docker_Build_Pipeline.md describes the pipeline as it is: the tasks it names exist
with the flags it shows, its diagram is the workflow's job graph, its troubleshooting items
name real doctor checks; and the developer tasks (devtasks.py) all have help text."""

from __future__ import annotations

import inspect
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

# Sibling test module (tests/unit is on sys.path under pytest's default import mode).
from test_workflows import (
    HELPER_EDGES,
    HELPER_JOBS,
    REFERENCE_EDGES,
    REFERENCE_JOBS,
    invoke_tasks,
    jobs,
    rendered_edges,
)

from tests.conftest import invoke
from tests.support.readme import adopting, adopting_tasks_py

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "Docker_Build_Pipeline.md"
README = ROOT / "README.md"
INVOKE_CALL = re.compile(r"(?:^|[\s`(])(?:uv run )?invoke ((?:[a-z][\w-]*)(?: [^`\n|]*)?)")


def text() -> str:
    return DOC.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The body of the ``## title`` section (up to the next ``## ``)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text(), re.M | re.S)
    assert match, f"no section '## {title}' in {DOC.name}"
    return match.group(1)


def code(markdown: str) -> list[str]:
    """The code in a markdown text: fenced blocks (line by line) and inline `spans`."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, re.M | re.S)
    rest = re.sub(r"^```[^\n]*\n.*?^```", "", markdown, flags=re.M | re.S)
    lines = [line.split("#")[0] for block in fenced for line in block.splitlines()]
    return lines + re.findall(r"`([^`\n]+)`", rest)


def invocations() -> list[tuple[str, list[str]]]:
    """(task, flags) of every `invoke TASK ...` the document shows."""
    found = []
    for snippet in code(text()):
        for match in INVOKE_CALL.finditer(snippet):
            words = match.group(1).split()
            flags = [w.split("=")[0] for w in words[1:] if w.startswith("-")]
            found.append((words[0], flags))
    return found


@cache
def task_help(task: str) -> str:
    proc = invoke("--help", task, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


# devtasks.py's tasks, by their Python names (invoke shows smoketest_lb as smoketest-lb)
DEVELOPER_TASKS = {
    "test",
    "lint",
    "format",
    "typecheck",
    "mutation",
    "clean",
    "lock",
    "smoketest",
    "smoketest_lb",
}


def test_the_document_names_tasks() -> None:
    named = {task for task, _ in invocations()}
    expected = {
        "build",
        "build-gpu",
        "build-cpu",
        "build-lb",
        "push",
        "release",
        "doctor",
        *(name.replace("_", "-") for name in DEVELOPER_TASKS),
    }
    assert expected <= named, f"not described: {sorted(expected - named)}"


@pytest.mark.parametrize("task", sorted({task for task, _ in invocations()}))
def test_every_task_named_in_the_docs_exists(task: str) -> None:
    assert task in invoke_tasks(), f"{DOC.name} names `invoke {task}`, which does not exist"


@pytest.mark.parametrize("task", sorted({task for task, flags in invocations() if flags}))
def test_every_flag_shown_in_the_docs_exists(task: str) -> None:
    if task not in invoke_tasks():
        pytest.fail(f"`invoke {task}` does not exist")
    shown = {flag for t, flags in invocations() if t == task for flag in flags}
    helptext = task_help(task)
    missing = [f for f in sorted(shown) if not re.search(rf"(?<![\w-]){re.escape(f)}\b", helptext)]
    assert not missing, f"`invoke {task}` has no {missing}"


def test_no_make_command_is_left_without_its_task() -> None:
    """Every `make X` the document shows stands in a row next to the invoke task that
    replaced it; outside those tables no make command is left."""
    for line in text().splitlines():
        if re.search(r"`make [\w-]+`", line):
            assert re.match(r"^\| `make [\w-]+` \| `uv run invoke [\w-]+", line), line


def test_the_diagram_is_the_workflow_job_graph() -> None:
    (diagram,) = re.findall(r"```mermaid\n(.*?)```", text(), re.S)
    labels = {
        node: re.split(r"<br\s*/?>", label)[0].strip()
        for node, label in re.findall(r'\b(\w+)\["([^"]*)"\]', diagram)
    }
    edges = set()
    for line in diagram.splitlines():
        match = re.match(r'\s*(\w+)(?:\["[^"]*"\])?\s*-->(?:\|[^|]*\|)?\s*(\w+)', line)
        if match:
            edges.add((labels[match.group(1)], labels[match.group(2)]))
    known = REFERENCE_JOBS | HELPER_JOBS
    job_edges = {(a, b) for a, b in edges if a in known and b in known}
    assert job_edges == rendered_edges(jobs()) == REFERENCE_EDGES | HELPER_EDGES
    assert set(labels.values()) - known == {"Pull request or push to main"}


def test_the_stage_sections_name_every_job() -> None:
    stages = section("Pipeline Stages")
    for job in REFERENCE_JOBS:
        assert f"`{job}`" in stages, job


def test_the_documented_tags_are_the_ones_published() -> None:
    if sys.version_info >= (3, 11):  # noqa: UP036 - the tests also run on Python 3.10
        import tomllib
    else:
        import tomli as tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = pyproject["project"]["version"]
    major, minor = version.split(".")[:2]
    stages = section("Pipeline Stages")
    for image in pyproject["tool"]["buildlib"]["images"].values():
        repo = image["repository"]
        assert f"`{repo}:main`" in stages
        for tag in (version, f"{major}.{minor}", major, "latest"):
            assert f"`{repo}:{tag}`" in stages, f"{repo}:{tag}"


def test_the_readme_links_the_pipeline_document() -> None:
    assert "(docs/Docker_Build_Pipeline.md)" in README.read_text(encoding="utf-8")


def test_relative_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text()):
        if target == "doctor.md" and "doctor" not in invoke_tasks():
            continue  # written with the doctor task; checked once `invoke doctor` exists
        assert (DOC.parent / target).exists(), target


def test_the_document_names_no_host() -> None:
    assert not re.search(r"https?://", text())
    assert not re.search(r"\b[\w-]+\.(io|com|org|dev|net)\b", text())


# --- troubleshooting -> doctor checks ---------------------------------------------------


def troubleshooting_rows() -> list[tuple[str, str]]:
    """(item, doctor-check cell) of every row of the troubleshooting tables."""
    rows = []
    for line in section("Troubleshooting").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            rows.append((cells[1], cells[2]))
    return rows


def doctor_check_ids() -> set[str]:
    """The ids of every check ``invoke doctor`` runs (its catalog)."""
    # imported here, not skipped on failure: a catalogue that fails to import is a bug
    from buildlib.checks.suite import catalog

    return {check.id for check in catalog()}


def test_every_troubleshooting_item_names_its_doctor_check() -> None:
    rows = troubleshooting_rows()
    assert len(rows) >= 12, "the three troubleshooting lists of the reference"
    for item, cell in rows:
        named = re.findall(r"`([a-z0-9-]+)`", cell)
        assert named or cell.startswith(("none: ", "all: ")), f"{item!r} names no doctor check"


def test_the_doctor_checks_named_exist() -> None:
    cells = [cell for _, cell in troubleshooting_rows()]
    # elsewhere: "... checks them (`credentials`, `registry-auth`)."
    cells += re.findall(r"\(((?:`[a-z0-9-]+`(?:, )?)+)\)", text())
    named = {cid for cell in cells for cid in re.findall(r"`([a-z0-9-]+)`", cell)}
    unknown = named - doctor_check_ids()
    assert not unknown, f"no such doctor check: {sorted(unknown)}"
    assert "TODO" not in text()


# --- the developer tasks ------------------------------------------------------------------


def developer_tasks() -> list[Any]:
    import devtasks

    return list(devtasks.TASKS)


def test_developer_tasks_are_the_makefile_conveniences() -> None:
    assert {t.name for t in developer_tasks()} == DEVELOPER_TASKS


@pytest.mark.parametrize("task", developer_tasks(), ids=lambda t: t.name)
def test_every_developer_task_has_help_for_itself_and_each_flag(task: Any) -> None:
    body = task.body
    assert (body.__doc__ or "").strip(), f"{task.name} has no docstring"
    flags = [p for p in inspect.signature(body).parameters if p != "c"]
    helped = {k.replace("-", "_") for k in task.help}
    assert set(flags) == helped, f"{task.name}: help for {sorted(helped)}, flags {flags}"


def test_the_readme_documents_every_exit_code() -> None:
    import buildlib.errors as errors

    readme = README.read_text(encoding="utf-8")
    documented = {
        int(code)
        for cell in re.findall(r"^\| ([\d, ]+) \|", readme, re.M)
        for code in cell.split(",")
    }
    codes = {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.BuildlibError)
    }
    # user_errors(): SIGHUP, SIGINT, a closed pipe, SIGTERM
    assert codes | {0, 129, 130, 141, 143} <= documented


def test_the_readme_shows_shell_completion_for_both_commands() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "invoke --print-completion-script bash" in readme
    assert "buildlib --print-completion-script bash" in readme


# --- adopting buildlib ------------------------------------------------------------------

INSTALL_SOURCE = "git+https://github.com/runpod-workers/worker-tetra#subdirectory=buildlib"


def test_adopting_takes_one_install_line() -> None:
    section = adopting()
    assert f'uv add --dev "buildlib @ {INSTALL_SOURCE}"' in section
    assert f'uvx --from "{INSTALL_SOURCE}" buildlib' in section


def test_adopting_tasks_py_is_at_most_five_lines_of_code() -> None:
    code = [
        line
        for line in adopting_tasks_py().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert len(code) <= 5, code
    assert "collection(" in adopting_tasks_py()


def test_adopting_table_is_a_valid_configuration(tmp_path: Path) -> None:
    from buildlib import config as config_module

    (block,) = re.findall(r"```toml\n(.*?)```", adopting(), re.S)
    (tmp_path / "pyproject.toml").write_text(block, encoding="utf-8")
    for name in re.findall(r'^dockerfile = "([^"]+)"', block, re.M):
        (tmp_path / name).write_text("FROM scratch\nARG PYTHON SLIM\n", encoding="utf-8")
    config = config_module.load(tmp_path)
    assert set(config.default_group) <= {image.name for image in config.images}
