"""What a user is told about a bad repository name or tag: each problem found, in their
terms, and the hint (a corrected name when one can be made, else the rule)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from buildlib.errors import ConfigError
from buildlib.references import (
    REPOSITORY_MAX_LENGTH,
    validate_registry,
    validate_repository,
    validate_tag,
)

REPOSITORY_RULE = (
    "a repository is lowercase letters and digits, in components separated by '/', "
    "with '.', '_', '__' or '-' between words, e.g. 'acme/worker-gpu'"
)
REGISTRY_RULE = (
    "a registry host is a domain name or [IPv6] address with an optional ':port', "
    "e.g. 'ghcr.io' or 'localhost:5000'"
)
TAG_RULE = "a tag is 1 to 128 letters, digits, '_', '.' or '-', and does not start with '.' or '-'"


def refusal(check, value: str) -> ConfigError:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as refused:
        check(value)
    return refused.value


@pytest.mark.parametrize(
    ("name", "message", "hint"),
    [
        ("", "it is empty", REPOSITORY_RULE),
        (
            "///",
            "it has an empty path component (a leading, trailing or double '/')",
            REPOSITORY_RULE,
        ),
        ("exa_mple.com/app", "registry host 'exa_mple.com' is invalid", REGISTRY_RULE),
        # the lowercased name still has the bad host: no suggestion, the host's rule
        (
            "exa_mple.com/App",
            "registry host 'exa_mple.com' is invalid; it must be lowercase",
            REGISTRY_RULE,
        ),
        ("acme/app-", "path component 'app-' ends with '-'", "use 'acme/app'"),
        ("acme/app.", "path component 'app.' ends with '.'", "use 'acme/app'"),
        # a run of separators at either end is told as the end it is on, not as a separator
        ("acme/._a", "path component '._a' starts with '.'", "use 'acme/a'"),
        ("acme/a._", "path component 'a._' ends with '_'", "use 'acme/a'"),
        (
            "acme/a._b",
            "path component 'a._b' has the separator '._' "
            "(use one '.', one or two '_', or one or more '-')",
            "use 'acme/a.b'",
        ),
        # a ':' before the last component is a bad character, not a tag
        ("acme/a:b/app", "character ':' is not allowed", "use 'acme/a-b/app'"),
        ("acme/app:1:2", "it contains a tag (':1:2'); set the tag separately", "use 'acme/app'"),
        ("acme/app:v1", "it contains a tag (':v1'); set the tag separately", "use 'acme/app'"),
        # all after the first '@' is the digest the user gave
        (
            "acme/app@sha256:ab@cd",
            "it contains a digest ('@sha256:ab@cd'); give the name only",
            "use 'acme/app'",
        ),
    ],
)
def test_a_bad_repository_is_explained(name: str, message: str, hint: str) -> None:
    refused = refusal(validate_repository, name)
    assert refused.message == f"repository {name!r}: {message}"
    assert refused.hint == hint


def test_a_name_at_the_length_limit_is_not_too_long() -> None:
    name = "A" * REPOSITORY_MAX_LENGTH
    refused = refusal(validate_repository, name)
    assert refused.message == f"repository {name!r}: it must be lowercase"
    assert refused.hint == f"use {name.lower()!r}"
    assert validate_repository("a" * REPOSITORY_MAX_LENGTH) == "a" * REPOSITORY_MAX_LENGTH


def test_a_name_over_the_length_limit_says_how_long_it_is() -> None:
    name = "a" * (REPOSITORY_MAX_LENGTH + 1)
    refused = refusal(validate_repository, name)
    assert refused.message == (f"repository {name!r}: it is 256 characters long (at most 255)")


@pytest.mark.parametrize(
    ("tag", "message", "hint"),
    [
        ("", "it is empty", TAG_RULE),
        ("Bad Tag", "character ' ' is not allowed", f"use 'Bad-Tag'; {TAG_RULE}"),
        ("X y", "character ' ' is not allowed", f"use 'X-y'; {TAG_RULE}"),
        (".x", "it starts with '.'", f"use 'x'; {TAG_RULE}"),
        ("-", "it starts with '-'", TAG_RULE),
        # 128 characters is not too long, whatever else is wrong
        ("-" + "a" * 127, "it starts with '-'", f"use {'a' * 127!r}; {TAG_RULE}"),
    ],
)
def test_a_bad_tag_is_explained(tag: str, message: str, hint: str) -> None:
    refused = refusal(validate_tag, tag)
    assert refused.message == f"invalid Docker tag {tag!r}: {message}"
    assert refused.hint == hint


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (":t0k3n", ":***"),  # no user: all after the ':' is the token
        ("user:t0:k3n", "user:***"),  # the token may hold ':'
        ("user:t0]k3n", "user:***"),  # and ']', which closes an address only after a '['
        ("[fe80::1]:t0]k3n", "[fe80::1]:***"),
    ],
)
def test_a_refused_registry_hides_a_token_in_it(value: str, shown: str) -> None:
    refused = refusal(validate_registry, value)
    assert refused.message == f"registry {shown!r}: not a registry host[:port] (no scheme, no path)"
    assert "k3n" not in str(refused)


def test_a_refused_registry_shows_an_ipv6_address_and_its_port() -> None:
    refused = refusal(validate_registry, "[::]:70000")
    assert refused.message == "registry '[::]:70000': port 70000 is not between 1 and 65535"


@pytest.mark.parametrize(
    ("check", "what"),
    [
        (validate_registry, "registry"),
        (validate_repository, "repository"),
        (validate_tag, "Docker tag"),
    ],
)
def test_a_value_that_is_not_text_is_refused_where_it_stands(
    check: Callable[..., str], what: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        check(5000, location="pyproject.toml:9")
    assert refused.value.message == f"{what} must be a string, got int 5000"
    assert refused.value.location == "pyproject.toml:9"
