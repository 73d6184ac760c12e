"""secret-build-args: config build args and Dockerfile ARGs named like secrets."""

from __future__ import annotations

import pytest

from buildlib.checks.project import Project
from buildlib.checks.secrets import check_secret_build_args, dockerfile_variables
from tests.support.fixture_repo import make_repo, write

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path, with_git=False)


def test_clean(repo):
    assert [r.status for r in check_secret_build_args(Project.load(repo))] == ["ok"]


def test_config_build_arg_named_like_a_secret(repo):
    path = repo / "pyproject.toml"
    path.write_text(
        path.read_text().replace(
            'context = "."\n',
            'context = "."\n\n[tool.buildlib.images.app.build-args]\n'
            'BASE = "x"\nHF_TOKEN = "abc"\n',
        )
    )

    with (repo / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("ARG BASE\nARG HF_TOKEN\n")

    results = check_secret_build_args(Project.load(repo))

    [result] = [r for r in results if r.file == "pyproject.toml"]

    assert (result.id, result.status, result.file, result.line) == (
        "secret-build-args",
        "fail",
        "pyproject.toml",
        27,
    )
    assert "HF_TOKEN" in result.message and "image history" in result.message
    assert "--secret id=hf_token,env=HF_TOKEN" in result.hint
    assert "RUN --mount=type=secret,id=hf_token" in result.hint


def test_dockerfile_args_named_like_secrets(repo):
    write(repo / "Dockerfile", "FROM scratch\nARG VERSION=1\nARG API_KEY \\\n    DB_PASSWORD=x\n")

    results = check_secret_build_args(Project.load(repo))

    assert [(r.file, r.line, r.status) for r in results] == [
        ("Dockerfile", 3, "fail"),
        ("Dockerfile", 3, "fail"),
    ]
    assert "ARG API_KEY" in results[0].message and "ARG DB_PASSWORD" in results[1].message


def dockerfile_args(path):
    return [(name, line) for keyword, name, line in dockerfile_variables(path) if keyword == "ARG"]


def test_dockerfile_args(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("# ARG NOT_THIS\narg lower=1\nARG A B=2\nRUN echo $TOKEN\n")
    assert dockerfile_args(path) == [("lower", 2), ("A", 3), ("B", 3)]


def test_a_hash_after_an_instruction_is_an_argument(tmp_path):
    """Only a line that starts with # is a comment: Docker declares ARG TOKEN here."""
    path = tmp_path / "Dockerfile"
    path.write_text("FROM scratch\nARG A # TOKEN\n")
    assert dockerfile_args(path) == [("A", 2), ("TOKEN", 2)]


def test_args_under_a_backtick_escape(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("# escape=`\nFROM scratch\nARG A `\n    # a comment\n    API_TOKEN\n")
    assert dockerfile_args(path) == [("A", 3), ("API_TOKEN", 3)]


def test_env_lines_named_like_secrets_are_flagged_like_args(repo):
    write(
        repo / "Dockerfile",
        "FROM scratch\nENV VERSION=1 HF_TOKEN=abc\nENV API_KEY legacy form\nENV MONKEY=1\n",
    )

    results = check_secret_build_args(Project.load(repo))

    assert [(r.file, r.line, r.status) for r in results] == [
        ("Dockerfile", 2, "fail"),
        ("Dockerfile", 3, "fail"),
    ]
    assert results[0].message.startswith("ENV HF_TOKEN looks like a secret (the word TOKEN)")
    assert "image config" in results[0].message
    assert results[1].message.startswith("ENV API_KEY looks like a secret")


def test_names_are_matched_by_word_and_allowed_names_pass(repo):
    write(repo / "Dockerfile", "FROM scratch\nARG MONKEY=1\nARG SSH_KEY_PATH\nARG GPG_KEY\n")
    path = repo / "pyproject.toml"
    path.write_text(
        path.read_text().replace(
            "[tool.buildlib]\n", '[tool.buildlib]\nallow-build-args = ["SSH_KEY_PATH"]\n', 1
        )
    )

    results = check_secret_build_args(Project.load(repo))

    assert [(r.line, r.status) for r in results] == [(4, "fail")]
    assert "ARG GPG_KEY looks like a secret (the word KEY)" in results[0].message
    assert 'allow-build-args = ["GPG_KEY"]' in results[0].hint


def test_args_after_a_tab(tmp_path):
    # BuildKit splits the instruction from its arguments at any whitespace
    path = tmp_path / "Dockerfile"
    path.write_text("FROM\tscratch\nARG\tAPI_TOKEN\nARG \t A=1\n")
    assert dockerfile_args(path) == [("API_TOKEN", 2), ("A", 3)]
