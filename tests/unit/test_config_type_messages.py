"""What ``[tool.buildlib]`` errors say when a value has the wrong type, and where they point
when the table or key is written inline (``project = { ... }``): the line of that table."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.config import Config, load, parse
from buildlib.errors import ConfigError
from buildlib.versions import Version

PROJECT = '[project]\nname = "demo"\nversion = "1.2.3"\n\n'
IMAGE = '[tool.buildlib.images.gpu]\nrepository = "acme/gpu"\ndockerfile = "Dockerfile"\n'


def refusal(root: Path, text: str) -> ConfigError:
    (root / "pyproject.toml").write_text(PROJECT + text, encoding="utf-8")
    (root / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load(root)
    return refused.value


@pytest.mark.parametrize(
    ("value", "written_as"),
    [
        ("3", "integer"),
        ("3.5", "float"),
        ("true", "boolean"),
        ('["a"]', "list"),
        ("{ a = 1 }", "table"),
    ],
)
def test_a_wrong_type_is_named_in_toml_terms(tmp_path: Path, value: str, written_as: str) -> None:
    refused = refusal(tmp_path, f"[tool.buildlib]\nregistry = {value}\n{IMAGE}")
    assert refused.message == f"tool.buildlib.registry must be a string, not {written_as}"
    assert refused.hint == 'write a string: registry = "..."'
    assert refused.location is not None and refused.location.endswith("pyproject.toml:6")


def test_a_list_given_as_a_string_is_shown_as_that_list(tmp_path: Path) -> None:
    refused = refusal(tmp_path, f'[tool.buildlib]\ndefault-group = "gpu"\n{IMAGE}')
    assert refused.message == "tool.buildlib.default-group must be a list, not string"
    assert refused.hint == 'write a list: default-group = ["gpu"]'


def test_a_list_given_as_a_number_is_shown_as_a_list_to_fill_in(tmp_path: Path) -> None:
    refused = refusal(tmp_path, f"[tool.buildlib]\ndefault-group = 3\n{IMAGE}")
    assert refused.message == "tool.buildlib.default-group must be a list, not integer"
    assert refused.hint == 'write a list: default-group = ["..."]'


def test_a_bad_image_in_an_inline_table_is_located_at_its_table(tmp_path: Path) -> None:
    refused = refusal(
        tmp_path,
        '[tool.buildlib.images]\nGPU = { repository = "acme/gpu", dockerfile = "Dockerfile" }\n',
    )
    assert refused.location == "pyproject.toml:6"


def test_a_bad_build_arg_in_an_inline_table_is_located_at_its_build_args(tmp_path: Path) -> None:
    refused = refusal(
        tmp_path,
        '[tool.buildlib.images]\ngpu = { repository = "acme/gpu", dockerfile = "Dockerfile", '
        'build-args = { "1X" = "a" } }\n',
    )
    assert refused.location == "pyproject.toml:6"


def test_no_images_in_an_inline_buildlib_table_points_at_the_table(tmp_path: Path) -> None:
    refused = refusal(tmp_path, '[tool]\nbuildlib = { registry = "docker.io" }\n')
    assert str(refused).startswith("pyproject.toml:6: no images configured (fix: ")


@pytest.mark.parametrize(
    ("project", "said"),
    [
        ('project = { name = "x", version = 1 }', "[project].version is missing or not a string"),
        ('project = { name = "x" }', "[project].version is missing or not a string"),
        ('project = { name = "x", version = "1.x" }', "invalid PEP 440 version '1.x'"),
    ],
)
def test_an_inline_project_table_is_located_at_its_line_and_named_once(
    tmp_path: Path, project: str, said: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"\n{project}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load(tmp_path)
    assert str(refused.value).startswith(f"pyproject.toml:2: {said} (fix: ")


GPU = 'images = { gpu = { repository = "acme/gpu", dockerfile = "Dockerfile" } }'


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ("[tool]\nbuildlib = { registry = 1 }", "tool.buildlib.registry must be a string"),
        (f"[tool]\nbuildlib = {{ main-branch = '', {GPU} }}", "tool.buildlib.main-branch is empty"),
        (f"[tool.buildlib]\nrelease = {{ git-tag = 'x' }}\n{GPU}", "tool.buildlib.release.git-tag"),
        ("[tool.buildlib]\nimages = { a = { dockerfile = 'D' } }", "tool.buildlib.images.a has no"),
    ],
)
def test_an_inline_buildlib_table_is_located_at_its_line_and_named_once(
    tmp_path: Path, table: str, said: str
) -> None:
    refused = refusal(tmp_path, table + "\n")
    assert str(refused).startswith(f"pyproject.toml:{5 + table.count('[tool')}: {said}")


def test_a_key_no_line_holds_is_named_once() -> None:
    # project made only by dotted keys: no line holds [project].version
    with pytest.raises(ConfigError) as refused:
        parse('project.name = "x"\n', root=Path("."))
    assert str(refused.value).startswith("pyproject.toml: [project].version is missing or not")


def test_the_defaults_have_no_project_and_no_image(tmp_path: Path) -> None:
    config = Config(root=tmp_path)
    assert config.root == tmp_path
    assert config.version == Version("0")
    assert config.version_text == "0"
    assert config.images == ()
    assert config.default_group == ()
    assert config.image_names == ()
