"""``buildlib.references``: the one grammar for registry hosts, repositories, tags and
digests (github.com/distribution/reference), used by the config, the flags and the
registry client alike."""

from __future__ import annotations

import pytest

from buildlib.errors import ConfigError
from buildlib.references import (
    DIGEST_RE,
    DOCKER_TAG_RE,
    REPOSITORY_PATH_RE,
    destination,
    is_registry,
    registry_problem,
    split_registry,
    validate_registry,
    validate_repository,
)


@pytest.mark.parametrize(
    "host",
    [
        "docker.io",
        "ghcr.io",
        "localhost",
        "localhost:5000",
        "127.0.0.1:5000",
        "[::1]:5000",
        "[::1]",
        "[2001:db8::1]:443",
        "my-registry.example.com:65535",
        "Registry.Example.COM",
        "Registry",  # capitals: a domain to docker, as no namespace may hold them
    ],
)
def test_registry_hosts_of_the_grammar(host: str) -> None:
    assert is_registry(host), registry_problem(host)


_HUB_NAMESPACE = "docker reads it as a namespace on Docker Hub"


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("...", "not a registry host[:port]"),
        ("-", "not a registry host[:port]"),
        ("-bad.io", "not a registry host[:port]"),
        ("bad-.io", "not a registry host[:port]"),
        ("a..b", "not a registry host[:port]"),
        ("", "not a registry host[:port]"),
        ("https://ghcr.io", "not a registry host[:port]"),
        ("ghcr.io/acme", "not a registry host[:port]"),
        ("ghcr.io:", "not a registry host[:port]"),
        ("ghcr.io\n", "not a registry host[:port]"),
        ("::1:5000", "not a registry host[:port]"),
        ("host:99999999", "port 99999999 is not between 1 and 65535"),
        ("host:65536", "port 65536 is not between 1 and 65535"),
        ("host:0", "port 0 is not between 1 and 65535"),
        ("[:::::]", "[:::::] is not an IPv6 address"),
        # docker reads 5000/acme/app as docker.io/5000/acme/app: no registry at all
        ("5000", _HUB_NAMESPACE),
        ("registry", _HUB_NAMESPACE),
    ],
)
def test_registry_hosts_outside_the_grammar(host: str, problem: str) -> None:
    found = registry_problem(host)
    assert found is not None and found.startswith(problem)


def test_validate_registry_names_the_location_and_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_registry("host:99999999", location="pyproject.toml:7")
    assert caught.value.location == "pyproject.toml:7"
    assert caught.value.hint is not None and "[::1]:5000" in caught.value.hint


def test_a_repository_on_an_ipv6_registry() -> None:
    assert split_registry("[::1]:5000/acme/app") == ("[::1]:5000", "acme/app")
    assert validate_repository("[::1]:5000/acme/app") == "[::1]:5000/acme/app"
    with pytest.raises(ConfigError, match="registry host 'host:99999999' is invalid"):
        validate_repository("host:99999999/acme/app")


def test_patterns_match_whole_strings_only() -> None:
    # a trailing newline passes `re.match(r"^...$")`: the grammar is applied with fullmatch
    assert REPOSITORY_PATH_RE.fullmatch("acme/app")
    assert not REPOSITORY_PATH_RE.fullmatch("acme/app\n")
    assert not DOCKER_TAG_RE.fullmatch("v1\n")
    assert DIGEST_RE.fullmatch("sha256:" + "a" * 64)
    assert not DIGEST_RE.fullmatch("sha256:" + "g" * 64)


def test_the_registry_client_uses_the_same_grammar() -> None:
    from buildlib.registry import RegistryClient

    client = RegistryClient("127.0.0.1:5000")
    assert client.repository("acme/app") == "acme/app"
    with pytest.raises(ConfigError):
        client.repository("acme/app\n")


# --- repositories: split, validate, explain ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("acme/app", (None, "acme/app")),
        ("acme/team/app", (None, "acme/team/app")),
        ("app", (None, "app")),
        ("localhost/app", ("localhost", "app")),
        ("localhost:5000/acme/app", ("localhost:5000", "acme/app")),
        ("ghcr.io/acme/app", ("ghcr.io", "acme/app")),
        ("host:5000/app", ("host:5000", "app")),
        ("5000/tetra", (None, "5000/tetra")),
    ],
)
def test_the_first_component_is_a_registry_only_when_it_looks_like_one(
    name: str, split: tuple[str | None, str]
) -> None:
    from buildlib.references import split_registry

    assert split_registry(name) == split


@pytest.mark.parametrize(
    "name",
    ["acme/app", "a/b/c/d", "ghcr.io/acme/app", "127.0.0.1:5000/app", "x" * 255, "a/" + "b" * 253],
)
def test_valid_repositories(name: str) -> None:
    from buildlib.references import validate_repository

    assert validate_repository(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "it is empty"),
        ("x" * 256, "it is 256 characters long (at most 255)"),
        ("bad_host:5000/app", "registry host 'bad_host:5000' is invalid"),
        ("host:0/app", "registry host 'host:0' is invalid"),
        ("acme/app:1.0", "it contains a tag (':1.0'); set the tag separately"),
        ("acme/App", "it must be lowercase"),
    ],
)
def test_invalid_repositories_say_why(name: str, problem: str) -> None:
    from buildlib.references import validate_repository

    with pytest.raises(ConfigError) as caught:
        validate_repository(name, location="pyproject.toml:3")
    assert caught.value.message.startswith(f"repository {name!r}: ")
    assert problem in caught.value.message
    assert caught.value.location == "pyproject.toml:3"
    assert caught.value.hint


def test_a_port_of_one_is_a_port() -> None:
    from buildlib.references import registry_problem

    assert registry_problem("host:1") is None
    assert registry_problem("host:65535") is None
    assert registry_problem("host:65536") == "port 65536 is not between 1 and 65535"


@pytest.mark.parametrize(
    ("registry", "repository", "place"),
    [
        ("GHCR.io", "acme/api", "ghcr.io/acme/api"),
        ("docker.io", "GHCR.io/acme/api", "ghcr.io/acme/api"),
        ("index.docker.io", "acme/api", "docker.io/acme/api"),
        ("docker.io", "registry-1.docker.io/acme/api", "docker.io/acme/api"),
        ("docker.io", "api", "docker.io/library/api"),
    ],
)
def test_destination_names_the_place_in_one_spelling(
    registry: str, repository: str, place: str
) -> None:
    assert destination(registry, repository) == place
