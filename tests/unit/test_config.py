"""``buildlib.config.load`` on real pyproject.toml files: the good path, and every malformed
input reported with its message, its location (file:line, or file:line:column for TOML
syntax) and its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib import config as config_module
from buildlib.errors import ConfigError, UsageError
from buildlib.matrix import image_matrix
from buildlib.options import parse_platforms
from buildlib.releaseplan import platform_set
from tests.support.config_repo import line_of, load_error, refused_at, write_repo

REPO = Path(__file__).resolve().parents[2]


# --- the good path ----------------------------------------------------------------------


def test_this_repository_loads() -> None:
    config = config_module.load(REPO)
    assert config.image_names == ("gpu", "cpu", "lb")
    assert [i.repository for i in config.images] == [
        "runpod/tetra-rp",
        "runpod/tetra-rp-cpu",
        "runpod/tetra-rp-lb",
    ]
    assert [i.dockerfile for i in config.images] == [
        "Dockerfile",
        "Dockerfile-cpu",
        "Dockerfile-lb",
    ]
    assert config.default_group == ("gpu", "cpu")
    assert config.registry == "docker.io"
    assert config.tag_env == "TETRA_IMAGE_TAG"
    assert config.default_tag == "local"
    assert config.root == REPO
    assert config.release.git_tag_for("1.2.3") == "v1.2.3"
    assert config.release.floating_tags == ("major.minor", "major", "latest")
    assert all(i.platforms == ("linux/amd64",) for i in config.images)


def test_fixture_loads_with_defaults(tmp_path: Path) -> None:
    write_repo(tmp_path)
    config = config_module.load(tmp_path)
    assert str(config.version) == "1.2.3"
    assert config.image("cpu").context == "."
    assert config.image("cpu").platforms == ()
    assert config.image("cpu").title == "runpod/tetra-rp-cpu"  # the title defaults to it
    assert config.credentials.username_env == "DOCKERHUB_USERNAME"
    assert config.main_branch == "main"


def test_every_key_is_read_and_each_default_is_its_fields(tmp_path: Path) -> None:
    table = (
        'default-tag = "local"\nsource = "https://example.com/demo"\nmain-branch = "trunk"\n'
        "provenance = false\nsbom = false\nsha-tag = true\n"
        'line-ending-globs = ["*.ini"]\nallow-build-args = ["SSH_KEY_PATH"]'
    )
    write_repo(tmp_path, 'default-tag = "local"', table)
    config = config_module.load(tmp_path)
    assert (config.source, config.main_branch) == ("https://example.com/demo", "trunk")
    assert (config.provenance, config.sbom, config.sha_tag) == (False, False, True)
    assert (config.line_ending_globs, config.allow_build_args) == (("*.ini",), ("SSH_KEY_PATH",))
    unset = config_module.parse(
        '[project]\nname = "d"\nversion = "1.0"\n[tool.buildlib.images.app]\n'
        'repository = "org/app"\ndockerfile = "Dockerfile"\n',
        root=tmp_path,
    )
    default = config_module.Config(root=tmp_path)
    for field in ("registry", "default_tag", "tag_env", "source", "main_branch", "release"):
        assert getattr(unset, field) == getattr(default, field), field
    assert (unset.credentials, unset.provenance, unset.sbom) == (default.credentials, True, True)
    assert (unset.sha_tag, unset.line_ending_globs, unset.images[0].title) == (
        False,
        (),
        "org/app",
    )


def test_missing_pyproject(tmp_path: Path) -> None:
    error = load_error(tmp_path)
    assert "pyproject.toml not found" in error.message
    assert str(tmp_path) in error.message
    assert error.hint == "run from the repository root or pass --root"


# --- malformed inputs: message, location, fix -------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path,
        'default-tag = "local"',
        'default-tag = "local"\ndefualt-group = ["gpu"]',
        at="defualt-group",
    )
    assert error.message == (
        "unknown key tool.buildlib.defualt-group (did you mean 'default-group'?)"
    )
    assert error.location.endswith(":10")
    assert error.hint is not None and "default-group" in error.hint
    assert error.hint.startswith("valid keys: registry, default-group")


def test_unknown_key_without_a_close_match_has_no_suggestion(tmp_path: Path) -> None:
    write_repo(tmp_path, 'default-tag = "local"', 'default-tag = "local"\nzzz = 1')
    error = load_error(tmp_path)
    assert error.message == "unknown key tool.buildlib.zzz"
    assert "did you mean" not in str(error)


def test_unknown_key_inside_an_image_table(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path,
        'dockerfile = "Dockerfile"\n',
        'dockerfile = "Dockerfile"\nplatfroms = ["linux/amd64"]\n',
        at="platfroms",
    )
    assert error.message == (
        "unknown key tool.buildlib.images.gpu.platfroms (did you mean 'platforms'?)"
    )
    assert error.hint is not None
    assert error.hint.startswith("valid keys: repository, dockerfile, context")


def test_missing_dockerfile(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path,
        'dockerfile = "Dockerfile-cpu"',
        'dockerfile = "Dockerfile-gpu"',
        at="Dockerfile-gpu",
    )
    assert error.message == (
        "tool.buildlib.images.cpu.dockerfile 'Dockerfile-gpu' does not "
        "exist (did you mean 'Dockerfile-cpu'?)"
    )
    assert error.hint == (
        "create Dockerfile-gpu or fix the path (found: Dockerfile, Dockerfile-cpu)"
    )


def test_context_that_is_not_a_directory(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path,
        'dockerfile = "Dockerfile-cpu"',
        'dockerfile = "Dockerfile-cpu"\ncontext = "nowhere"',
        at="nowhere",
    )
    assert error.message == "tool.buildlib.images.cpu.context 'nowhere' is not a directory"
    assert error.hint == "point context at a folder relative to pyproject.toml"


@pytest.mark.parametrize("context", ["/", "..", "../elsewhere", "sub/../.."])
def test_a_context_outside_the_repository_is_refused(tmp_path: Path, context: str) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "sub").mkdir()
    (tmp_path / "elsewhere").mkdir()
    error = refused_at(
        root,
        'dockerfile = "Dockerfile-cpu"\n',
        f'dockerfile = "Dockerfile-cpu"\ncontext = "{context}"\n',
        at="context =",
    )
    assert error.message == (
        f"tool.buildlib.images.cpu.context {context!r} is outside the repository"
    )


def test_a_context_inside_the_repository_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write_repo(
        tmp_path,
        'dockerfile = "Dockerfile-cpu"\n',
        'dockerfile = "Dockerfile-cpu"\ncontext = "sub/../sub"\n',
    )
    assert config_module.load(tmp_path).image("cpu").context == "sub/../sub"


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('tag-env = "TETRA_IMAGE_TAG"', 'tag-env = ""', "tool.buildlib.tag-env", "is empty"),
        (
            'tag-env = "TETRA_IMAGE_TAG"',
            'tag-env = "$TAG"',
            "tool.buildlib.tag-env",
            "is not an environment variable name",
        ),
        (
            "[tool.buildlib.release]",
            '[tool.buildlib.credentials]\nusername-env = ""\n\n[tool.buildlib.release]',
            "tool.buildlib.credentials.username-env",
            "is empty",
        ),
        (
            "[tool.buildlib.release]",
            '[tool.buildlib.credentials]\ntoken-env = " "\n\n[tool.buildlib.release]',
            "tool.buildlib.credentials.token-env",
            "is empty",
        ),
    ],
)
def test_an_empty_environment_variable_name_is_refused(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    path = write_repo(tmp_path, old, new)
    error = load_error(tmp_path)
    assert error.message.startswith(f"{key} ") and error.message.endswith(problem)
    name = key.rsplit(".", 1)[-1]
    assert error.location == f"pyproject.toml:{line_of(path, name + ' =')}"
    assert error.hint is not None and error.hint.startswith(f"name the variable, e.g. {name} = ")


@pytest.mark.parametrize("key", ["A B", "-X", "1A", "A.B", ""])
def test_a_build_arg_key_outside_the_grammar_is_refused_at_its_line(
    tmp_path: Path, key: str
) -> None:
    path = write_repo(
        tmp_path,
        'dockerfile = "Dockerfile-cpu"\n',
        f'dockerfile = "Dockerfile-cpu"\n\n[tool.buildlib.images.cpu.build-args]\n'
        f'BASE = "x"\n"{key}" = "C"\n',
    )
    error = load_error(tmp_path)
    assert error.message.startswith(
        f"tool.buildlib.images.cpu.build-args: {key!r} is not a build argument name"
    )
    its_line = line_of(path, '= "C"')
    assert error.location == f"pyproject.toml:{its_line}"


def test_an_inline_build_arg_key_is_located_at_its_table(tmp_path: Path) -> None:
    refused_at(
        tmp_path,
        'dockerfile = "Dockerfile-cpu"\n',
        'dockerfile = "Dockerfile-cpu"\nbuild-args = { "A B" = "C" }\n',
        at="build-args =",
    )


def test_allow_build_args_must_name_build_args(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path,
        'default-tag = "local"',
        'default-tag = "local"\nallow-build-args = ["A B"]',
        at="allow-build-args",
    )
    assert error.message == "tool.buildlib.allow-build-args: 'A B' is not a build argument name"


def test_repository_with_uppercase(tmp_path: Path) -> None:
    error = refused_at(tmp_path, '"runpod/tetra-rp-cpu"', '"RunPod/tetra-rp-cpu"', at="RunPod")
    assert error.message == (
        "tool.buildlib.images.cpu.repository 'RunPod/tetra-rp-cpu': it must be lowercase"
    )
    assert error.hint == "use 'runpod/tetra-rp-cpu'"


@pytest.mark.parametrize(
    ("repository", "problem", "hint"),
    [
        (
            "Bad Repo!",
            "it must be lowercase; characters ' ', '!' are not allowed",
            "use 'bad-repo'",
        ),
        ("runpod/x:1", "it contains a tag (':1'); set the tag separately", "use 'runpod/x'"),
        (
            "runpod/x@sha256:" + "a" * 64,
            f"it contains a digest ('@sha256:{'a' * 64}')",
            "use 'runpod/x'",
        ),
        ("", "it is empty", "a repository is lowercase letters"),
    ],
)
def test_a_bad_repository_names_its_key(
    tmp_path: Path, repository: str, problem: str, hint: str
) -> None:
    # as [tool.buildlib]'s registry and the image's other keys name theirs
    new = f'repository = "{repository}"'
    error = refused_at(tmp_path, 'repository = "runpod/tetra-rp-cpu"', new, at=new)
    assert error.message.startswith(
        f"tool.buildlib.images.cpu.repository {repository!r}: {problem}"
    )
    assert error.hint is not None and error.hint.startswith(hint)


@pytest.mark.parametrize(
    ("repository", "problem", "suggestion"),
    [
        (
            "runpod//x",
            "it has an empty path component (a leading, trailing or double '/')",
            "runpod/x",
        ),
        ("runpod/-x", "path component '-x' starts with '-'", "runpod/x"),
        (
            "runpod/x_-y",
            "path component 'x_-y' has the separator '_-' (use one '.', one or "
            "two '_', or one or more '-')",
            "runpod/x_y",
        ),
        ("runpod/x.", "path component 'x.' ends with '.'", "runpod/x"),
    ],
)
def test_repository_with_bad_separators(
    tmp_path: Path, repository: str, problem: str, suggestion: str
) -> None:
    error = refused_at(tmp_path, '"runpod/tetra-rp-cpu"', f'"{repository}"', at=repository)
    assert error.message == f"tool.buildlib.images.cpu.repository {repository!r}: {problem}"
    assert error.hint == f"use {suggestion!r}"


@pytest.mark.parametrize(
    ("tag", "problem", "suggestion"),
    [
        ("-local", "it starts with '-'", "local"),
        ("my tag", "character ' ' is not allowed", "my-tag"),
        (".hidden", "it starts with '.'", "hidden"),
    ],
)
def test_default_tag_breaking_the_tag_grammar(
    tmp_path: Path, tag: str, problem: str, suggestion: str
) -> None:
    error = refused_at(
        tmp_path, 'default-tag = "local"', f'default-tag = "{tag}"', at="default-tag"
    )
    # the key, as the other [tool.buildlib] errors and --tag's name where the value stands
    assert error.message == f"tool.buildlib.default-tag: invalid Docker tag {tag!r}: {problem}"
    assert error.hint is not None and error.hint.startswith(f"use {suggestion!r}; a tag is")


def test_default_tag_too_long(tmp_path: Path) -> None:
    write_repo(tmp_path, 'default-tag = "local"', f'default-tag = "{"a" * 129}"')
    error = load_error(tmp_path)
    assert "it is 129 characters long (at most 128)" in error.message


def test_invalid_version(tmp_path: Path) -> None:
    write_repo(tmp_path, 'version = "1.2.3"', 'version = "1.2.x"')
    error = load_error(tmp_path)
    assert error.message == "invalid PEP 440 version '1.2.x'"
    assert error.location == "pyproject.toml:3"
    assert error.hint is not None and "'1.2.3rc1'" in error.hint and "pep-0440" in error.hint


def test_unquoted_version(tmp_path: Path) -> None:
    write_repo(tmp_path, 'version = "1.2.3"', "version = 1.2")
    error = load_error(tmp_path)
    assert error.message == "[project].version is missing or not a string"
    assert error.location == "pyproject.toml:3"
    assert error.hint is not None and 'version = "0.1.0"' in error.hint


def test_a_version_too_long_for_a_docker_tag_is_refused_at_its_line(tmp_path: Path) -> None:
    # release tags the images with it ('+' as '-'): a tag is at most 128 characters
    write_repo(tmp_path, 'version = "1.2.3"', f'version = "1.0+{"a" * 124}"')
    assert len(str(config_module.load(tmp_path).version)) == 128
    error = refused_at(tmp_path, 'version = "1.2.3"', f'version = "1.0+{"a" * 125}"', at="1.0+")
    # the tag itself is named, as release would make it: what the version turns into
    assert error.message == (
        f"[project].version makes an invalid Docker tag '1.0-{'a' * 125}': it is 129 "
        "characters long (at most 128)"
    )
    assert error.hint == (
        "shorten it: release tags the images with it (a local version, after '+', is part of "
        "the tag)"
    )


@pytest.mark.parametrize(
    ("broken", "line", "column", "reason"),
    [
        ('tag-env "TETRA_IMAGE_TAG"', 8, 9, "Expected '=' after a key in a key/value pair"),
        ('tag-env = "TETRA_IMAGE_TAG', 8, 27, "Illegal character '\\n'"),
        ('tag-env = ["a",', 9, 1, None),
    ],
)
def test_toml_syntax_error_has_line_and_column(
    tmp_path: Path, broken: str, line: int, column: int, reason: str | None
) -> None:
    write_repo(tmp_path, 'tag-env = "TETRA_IMAGE_TAG"', broken)
    error = load_error(tmp_path)
    assert error.location == f"pyproject.toml:{line}:{column}"
    assert error.message.startswith("invalid TOML: ")
    assert "(at line" not in error.message  # the position moved into the location
    if reason:
        assert error.message == f"invalid TOML: {reason}"
    assert error.hint == "fix the syntax at that position"


def test_default_group_naming_an_unknown_image(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path,
        'default-group = ["gpu", "cpu"]',
        'default-group = ["gpu", "cpuu"]',
        at="default-group",
    )
    # the whole key, as every other [tool.buildlib] error names its own
    assert error.message == (
        "tool.buildlib.default-group names unknown image 'cpuu' (did you mean 'cpu'?)"
    )
    assert error.hint == "use names from [tool.buildlib.images]: gpu, cpu"


def test_platforms_that_is_not_a_list(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path, 'platforms = ["linux/amd64"]', 'platforms = "linux/amd64"', at="platforms"
    )
    assert error.message == "tool.buildlib.images.gpu.platforms must be a list, not string"
    assert error.hint == 'write a list: platforms = ["linux/amd64"]'


@pytest.mark.parametrize(
    ("platform", "problem"),
    [
        ("linux/amd46", "names no known architecture 'amd46' (did you mean 'amd64'?)"),
        ("linux/arm46/v8", "names no known architecture 'arm46' (did you mean 'arm64'?)"),
        ("lniux/amd64", "names no known operating system 'lniux' (did you mean 'linux'?)"),
        ("linux/pentium", "names no known architecture 'pentium'"),
    ],
)
def test_a_platform_docker_knows_no_word_of_is_refused_at_its_line(
    tmp_path: Path, platform: str, problem: str
) -> None:
    error = refused_at(
        tmp_path, 'platforms = ["linux/amd64"]', f'platforms = ["{platform}"]', at="platforms"
    )
    assert error.message == f"tool.buildlib.images.gpu.platforms: {platform!r} {problem}"


@pytest.mark.parametrize("platform", ["linux/arm/v6", "windows/amd64", "linux/riscv64"])
def test_the_platforms_containerd_knows_are_taken(tmp_path: Path, platform: str) -> None:
    write_repo(tmp_path, 'platforms = ["linux/amd64"]', f'platforms = ["{platform}"]')
    assert config_module.load(tmp_path).images[0].platforms == (platform,)


def test_an_alias_is_taken_by_the_name_the_registry_lists_the_image_under(tmp_path: Path) -> None:
    # docker 20.10 builds --platform linux/x86_64 as linux/amd64: the very same image
    written = ["linux/x86_64", "Linux/AArch64", "linux/armhf", "linux/armel", "macos/arm64"]
    named = ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "darwin/arm64")
    write_repo(tmp_path, 'platforms = ["linux/amd64"]', f"platforms = {written}")
    platforms = config_module.load(tmp_path).images[0].platforms
    assert platforms == named
    assert parse_platforms(",".join(written)) == named
    # a re-run of a release compares them with the platforms the registry's index lists
    listed = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "darwin/arm64"]
    assert platform_set(platforms) == platform_set(listed)


@pytest.mark.parametrize(
    ("written", "named", "listed"),
    [
        # containerd/platforms database.go normalizeArch, rule by rule; "listed" is how docker
        # 20.10's daemon names the image built for "written" (checked; but linux/arm: BuildKit's
        # arm/v7, where the legacy builder leaves the variant out)
        ("linux/arm", "linux/arm/v7", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7", "linux/arm/v7"),
        ("linux/arm/6", "linux/arm/v6", "linux/arm/v6"),
        ("linux/arm/5", "linux/arm/v5", "linux/arm/v5"),
        ("linux/arm/8", "linux/arm/v8", "linux/arm/v8"),
        ("linux/arm64/8", "linux/arm64", "linux/arm64/v8"),
        ("linux/arm64/V8", "linux/arm64", "linux/arm64/v8"),
        ("linux/amd64/v1", "linux/amd64", "linux/amd64"),
        ("linux/x86_64/v1", "linux/amd64", "linux/amd64"),
        ("linux/x86_64/v2", "linux/amd64/v2", "linux/amd64/v2"),
        ("linux/i386/v2", "linux/386", "linux/386"),
        ("linux/armhf/v6", "linux/arm/v7", "linux/arm/v7"),
        # containerd/platforms since v1.0.0-rc.0 (buildx since v0.20) names it v9; docker
        # 20.10 keeps 9 as written but builds the v9 buildlib passes as v9 (checked)
        ("linux/arm64/9", "linux/arm64/v9", "linux/arm64/v9"),
    ],
)
def test_a_variant_is_taken_by_the_name_the_registry_lists_the_image_under(
    tmp_path: Path, written: str, named: str, listed: str
) -> None:
    write_repo(tmp_path, 'platforms = ["linux/amd64"]', f'platforms = ["{written}"]')
    platforms = config_module.load(tmp_path).images[0].platforms
    assert platforms == parse_platforms(written) == (named,)
    assert platform_set(platforms) == platform_set([listed])


@pytest.mark.parametrize(
    ("written", "named"),
    [
        # containerd/platforms platforms.go Parse: a part matches [A-Za-z0-9_-]+ (docker 20.10's
        # copy too); database.go normalizeArch names x86-64 amd64. docker 20.10's BuildKit builds
        # linux/x86-64 as linux/amd64 and keeps linux/amd64/v_2 as written (checked)
        ("linux/x86-64", "linux/amd64"),
        ("Linux/X86-64/v1", "linux/amd64"),
        ("linux/amd64/v_2", "linux/amd64/v_2"),
        ("linux/arm/v7-x", "linux/arm/v7-x"),
    ],
)
def test_a_platform_with_a_dash_or_underscore_docker_takes_is_taken(
    tmp_path: Path, written: str, named: str
) -> None:
    write_repo(tmp_path, 'platforms = ["linux/amd64"]', f'platforms = ["{written}"]')
    assert config_module.load(tmp_path).images[0].platforms == (named,)
    assert parse_platforms(written) == (named,)


def test_an_os_with_a_dash_is_refused_as_no_known_os(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path, 'platforms = ["linux/amd64"]', 'platforms = ["lin-ux/amd64"]', at="platforms"
    )
    assert error.message == (
        "tool.buildlib.images.gpu.platforms: 'lin-ux/amd64' names no known operating system "
        "'lin-ux' (did you mean 'linux'?)"
    )


@pytest.mark.parametrize("platform", ["wasi/wasm", "wasip1/wasm"])
def test_a_wasm_platform_docker_builds_is_taken(tmp_path: Path, platform: str) -> None:
    # Docker's Wasm workloads are built and run with --platform wasi/wasm
    write_repo(tmp_path, 'platforms = ["linux/amd64"]', f'platforms = ["{platform}"]')
    assert config_module.load(tmp_path).images[0].platforms == (platform,)
    assert parse_platforms(platform) == (platform,)


def test_platforms_list_of_non_strings(tmp_path: Path) -> None:
    error = refused_at(tmp_path, 'platforms = ["linux/amd64"]', "platforms = [1]", at="platforms")
    assert error.message == "tool.buildlib.images.gpu.platforms must be a list of strings"
    assert error.hint == 'e.g. platforms = ["a", "b"]'


def test_a_platform_in_capitals_is_taken_and_lowered_for_every_later_comparison(
    tmp_path: Path,
) -> None:
    # docker lowers it (containerd/platforms Parse; docker 20.10 builds --platform Linux/AMD64)
    write_repo(
        tmp_path, 'platforms = ["linux/amd64"]', 'platforms = ["Linux/AMD64", "LINUX/arm64"]'
    )
    assert config_module.load(tmp_path).images[0].platforms == ("linux/amd64", "linux/arm64")
    rows = {row["image"]: row for row in image_matrix(tmp_path)["include"]}
    assert rows["gpu"]["emulate"] == "linux/arm64", "the runner's own platform needs no QEMU"
    assert parse_platforms("Linux/AMD64,linux/ARM/V7") == ("linux/amd64", "linux/arm/v7")
    with pytest.raises(UsageError) as caught:
        parse_platforms("Linux/AMD46")
    assert caught.value.message.startswith("--platform 'Linux/AMD46' names no known architecture")


@pytest.mark.parametrize("platform", ["linux-amd64", "linux", "linux/amd64/v8/x", "linux/"])
def test_bad_platform_string(tmp_path: Path, platform: str) -> None:
    error = refused_at(
        tmp_path,
        'platforms = ["linux/amd64"]',
        f'platforms = ["linux/arm64", "{platform}"]',
        at="platforms",
    )
    assert error.message == (
        f"tool.buildlib.images.gpu.platforms: {platform!r} is not os/arch[/variant]"
    )
    assert error.hint == 'e.g. platforms = ["linux/amd64", "linux/arm64"]'


@pytest.mark.parametrize(
    ("platform", "problem"),
    [
        # docker 20.10's daemon refuses linux/arm64/v8.2 (only later containerd takes a ".")
        ("linux/arm64/v8.2", "has '.' in its variant 'v8.2'"),
        ("Linux/AMD 64", "has ' ' in its architecture 'AMD 64'"),
        ("linux/*", "has '*' in its architecture '*'"),
        ("linux:1/amd64", "has ':' in its operating system 'linux:1'"),
        ("linux/x86.64:1", "has '.' in its architecture 'x86.64:1'"),  # the first one
    ],
)
def test_a_platform_with_a_character_docker_refuses_names_it(
    tmp_path: Path, platform: str, problem: str
) -> None:
    error = refused_at(
        tmp_path, 'platforms = ["linux/amd64"]', f'platforms = ["{platform}"]', at="platforms"
    )
    problem = f"{platform!r} {problem}: each part is letters, digits, '_' or '-'"
    assert error.message == f"tool.buildlib.images.gpu.platforms: {problem}"
    assert error.hint == 'e.g. platforms = ["linux/amd64", "linux/arm64"]'
    with pytest.raises(UsageError) as caught:
        parse_platforms(f"linux/amd64,{platform}")
    assert caught.value.message == f"--platform {problem}"


def test_a_platform_with_an_os_version_is_refused_with_the_form_to_write(tmp_path: Path) -> None:
    # docker's parser takes it (containerd/platforms), but buildx drops the version
    platform = "windows(10.0.17763)/amd64"
    error = refused_at(
        tmp_path, 'platforms = ["linux/amd64"]', f'platforms = ["{platform}"]', at="platforms"
    )
    problem = f"{platform!r} names an OS version: buildlib takes 'windows/amd64', without one"
    assert error.message == f"tool.buildlib.images.gpu.platforms: {problem}"
    with pytest.raises(UsageError) as caught:
        parse_platforms(f"linux/amd64,{platform}")
    assert caught.value.message == f"--platform {problem}"


@pytest.mark.parametrize(
    ("first", "second", "problem"),
    [
        ("linux/arm", "linux/arm/v7", "'linux/arm' and 'linux/arm/v7' are one platform"),
        ("linux/x86_64", "Linux/AMD64", "'linux/x86_64' and 'Linux/AMD64' are one platform"),
        ("linux/amd64", "linux/amd64", "'linux/amd64' is listed twice"),
        ("linux/arm64/9", "linux/arm64/v9", "'linux/arm64/9' and 'linux/arm64/v9' are one"),
    ],
)
def test_one_platform_twice_is_refused_by_both_spellings(
    tmp_path: Path, first: str, second: str, problem: str
) -> None:
    # buildx passes both on; BuildKit warns "Duplicate platform result requested"
    error = refused_at(
        tmp_path,
        'platforms = ["linux/amd64"]',
        f'platforms = ["{first}", "linux/arm64", "{second}"]',
        at="platforms",
    )
    assert error.message.startswith(f"tool.buildlib.images.gpu.platforms: {problem}")
    with pytest.raises(UsageError) as caught:
        parse_platforms(f"{first},{second}")
    assert caught.value.message.startswith(f"--platform {problem}")


def test_platform_with_variant_is_accepted(tmp_path: Path) -> None:
    write_repo(
        tmp_path, 'platforms = ["linux/amd64"]', 'platforms = ["linux/amd64", "linux/arm/v7"]'
    )
    assert config_module.load(tmp_path).image("gpu").platforms == ("linux/amd64", "linux/arm/v7")


def test_git_tag_without_version_placeholder(tmp_path: Path) -> None:
    error = refused_at(tmp_path, 'git-tag = "v{version}"', 'git-tag = "release"', at="git-tag")
    assert error.message == "tool.buildlib.release.git-tag 'release' has no {version} placeholder"
    assert error.hint == 'e.g. git-tag = "v{version}" (release-please\'s default)'


@pytest.mark.parametrize(
    ("pattern", "hint_start"),
    [("majr", "did you mean 'major'? valid patterns: "), ("stable", "valid patterns: ")],
)
def test_unknown_floating_tag_pattern(tmp_path: Path, pattern: str, hint_start: str) -> None:
    error = refused_at(
        tmp_path, '"major", "latest"]', f'"{pattern}", "latest"]', at="floating-tags"
    )
    # the key, as the release table's other errors name theirs
    assert error.message == f"tool.buildlib.release.floating-tags: unknown tag pattern {pattern!r}"
    assert error.hint == hint_start + "'version', 'major.minor', 'major', 'latest'"


def test_image_table_that_is_a_string(tmp_path: Path) -> None:
    path = write_repo(tmp_path, 'default-tag = "local"', 'default-tag = "local"\nimages = "gpu"')
    text = path.read_text()
    # drop the image tables, which would now redefine `images`
    path.write_text(text.split("[tool.buildlib.images.gpu]")[0], encoding="utf-8")
    error = load_error(tmp_path)
    assert error.message == "tool.buildlib.images must be a table, not string"
    assert error.location == f"pyproject.toml:{line_of(path, 'images =')}"
    assert error.hint == "make it a table: [tool.buildlib.images]"


def test_image_without_repository(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path, 'repository = "runpod/tetra-rp-cpu"\n', "", at="[tool.buildlib.images.cpu]"
    )
    assert error.message == "tool.buildlib.images.cpu has no 'repository'"
    assert error.hint == "add repository = ... to [tool.buildlib.images.cpu]"


def test_image_without_repository_is_located_at_its_own_header_not_a_sub_table_before_it(
    tmp_path: Path,
) -> None:
    # TOML lets a sub-table come first: the error names the image's table, so it points there
    error = refused_at(
        tmp_path,
        '[tool.buildlib.images.cpu]\nrepository = "runpod/tetra-rp-cpu"\n',
        '[tool.buildlib.images.cpu.build-args]\nBASE = "x"\n\n[tool.buildlib.images.cpu]\n',
        at="[tool.buildlib.images.cpu]",
    )
    assert error.message == "tool.buildlib.images.cpu has no 'repository'"


def test_bad_registry(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path, 'registry = "docker.io"', 'registry = "https://docker.io"', at="registry ="
    )
    assert error.message == (
        "tool.buildlib.registry 'https://docker.io': not a registry host[:port] "
        "(no scheme, no path)"
    )
    assert error.hint is not None and "127.0.0.1:5000" in error.hint


def test_a_registry_with_a_path_says_where_the_path_goes_as_the_flag_does(
    tmp_path: Path,
) -> None:
    from buildlib.options import registry_override

    error = refused_at(
        tmp_path, 'registry = "docker.io"', 'registry = "ghcr.io/org"', at="registry ="
    )
    with pytest.raises(UsageError) as flag:
        registry_override("ghcr.io/org", {})
    assert error.hint == flag.value.hint
    assert error.hint is not None
    assert error.hint.endswith(
        "; the repository part comes from [tool.buildlib.images.*].repository"
    )


@pytest.mark.parametrize(
    ("given", "shown"),
    [("https://ci:tok3n", "https://ci:***"), ("ci:tok3n@ghcr.io", "***@ghcr.io")],
)
def test_a_registry_holding_a_token_is_refused_without_it(
    tmp_path: Path, given: str, shown: str
) -> None:
    error = refused_at(tmp_path, 'registry = "docker.io"', f'registry = "{given}"', at="registry =")
    assert error.message == (
        f"tool.buildlib.registry '{shown}': not a registry host[:port] (no scheme, no path)"
    )
    assert "tok3n" not in str(error)


@pytest.mark.parametrize(
    ("registry", "problem"),
    [
        ("...", "not a registry host[:port] (no scheme, no path)"),
        ("-", "not a registry host[:port] (no scheme, no path)"),
        ("host:99999999", "port 99999999 is not between 1 and 65535"),
        ("host:0", "port 0 is not between 1 and 65535"),
        ("[::1::2]:5000", "[::1::2] is not an IPv6 address"),
    ],
)
def test_a_registry_outside_the_reference_grammar_is_refused(
    tmp_path: Path, registry: str, problem: str
) -> None:
    error = refused_at(
        tmp_path, 'registry = "docker.io"', f'registry = "{registry}"', at="registry ="
    )
    assert error.message == f"tool.buildlib.registry {registry!r}: {problem}"


def test_an_ipv6_registry_with_a_port_is_accepted(tmp_path: Path) -> None:
    write_repo(tmp_path, 'registry = "docker.io"', 'registry = "[::1]:5000"')
    assert config_module.load(tmp_path).registry == "[::1]:5000"


def test_rendered_error_is_one_line_with_location_and_fix(tmp_path: Path) -> None:
    write_repo(tmp_path, 'default-group = ["gpu", "cpu"]', 'default-group = ["gpx"]')
    error = load_error(tmp_path)
    assert str(error) == (
        "pyproject.toml:7: tool.buildlib.default-group names unknown image 'gpx' (did you "
        "mean 'gpu'?) (fix: use names from [tool.buildlib.images]: gpu, cpu)"
    )
    assert error.exit_code == 2


# --- Config.select ------------------------------------------------------------------------


def test_select_defaults_and_matrix_order(tmp_path: Path) -> None:
    write_repo(tmp_path)
    config = config_module.load(tmp_path)
    assert [i.name for i in config.select(None)] == ["gpu", "cpu"]
    assert [i.name for i in config.select([])] == ["gpu", "cpu"]
    assert [i.name for i in config.select(["cpu"])] == ["cpu"]
    assert [i.name for i in config.select(["cpu", "gpu"])] == ["gpu", "cpu"]


def test_select_of_this_repository_can_name_lb() -> None:
    config = config_module.load(REPO)
    assert [i.name for i in config.select(["lb", "gpu"])] == ["gpu", "lb"]
    assert [i.name for i in config.select(None)] == ["gpu", "cpu"]


@pytest.mark.parametrize(("name", "suggestion"), [("gpuu", " (did you mean 'gpu'?)"), ("zzz", "")])
def test_select_unknown_image_suggests(name: str, suggestion: str) -> None:
    config = config_module.load(REPO)
    with pytest.raises(ConfigError) as caught:
        config.select(["cpu", name])
    assert caught.value.message == f"unknown image {name!r}{suggestion}"
    assert caught.value.hint == "use one of: gpu, cpu, lb"


@pytest.mark.parametrize(
    ("git_tag", "problem"),
    [("{version}/{name}", "only {version} may stand in braces"), ("v{version}{", "only {version}")],
)
def test_a_git_tag_template_with_other_braces_is_refused(tmp_path, git_tag, problem) -> None:
    write_repo(tmp_path, 'git-tag = "v{version}"', f'git-tag = "{git_tag}"')
    error = load_error(tmp_path)
    assert problem in error.message
    assert error.location == f"pyproject.toml:{line_of(tmp_path / 'pyproject.toml', 'git-tag')}"


def test_a_git_tag_template_with_two_versions_is_refused(tmp_path: Path) -> None:
    # versions.version_in_tag reads the text at one {version}: a tag such as v1.2.3-1.2.3
    # would never be read back as the release it is
    write_repo(tmp_path, 'git-tag = "v{version}"', 'git-tag = "v{version}-{version}"')
    error = load_error(tmp_path)
    assert error.message == (
        "tool.buildlib.release.git-tag 'v{version}-{version}': {version} may stand in it only once"
    )
    assert error.location is not None and error.location.endswith(
        f":{line_of(tmp_path / 'pyproject.toml', 'git-tag')}"
    )


def test_a_bom_before_the_toml_is_reported_as_a_bom(tmp_path: Path) -> None:
    path = write_repo(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    error = load_error(tmp_path)
    # relative to the root as every other error, and said once
    assert str(error) == (
        "pyproject.toml:1 starts with a UTF-8 byte order mark (BOM), which TOML does not allow "
        "(fix: save pyproject.toml as UTF-8 without a BOM)"
    )


def test_unreadable_pyproject_is_one_config_error(tmp_path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_bytes(b'[project]\nname = "\xff"\n')
    error = load_error(tmp_path)
    assert (
        str(error)
        == "pyproject.toml is not UTF-8 text (byte 18) (fix: save pyproject.toml as UTF-8)"
    )

    path.unlink()
    path.mkdir()
    error = load_error(tmp_path)
    assert str(error).startswith("cannot read pyproject.toml: Is a directory (fix: ")
    assert error.hint == "check that it is a readable file"

    afile = tmp_path / "README.md"
    afile.write_text("x")
    assert load_error(afile).message == f"{afile} is not a directory"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('default-tag = "local"', 'default-tag = "local"\nsbom = "yes"'),
        ('default-tag = "local"', 'default-tag = "local"\nimages.extra = "x"'),
        (
            'dockerfile = "Dockerfile-cpu"',
            'dockerfile = "Dockerfile-cpu"\nbuild-args = { A = [1] }',
        ),
        (
            'dockerfile = "Dockerfile-cpu"',
            'dockerfile = "Dockerfile-cpu"\nbuild-args = { 1A = "x" }',
        ),
        ('dockerfile = "Dockerfile-cpu"', 'dockerfile = "Dockerfile-cpu"\nplatforms = ["linux"]'),
        ('dockerfile = "Dockerfile-cpu"', 'dockerfile = "Dockerfile-cpu"\ncontext = ".."'),
        ('git-tag = "v{version}"', 'git-tag = "v{version}{x}"'),
        ('tag-env = "TETRA_IMAGE_TAG"', 'tag-env = "A-B"'),
        ('default-group = ["gpu", "cpu"]', 'default-group = "gpu"'),
    ],
)
def test_every_error_points_at_its_line_and_gives_the_fix(
    tmp_path: Path, old: str, new: str
) -> None:
    """What users see of a bad table: the key's file:line, and the fix to write there."""
    write_repo(tmp_path, old, new)
    error = load_error(tmp_path)
    assert error.location is not None and error.location.startswith("pyproject.toml:")
    assert error.location.removeprefix("pyproject.toml:").isdigit(), error.location
    assert error.hint, error.message


def test_a_tool_that_is_not_a_table_is_one_config_error(tmp_path) -> None:
    write_repo(tmp_path)
    path = tmp_path / "pyproject.toml"
    text = path.read_text()
    head, _, _ = text.partition("[tool.buildlib]")
    path.write_text('tool = "x"\n' + head)  # a top-level key: before any table
    assert load_error(tmp_path).message == "missing [tool.buildlib] table"


def test_no_images_is_located_at_the_buildlib_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "demo"\nversion = "1.0.0"\n\n[tool.buildlib]\n')
    error = load_error(tmp_path)
    assert error.message == "no images configured"
    assert error.location == "pyproject.toml:5"
    assert error.hint is not None and error.hint.startswith("add [tool.buildlib.images.NAME]")


def test_unknown_key_in_the_release_table(tmp_path: Path) -> None:
    error = refused_at(
        tmp_path,
        'git-tag = "v{version}"',
        'git-tag = "v{version}"\nfloating = ["latest"]',
        at="floating = ",
    )
    assert error.message.startswith("unknown key tool.buildlib.release.floating")


def test_unknown_key_in_the_credentials_table(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        'git-tag = "v{version}"',
        'git-tag = "v{version}"\n\n[tool.buildlib.credentials]\npassword-env = "X"',
    )
    error = load_error(tmp_path)
    assert error.message.startswith("unknown key tool.buildlib.credentials.password-env")


def test_a_directory_is_not_a_dockerfile(tmp_path: Path) -> None:
    write_repo(tmp_path, 'dockerfile = "Dockerfile-cpu"', 'dockerfile = "docker"')
    (tmp_path / "docker").mkdir()
    error = load_error(tmp_path)
    assert error.message.startswith("tool.buildlib.images.cpu.dockerfile 'docker' ")


def test_the_locator_is_the_one_toml_locator() -> None:
    from buildlib.config import Locator

    text = (
        "[project]\n"
        'name = "demo"\n'
        "'version' = \"1.0\"\n"
        "\n"
        "[tool.buildlib]\n"
        'images.gpu.repository = "a/b"\n'
        "\n"
        "[tool.buildlib.images.cpu]\n"
        'build-args = { BASE = "x", HF_TOKEN = "y" }\n'
        "\n"
        "[tool.buildlib.images.lb.build-args]\n"
        'TOKEN = "z"\n'
    )
    where = Locator(text, "pyproject.toml")
    assert where.key_line("project", "version") == 3  # quoted key
    assert where.key_line("project", "missing") == 1  # the table's header
    assert where.key_line("tool.buildlib.images.gpu", "repository") == 6  # dotted form
    assert where.key_line("tool.other", "x") is None
    assert where.build_arg_line("tool.buildlib.images.cpu", "HF_TOKEN") == 9  # inline table
    assert where.build_arg_line("tool.buildlib.images.lb", "TOKEN") == 12
