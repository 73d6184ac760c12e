"""Each key of ``[tool.buildlib]`` one at a time: its default, its type check, and the
complete error a wrong value gives (message, file:line, fix), through ``buildlib.config``'s
public functions only."""

from __future__ import annotations

import locale
import subprocess
from pathlib import Path

import pytest
from packaging.version import Version

from buildlib import config as config_module
from buildlib.errors import REFERENCE, ConfigError
from tests.support.config_repo import line_of, load_error, write_repo

HEAD = '[project]\nname = "demo"\nversion = "1.0.0"\n\n'
APP = '[tool.buildlib.images.app]\nrepository = "org/app"\ndockerfile = "Dockerfile"\n'


def repo(root: Path, text: str) -> Path:
    """``root`` with ``text`` as pyproject.toml and a Dockerfile."""
    (root / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    path = root / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- [project] and [tool.buildlib] themselves ---------------------------------------------


@pytest.mark.parametrize("text", ["[tool.buildlib]\nx = 1\n", 'project = "demo"\n'])
def test_a_missing_project_table(tmp_path: Path, text: str) -> None:
    repo(tmp_path, text)
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "missing [project] table",
        "pyproject.toml",
        "add [project] with name and version",
    )


def test_a_missing_version_points_at_the_project_header(tmp_path: Path) -> None:
    repo(tmp_path, '\n[project]\nname = "demo"\n\n[tool.buildlib]\n')
    error = load_error(tmp_path)
    assert error.message == "[project].version is missing or not a string"
    assert error.location == "pyproject.toml:2"
    assert error.hint == 'set version = "0.1.0", the version of the images'


def test_a_version_missing_from_an_inline_project_table_is_located_at_it(tmp_path: Path) -> None:
    repo(tmp_path, 'project = { name = "demo" }\n')
    assert load_error(tmp_path).location == "pyproject.toml:1"


@pytest.mark.parametrize("tool", ["", "[tool.other]\nx = 1\n", 'tool = "x"\n'])
def test_a_missing_buildlib_table(tmp_path: Path, tool: str) -> None:
    text = HEAD + tool if not tool.startswith("tool =") else tool + HEAD
    repo(tmp_path, text)
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "missing [tool.buildlib] table",
        "pyproject.toml",
        f"add [tool.buildlib.images.NAME] tables with repository and dockerfile (see {REFERENCE})",
    )


def test_the_project_needs_no_name(tmp_path: Path) -> None:
    repo(tmp_path, '[project]\nversion = "2.0"\n\n' + APP)
    config = config_module.load(tmp_path)
    assert (config.version, config.version_text) == (Version("2.0"), "2.0")


def test_load_takes_a_string_and_resolves_the_root(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    repo(tmp_path, HEAD + APP)
    config = config_module.load(str(tmp_path / "sub" / ".."))
    assert config.root == tmp_path.resolve()
    assert config.image_names == ("app",)


def test_defaults_hold_no_image(tmp_path: Path) -> None:
    default = config_module.Config(root=tmp_path)
    assert (default.root, default.version, default.version_text) == (
        tmp_path,
        Version("0"),
        "0",
    )
    assert (default.images, default.default_group, default.image_names) == ((), (), ())
    assert (default.registry, default.default_tag, default.tag_env) == (
        "docker.io",
        "local",
        "BUILDLIB_IMAGE_TAG",
    )
    assert (default.source, default.main_branch, default.line_ending_globs) == (None, "main", ())
    assert (default.allow_build_args, default.provenance, default.sbom, default.sha_tag) == (
        (),
        True,
        True,
        False,
    )
    assert default.release == config_module.ReleaseConfig(
        "v{version}", ("major.minor", "major", "latest")
    )
    assert default.credentials == config_module.CredentialsConfig(
        "DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN"
    )


def test_a_minimal_table_takes_every_default(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + APP)
    config = config_module.load(tmp_path)
    assert config == config_module.Config(
        root=tmp_path.resolve(),
        version=Version("1.0.0"),
        version_text="1.0.0",
        images=(config_module.ImageSpec("app", "org/app", "Dockerfile", ".", title="org/app"),),
        default_group=("app",),
    )
    image = config.image("app")
    assert (image.build_args, image.platforms, image.title, image.target) == (
        (),
        (),
        "org/app",
        None,
    )


def test_every_value_is_read(tmp_path: Path) -> None:
    table = (
        "[tool.buildlib]\n"
        'registry = "ghcr.io"\ndefault-tag = "dev"\ntag-env = "MY_TAG"\n'
        'default-group = ["app"]\n\n'
        + APP
        + 'title = "The app"\ntarget = "final"\nplatforms = ["linux/arm64"]\n'
        'context = "ctx"\n\n'
        "[tool.buildlib.images.app.build-args]\n"
        'S = "s"\nN = 1\nF = 1.5\nB = true\n\n'
        "[tool.buildlib.images.two]\n"
        'repository = "org/two"\ndockerfile = "Dockerfile"\n\n'
        '[tool.buildlib.release]\ngit-tag = "release-{version}"\nfloating-tags = ["latest"]\n\n'
        '[tool.buildlib.credentials]\nusername-env = "_U1"\ntoken-env = "T"\n'
    )
    (tmp_path / "ctx").mkdir()
    repo(tmp_path, HEAD + table)
    dockerfile = "FROM scratch AS final\nARG S N=0 F B\n"
    (tmp_path / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    config = config_module.load(tmp_path)
    assert (config.registry, config.default_tag, config.tag_env) == ("ghcr.io", "dev", "MY_TAG")
    assert config.default_group == ("app",)
    assert config.image_names == ("app", "two")
    assert config.image("app") == config_module.ImageSpec(
        name="app",
        repository="org/app",
        dockerfile="Dockerfile",
        context="ctx",
        build_args=(("S", "s"), ("N", "1"), ("F", "1.5"), ("B", "true")),
        platforms=("linux/arm64",),
        title="The app",
        target="final",
    )
    assert config.release.git_tag == "release-{version}"
    assert config.release.git_tag_for("2.0.1") == "release-2.0.1"
    assert config.release.floating_tags == ("latest",)
    assert (config.credentials.username_env, config.credentials.token_env) == ("_U1", "T")


@pytest.mark.parametrize(
    ("floating", "expected"),
    [
        ("", ("major.minor", "major", "latest")),
        ("floating-tags = []", ()),
        ('floating-tags = ["version"]', ("version",)),
    ],
)
def test_floating_tags_default_and_explicit(
    tmp_path: Path, floating: str, expected: tuple[str, ...]
) -> None:
    repo(tmp_path, HEAD + APP + "\n[tool.buildlib.release]\n" + floating + "\n")
    assert config_module.load(tmp_path).release.floating_tags == expected


def test_an_empty_default_group_means_every_image(tmp_path: Path) -> None:
    repo(
        tmp_path, HEAD + "[tool.buildlib]\ndefault-group = []\n\n" + APP + APP.replace("app", "bpp")
    )
    assert config_module.load(tmp_path).default_group == ("app", "bpp")


# --- types: each kind of key, the name of each kind of value, and the fix ------------------


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        (
            'sbom = "yes"',
            "tool.buildlib.sbom must be a boolean, not string",
            "write true or false, without quotes: sbom = true",
        ),
        (
            "provenance = 1",
            "tool.buildlib.provenance must be a boolean, not integer",
            "write true or false, without quotes: provenance = true",
        ),
        (
            "sha-tag = 1.0",
            "tool.buildlib.sha-tag must be a boolean, not float",
            "write true or false, without quotes: sha-tag = true",
        ),
        (
            'release = "x"',
            "tool.buildlib.release must be a table, not string",
            "make it a table: [tool.buildlib.release]",
        ),
        (
            "credentials = []",
            "tool.buildlib.credentials must be a table, not list",
            "make it a table: [tool.buildlib.credentials]",
        ),
        (
            'line-ending-globs = "*.sh"',
            "tool.buildlib.line-ending-globs must be a list, not string",
            'write a list: line-ending-globs = ["*.sh"]',
        ),
        (
            "allow-build-args = 1",
            "tool.buildlib.allow-build-args must be a list, not integer",
            'write a list: allow-build-args = ["..."]',
        ),
        (
            "registry = 1",
            "tool.buildlib.registry must be a string, not integer",
            'write a string: registry = "..."',
        ),
        (
            "default-tag = true",
            "tool.buildlib.default-tag must be a string, not boolean",
            'write a string: default-tag = "..."',
        ),
        (
            "tag-env = {}",
            "tool.buildlib.tag-env must be a string, not table",
            'write a string: tag-env = "..."',
        ),
        (
            'source = ["x"]',
            "tool.buildlib.source must be a string, not list",
            'write a string: source = "..."',
        ),
        (
            "main-branch = 1",
            "tool.buildlib.main-branch must be a string, not integer",
            'write a string: main-branch = "..."',
        ),
        (
            'default-group = "app"',
            "tool.buildlib.default-group must be a list, not string",
            'write a list: default-group = ["app"]',
        ),
    ],
)
def test_a_top_level_key_of_the_wrong_type(
    tmp_path: Path, line: str, message: str, hint: str
) -> None:
    repo(tmp_path, HEAD + "[tool.buildlib]\n" + line + "\n\n" + APP)
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (message, "pyproject.toml:6", hint)


@pytest.mark.parametrize(
    ("line", "message", "hint"),
    [
        (
            'build-args = "x"',
            "build-args must be a table, not string",
            "make it a table: [tool.buildlib.images.app.build-args]",
        ),
        (
            'platforms = "linux/amd64"',
            "platforms must be a list, not string",
            'write a list: platforms = ["linux/amd64"]',
        ),
        ("title = 1", "title must be a string, not integer", 'write a string: title = "..."'),
        (
            "target = false",
            "target must be a string, not boolean",
            'write a string: target = "..."',
        ),
        ("context = 1", "context must be a string, not integer", 'write a string: context = "..."'),
    ],
)
def test_an_image_key_of_the_wrong_type(tmp_path: Path, line: str, message: str, hint: str) -> None:
    path = repo(tmp_path, HEAD + APP + line + "\n")
    error = load_error(tmp_path)
    assert error.message == "tool.buildlib.images.app." + message
    assert (error.location, error.hint) == (f"pyproject.toml:{line_of(path, line)}", hint)


@pytest.mark.parametrize(
    ("table", "line", "message"),
    [
        ("release", "git-tag = 1", "tool.buildlib.release.git-tag must be a string, not integer"),
        (
            "release",
            'floating-tags = "latest"',
            "tool.buildlib.release.floating-tags must be a list, not string",
        ),
        (
            "credentials",
            "token-env = 1",
            "tool.buildlib.credentials.token-env must be a string, not integer",
        ),
        (
            "credentials",
            "username-env = []",
            "tool.buildlib.credentials.username-env must be a string, not list",
        ),
    ],
)
def test_a_release_or_credentials_key_of_the_wrong_type(
    tmp_path: Path, table: str, line: str, message: str
) -> None:
    path = repo(tmp_path, HEAD + APP + f"\n[tool.buildlib.{table}]\n{line}\n")
    error = load_error(tmp_path)
    assert (error.message, error.location) == (message, f"pyproject.toml:{line_of(path, line)}")


@pytest.mark.parametrize("key", ["line-ending-globs", "allow-build-args", "default-group"])
def test_a_list_of_other_than_strings(tmp_path: Path, key: str) -> None:
    repo(tmp_path, HEAD + f'[tool.buildlib]\n{key} = ["a", 1]\n\n' + APP)
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        f"tool.buildlib.{key} must be a list of strings",
        "pyproject.toml:6",
        f'e.g. {key} = ["a", "b"]',
    )


def test_floating_tags_of_other_than_strings(tmp_path: Path) -> None:
    path = repo(tmp_path, HEAD + APP + "\n[tool.buildlib.release]\nfloating-tags = [1]\n")
    error = load_error(tmp_path)
    assert error.message == "tool.buildlib.release.floating-tags must be a list of strings"
    assert error.location == f"pyproject.toml:{line_of(path, 'floating-tags')}"


def test_the_allowed_build_args_error_gives_the_fix(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + '[tool.buildlib]\nallow-build-args = ["OK", "1X"]\n\n' + APP)
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "tool.buildlib.allow-build-args: '1X' is not a build argument name",
        "pyproject.toml:6",
        'list names of letters, digits and _, e.g. allow-build-args = ["SSH_KEY_PATH"]',
    )


# --- image tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("My_App", "my-app"), ("_", "app"), ("1st", "1st"), ("a.b", "a-b"), ("-x-", "x")],
)
def test_an_image_name_outside_the_grammar(tmp_path: Path, name: str, suggestion: str) -> None:
    path = repo(tmp_path, HEAD + APP.replace("images.app", f'images."{name}"'))
    error = load_error(tmp_path)
    assert error.message == f"image name {name!r} must be lowercase letters, digits and dashes"
    assert error.hint == f"rename the table, e.g. [tool.buildlib.images.{suggestion}]"
    # a quoted table name is found as a bare one is: its header's line
    assert error.location == f"pyproject.toml:{line_of(path, '[tool.buildlib.images.')}"


@pytest.mark.parametrize(
    "before",
    [
        "",
        # an [[array of tables]] header read on the way to the image's own
        '[[tool.mypy.overrides]]\nmodule = "x"\n\n',
    ],
    ids=["indented", "after-array-of-tables"],
)
def test_an_indented_image_header_is_found_at_its_line(tmp_path: Path, before: str) -> None:
    # TOML ignores the indentation before a header (spec: "Indentation is treated as
    # whitespace and ignored"): the error still names the header's line
    table = APP.replace("[tool.buildlib.images.app]", '  [tool.buildlib.images."My_App"]')
    path = repo(tmp_path, HEAD + before + table)
    error = load_error(tmp_path)
    assert error.message == "image name 'My_App' must be lowercase letters, digits and dashes"
    assert error.location == f"pyproject.toml:{line_of(path, '[tool.buildlib.images.')}"


def test_an_image_name_error_points_at_its_table(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + APP.replace("images.app", "images.App"))
    assert load_error(tmp_path).location == "pyproject.toml:5"


def test_an_image_that_is_not_a_table(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + '[tool.buildlib]\nimages.extra = "x"\n')
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "tool.buildlib.images.extra must be a table",
        "pyproject.toml:6",
        'write it as a table: [tool.buildlib.images.extra] with repository = "org/name" '
        "and dockerfile",
    )


@pytest.mark.parametrize("images", ["", "images = {}\n"])
def test_no_images(tmp_path: Path, images: str) -> None:
    repo(tmp_path, HEAD + "[tool.buildlib]\n" + images)
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "no images configured",
        "pyproject.toml:5",
        'add [tool.buildlib.images.NAME] with repository = "org/name" and dockerfile',
    )


def test_no_images_without_a_buildlib_header_names_the_table(tmp_path: Path) -> None:
    repo(tmp_path, 'tool.buildlib.registry = "docker.io"\n' + HEAD)
    assert load_error(tmp_path).location == "pyproject.toml [tool.buildlib]"


def test_an_image_without_a_dockerfile_key(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + APP.replace('dockerfile = "Dockerfile"\n', ""))
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "tool.buildlib.images.app has no 'dockerfile'",
        "pyproject.toml:5",
        "add dockerfile = ... to [tool.buildlib.images.app]",
    )


def test_a_context_outside_the_repository_gives_the_fix(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + APP + 'context = ".."\n')
    assert load_error(tmp_path).hint == (
        "point context at a folder inside the repository, relative to pyproject.toml "
        '(e.g. context = "."): docker sends all of it to the engine'
    )


def test_a_dockerfile_with_no_dockerfile_around(tmp_path: Path) -> None:
    path = repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"build/app.docker"'))
    (tmp_path / "Dockerfile").unlink()
    error = load_error(tmp_path)
    assert error.message == "tool.buildlib.images.app.dockerfile 'build/app.docker' does not exist"
    assert error.location == f"pyproject.toml:{line_of(path, 'dockerfile =')}"
    assert error.hint == "create build/app.docker or fix the path (found: none)"


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("", "is empty"),
        (".", "'.' is a folder, not a file"),
        ("docker", "'docker' is a folder, not a file"),
    ],
)
def test_an_empty_or_folder_dockerfile_says_what_it_is(
    tmp_path: Path, written: str, problem: str
) -> None:
    # "'' does not exist (fix: create  or fix the path)" told neither what was wrong nor a fix
    path = repo(tmp_path, HEAD + APP.replace('"Dockerfile"', f'"{written}"'))
    (tmp_path / "docker").mkdir()
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        f"tool.buildlib.images.app.dockerfile {problem}",
        f"pyproject.toml:{line_of(path, 'dockerfile =')}",
        'name the Dockerfile, relative to pyproject.toml, e.g. dockerfile = "Dockerfile" (found: '
        "Dockerfile)",
    )


def test_a_folder_as_dockerfile_suggests_the_dockerfiles_in_it(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"docker"'))
    (tmp_path / "Dockerfile").unlink()
    (tmp_path / "docker").mkdir()
    for name in ("app.Dockerfile", "worker.Dockerfile"):
        (tmp_path / "docker" / name).write_text("FROM scratch\n", encoding="utf-8")
    assert load_error(tmp_path).hint == (
        "name the Dockerfile, relative to pyproject.toml, e.g. dockerfile = "
        '"docker/app.Dockerfile" (found: docker/app.Dockerfile, docker/worker.Dockerfile)'
    )


def test_an_empty_dockerfile_with_no_dockerfile_around_suggests_the_usual_name(
    tmp_path: Path,
) -> None:
    repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '""'))
    (tmp_path / "Dockerfile").unlink()
    assert load_error(tmp_path).hint == (
        'name the Dockerfile, relative to pyproject.toml, e.g. dockerfile = "Dockerfile" '
        "(found: none)"
    )


def test_a_build_arg_key_error_gives_the_grammar_and_the_fix(tmp_path: Path) -> None:
    path = repo(tmp_path, HEAD + APP + 'build-args = { "A B" = "x" }\n')
    error = load_error(tmp_path)
    assert error.message == (
        "tool.buildlib.images.app.build-args: 'A B' is not a build argument name (letters, "
        "digits and _, not starting with a digit)"
    )
    assert error.location == f"pyproject.toml:{line_of(path, 'build-args')}"
    assert error.hint == 'e.g. build-args = { BASE_IMAGE = "..." }'


@pytest.mark.parametrize("value", ["[1]", "{ x = 1 }", "2026-11-30"])
def test_a_build_arg_value_that_is_not_a_scalar(tmp_path: Path, value: str) -> None:
    path = repo(
        tmp_path,
        HEAD + APP + "\n[tool.buildlib.images.app.build-args]\nOK = 1\nBAD = " + value + "\n",
    )
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "tool.buildlib.images.app.build-args.BAD must be a string",
        f"pyproject.toml:{line_of(path, 'BAD =')}",
        'quote it: BAD = "..."',
    )


def test_a_build_arg_of_an_inline_image_table_is_located_at_its_line(tmp_path: Path) -> None:
    path = repo(
        tmp_path,
        HEAD + '[tool.buildlib]\nimages = { app = { repository = "org/app", dockerfile = '
        '"Dockerfile", build-args = { "A B" = "x" } } }\n',
    )
    assert load_error(tmp_path).location == f"pyproject.toml:{line_of(path, 'build-args')}"


@pytest.mark.parametrize("branch", ["", " "])
def test_an_empty_main_branch_is_refused(tmp_path: Path, branch: str) -> None:
    # a push guards the tag named like the main branch (:main): an empty name turned the
    # guard off unseen, and doctor said "a push of : needs"
    path = repo(tmp_path, HEAD + f'[tool.buildlib]\nmain-branch = "{branch}"\n\n' + APP)
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "tool.buildlib.main-branch is empty",
        f"pyproject.toml:{line_of(path, 'main-branch')}",
        'name the branch that pushes its own tag, e.g. main-branch = "main" (or remove the key '
        "for that default)",
    )


@pytest.mark.parametrize("branch", ["main ", "ma in", "-main", "main.lock", "main/"])
def test_a_main_branch_git_refuses_is_refused(tmp_path: Path, branch: str) -> None:
    # no clone is on a branch git refuses to name so: the guard of :main would be off unseen
    path = repo(tmp_path, HEAD + f'[tool.buildlib]\nmain-branch = "{branch}"\n\n' + APP)
    error = load_error(tmp_path)
    assert (error.message, error.location) == (
        f"tool.buildlib.main-branch {branch!r} is no branch name git takes (git check-ref-format)",
        f"pyproject.toml:{line_of(path, 'main-branch')}",
    )
    assert error.hint is not None and error.hint.startswith("name the branch")


@pytest.mark.parametrize("source", ["not a url", "/srv/git/app", "file:///srv/git/app"])
def test_a_source_that_is_no_web_address_is_refused(tmp_path: Path, source: str) -> None:
    # the label would be left out unseen: a configured source replaces the git remote's
    path = repo(tmp_path, HEAD + f'[tool.buildlib]\nsource = "{source}"\n\n' + APP)
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "tool.buildlib.source is no web address of the repository, so images would carry no "
        "org.opencontainers.image.source label",
        f"pyproject.toml:{line_of(path, 'source')}",
        'e.g. source = "https://github.com/org/repo" (or remove the key: the git remote\'s '
        "address is used)",
    )


@pytest.mark.parametrize("source", ["https://example.com/demo", "git@github.com:org/repo", ""])
def test_a_source_with_a_web_address_is_taken(tmp_path: Path, source: str) -> None:
    repo(tmp_path, HEAD + f'[tool.buildlib]\nsource = "{source}"\n\n' + APP)
    assert config_module.load(tmp_path).source == source


# --- release and credentials ----------------------------------------------------------------


@pytest.mark.parametrize(
    "git_tag",
    [
        "v{version}{0}",
        "v{version}{x}",
        "v{version}}",
        "v{{version}}",
        "{version!r}{version}",
        # str.format looks these up on the version string: AttributeError, TypeError
        "v{version}-{version.major}",
        "v{version}-{version[x]}",
    ],
)
def test_a_git_tag_with_other_braces(tmp_path: Path, git_tag: str) -> None:
    path = repo(tmp_path, HEAD + APP + f"\n[tool.buildlib.release]\ngit-tag = '{git_tag}'\n")
    error = load_error(tmp_path)
    assert error.message == (
        f"tool.buildlib.release.git-tag {git_tag!r}: only {{version}} may stand in braces"
    )
    assert error.location == f"pyproject.toml:{line_of(path, 'git-tag')}"
    assert error.hint == 'e.g. git-tag = "v{version}" (release-please\'s default)'


@pytest.mark.parametrize(
    "git_tag",
    [
        "v {version}",
        "v{version}~",
        "release:{version}",
        "v{version}.lock",
        "../v{version}",
        "v{version}/",
        "-v{version}",
        "a//v{version}",
        "a/.v{version}",
        "v{version}.",
        "v{version}?",
    ],
)
def test_a_git_tag_that_git_refuses_is_refused(tmp_path: Path, git_tag: str) -> None:
    # release would look for, and tell the user to make, a tag git cannot hold
    path = repo(tmp_path, HEAD + APP + f"\n[tool.buildlib.release]\ngit-tag = '{git_tag}'\n")
    error = load_error(tmp_path)
    made = git_tag.replace("{version}", "1.2.3")
    assert (error.message, error.location, error.hint) == (
        f"tool.buildlib.release.git-tag {git_tag!r} makes tags such as {made!r}, which git "
        "refuses as a tag name (git check-ref-format)",
        f"pyproject.toml:{line_of(path, 'git-tag')}",
        'e.g. git-tag = "v{version}" (release-please\'s default)',
    )


@pytest.mark.parametrize("git_tag", ["release/v{version}", "{version}", "app-v{version}"])
def test_a_git_tag_that_git_takes_is_taken(tmp_path: Path, git_tag: str) -> None:
    repo(tmp_path, HEAD + APP + f"\n[tool.buildlib.release]\ngit-tag = '{git_tag}'\n")
    assert config_module.load(tmp_path).release.git_tag == git_tag


@pytest.mark.parametrize("git_tag", ["{x}", "v{0}", "{", "v{version.major}", "v{version[x]}"])
def test_a_git_tag_without_the_placeholder_says_so(tmp_path: Path, git_tag: str) -> None:
    repo(tmp_path, HEAD + APP + f"\n[tool.buildlib.release]\ngit-tag = '{git_tag}'\n")
    assert load_error(tmp_path).message == (
        f"tool.buildlib.release.git-tag {git_tag!r} has no {{version}} placeholder"
    )


@pytest.mark.parametrize(
    ("table", "key", "value", "problem", "default"),
    [
        (
            "tool.buildlib",
            "tag-env",
            "A-B",
            "is not an environment variable name",
            "BUILDLIB_IMAGE_TAG",
        ),
        (
            "tool.buildlib",
            "tag-env",
            "1A",
            "is not an environment variable name",
            "BUILDLIB_IMAGE_TAG",
        ),
        (
            "tool.buildlib.credentials",
            "username-env",
            "A B",
            "is not an environment variable name",
            "DOCKERHUB_USERNAME",
        ),
        ("tool.buildlib.credentials", "token-env", "", "is empty", "DOCKERHUB_TOKEN"),
        (
            "tool.buildlib.credentials",
            "token-env",
            "X ",
            "is not an environment variable name",
            "DOCKERHUB_TOKEN",
        ),
    ],
)
def test_an_environment_variable_name_error(
    tmp_path: Path, table: str, key: str, value: str, problem: str, default: str
) -> None:
    path = repo(tmp_path, HEAD + APP + f'\n[{table}]\n{key} = "{value}"\n')
    error = load_error(tmp_path)
    assert error.message == f"{table}.{key} {value!r} {problem}"
    assert error.location == f"pyproject.toml:{line_of(path, key + ' =')}"
    assert error.hint == (
        f'name the variable, e.g. {key} = "{default}" (or remove the key for that default)'
    )


@pytest.mark.parametrize(
    ("keys", "at"),
    [
        ('username-env = "X"\ntoken-env = "X"', "token-env ="),
        ('token-env = "DOCKERHUB_USERNAME"', "token-env ="),
        ('username-env = "DOCKERHUB_TOKEN"', "username-env ="),
    ],
)
def test_one_variable_for_the_user_and_the_token_is_refused(
    tmp_path: Path, keys: str, at: str
) -> None:
    # the token would go to the registry as the user name (and the login fail)
    path = repo(tmp_path, HEAD + APP + f"\n[tool.buildlib.credentials]\n{keys}\n")
    error = load_error(tmp_path)
    name = keys.split('"')[-2]
    assert (error.message, error.location, error.hint) == (
        f"tool.buildlib.credentials.token-env {name!r} is also username-env: the token would "
        "be sent as the user name",
        f"pyproject.toml:{line_of(path, at)}",
        'name two variables, e.g. username-env = "DOCKERHUB_USERNAME" and token-env = '
        '"DOCKERHUB_TOKEN"',
    )


# --- the TOML text itself ---------------------------------------------------------------------


def test_parse_names_pyproject_toml_by_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_module.parse("[project]\nx = \n", root=tmp_path)
    assert caught.value.location == "pyproject.toml:2:5"
    assert caught.value.message == "invalid TOML: Invalid value"


def test_a_bom_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_module.parse("\ufeff[project]\n", root=tmp_path, filename="/x/y/other.toml")
    assert caught.value.message == (
        "other.toml starts with a UTF-8 byte order mark (BOM), which TOML does not allow"
    )
    assert caught.value.location == "/x/y/other.toml:1"
    assert caught.value.hint == "save other.toml as UTF-8 without a BOM"


def test_a_root_that_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    error = load_error(afile)
    assert error.hint == "pass the folder that holds pyproject.toml"
    assert error.location is None


def test_a_missing_pyproject_names_its_path(tmp_path: Path) -> None:
    error = load_error(tmp_path)
    assert error.message == f"{tmp_path.resolve() / 'pyproject.toml'} not found"
    assert error.location is None


# --- the locator: Locator.key_line and Locator.build_arg_line --------------------------------


def locator(text: str) -> config_module.Locator:
    return config_module.Locator(text, "pyproject.toml")


def test_key_line_stops_at_the_next_table() -> None:
    text = "[a]\nx = 1\n\n[b]\nk = 2\n"
    assert locator(text).key_line("a", "k") == 1
    assert locator(text).key_line("b", "k") == 5


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("k = 1", True),
        ("k=1", True),
        ("  k = 1", True),
        ('"k" = 1', True),
        ("'k' = 1", True),
        ("kk = 1", False),
        ("k-x = 1", False),
        ("xk = 1", False),
        ("# k = 1", False),
    ],
)
def test_key_line_matches_the_key_only(line: str, found: bool) -> None:
    text = f"[t]\nother = 0\n{line}\n"
    assert locator(text).key_line("t", "k") == (3 if found else 1)


def test_key_line_finds_a_table_header_with_spaces() -> None:
    assert locator("x = 1\n[ t ]\nk = 1\n").key_line("t", "k") == 3
    assert locator("[t.u]\nk = 1\n").key_line("t", "k") is None


def test_a_line_of_a_multiline_array_that_opens_a_bracket_is_no_header() -> None:
    text = '[a]\nrows = [\n  ["x", "y"],\n  [1, 2],\n]\n\n[b]\nk = 1\n'
    assert locator(text).key_line("b", "k") == 8
    assert locator(text).table("x") == "pyproject.toml [x]"


def test_key_line_dotted_form_needs_the_table_name_on_its_line() -> None:
    text = '[tool.buildlib]\nimages.cpu.dockerfile = "D"\nimages.gpu.repository = "a/b"\n'
    assert locator(text).key_line("tool.buildlib.images.gpu", "repository") == 3
    assert locator(text).key_line("tool.buildlib.images.gpu", "dockerfile") is None
    assert locator('x.y."k" = 1\n').key_line("y", "k") == 1


def test_key_line_dotted_form_matches_whole_names_only() -> None:
    # gpu2's line holds "gpu" and "repository", but not the key images.gpu.repository
    text = '[tool.buildlib]\nimages.gpu2.repository = "a/c"\nimages.gpu.repository = "a/b"\n'
    assert locator(text).key_line("tool.buildlib.images.gpu", "repository") == 3
    assert locator(text).key_line("tool.buildlib.images.gpu2", "repository") == 2
    assert locator('a."g p".k = 1\n').key_line("t.g p", "k") == 1


def test_build_arg_line_of_a_build_args_table_and_of_an_inline_one() -> None:
    text = "[i]\nbuild-args = { A = 1 }\n\n[j]\nx = 1\n\n[j.build-args]\nA = 1\nB = 2\n"
    assert locator(text).build_arg_line("i", "A") == 2
    assert locator(text).build_arg_line("j", "B") == 9
    assert locator(text).build_arg_line("j", "C") == 7
    assert locator(text).build_arg_line("k", "A") is None


# --- Config.image and Config.select -----------------------------------------------------------


def test_select_refuses_an_unknown_name_among_known_ones(tmp_path: Path) -> None:
    write_repo(tmp_path)
    config = config_module.load(tmp_path)
    with pytest.raises(ConfigError) as caught:
        config.select(("gpu", "nope"))
    assert caught.value.message == "unknown image 'nope'"
    assert caught.value.hint == "use one of: gpu, cpu"
    assert config.select(("cpu",)) == (config.image("cpu"),)
    assert config.image("gpu").repository == "runpod/tetra-rp"


def test_a_toml_error_at_the_end_of_the_text_is_located_at_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_module.parse("[project]\nx =", root=tmp_path, filename="/r/pyproject.toml")
    assert caught.value.message == "invalid TOML: Invalid value (at end of document)"
    assert caught.value.location == "/r/pyproject.toml"
    assert caught.value.hint == "fix the syntax at that position"


def test_load_reads_the_working_directory_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo(tmp_path, HEAD + APP)
    monkeypatch.chdir(tmp_path)
    config = config_module.load()
    assert config.root == tmp_path.resolve()


def test_pyproject_is_read_as_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + APP + 'title = "d\u00e9mo"\n')
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale: what open() reads by default
    try:
        config = config_module.load(tmp_path)
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
    assert config.image("app").title == "d\u00e9mo"


def test_a_mistyped_dockerfile_in_a_folder_suggests_the_files_of_that_folder(
    tmp_path: Path,
) -> None:
    path = repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"docker/tool.Dockerfile"'))
    (tmp_path / "docker").mkdir()
    for name in ("tools.Dockerfile", "api.dockerfile", "README.md"):
        (tmp_path / "docker" / name).write_text("FROM scratch\n", encoding="utf-8")
    error = load_error(tmp_path)
    assert error.message == (
        "tool.buildlib.images.app.dockerfile 'docker/tool.Dockerfile' does not exist "
        "(did you mean 'docker/tools.Dockerfile'?)"
    )
    assert error.location == f"pyproject.toml:{line_of(path, 'dockerfile =')}"
    assert error.hint == (
        "create docker/tool.Dockerfile or fix the path "
        "(found: docker/api.dockerfile, docker/tools.Dockerfile)"
    )


def test_a_dockerfile_in_a_missing_folder_suggests_the_root_dockerfiles(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"dokcer/Dockerfile-api"'))
    (tmp_path / "Dockerfile-api").write_text("FROM scratch\n", encoding="utf-8")
    error = load_error(tmp_path)
    assert error.message.endswith("does not exist (did you mean 'Dockerfile-api'?)")
    assert error.hint.endswith("(found: Dockerfile, Dockerfile-api)")


@pytest.mark.parametrize("parent", ['[tool.buildlib]\nregistry = "docker.io"\n\n', ""])
def test_a_mistyped_table_header_is_located_at_that_header(tmp_path: Path, parent: str) -> None:
    path = repo(tmp_path, HEAD + parent + APP.replace("images.app", "image.app"))
    error = load_error(tmp_path)
    assert error.message == "unknown key tool.buildlib.image (did you mean 'images'?)"
    assert error.location == f"pyproject.toml:{line_of(path, '[tool.buildlib.image.app]')}"


@pytest.mark.parametrize(
    ("text", "header"),
    [
        # the top keys under the typo would silently not apply: images come from elsewhere
        (HEAD + '[tool.buildllib]\nregistry = "ghcr.io"\n\n' + APP, "[tool.buildllib]"),
        (HEAD + APP.replace("tool.buildlib", "tool.build-lib"), "[tool.build-lib.images.app]"),
    ],
)
def test_a_mistyped_buildlib_table_is_refused_at_its_header(
    tmp_path: Path, text: str, header: str
) -> None:
    path = repo(tmp_path, text)
    name = header[1:].split("]")[0].split(".images")[0]
    error = load_error(tmp_path)
    assert error.message == f"unknown table [{name}] (did you mean [tool.buildlib]?)"
    assert error.location == f"pyproject.toml:{line_of(path, header)}"
    assert error.hint == f"rename [{name}...] to [tool.buildlib...]"


def test_other_tools_tables_are_left_alone(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + "[tool.build]\nx = 1\n\n[tool.buildkit]\ny = 2\n\n" + APP)
    assert config_module.load(tmp_path).image_names == ("app",)


@pytest.mark.parametrize(
    ("dockerfile", "target", "message", "hint"),
    [
        (
            "FROM scratch AS build\nFROM scratch AS runtime\n",
            "runtme",
            "'runtme' is no stage of Dockerfile (did you mean 'runtime'?)",
            "name one of its stages: build, runtime",
        ),
        (
            "FROM scratch\n",
            "final",
            "'final' is no stage of Dockerfile",
            "Dockerfile names no stage: add `AS final` to a FROM line, or remove target",
        ),
    ],
)
def test_a_target_that_names_no_stage_is_refused_at_its_line(
    tmp_path: Path, dockerfile: str, target: str, message: str, hint: str
) -> None:
    path = repo(tmp_path, HEAD + APP + f'target = "{target}"\n')
    (tmp_path / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    error = load_error(tmp_path)
    assert error.message == f"tool.buildlib.images.app.target {message}"
    assert error.location == f"pyproject.toml:{line_of(path, 'target =')}"
    assert error.hint == hint


def test_a_target_is_matched_to_its_stage_without_regard_to_case(tmp_path: Path) -> None:
    # as BuildKit and the legacy builder match them
    repo(tmp_path, HEAD + APP + 'target = "Runtime"\n')
    dockerfile = "FROM --platform=$BUILDPLATFORM scratch as RUNTIME\n"
    (tmp_path / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    assert config_module.load(tmp_path).images[0].target == "Runtime"


def test_a_target_names_a_stage_after_a_tab(tmp_path: Path) -> None:
    # BuildKit splits the instruction from its arguments at any whitespace
    repo(tmp_path, HEAD + APP + 'target = "runtime"\n')
    (tmp_path / "Dockerfile").write_text("FROM\tscratch AS runtime\n", encoding="utf-8")
    assert config_module.load(tmp_path).images[0].target == "runtime"


@pytest.mark.parametrize(
    ("stages", "hint"),
    [
        ("", "remove target, or name a stage of Dockerfile (`FROM ... AS NAME`)"),
        (" AS runtime", "name one of its stages: runtime"),
    ],
)
def test_an_empty_target_says_it_is_empty(tmp_path: Path, stages: str, hint: str) -> None:
    # was "'' is no stage of Dockerfile (fix: ... add `AS ` to a FROM line ...)"
    path = repo(tmp_path, HEAD + APP + 'target = ""\n')
    (tmp_path / "Dockerfile").write_text(f"FROM scratch{stages}\n", encoding="utf-8")
    error = load_error(tmp_path)
    assert (error.message, error.location, error.hint) == (
        "tool.buildlib.images.app.target is empty",
        f"pyproject.toml:{line_of(path, 'target =')}",
        hint,
    )


def test_a_target_error_names_the_dockerfile_as_configured(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"docker/app.Dockerfile"') + 'target = "x"\n')
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "app.Dockerfile").write_text("FROM scratch AS y\n", encoding="utf-8")
    assert load_error(tmp_path).message == (
        "tool.buildlib.images.app.target 'x' is no stage of docker/app.Dockerfile"
    )


def test_two_images_of_one_repository_are_refused_at_the_second(tmp_path: Path) -> None:
    second = APP.replace("images.app", "images.worker")
    path = repo(tmp_path, HEAD + APP + "\n" + second)
    error = load_error(tmp_path)
    assert error.message == (
        "tool.buildlib.images.worker.repository 'org/app' is also the repository of image "
        "'app': their tags would overwrite each other"
    )
    lines = [n for n, text in enumerate(path.read_text().splitlines(), 1) if "repository" in text]
    assert error.location == f"pyproject.toml:{lines[1]}"
    assert error.hint == "give each image a repository of its own, e.g. org/app-worker"


@pytest.mark.parametrize(
    "other", ["docker.io/org/app", "index.docker.io/org/app", "registry-1.docker.io/org/app"]
)
def test_one_repository_under_two_docker_hub_names_is_refused(tmp_path: Path, other: str) -> None:
    # both push to Docker Hub's org/app (the default registry): one overwrites the other
    second = APP.replace("images.app", "images.worker").replace('"org/app"', f'"{other}"')
    repo(tmp_path, HEAD + APP + "\n" + second)
    assert load_error(tmp_path).message == (
        f"tool.buildlib.images.worker.repository {other!r} is also the repository of image "
        "'app': their tags would overwrite each other"
    )


def test_official_names_and_other_registries_are_told_apart(tmp_path: Path) -> None:
    second = APP.replace("images.app", "images.worker").replace('"org/app"', '"library/app"')
    repo(tmp_path, HEAD + APP.replace('"org/app"', '"app"') + "\n" + second)
    assert load_error(tmp_path).message.startswith("tool.buildlib.images.worker.repository")
    second = APP.replace("images.app", "images.worker").replace('"org/app"', '"ghcr.io/org/app"')
    repo(tmp_path, HEAD + APP + "\n" + second)
    assert config_module.load(tmp_path).image_names == ("app", "worker")
    # with another registry configured, docker.io/org/app is a path under it, not Docker Hub
    head = HEAD + '[tool.buildlib]\nregistry = "ghcr.io"\n\n'
    second = APP.replace("images.app", "images.worker").replace('"org/app"', '"docker.io/org/app"')
    repo(tmp_path, head + APP + "\n" + second)
    assert config_module.load(tmp_path).image_names == ("app", "worker")


def test_a_dockerfile_s_own_ignore_file_is_not_offered_as_a_dockerfile(tmp_path: Path) -> None:
    repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"Dockerfile.docker"'))
    (tmp_path / "Dockerfile.dockerignore").write_text("*\n", encoding="utf-8")
    error = load_error(tmp_path)
    assert error.message.endswith("'Dockerfile.docker' does not exist (did you mean 'Dockerfile'?)")
    assert error.hint.endswith("(found: Dockerfile)")


def test_a_dockerfile_moved_to_another_folder_suggests_its_path(tmp_path: Path) -> None:
    # dockerfile = "worker.Dockerfile" when the file is docker/worker.Dockerfile: the root
    # holds no such file, so the hint looks for one of that name elsewhere in the repository
    path = repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"worker.Dockerfile"'))
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("build/\n", encoding="utf-8")
    for folder in ("docker", "node_modules/pkg", ".venv", "build", "a/b/c/d"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "worker.Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    error = load_error(tmp_path)
    assert error.message == (
        "tool.buildlib.images.app.dockerfile 'worker.Dockerfile' does not exist "
        "(did you mean 'docker/worker.Dockerfile'?)"
    )
    assert error.location == f"pyproject.toml:{line_of(path, 'dockerfile =')}"
    assert error.hint == (
        "create worker.Dockerfile or fix the path (found: Dockerfile, docker/worker.Dockerfile)"
    )


def test_a_build_arg_that_names_no_arg_of_its_dockerfile_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    # docker ignores it (BuildKit silently): the image would build with the ARG's default
    path = repo(tmp_path, HEAD + APP + 'build-args = { GREETNG = "hello" }\n')
    (tmp_path / "Dockerfile").write_text("FROM scratch\nARG GREETING=hi\n", encoding="utf-8")
    error = load_error(tmp_path)
    assert error.message == (
        "tool.buildlib.images.app.build-args: 'GREETNG' is no ARG of Dockerfile "
        "(did you mean 'GREETING'?)"
    )
    assert error.location == f"pyproject.toml:{line_of(path, 'build-args =')}"
    assert error.hint == "add `ARG GREETNG` to Dockerfile, or remove it from build-args"


def test_a_build_arg_that_names_no_arg_in_a_build_args_table_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    path = repo(
        tmp_path,
        HEAD + APP + "\n[tool.buildlib.images.app.build-args]\nGREETING = 1\nNAME = 2\n",
    )
    (tmp_path / "Dockerfile").write_text("FROM scratch\nARG GREETING\n", encoding="utf-8")
    error = load_error(tmp_path)
    assert error.message == "tool.buildlib.images.app.build-args: 'NAME' is no ARG of Dockerfile"
    assert error.location == f"pyproject.toml:{line_of(path, 'NAME =')}"


def test_build_args_are_not_checked_against_a_dockerfile_with_no_instruction(
    tmp_path: Path,
) -> None:
    # docker refuses such a Dockerfile itself, and says so: calling each build arg "no ARG
    # of Dockerfile" would hide that behind a wrong fix
    repo(tmp_path, HEAD + APP + 'build-args = { GREETING = "hi" }\n')
    (tmp_path / "Dockerfile").write_text("# to be written\n", encoding="utf-8")
    assert config_module.load(tmp_path).images[0].build_args == (("GREETING", "hi"),)


def test_build_args_docker_predefines_need_no_arg_line(tmp_path: Path) -> None:
    args = 'HTTP_PROXY = "x", no_proxy = "y", BUILDKIT_INLINE_CACHE = 1, SOURCE_DATE_EPOCH = 0'
    repo(tmp_path, HEAD + APP + f"build-args = {{ {args} }}\n")
    assert len(config_module.load(tmp_path).images[0].build_args) == 4


def test_a_dockerfile_only_in_ignored_folders_is_not_suggested(tmp_path: Path) -> None:
    # git decides what is ignored: a tracked file in an ignored folder, a folder whose name
    # starts with "-" (no option to git) or is not ASCII (as written, unquoted) all are
    repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"worker.Dockerfile"'))
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    folders = ("build", "-out", "v\u00e4rk")
    (tmp_path / ".gitignore").write_text("".join(f"{f}/\n" for f in folders), encoding="utf-8")
    for folder in folders:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "worker.Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(tmp_path), "add", "-f", "build"], check=True)
    error = load_error(tmp_path)
    assert error.message.endswith("'worker.Dockerfile' does not exist (did you mean 'Dockerfile'?)")
    assert error.hint == "create worker.Dockerfile or fix the path (found: Dockerfile)"


def test_a_dockerfile_in_a_linked_folder_is_suggested(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    repo(tmp_path / "repo", HEAD + APP.replace('"Dockerfile"', '"worker.Dockerfile"'))
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "worker.Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    (tmp_path / "repo" / "docker").symlink_to(tmp_path / "shared")
    assert load_error(tmp_path / "repo").message.endswith(
        "'worker.Dockerfile' does not exist (did you mean 'docker/worker.Dockerfile'?)"
    )


def test_a_target_whose_dockerfile_cannot_be_read_is_one_error_at_its_line(
    tmp_path: Path,
) -> None:
    # is_file() is true for /proc/self/mem, and reading it from offset 0 fails even as root
    path = repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"Mem.Dockerfile"') + 'target = "x"\n')
    (tmp_path / "Mem.Dockerfile").symlink_to("/proc/self/mem")
    error = load_error(tmp_path)
    assert error.message == (
        "tool.buildlib.images.app.target needs the stages of Mem.Dockerfile, which cannot be "
        "read: Input/output error"
    )
    assert error.location == f"pyproject.toml:{line_of(path, 'target =')}"
    assert error.hint == "make Mem.Dockerfile a readable file, or remove target"


def test_build_arg_values_keep_their_case_and_booleans_are_spelled_as_toml(
    tmp_path: Path,
) -> None:
    repo(tmp_path, HEAD + APP + 'build-args = { BASE = "Ubuntu:22.04", FLAG = true, N = 3 }\n')
    (tmp_path / "Dockerfile").write_text(
        "FROM scratch\nARG BASE\nARG FLAG\nARG N\n", encoding="utf-8"
    )
    assert config_module.load(tmp_path).images[0].build_args == (
        ("BASE", "Ubuntu:22.04"),
        ("FLAG", "true"),
        ("N", "3"),
    )


def test_a_moved_dockerfile_is_suggested_without_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo(tmp_path, HEAD + APP.replace('"Dockerfile"', '"worker.Dockerfile"'))
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "worker.Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path / "docker"))  # no git there
    assert load_error(tmp_path).message.endswith(
        "'worker.Dockerfile' does not exist (did you mean 'docker/worker.Dockerfile'?)"
    )
