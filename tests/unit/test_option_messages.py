"""What buildlib says about a bad ``--registry`` or ``--secret`` (never the credential a
slip may have put there), and which docker client and GitHub files the environment picks."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.errors import UsageError
from buildlib.options import docker_client, github_files, parse_secrets, registry_override
from buildlib.references import REGISTRY_HINT


def refusal_of_registry(value: str) -> UsageError:
    with pytest.raises(UsageError) as refused:
        registry_override(value, {})
    return refused.value


def test_a_registry_with_a_path_is_refused_with_where_the_repository_goes() -> None:
    refused = refusal_of_registry("ghcr.io/acme")
    assert refused.message.startswith("--registry ghcr.io/acme: ")
    assert refused.hint == (
        f"{REGISTRY_HINT}; the repository part comes from [tool.buildlib.images.*].repository"
    )


def test_a_registry_url_with_credentials_hides_all_of_them() -> None:
    # a token may hold '@' and '://' itself: only what follows the last '@' is the host
    refused = refusal_of_registry("https://user:se://cr@t@registry.example")
    assert refused.message.startswith("--registry https://***@registry.example: ")
    assert "user" not in refused.message and "se:" not in refused.message
    assert "cr@t" not in refused.message


def test_credentials_without_a_scheme_are_hidden_even_when_the_token_holds_a_scheme_mark() -> None:
    # no scheme: what stands before '://' is part of the credentials, not a scheme to show
    refused = refusal_of_registry("user:pa://ss@registry.example")
    assert refused.message.startswith("--registry ***@registry.example: ")
    assert "user" not in refused.message and "pa:" not in refused.message


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("https://user:tok3n", "https://user:***"),  # no '@host': it read as host user, port tok3n
        ("user:tok3n", "user:***"),
        ("user:to/k3n", "user:***"),  # a token may hold '/': no part of it is a path to show
        ("[::1]:tok3n", "[::1]:***"),
    ],
)
def test_credentials_without_the_host_are_hidden_too(value: str, shown: str) -> None:
    refused = refusal_of_registry(value)
    assert refused.message == f"--registry {shown}: not a registry host[:port] (no scheme, no path)"
    assert "k3n" not in str(refused)


def test_a_port_is_shown_as_given() -> None:
    assert refusal_of_registry("host.example:99999").message == (
        "--registry host.example:99999: port 99999 is not between 1 and 65535"
    )
    assert refusal_of_registry("ghcr.io:443/acme").message.startswith(
        "--registry ghcr.io:443/acme: "
    )


def test_the_registry_from_the_environment_is_named_by_its_variable() -> None:
    with pytest.raises(UsageError, match=r"^BUILDLIB_REGISTRY=\*\*\*@host.example: "):
        registry_override(None, {"BUILDLIB_REGISTRY": "user:tok@host.example"})


def test_a_secret_whose_env_looks_like_a_value_does_not_repeat_it() -> None:
    with pytest.raises(UsageError) as refused:
        parse_secrets(["id=hf_token,env=$HF_TOKEN"], {})
    assert refused.value.message == (
        "--secret hf_token reads the variable it names, which is not set"
    )
    assert refused.value.hint == "write env=NAME (the variable's name), not env=$NAME"


def test_a_secret_whose_id_looks_like_a_value_is_named_by_its_number() -> None:
    with pytest.raises(UsageError) as refused:
        parse_secrets(["id=ok,env=A_SET_ONE", "id=sk-live/123,env=NOT_SET"], {"A_SET_ONE": "x"})
    assert refused.value.message == "--secret number 2 reads $NOT_SET, which is not set"
    assert refused.value.hint == "export NOT_SET=... before building"


def test_a_secret_alone_whose_id_looks_like_a_value_is_not_repeated_in_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no file named like the id
    with pytest.raises(UsageError) as refused:
        parse_secrets(["id=sk-live/123"], {})
    assert refused.value.message == (
        "--secret number 1 has no env= or src=, and neither a variable nor a file is named "
        "like its id"
    )
    assert refused.value.hint == "add env=VAR or src=FILE to it"


def test_without_buildlib_docker_the_client_is_docker_from_path() -> None:
    assert docker_client({}) == ("docker", "PATH")
    assert docker_client({"BUILDLIB_DOCKER": "/opt/docker"}) == (
        "/opt/docker",
        "BUILDLIB_DOCKER=/opt/docker",
    )


def test_an_empty_buildlib_docker_is_unset_as_the_other_variables_are() -> None:
    # `BUILDLIB_DOCKER: ${{ vars.DOCKER }}` with no such variable: as an empty
    # BUILDLIB_REGISTRY, BUILDLIB_BUILDER or DOCKER_HOST, it picks nothing
    assert docker_client({"BUILDLIB_DOCKER": ""}) == ("docker", "PATH")


def test_the_github_files_come_from_the_given_environment() -> None:
    assert github_files({"GITHUB_OUTPUT": "/o", "GITHUB_STEP_SUMMARY": "/s"}) == ("/o", "/s")
    assert github_files({"GITHUB_OUTPUT": "", "GITHUB_STEP_SUMMARY": ""}) == (None, None)
    assert github_files({}) == (None, None)
