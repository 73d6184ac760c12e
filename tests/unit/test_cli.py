"""The ``buildlib`` command (buildlib.cli): Invoke's Program serving buildlib's tasks in the
nearest repository with a [tool.buildlib] table, with no tasks.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from buildlib import cli, console
from tests.support.config_repo import write_repo
from tests.support.gone_reader import run_with_reader_gone


@pytest.fixture(autouse=True)
def _program_name_restored():
    previous = console.set_program("invoke")
    yield
    console.set_program(previous)


def run(
    argv: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("NO_COLOR", "1")
    with pytest.raises(SystemExit) as exited:
        cli.main(["buildlib", *argv])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_find_project_walks_up_to_the_buildlib_table(tmp_path: Path) -> None:
    write_repo(tmp_path)
    nested = tmp_path / "src" / "deep"
    nested.mkdir(parents=True)
    (tmp_path / "src" / "pyproject.toml").write_text('[project]\nname = "inner"\n')
    assert cli.find_project(nested) == tmp_path
    assert cli.find_project(tmp_path) == tmp_path


def test_find_project_takes_a_broken_file_that_names_the_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.buildlib]\nregistry = \n")
    assert cli.find_project(tmp_path) == tmp_path


def test_find_project_without_a_table_is_none(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert cli.find_project(tmp_path) is None


def test_no_project_is_one_line_and_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    code, out, err = run(["--list"], tmp_path, monkeypatch, capsys)
    assert code == 2
    assert "Traceback" not in out + err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: no pyproject.toml with a [tool.buildlib] table in ")
    assert "fix:" in line


def test_version_is_the_distribution_version(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "package_version", lambda: "9.8.7")
    code, out, _ = run(["--version"], tmp_path, monkeypatch, capsys)
    assert code == 0
    assert out.strip() == "buildlib 9.8.7"


def test_package_version_is_the_one_of_buildlib_pyproject() -> None:
    text = (Path(__file__).resolve().parents[2] / "buildlib" / "pyproject.toml").read_text()
    version = re.search(r'(?m)^version = "([^"]+)"', text)
    assert version and cli.package_version() == version.group(1)


def test_list_shows_the_project_tasks_from_a_subdirectory(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    write_repo(tmp_path)
    (tmp_path / "sub").mkdir()
    code, out, _ = run(["--list"], tmp_path / "sub", monkeypatch, capsys)
    assert code == 0
    names = set(re.findall(r"^  ([\w-]+)", out, re.M))
    assert {"build", "build-gpu", "build-cpu", "push", "release", "doctor"} <= names


def test_an_invalid_table_still_lists_its_image_tasks_and_running_one_says_why(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0.0"\n\n[tool.buildlib]\nregisty = "ghcr.io"\n'
        '\n[tool.buildlib.images.api]\nrepository = "org/api"\ndockerfile = "Dockerfile"\n'
    )
    code, out, _ = run(["--list"], tmp_path, monkeypatch, capsys)
    assert code == 0
    assert {"build", "build-api", "doctor"} <= set(re.findall(r"^  ([\w-]+)", out, re.M))
    code, out, err = run(["build-api", "--dry-run"], tmp_path, monkeypatch, capsys)
    assert code == 2
    assert "Traceback" not in out + err
    assert "registy" in err


def test_advice_names_the_buildlib_command(tmp_path: Path, monkeypatch, capsys) -> None:
    write_repo(tmp_path)
    code, _, err = run(["doctor", "--for", "nothing"], tmp_path, monkeypatch, capsys)
    assert code == 2
    assert "buildlib doctor --for push" in err
    assert "invoke" not in err


def test_doctor_json_advice_names_the_buildlib_command() -> None:
    from buildlib.checks import CheckResult
    from buildlib.doctor import as_document

    result = CheckResult("files", "fail", "CRLF in x", hint="invoke doctor --fix (rewrites)")
    console.set_program("buildlib")
    document = as_document([result])
    assert json.dumps(document).count("buildlib doctor --fix") == 1
    console.set_program("invoke")
    assert as_document([result])["checks"][0]["hint"] == "invoke doctor --fix (rewrites)"  # type: ignore[index]


def test_as_typed_rewrites_commands_only() -> None:
    console.set_program("buildlib")
    assert console.as_typed("run `invoke build-lb` or invoke --list") == (
        "run `buildlib build-lb` or buildlib --list"
    )
    assert console.as_typed("Invoke's own flags; invoke.") == "Invoke's own flags; invoke."


@pytest.mark.parametrize("buffered", [False, True])
@pytest.mark.parametrize("argv", [["--help", "build"], ["--list"], ["--version"]])
def test_a_reader_that_went_away_ends_the_command_with_141_and_no_traceback(
    tmp_path: Path, argv: list[str], buffered: bool
) -> None:
    write_repo(tmp_path)
    code, err = run_with_reader_gone(
        [sys.executable, "-c", "from buildlib.cli import main; main()", *argv],
        tmp_path,
        buffered=buffered,
    )
    assert "Traceback" not in err
    assert code == 141


def test_an_unknown_flag_or_task_exits_2_with_the_nearest_name(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    write_repo(tmp_path)
    code, out, err = run(["build", "--tga", "x"], tmp_path, monkeypatch, capsys)
    assert code == 2
    assert "Traceback" not in out + err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: No idea what '--tga' is!")
    assert "did you mean --tag?" in line and "buildlib --help build" in line
    code, _, err = run(["biuld"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "did you mean build?" in err
