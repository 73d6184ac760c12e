"""doctor end to end: one fixture repository per fault, the JSON shape, exit status,
GitHub annotations, colours, --fix, --root, and no git history."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from buildlib.checks.suite import catalog
from buildlib.doctor import collect, main, render, run_doctor
from buildlib.errors import UsageError
from tests.conftest import invoke
from tests.support.fixture_repo import commit, git, isolate, make_repo, set_version, write

REPO = Path(__file__).resolve().parents[2]
KEYS = ["id", "status", "message", "file", "line", "hint"]
ALL_IDS = [check.id for check in catalog()]


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("doctor-cache")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path, shared_cache):
    isolate(monkeypatch, tmp_path)
    # the fixture's workflow is the same in every test: validate it once per session
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


def doctor_json(repo, capsys, **options):
    options.setdefault("engine", False)
    code = run_doctor(repo, as_json=True, **options)
    out = capsys.readouterr().out
    return code, json.loads(out)


def by_id(document, check_id):
    return [c for c in document["checks"] if c["id"] == check_id]


def test_clean_repository_passes_every_check(repo, capsys):
    code, document = doctor_json(repo, capsys)

    assert code == 0 and document["ok"] is True
    assert [c["id"] for c in document["checks"]] == ALL_IDS
    not_ok = {c["id"]: c["status"] for c in document["checks"] if c["status"] != "ok"}
    assert not_ok == {
        "docker-engine": "skipped",
        "docker-builder": "skipped",
        "attestations": "skipped",
        "annotations": "skipped",
        "docker-disk": "skipped",
        "credentials": "skipped",
        "registry-auth": "skipped",
    }


def test_json_shape_is_stable(repo, capsys):
    write(repo / "Dockerfile", "FROM scratch\r\n")
    code, document = doctor_json(repo, capsys)

    assert code == 1
    assert list(document) == ["ok", "checks"] and document["ok"] is False
    for check in document["checks"]:
        assert list(check) == KEYS
        assert check["status"] in ("ok", "warn", "fail", "skipped")
        assert isinstance(check["message"], str) and "\n" not in check["message"]
        assert check["file"] is None or isinstance(check["file"], str)
        assert check["line"] is None or isinstance(check["line"], int)
        assert check["hint"] is None or isinstance(check["hint"], str)
    assert by_id(document, "secret-build-args")[0]["file"] is None
    assert by_id(document, "line-endings")[0]["line"] == 1


def fault_crlf(repo):
    write(repo / "Dockerfile", "FROM scratch\nARG APP_VERSION=dev\r\nCOPY . /\r\n")


def fault_lone_cr(repo):
    write(repo / "Dockerfile", "FROM scratch\rARG APP_VERSION=dev\n")


def fault_broken_toml(repo):
    path = repo / "pyproject.toml"
    path.write_text(path.read_text().replace("[tool.uv]", "[tool.uv"))


def fault_invalid_version(repo):
    set_version(repo, "one.two")


def fault_stale_lock(repo):
    path = repo / "pyproject.toml"
    path.write_text(
        path.read_text().replace('"cloudpickle>=3.0",', '"cloudpickle>=3.0",\n    "attrs>=23",')
    )


def fault_missing_lock(repo):
    (repo / "uv.lock").unlink()


def fault_non_main(repo):
    git(repo, "switch", "-q", "-c", "feature/thing")


def fault_missing_tag(repo):
    git(repo, "tag", "-d", "v0.1.0")


def fault_non_conventional(repo):
    commit(repo, "Update things")


def fault_manifest_mismatch(repo):
    set_version(repo, "0.3.0", pyproject=False, manifest=True)


FAULTS = [
    # fault, options, check id, status, file, line, words in the hint
    (fault_crlf, {}, "line-endings", "fail", "Dockerfile", 2, "invoke doctor --fix"),
    (fault_lone_cr, {}, "line-endings", "fail", "Dockerfile", 1, "invoke doctor --fix"),
    (fault_broken_toml, {}, "pyproject-toml", "fail", "pyproject.toml", 13, "(column 9)"),
    (fault_invalid_version, {}, "pyproject-version", "fail", "pyproject.toml", 3, "PEP 440"),
    (fault_stale_lock, {}, "uv-lock-fresh", "fail", "uv.lock", None, "uv lock"),
    (fault_missing_lock, {}, "uv-lock", "fail", "uv.lock", None, "uv lock"),
    (None, {"for_": "push"}, "credentials", "fail", None, None, "export DEMO_REGISTRY_USERNAME"),
    (fault_non_main, {"for_": "push"}, "git-branch", "fail", None, None, "git switch main"),
    (fault_missing_tag, {"for_": "release"}, "release-tag", "fail", None, None, "git tag v0.1.0"),
    (fault_non_conventional, {}, "conventional-commits", "warn", None, None, "git rebase -i"),
    (
        fault_manifest_mismatch,
        {},
        "version-agreement",
        "fail",
        ".release-please-manifest.json",
        2,
        '".": "0.1.0"',
    ),
]


@pytest.mark.parametrize(
    ("fault", "options", "check_id", "status", "file", "line", "hint"),
    FAULTS,
    ids=[f[2] + "-" + (f[0].__name__ if f[0] else "none") for f in FAULTS],
)
def test_each_fault_is_reported_with_id_status_location_and_hint(
    repo, capsys, fault, options, check_id, status, file, line, hint
):
    if fault is not None:
        fault(repo)

    code, document = doctor_json(repo, capsys, **options)

    matching = by_id(document, check_id)
    assert matching, document
    result = matching[0]
    assert (result["status"], result["file"], result["line"]) == (status, file, line), result
    assert hint in (result["hint"] or ""), result
    assert code == (1 if status == "fail" else 0)
    assert document["ok"] is (status != "fail")


def test_unreachable_engine_fails_doctor_and_the_rest_run(repo, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")

    code, document = doctor_json(repo, capsys, engine=True)

    assert code == 1
    engine = by_id(document, "docker-engine")[0]
    assert engine["status"] == "fail" and "not reachable" in engine["message"]
    assert by_id(document, "docker-disk")[0]["status"] == "skipped"
    assert [c["id"] for c in document["checks"]] == ALL_IDS
    assert by_id(document, "version-agreement")[0]["status"] == "ok"


def test_warnings_do_not_fail(repo, capsys):
    fault_non_conventional(repo)
    code, document = doctor_json(repo, capsys)
    assert code == 0 and document["ok"] is True


def test_fix_repairs_crlf_and_the_next_run_is_clean(repo, capsys):
    for name in ("Dockerfile", "entrypoint.sh"):  # the committed files, with CRLF
        path = repo / name
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))

    assert run_doctor(repo, engine=False) == 1
    capsys.readouterr()
    code, document = doctor_json(repo, capsys, fix=True)
    fixed = by_id(document, "line-endings")
    assert code == 0
    assert {(c["status"], c["file"]) for c in fixed} == {
        ("ok", "Dockerfile"),
        ("ok", "entrypoint.sh"),
    }
    assert b"\r" not in (repo / "Dockerfile").read_bytes()
    assert git(repo, "status", "--porcelain") == ""  # back to exactly what was committed

    code, document = doctor_json(repo, capsys)
    assert code == 0
    assert [c["status"] for c in by_id(document, "line-endings")] == ["ok"]


def test_readable_report_is_plain_without_a_terminal(repo, capsys, monkeypatch):
    fault_crlf(repo)
    monkeypatch.delenv("NO_COLOR", raising=False)

    code = run_doctor(repo, engine=False)
    out = capsys.readouterr().out

    assert code == 1
    assert "\x1b[" not in out
    assert "  FAIL  line-endings" in out
    assert "Dockerfile:2 has CRLF line endings" in out
    assert "fix: invoke doctor --fix" in out
    assert "doctor found problems" in out.splitlines()[-1]


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_colour_on_a_terminal_but_never_with_no_color(repo, monkeypatch):
    stream = FakeTTY()
    run_doctor(repo, engine=False, out=stream)
    assert "\x1b[" in stream.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    stream = FakeTTY()
    run_doctor(repo, engine=False, out=stream)
    assert "\x1b[" not in stream.getvalue()


def test_github_actions_annotations(repo, capsys, monkeypatch):
    fault_crlf(repo)
    fault_non_conventional(repo)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REF_NAME", "main")

    run_doctor(repo, engine=False)
    out = capsys.readouterr().out
    assert "::error file=Dockerfile,line=2::line-endings: Dockerfile has CRLF" in out
    assert "::warning::conventional-commits:" in out

    run_doctor(repo, engine=False, as_json=True)
    captured = capsys.readouterr()
    document = json.loads(captured.out)  # stdout holds only the document
    assert document["ok"] is False
    assert "::error file=Dockerfile,line=2::" in captured.err


def test_root_lets_doctor_check_another_repository(repo, capsys, monkeypatch, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    code, document = doctor_json(repo, capsys)
    assert code == 0

    monkeypatch.chdir(repo)
    code, _ = doctor_json(".", capsys)
    assert code == 0


def test_without_git_history_the_git_checks_are_skipped(repo, capsys):
    shutil.rmtree(repo / ".git")

    code, document = doctor_json(repo, capsys, for_="release")

    statuses = {c["id"]: c["status"] for c in document["checks"]}
    for check_id in ("git-branch", "release-tag", "conventional-commits", "release-preview"):
        assert statuses[check_id] == "skipped", check_id
    assert statuses["uv-lock"] == "ok" and statuses["version-agreement"] == "ok"
    assert statuses["credentials"] == "fail"  # --for release still needs them
    assert code == 1


def test_a_check_that_raises_fails_alone_and_the_others_still_run(repo, capsys, monkeypatch):
    import buildlib.checks.secrets

    def broken(project):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(buildlib.checks.secrets, "check_secret_build_args", broken)

    code, document = doctor_json(repo, capsys)

    (failed,) = by_id(document, "secret-build-args")
    assert failed["status"] == "fail"
    assert failed["message"] == "the check itself failed: RuntimeError: boom"
    assert "a bug in buildlib" in failed["hint"]
    assert [c["id"] for c in document["checks"] if c["status"] == "fail"] == ["secret-build-args"]
    assert code == 1


def test_unknown_purpose_or_root_is_a_usage_error(repo, tmp_path):
    with pytest.raises(UsageError):
        collect(repo, for_="deploy", engine=False)
    with pytest.raises(UsageError, match="no such directory"):
        collect(tmp_path / "missing", engine=False)
    with pytest.raises(UsageError, match=r"^--registry https://\*\*\*@ghcr.io: not a registry"):
        collect(repo, registry="https://u:t@ghcr.io", engine=False)
    with pytest.raises(UsageError, match=r"^BUILDLIB_REGISTRY=ghcr.io/x: not a registry"):
        collect(repo, environ={"BUILDLIB_REGISTRY": "ghcr.io/x"}, engine=False)


def invoke_has_doctor() -> bool:
    listed = invoke("--list", cwd=REPO)
    return re.search(r"^\s+doctor\b", listed.stdout, re.M) is not None


def test_invoke_task_checks_another_root(repo, tmp_path):
    assert invoke_has_doctor(), "`invoke --list` has no doctor task (buildlib/tasks.py)"
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "FORCE_COLOR")}
    env["DOCKER_HOST"] = f"unix://{tmp_path}/dead.sock"

    result = invoke("doctor", "--json", "--root", str(repo), cwd=REPO, env=env)

    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    failed = [c["id"] for c in document["checks"] if c["status"] == "fail"]
    assert failed == ["docker-engine"]
    assert all(
        c["status"] in ("ok", "skipped", "warn")
        for c in document["checks"]
        if c["id"] != "docker-engine"
    )


def test_module_entry_point(repo, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    code = main(["--root", str(repo), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and by_id(document, "docker-engine")[0]["status"] == "fail"


def test_render_puts_the_location_first():
    from buildlib.checks import CheckResult

    text = render(
        [CheckResult("x", "fail", "cfg.json: bad key", file="cfg.json", line=3, hint="fix it")]
    )
    assert "  FAIL  x  cfg.json:3: bad key" in text
    assert "fix: fix it" in text
