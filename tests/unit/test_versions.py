from __future__ import annotations

import pytest
from packaging.version import Version

from buildlib.errors import ConfigError
from buildlib.references import DOCKER_TAG_RE, split_registry, validate_repository, validate_tag
from buildlib.versions import (
    FLOATING_PATTERNS,
    PATTERNS,
    ReleaseTags,
    docker_tag_for,
    is_version_shaped,
    parse_version,
    plan_release_tags,
    validate_patterns,
)


def release_tags(version: Version | str, patterns=PATTERNS, released=()) -> list[str]:
    """The tags :func:`plan_release_tags` writes, in order."""
    return list(plan_release_tags(version, patterns, released).tags)


# --- validate_tag -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    ["a", "0", "_", "latest", "1.2.3", "1.2.3rc1", "1.2.3-abc.5", "1_2.0", "A-b_c.D", "x" * 128],
)
def test_valid_tags_are_returned(tag: str) -> None:
    assert validate_tag(tag) == tag
    assert DOCKER_TAG_RE.fullmatch(tag)


@pytest.mark.parametrize(
    ("tag", "message", "hint"),
    [
        ("", "invalid Docker tag '': it is empty", "a tag is 1 to 128"),
        (".x", "it starts with '.'", "use 'x'"),
        ("-x", "it starts with '-'", "use 'x'"),
        ("1.2.3+abc", "character '+' is not allowed", "use '1.2.3-abc'"),
        ("feat/x y", "characters '/', ' ' are not allowed", "use 'feat-x-y'"),
        ("x" * 129, "it is 129 characters long (at most 128)", "use '" + "x" * 128 + "'"),
        ("-a+b", "character '+' is not allowed; it starts with '-'", "use 'a-b'"),
    ],
)
def test_invalid_tags_say_what_is_wrong(tag: str, message: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_tag(tag, location="pyproject.toml")
    assert message in caught.value.message
    assert caught.value.message.startswith(f"invalid Docker tag {tag!r}")
    assert caught.value.hint is not None and hint in caught.value.hint
    assert caught.value.location == "pyproject.toml"


@pytest.mark.parametrize(
    "tag",
    ["a" * 129, ".x", "-x", "a+b", "a/b", "a b", "", "a", "_x", "1.2.3-rc.1", "x" * 128],
)
def test_tag_regex_agrees_with_validate_tag(tag: str) -> None:
    try:
        validate_tag(tag)
    except ConfigError:
        accepted = False
    else:
        accepted = True
    assert (DOCKER_TAG_RE.fullmatch(tag) is not None) == accepted


def test_tag_that_is_not_a_string_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"Docker tag must be a string, got float 1\.2"):
        validate_tag(1.2)  # type: ignore[arg-type]


# --- validate_repository ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "ubuntu",
        "runpod/tetra-rp",
        "runpod/tetra-rp-cpu",
        "a/b/c/d",
        "x/a.b_c__d---e/f",
        "example.com",  # no slash: a path component, not a registry
        "docker.io/runpod/tetra-rp",
        "Ghcr.IO/acme-corp.io/x",  # a registry host may hold uppercase, a path may not
        "localhost/x",
        "localhost:5000/x",
        "registry.example.com:443/team/app",
        "127.0.0.1:5000/x",
        "[::1]:5000/x",
        "a" * 255,
    ],
)
def test_valid_repositories_are_returned(name: str) -> None:
    assert validate_repository(name) == name


@pytest.mark.parametrize(
    ("name", "message", "hint"),
    [
        ("", "it is empty", "a repository is lowercase"),
        ("Runpod/Tetra", "it must be lowercase", "use 'runpod/tetra'"),
        ("runpod//x", "empty path component", "use 'runpod/x'"),
        ("/runpod/x", "empty path component", "use 'runpod/x'"),
        ("runpod/x/", "empty path component", "use 'runpod/x'"),
        ("runpod/a..b", "path component 'a..b' has the separator '..'", "use 'runpod/a.b'"),
        ("runpod/a___b", "has the separator '___'", "use 'runpod/a_b'"),
        ("runpod/a.-b", "has the separator '.-'", "use 'runpod/a.b'"),
        ("runpod/-x", "path component '-x' starts with '-'", "use 'runpod/x'"),
        ("runpod/x_", "path component 'x_' ends with '_'", "use 'runpod/x'"),
        ("runpod/a+b", "character '+' is not allowed", "use 'runpod/a-b'"),
        ("run pod/x!", "characters ' ', '!' are not allowed", "use 'run-pod/x'"),
        (
            "runpod/tetra:1.0",
            "it contains a tag (':1.0'); set the tag separately",
            "use 'runpod/tetra'",
        ),
        ("runpod/x@sha256:abc", "it contains a digest ('@sha256:abc')", "use 'runpod/x'"),
        ("exa_mple.com/x", "registry host 'exa_mple.com' is invalid", "a registry host is"),
        # A first component with a "." is a registry host, as in Docker.
        ("my_org.io/x", "registry host 'my_org.io' is invalid", "a registry host is"),
        ("example.com:port/x", "registry host 'example.com:port' is invalid", "a registry host"),
        ("localhost:5000", "it contains a tag (':5000')", "use 'localhost'"),
        ("example.com/", "empty path component", "a repository is lowercase"),
        ("a" * 256, "it is 256 characters long (at most 255)", "a repository is lowercase"),
        (
            "Runpod/A..B",
            "it must be lowercase; path component 'a..b' has the separator",
            "use 'runpod/a.b'",
        ),
    ],
)
def test_invalid_repositories_say_what_is_wrong(name: str, message: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_repository(name, location="[tool.buildlib.images.gpu]")
    assert caught.value.message.startswith(f"repository {name!r}: ")
    assert message in caught.value.message
    assert caught.value.hint is not None and hint in caught.value.hint
    assert caught.value.location == "[tool.buildlib.images.gpu]"


def test_repository_suggestion_is_itself_valid() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_repository("Docker.IO/My_Org/Tetra__RP--.Worker")
    assert caught.value.hint == "use 'Docker.IO/my_org/tetra__rp-worker'"
    assert validate_repository("Docker.IO/my_org/tetra__rp-worker")


@pytest.mark.parametrize(
    ("name", "registry", "path"),
    [
        ("runpod/tetra-rp", None, "runpod/tetra-rp"),
        ("ubuntu", None, "ubuntu"),
        ("example.com", None, "example.com"),
        ("localhost", None, "localhost"),
        ("localhost/x", "localhost", "x"),
        ("localhost:5000/a/b", "localhost:5000", "a/b"),
        ("docker.io/runpod/tetra-rp", "docker.io", "runpod/tetra-rp"),
        ("[::1]:5000/x", "[::1]:5000", "x"),
        ("Runpod/x", None, "Runpod/x"),  # uppercase alone does not make a host here
    ],
)
def test_split_registry(name: str, registry: str | None, path: str) -> None:
    assert split_registry(name) == (registry, path)


# --- parse_version ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("1.2.3", "1.2.3"),
        ("v1.2.3", "1.2.3"),
        ("1.0.0-rc.1", "1.0.0rc1"),
        ("1.2.3+abc.5", "1.2.3+abc.5"),
        ("1!2.0", "1!2.0"),
        ("0.7.3", "0.7.3"),
    ],
)
def test_parse_version(text: str, normalized: str) -> None:
    assert str(parse_version(text)) == normalized


@pytest.mark.parametrize("text", ["1.2.x", "", "latest", "1.2.3-", "one"])
def test_parse_version_rejects_non_pep440(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_version(text, location="pyproject.toml: project.version")
    assert caught.value.message == f"invalid PEP 440 version {text!r}"
    assert caught.value.hint is not None and "1.2.3rc1" in caught.value.hint
    assert str(caught.value).startswith("pyproject.toml: project.version: invalid PEP 440")


def test_parse_version_rejects_a_toml_float() -> None:
    with pytest.raises(ConfigError, match="version must be a string, got float 1.2") as caught:
        parse_version(1.2, location="pyproject.toml:3")  # type: ignore[arg-type]
    assert caught.value.location == "pyproject.toml:3"


# --- docker_tag_for ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "tag"),
    [
        ("1.2.3", "1.2.3"),
        ("v1.2", "1.2"),
        ("1.0.0-rc.1", "1.0.0rc1"),
        ("1.0.0.alpha1", "1.0.0a1"),
        ("1.2.3+abc.5", "1.2.3-abc.5"),
        ("1.2.3+ABC-5_x", "1.2.3-abc.5.x"),
        ("1!2.0", "1_2.0"),
        ("1!2.0.post1.dev3+local", "1_2.0.post1.dev3-local"),
    ],
)
def test_docker_tag_for(version: str, tag: str) -> None:
    assert docker_tag_for(version) == tag
    assert docker_tag_for(Version(version)) == tag
    assert DOCKER_TAG_RE.fullmatch(tag)


def test_docker_tag_for_keeps_distinct_versions_distinct() -> None:
    # "-" and "_" never appear in a normalized version, so local and epoch cannot collide.
    versions = ["1+2", "1!2", "1.post2", "1-2", "1.2", "1!2+3", "1+2.3", "1!2.3", "12"]
    tags = {docker_tag_for(v) for v in {Version(v) for v in versions}}
    assert len(tags) == len({Version(v) for v in versions})


def test_docker_tag_for_refuses_a_too_long_version() -> None:
    with pytest.raises(ConfigError, match="characters long"):
        docker_tag_for("1." + "0." * 70 + "1")


# --- is_version_shaped ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "shaped"),
    [
        ("latest", True),
        ("1", True),
        ("1.2", True),
        ("1.2.3", True),
        ("v1.2.3", True),
        ("1.2.3rc1", True),
        ("1.2.3.post1", True),
        ("1.2.3.dev0", True),
        ("1.2.3-abc.5", True),  # docker_tag_for("1.2.3+abc.5")
        ("1_2.0", True),  # docker_tag_for("1!2.0")
        # a local segment may hold '-' and '_' (PEP 440): only the first of each is a '+'/'!'
        ("1.2.3-ubuntu-22", True),  # "1.2.3+ubuntu-22", another tool's rendering
        ("1_2.0-a_b", True),  # "1!2.0+a_b"
        ("main", False),
        ("local", False),
        ("pr-12", False),
        ("sha-abc123", False),
        ("dev", False),
        ("Latest", False),
        ("v", False),
        (" 1.2", False),
        ("", False),
    ],
)
def test_is_version_shaped(tag: str, shaped: bool) -> None:
    assert is_version_shaped(tag) is shaped


# --- patterns ---------------------------------------------------------------------------


def test_pattern_constants() -> None:
    assert FLOATING_PATTERNS == ("major.minor", "major", "latest")
    assert PATTERNS == ("version", "major.minor", "major", "latest")


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["major.minor", "major", "latest"], ("major.minor", "major", "latest")),
        (("latest", "version", "latest"), ("latest", "version")),
        ([], ()),
    ],
)
def test_validate_patterns(patterns: list[str], expected: tuple[str, ...]) -> None:
    assert validate_patterns(patterns, location="x") == expected


@pytest.mark.parametrize(
    ("pattern", "suggestion"),
    [
        ("minor", "did you mean 'major.minor'?"),
        ("major-minor", "did you mean 'major.minor'?"),
        ("{{major}}", "did you mean 'major'?"),
        ("lastest", "did you mean 'latest'?"),
        ("versoin", "did you mean 'version'?"),
    ],
)
def test_validate_patterns_suggests_a_close_name(pattern: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_patterns(["major", pattern], location="[tool.buildlib.release]")
    assert caught.value.message == f"unknown tag pattern {pattern!r}"
    assert caught.value.hint is not None
    assert caught.value.hint.startswith(suggestion)
    assert "'version', 'major.minor', 'major', 'latest'" in caught.value.hint
    assert caught.value.location == "[tool.buildlib.release]"


def test_validate_patterns_without_a_close_name_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_patterns(["sha"])
    assert caught.value.hint == "valid patterns: 'version', 'major.minor', 'major', 'latest'"


# --- release tags -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.2.3", ["1.2.3", "1.2", "1", "latest"]),
        ("0.7.3", ["0.7.3", "0.7", "0", "latest"]),
        ("1.2", ["1.2", "1", "latest"]),
        ("1", ["1", "latest"]),
        ("1.0", ["1.0", "1", "latest"]),
        ("2.0.0", ["2.0.0", "2.0", "2", "latest"]),
        ("1.2.3.4", ["1.2.3.4", "1.2", "1", "latest"]),
        ("v1.2.3", ["1.2.3", "1.2", "1", "latest"]),
        ("1!2.0", ["1_2.0", "2.0", "2", "latest"]),
        ("1.2.3rc1", ["1.2.3rc1"]),
        ("1.2.3a1", ["1.2.3a1"]),
        ("1.2.3.post1", ["1.2.3.post1"]),
        ("1.2.3.dev0", ["1.2.3.dev0"]),
        ("1.2.3+abc.5", ["1.2.3-abc.5"]),
        ("1.0.0-rc.1", ["1.0.0rc1"]),
    ],
)
def test_release_tags_without_history(version: str, expected: list[str]) -> None:
    assert release_tags(version) == expected
    assert release_tags(Version(version)) == expected


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (("version",), ["1.2.3"]),
        ((), ["1.2.3"]),
        (("major.minor", "major", "latest"), ["1.2.3", "1.2", "1", "latest"]),
        (("latest", "major"), ["1.2.3", "1", "latest"]),  # written in canonical order
        (("major.minor",), ["1.2.3", "1.2"]),
        (("latest",), ["1.2.3", "latest"]),
    ],
)
def test_release_tags_follow_the_selected_patterns(
    patterns: tuple[str, ...], expected: list[str]
) -> None:
    assert release_tags("1.2.3", patterns) == expected


@pytest.mark.parametrize(
    ("version", "released", "expected"),
    [
        # The examples of the rules: a backport only moves the tags of its own line.
        ("1.4.1", ["1.5.0", "2.0.0"], ["1.4.1", "1.4"]),
        ("1.5.1", ["1.5.0", "2.0.0"], ["1.5.1", "1.5", "1"]),
        ("2.0.0", ["1.5.0", "2.0.0"], ["2.0.0", "2.0", "2", "latest"]),  # re-run
        ("2.0.1", ["1.5.0", "2.0.0"], ["2.0.1", "2.0", "2", "latest"]),
        ("1.4.1", ["1.4.2"], ["1.4.1"]),
        ("1.4.3", ["1.4.2", "1.10.0"], ["1.4.3", "1.4"]),  # numeric, not string, ordering
        ("0.7.4", ["0.8.0"], ["0.7.4", "0.7"]),  # major 0 is not special
        ("1.2.0", ["v1.2.0"], ["1.2.0", "1.2", "1", "latest"]),  # "1.2.0" == "v1.2.0"
        ("1.2", ["1.2.0"], ["1.2", "1", "latest"]),  # 1.2 == 1.2.0
        # Only released final versions count.
        ("1.4.1", ["2.0.0rc1", "1.5.0.dev0", "1.9.0.post1", "3.0.0+local"], None),
        ("1.4.1", ["main", "latest", "local", "pr-12", "sha-abc123", "v"], None),
        ("1.4.1", [Version("2.0.0rc1")], None),
        # Git tags (v-prefixed) and registry tags (our own renderings) are understood.
        ("1.4.1", ["v1.5.0"], ["1.4.1", "1.4"]),
        ("1.4.1", [Version("1.5.0")], ["1.4.1", "1.4"]),
        ("3.0.0", ["1_1.0"], ["3.0.0", "3.0", "3"]),  # epoch 1 outranks every epoch 0
        ("1!3.0", ["1_1.0", "9.9"], ["1_3.0", "3.0", "3", "latest"]),
        # The epoch is not part of a scope: 1!2.0 owns the tag "2" over 2.1.
        ("2.1", ["1!2.0"], ["2.1"]),
    ],
)
def test_release_tags_with_history(
    version: str, released: list[str | Version], expected: list[str] | None
) -> None:
    if expected is None:
        expected = release_tags(version)  # history that must not change anything
        assert expected == ["1.4.1", "1.4", "1", "latest"]
    assert release_tags(version, released=released) == expected


def test_release_tags_accepts_any_iterable_of_released_versions() -> None:
    released = (tag for tag in ["1.5.0", "2.0.0"])
    assert release_tags("1.5.1", released=released) == ["1.5.1", "1.5", "1"]


def test_plan_explains_a_backport() -> None:
    plan = plan_release_tags("1.4.1", released=["1.5.0", "2.0.0", "1.4.0"])
    assert plan == ReleaseTags(
        tags=("1.4.1", "1.4"),
        full="1.4.1",
        skipped=(
            ("1", "1.5.0 is newer in scope 1"),
            ("latest", "2.0.0 is newer in scope latest"),
        ),
    )


def test_plan_with_nothing_skipped() -> None:
    plan = plan_release_tags("0.7.3", released=["0.7.2"])
    assert plan.tags == ("0.7.3", "0.7", "0", "latest")
    assert plan.full == "0.7.3"
    assert plan.skipped == ()


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("1.2.3rc1", "1.2.3rc1 is a pre-release: only its full tag is written"),
        ("1.2.3.post1", "1.2.3.post1 is a post-release: only its full tag is written"),
        ("1.2.3.dev0", "1.2.3.dev0 is a dev release: only its full tag is written"),
        ("1.2.3+abc.5", "1.2.3+abc.5 has a local segment: only its full tag is written"),
    ],
)
def test_plan_explains_why_an_unstable_version_gets_only_its_full_tag(
    version: str, reason: str
) -> None:
    plan = plan_release_tags(version)
    assert plan.tags == (plan.full,)
    assert plan.skipped == (("1.2", reason), ("1", reason), ("latest", reason))


def test_plan_only_explains_selected_patterns() -> None:
    plan = plan_release_tags("1.2.3rc1", patterns=("version", "latest"))
    assert [tag for tag, _ in plan.skipped] == ["latest"]


def test_plan_does_not_list_a_collapsed_tag_as_skipped() -> None:
    # "1.2" is the full tag (always written); its X.Y duplicate is not "skipped".
    plan = plan_release_tags("1.2", released=["1.2.5", "1.3.0"])
    assert plan.tags == ("1.2",)
    assert plan.skipped == (
        ("1", "1.3.0 is newer in scope 1"),
        ("latest", "1.3.0 is newer in scope latest"),
    )


def test_plan_release_tags_is_frozen() -> None:
    plan = plan_release_tags("1.2.3")
    with pytest.raises(AttributeError):
        plan.full = "x"  # type: ignore[misc]


def test_release_tags_validates_patterns() -> None:
    with pytest.raises(ConfigError, match="unknown tag pattern 'minor'"):
        release_tags("1.2.3", patterns=("minor",))


def test_release_tags_validates_the_version() -> None:
    with pytest.raises(ConfigError, match="invalid PEP 440 version '1.2.x'"):
        release_tags("1.2.x")


@pytest.mark.parametrize(
    ("pattern", "tag", "text"),
    [
        ("v{version}", "v1.2.3", "1.2.3"),
        ("{version}", "1.2.3", "1.2.3"),
        ("release-{version}-final", "release-1.2-final", "1.2"),
        ("v{version}", "1.2.3", None),
        ("v{version}", "v", None),
        ("release-{version}-final", "release-1.2", None),
        ("release-{version}-final", "release--final", None),  # no version between them
    ],
)
def test_version_in_tag(pattern: str, tag: str, text: str | None) -> None:
    from buildlib.versions import version_in_tag

    assert version_in_tag(pattern, tag) == text
