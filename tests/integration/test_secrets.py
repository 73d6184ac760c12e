"""BuildKit secrets on a real engine: the value reaches the build step, never the image,
the command line or the output (a step that prints it is redacted, line by line; a value
too short to redact is warned about, not blanked everywhere)."""

from __future__ import annotations

import secrets
import subprocess

import pytest

from tests.conftest import invoke
from tests.integration.test_concurrency import BASE, env_with_repo, fixture_repo

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("stand_ins")]


def test_a_secret_printed_by_a_step_is_redacted(
    tmp_path, task_env, unique_tag, cleanup_images, docker_bin
):
    _require_buildkit(docker_bin)
    value = "tok-" + secrets.token_hex(12)
    repo = fixture_repo(
        tmp_path / "repo",
        {
            "app": f"FROM {BASE}\n"
            f"RUN --mount=type=secret,id=tok echo {unique_tag} && "
            "echo the-secret-is-$(cat /run/secrets/tok) && test -s /run/secrets/tok\n",
        },
    )
    cleanup_images.append(f"bench/app:{unique_tag}")

    result = invoke(
        "build",
        "--tag",
        unique_tag,
        "--secret",
        "id=tok,env=BUILD_TOK",
        env={**env_with_repo(task_env), "BUILD_TOK": value},
        cwd=repo,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "the-secret-is-" in output  # the step ran and printed it...
    assert value not in output  # ...redacted
    assert "--secret id=tok,env=BUILD_TOK" in output
    history = subprocess.run(
        [docker_bin, "history", "--no-trunc", f"bench/app:{unique_tag}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert value not in history


def _require_buildkit(docker_bin: str) -> None:
    from buildlib.docker import detect

    if detect(docker_bin).builder == "legacy":
        pytest.skip("--secret needs BuildKit (the legacy builder refuses it: unit-tested)")


def test_a_multi_line_secret_file_printed_line_by_line_is_redacted(
    tmp_path, task_env, unique_tag, cleanup_images, docker_bin
):
    _require_buildkit(docker_bin)
    body = [secrets.token_urlsafe(48) for _ in range(3)]
    key = tmp_path / "key.pem"
    key.write_text(
        "-----BEGIN PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END PRIVATE KEY-----\n"
    )
    repo = fixture_repo(
        tmp_path / "repo",
        {
            "app": f"FROM {BASE}\n"
            f"RUN --mount=type=secret,id=key echo {unique_tag} && "
            "sed 's/^/key-line: /' /run/secrets/key\n",
        },
    )
    cleanup_images.append(f"bench/app:{unique_tag}")

    result = invoke(
        "build",
        "--tag",
        unique_tag,
        "--secret",
        f"id=key,src={key}",
        env=env_with_repo(task_env),
        cwd=repo,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert output.count("key-line: ******") == 5  # the step ran and printed each line...
    for line in body:
        assert line not in output  # ...each of them redacted
    assert "cannot be redacted" not in output


def test_a_secret_too_short_to_redact_is_warned_about_not_blanked(
    tmp_path, task_env, unique_tag, cleanup_images, docker_bin
):
    _require_buildkit(docker_bin)
    repo = fixture_repo(
        tmp_path / "repo",
        {
            "app": f"FROM {BASE}\n"
            f"RUN --mount=type=secret,id=short echo {unique_tag} && "
            "echo the-secret-line-here && test -s /run/secrets/short\n",
        },
    )
    cleanup_images.append(f"bench/app:{unique_tag}")

    result = invoke(
        "build",
        "--tag",
        unique_tag,
        "--secret",
        "id=short,env=SHORTV",
        env={**env_with_repo(task_env), "SHORTV": "e"},
        cwd=repo,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "--secret short is shorter than 8 characters: it cannot be redacted" in output
    assert "the-secret-line-here" in output  # not turned into th******-s******cr...
    assert "******" not in output
