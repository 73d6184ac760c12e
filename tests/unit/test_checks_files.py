"""line-endings: which files, the first CRLF or lone CR of each, and --fix."""

from __future__ import annotations

import os
import stat

import pytest

from buildlib.checks.files import (
    check_line_endings,
    first_bad_line_ending,
    line_ending_candidates,
    line_ending_results,
)
from buildlib.checks.project import Project
from buildlib.errors import placed
from tests.support.fixture_repo import make_repo, write

pytestmark = pytest.mark.usefixtures("isolated")


def failures(repo):
    return [r for r in check_line_endings(Project.load(repo)) if r.status == "fail"]


def test_clean_repository_is_all_lf(repo):
    results = check_line_endings(Project.load(repo))

    assert [(r.id, r.status) for r in results] == [("line-endings", "ok")]
    assert "3 file(s) checked" in results[0].message


def test_crlf_dockerfile_reports_its_first_crlf_line(repo):
    write(repo / "Dockerfile", b"FROM scratch\nARG A=1\r\nCOPY . /\r\n")

    [result] = failures(repo)

    assert (result.id, result.file, result.line) == ("line-endings", "Dockerfile", 2)
    # the place and its line, each said once (doctor's line, and a build's error)
    assert placed(result.where(), result.message) == "Dockerfile:2 has CRLF line endings"
    assert str(result.error()).startswith("Dockerfile:2 has CRLF line endings (fix: ")
    assert result.hint.startswith("invoke doctor --fix")
    assert "Dockerfile* text eol=lf" in result.hint


def test_a_file_gitattributes_already_keeps_lf_is_not_told_to_add_it(repo):
    # the attribute is there (the CRLF came from an editor): "add it" would send the user to
    # a line that already exists
    write(repo / ".gitattributes", b"Dockerfile* text eol=lf\n")
    write(repo / "Dockerfile", b"FROM scratch\r\n")

    [result] = failures(repo)

    assert result.hint == "invoke doctor --fix (rewrites them to LF, nothing else)"


def test_lone_cr_is_reported_as_such(repo):
    write(repo / "Dockerfile", b"FROM scratch\nARG A=1\nCOPY . /\rRUN true\n")

    [result] = failures(repo)

    assert (result.file, result.line) == ("Dockerfile", 3)
    assert "lone CR" in result.message


def test_one_result_per_bad_file(repo):
    write(repo / "entrypoint.sh", b'#!/bin/sh\r\nexec "$@"\r\n')
    write(repo / ".github/workflows/ci.yml", b"name: CI\r\n")

    found = {(r.file, r.line) for r in failures(repo)}

    assert found == {("entrypoint.sh", 1), (".github/workflows/ci.yml", 1)}


def test_which_files_are_checked(repo):
    write(repo / "Dockerfile-cpu", "FROM scratch\n")
    write(repo / "docker/app.dockerfile", "FROM scratch\n")
    write(repo / "scripts/run", "#!/usr/bin/env bash\necho\n")
    write(repo / "tools/build.sh", "echo\n")
    write(repo / "bin/start-worker", "echo\n")  # no shebang, but the Dockerfile runs it
    write(repo / "Dockerfile", 'FROM scratch\nCMD ["/usr/local/bin/start-worker"]\n')
    write(repo / ".github/actions/setup/action.yml", "name: setup\n")
    write(repo / "docs/notes.md", "notes\r\n")  # not executed: never checked
    write(repo / "app/main.py", "print()\r\n")
    write(repo / "config/settings.ini", "[x]\r\n")

    candidates = line_ending_candidates(Project.load(repo))

    assert candidates == sorted(
        [
            ".github/actions/setup/action.yml",
            ".github/workflows/ci.yml",
            "Dockerfile",
            "Dockerfile-cpu",
            "bin/start-worker",
            "docker/app.dockerfile",
            "entrypoint.sh",
            "scripts/run",
            "tools/build.sh",
        ]
    )
    assert failures(repo) == []


def test_configured_globs_are_checked(repo):
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'default-group = ["app"]',
            'default-group = ["app"]\nline-ending-globs = ["config/*.ini", "**/*.conf"]',
        )
    )
    write(repo / "config/settings.ini", "[x]\r\n")
    write(repo / "deep/nested/app.conf", "x\r\n")
    write(repo / "other/settings.ini", "[x]\r\n")  # config/*.ini is anchored at the root

    assert {r.file for r in failures(repo)} == {"config/settings.ini", "deep/nested/app.conf"}


def test_ignored_files_are_not_checked(repo):
    write(repo / ".gitignore", ".venv/\nbuild-output/\n")
    write(repo / "build-output/run.sh", "echo\r\n")
    write(repo / ".venv/bin/activate.sh", "x\r\n")

    assert failures(repo) == []


def test_without_git_the_tree_is_walked(tmp_path):
    repo = make_repo(tmp_path, with_git=False)
    write(repo / ".venv/bin/run.sh", "x\r\n")  # a virtualenv: skipped
    write(repo / "scripts/go.sh", "x\r\n")

    assert {r.file for r in failures(repo)} == {"scripts/go.sh"}


def test_fix_rewrites_only_bad_files_and_keeps_their_mode(repo):
    write(repo / "Dockerfile", b"FROM scratch\r\nCOPY . /\r\n")
    write(repo / "entrypoint.sh", b'#!/bin/sh\rexec "$@"\r\n')
    os.chmod(repo / "entrypoint.sh", 0o755)
    untouched = {
        p: p.read_bytes()
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.parts and p.name not in ("Dockerfile", "entrypoint.sh")
    }
    mtimes = {p: p.stat().st_mtime_ns for p in untouched}

    results = check_line_endings(Project.load(repo), fix=True)

    assert {(r.status, r.file) for r in results} == {("ok", "Dockerfile"), ("ok", "entrypoint.sh")}
    assert all(r.message.startswith("rewrote ") for r in results)
    said = {r.file: placed(r.where(), r.message) for r in results}
    crlf = "rewrote Dockerfile to LF (it had CRLF line endings, first at line 1)"
    assert said["Dockerfile"] == crlf
    assert all(text.count(file) == 1 and text.count("1") == 1 for file, text in said.items())
    assert (repo / "Dockerfile").read_bytes() == b"FROM scratch\nCOPY . /\n"
    assert (repo / "entrypoint.sh").read_bytes() == b'#!/bin/sh\nexec "$@"\n'
    assert stat.S_IMODE((repo / "entrypoint.sh").stat().st_mode) == 0o755
    assert {p: p.read_bytes() for p in untouched} == untouched
    assert {p: p.stat().st_mtime_ns for p in untouched} == mtimes
    assert [r.status for r in check_line_endings(Project.load(repo))] == ["ok"]


def test_first_bad_line_ending(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"a\nb\nc\r\nd\r")
    assert first_bad_line_ending(path) == (3, "CRLF")
    path.write_bytes(b"a\rb\r\n")
    assert first_bad_line_ending(path) == (1, "CR")
    path.write_bytes(b"a\nb\n")
    assert first_bad_line_ending(path) is None


def test_results_for_explicit_files_skip_missing_ones(tmp_path):
    write(tmp_path / "Dockerfile", "FROM scratch\r\n")

    results = line_ending_results(tmp_path, ["Dockerfile", "gone"])

    assert [(r.status, r.file, r.line) for r in results] == [("fail", "Dockerfile", 1)]


BOM = b"\xef\xbb\xbf"


def test_a_utf8_bom_is_reported_as_a_bom(repo):
    write(repo / "entrypoint.sh", BOM + b'#!/bin/sh\nexec "$@"\n')
    write(repo / "tools/run", BOM + b"#!/bin/sh\ntrue\n")  # found by its shebang

    results = {r.file: r for r in failures(repo)}

    assert set(results) == {"entrypoint.sh", "tools/run"}
    result = results["entrypoint.sh"]
    assert result.line == 1
    assert result.message == "entrypoint.sh has a UTF-8 byte order mark (BOM) at its start"
    assert "CR" not in result.message
    assert result.hint.startswith("invoke doctor --fix (removes the BOM")


def test_a_bom_with_crlf_is_one_result_naming_both(repo):
    write(repo / "entrypoint.sh", BOM + b"#!/bin/sh\r\ntrue\r\n")

    [result] = failures(repo)

    assert placed(result.where(), result.message) == (
        "entrypoint.sh:1 has a UTF-8 byte order mark (BOM) at its start and CRLF line endings"
    )


def test_a_bom_in_a_dockerfile_only_warns(repo):
    write(repo / "Dockerfile", BOM + b"FROM scratch\n")

    [result] = [r for r in check_line_endings(Project.load(repo)) if r.file == "Dockerfile"]

    assert result.status == "warn"
    assert "byte order mark (BOM)" in result.message


def test_fix_removes_a_bom(repo):
    write(repo / "entrypoint.sh", BOM + b"#!/bin/sh\r\ntrue\r\n")

    [result] = check_line_endings(Project.load(repo), fix=True)

    assert (result.status, result.file) == ("ok", "entrypoint.sh")
    assert (repo / "entrypoint.sh").read_bytes() == b"#!/bin/sh\ntrue\n"
    assert [r.status for r in check_line_endings(Project.load(repo))] == ["ok"]
