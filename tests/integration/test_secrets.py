"""BuildKit secrets on a real engine: the value reaches the build step, never the image,
the command line or the output (a step that prints it is redacted)."""

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
    from buildlib.engine import capabilities

    if capabilities(docker_bin).builder == "legacy":
        pytest.skip("--secret needs BuildKit (the legacy builder refuses it: unit-tested)")
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
