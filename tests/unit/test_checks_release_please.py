"""release-please-config, release-please-manifest, version-agreement."""

from __future__ import annotations

import json

import pytest

from buildlib.checks.project import Project
from buildlib.checks.release_please import (
    check_release_please_config,
    check_release_please_manifest,
    check_version_agreement,
    json_key_line,
)
from buildlib.errors import placed
from tests.support.fixture_repo import (
    RELEASE_PLEASE_CONFIG,
    commit,
    git,
    make_repo,
    set_version,
    write,
)

pytestmark = pytest.mark.usefixtures("isolated")


def write_config(repo, config):
    write(repo / "release-please-config.json", json.dumps(config, indent=2) + "\n")


def root_package(**changes):
    config = json.loads(json.dumps(RELEASE_PLEASE_CONFIG))
    config["packages"]["."].update(changes)
    return config


def test_clean_files_and_one_version(repo):
    project = Project.load(repo)
    config = check_release_please_config(project)
    assert (config.status, config.file) == ("ok", "release-please-config.json")
    assert "tags vX.Y.Z" in config.message
    manifest = check_release_please_manifest(project)
    assert (manifest.status, manifest.line) == ("ok", 2)
    agreement = check_version_agreement(project)
    assert agreement.status == "ok"
    assert agreement.message == (
        "one version, 0.1.0: pyproject.toml 0.1.0, "
        ".release-please-manifest.json 0.1.0, uv.lock 0.1.0, tag v0.1.0"
    )


def test_manifest_and_pyproject_disagree(repo):
    set_version(repo, "0.2.0", pyproject=False, manifest=True)

    result = check_version_agreement(Project.load(repo))

    assert (result.id, result.status) == ("version-agreement", "fail")
    assert (result.file, result.line) == (".release-please-manifest.json", 2)
    assert "pyproject.toml says 0.1.0, .release-please-manifest.json says 0.2.0" in result.message
    assert 'set ".": "0.1.0" in .release-please-manifest.json' in result.hint


def test_lock_left_behind_by_release_please(repo):
    set_version(repo, "0.2.0", pyproject=True, manifest=True)

    result = check_version_agreement(Project.load(repo))

    assert (result.status, result.file) == ("fail", "uv.lock")
    assert result.line is not None
    lock_line = (repo / "uv.lock").read_text().splitlines()[result.line - 1]
    assert lock_line == 'version = "0.1.0"'
    assert "uv.lock's entry for the project says 0.1.0" in result.message
    assert result.hint.startswith("uv lock")
    assert "extra-files" in result.hint and "@.name.value=='demo-app'" in result.hint


def set_locked_version(repo, version):
    """Change demo-app's version in uv.lock from 0.1.0, as `uv lock` after a bump would."""
    path = repo / "uv.lock"
    old = 'name = "demo-app"\nversion = "0.1.0"'
    write(path, path.read_text().replace(old, f'name = "demo-app"\nversion = "{version}"'))


def test_head_tag_disagrees(repo):
    set_version(repo, "0.2.0", pyproject=True, manifest=True)
    set_locked_version(repo, "0.2.0")

    result = check_version_agreement(Project.load(repo))  # HEAD still carries v0.1.0

    assert result.status == "fail"
    assert "HEAD is tagged v0.1.0 but pyproject.toml says 0.2.0" in result.message


def test_a_head_tag_that_is_no_pep440_version_is_no_release(repo):
    git(repo, "tag", "vnext")
    result = check_version_agreement(Project.load(repo))
    assert result.status == "ok" and "vnext" not in result.message


def test_version_older_than_the_last_release(repo):
    commit(repo, "fix: later")
    set_version(repo, "0.0.9", pyproject=True, manifest=True)
    set_locked_version(repo, "0.0.9")

    result = check_version_agreement(Project.load(repo))

    assert result.status == "fail" and "older than the last release v0.1.0" in result.message


def test_invalid_config_json_gives_line(repo):
    write(repo / "release-please-config.json", '{\n  "packages": {\n    ".": {},\n  }\n}\n')

    result = check_release_please_config(Project.load(repo))

    assert (result.id, result.status, result.line) == ("release-please-config", "fail", 4)
    assert "not valid JSON (column 3)" in result.message


def test_config_without_root_package(repo):
    write_config(repo, {"packages": {"lib": {}}})
    result = check_release_please_config(Project.load(repo))
    assert result.status == "fail" and 'no package "."' in result.message


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("[]\n", "release-please-config.json must be a JSON object", 1),
        ('{\n  "packages": {}\n}\n', 'release-please-config.json has no "packages" object', 2),
        ('{"release-type": "python"}\n', 'release-please-config.json has no "packages" object', 1),
    ],
)
def test_config_of_another_shape(repo, text, message, line):
    write(repo / "release-please-config.json", text)
    result = check_release_please_config(Project.load(repo))
    assert (result.status, result.message, result.line) == ("fail", message, line)
    assert result.hint


def test_manifest_that_is_no_map_of_versions(repo):
    write(repo / ".release-please-manifest.json", '[".", "1.0.0"]\n')
    result = check_release_please_manifest(Project.load(repo))
    assert (result.status, result.line) == ("fail", 1)
    assert (
        result.message == ".release-please-manifest.json must map package paths to version strings"
    )


def test_config_with_a_non_boolean_flag(repo):
    write_config(repo, root_package(**{"bump-minor-pre-major": "yes"}))
    result = check_release_please_config(Project.load(repo))
    assert result.status == "fail" and "bump-minor-pre-major" in result.message
    assert result.line is not None


@pytest.mark.parametrize(
    ("top", "package"),
    [
        ({}, {"release-type": None, "include-v-in-tag": None, "tag-separator": None}),
        ({"draft": None, "versioning": None, "component": None, "extra-files": None}, {}),
    ],
)
def test_a_null_that_release_please_reads_as_absent_passes(repo, top, package):
    """mergeReleaserConfig (src/manifest.ts) takes a package's option ?? the top level's,
    and what follows reads these with ?? or ||: null there is no value."""
    config = {**root_package(**package), **top}
    write_config(repo, config)

    result = check_release_please_config(Project.load(repo))

    assert (result.status, result.message) == (
        "ok",
        "release-please-config.json is valid (release-type python, tags vX.Y.Z)",
    )


@pytest.mark.parametrize(
    ("key", "kind"), [("include-v-in-tag", "true or false"), ("tag-separator", "a string")]
)
def test_a_top_level_null_that_reaches_a_tag_name_fails(repo, key, kind):
    """A top-level null is every package's value (mergeReleaserConfig), and TagName
    (src/util/tag-name.ts) defaults includeV and the separator for undefined only."""
    config = root_package()
    config[key] = None
    write_config(repo, config)

    result = check_release_please_config(Project.load(repo))

    assert (result.status, result.message) == (
        "fail",
        f"release-please-config.json: {key} (top level) must be {kind}, not null",
    )
    lines = (repo / "release-please-config.json").read_text().splitlines()
    assert f'"{key}": null' in lines[result.line - 1]


@pytest.mark.parametrize("top_first", [True, False])
@pytest.mark.parametrize(
    ("scope", "key", "bad", "good", "indent"),
    [("top level", "include-v-in-tag", None, True, 2), ('package "."', "draft", "yes", False, 6)],
)
def test_a_refused_key_is_located_at_its_own_level(repo, top_first, scope, key, bad, good, indent):
    """The same key at the top level and in packages["."]: the line is the refused one's."""
    config = root_package()
    config.pop(key, None)
    top, package = (bad, good) if scope == "top level" else (good, bad)
    config["packages"]["."][key] = package
    write_config(repo, {key: top, **config} if top_first else {**config, key: top})

    result = check_release_please_config(Project.load(repo))

    assert result.status == "fail" and f"{key} ({scope})" in result.message
    lines = (repo / "release-please-config.json").read_text().splitlines()
    assert lines[result.line - 1].rstrip(",") == f'{" " * indent}"{key}": {json.dumps(bad)}'


def test_json_key_line_follows_the_nesting():
    text = '{\n "a": "{\\"b\\": [",\n "p": [{"b": 1}],\n "q": {"b": 2},\n "b": 3,\n "b": 4\n}\n'
    assert json.loads(text) == {"a": '{"b": [', "p": [{"b": 1}], "q": {"b": 2}, "b": 4}
    assert json_key_line(text, "b") == 6  # the last of duplicates, as json.loads keeps it
    assert (json_key_line(text, "q", "b"), json_key_line(text, "a")) == (4, 2)
    assert (json_key_line(text, "p", "b"), json_key_line(text, "c")) == (None, None)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_line_is_the_one_an_editor_shows_whatever_the_line_endings(repo, newline):
    """JSON may separate its tokens by CR as by LF (RFC 8259 whitespace), and an editor
    breaks lines at CRLF and at a lone CR: a key's line and a JSON error's line are counted
    the same way, as json.JSONDecodeError counts "\\n" on the text read with universal
    newlines."""
    config = json.dumps({**root_package(), "include-v-in-tag": False}, indent=2)
    write(repo / "release-please-config.json", config.replace("\n", newline).encode())

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn" and result.hint.startswith('set "include-v-in-tag": true')
    assert result.line == 4 and config.splitlines()[3] == '  "include-v-in-tag": false,'
    broken = '{\n  "packages": {\n    ".": {},\n  }\n}\n'.replace("\n", newline)
    write(repo / "release-please-config.json", broken.encode())

    result = check_release_please_config(Project.load(repo))

    assert (result.status, result.line) == ("fail", 4)
    assert placed(result.where(), result.message).startswith(
        "release-please-config.json:4 is not valid JSON (column 3): "
    )
    assert result.hint == "fix the JSON at that position"


def test_config_without_the_uv_lock_extra_file_warns(repo):
    config = root_package()
    del config["packages"]["."]["extra-files"]
    write_config(repo, config)

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn"
    assert "not uv.lock" in result.message
    assert '"jsonpath": "$.package[?(@.name.value==\'demo-app\')].version"' in result.hint


def test_each_warning_of_the_config_comes_with_its_fix(repo):
    """An adopter's config with a component and no uv.lock extra file has two problems: the
    one line names both, so its hint must fix both, not only the first."""
    config = root_package(component="shop", **{"include-component-in-tag": True})
    del config["packages"]["."]["extra-files"]
    write_config(repo, config)

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn"
    assert "not uv.lock" in result.message and "would tag releases shop-vX.Y.Z" in result.message
    assert "@.name.value=='demo-app'" in result.hint
    assert "change [tool.buildlib.release].git-tag to match" in result.hint


@pytest.mark.parametrize(
    ("entry", "marker", "warns"),
    [
        ("pyproject.toml", "", True),
        ("pyproject.toml", "  # x-release-please-version", False),
        ({"type": "generic", "path": "/pyproject.toml"}, "  # x-release-please-version", False),
        ({"type": "toml", "path": "pyproject.toml", "jsonpath": "$.project.version"}, "", False),
        ({"type": "toml", "path": "pyproject.toml", "jsonpath": "$.version"}, "", True),
    ],
)
def test_pyproject_as_an_extra_file_of_another_release_type(repo, entry, marker, warns):
    pyproject = repo / "pyproject.toml"
    write(
        pyproject, pyproject.read_text().replace('version = "0.1.0"', f'version = "0.1.0"{marker}')
    )
    write_config(repo, root_package(**{"release-type": "simple", "extra-files": [entry]}))

    result = check_release_please_config(Project.load(repo))

    assert ("will not bump pyproject.toml's version" in result.message) == warns


@pytest.mark.parametrize(
    ("top", "package", "state"),
    [
        ({}, {}, "missing"),
        ({"release-type": None}, {}, "null"),
        ({}, {"release-type": None}, "null"),
    ],
)
def test_a_release_type_that_release_please_reads_as_node_warns(repo, top, package, state):
    """mergeReleaserConfig (src/manifest.ts) takes releaseType ?? 'node': a missing or
    null release-type is the Node strategy, which does not write pyproject.toml."""
    config = root_package(**package)
    del config["release-type"]
    write_config(repo, {**config, **top})

    result = check_release_please_config(Project.load(repo))

    assert (result.status, result.message) == (
        "warn",
        f'release-please-config.json: release-type is {state}, so release-please uses "node" '
        "and will not bump pyproject.toml's version",
    )


def test_a_release_type_missing_everywhere_points_at_the_package(repo):
    """With no release-type at either level there is no key to point at: the warning
    points at the package ".", where its hint's key goes (as the uv.lock warning does)."""
    config = root_package()
    del config["release-type"]
    write_config(repo, config)

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn" and result.line is not None
    lines = (repo / "release-please-config.json").read_text().splitlines()
    assert lines[result.line - 1].strip() == '".": {'
    assert result.hint == 'set "release-type": "python"'


def test_a_missing_release_type_is_named_node(repo):
    pyproject = repo / "pyproject.toml"
    marked = 'version = "0.1.0"  # x-release-please-version'
    write(pyproject, pyproject.read_text().replace('version = "0.1.0"', marked))
    config = root_package()
    del config["release-type"]
    config["packages"]["."]["extra-files"].append("pyproject.toml")
    write_config(repo, config)

    result = check_release_please_config(Project.load(repo))

    assert (result.status, result.message) == (
        "ok",
        "release-please-config.json is valid (release-type node, tags vX.Y.Z)",
    )


def test_extra_file_with_the_wrong_jsonpath_warns(repo):
    write_config(
        repo,
        root_package(
            **{
                "extra-files": [
                    {
                        "type": "toml",
                        "path": "uv.lock",
                        "jsonpath": "$.package[?(@.name=='demo-app')].version",
                    }
                ]
            }
        ),
    )
    result = check_release_please_config(Project.load(repo))
    assert result.status == "warn" and "@.name.value" in result.message


def test_extra_file_for_the_lock_of_another_type_warns(repo):
    entry = {"type": "json", "path": "uv.lock", "jsonpath": "$.package[?(@.name.value=='x')]"}
    write_config(repo, root_package(**{"extra-files": [entry]}))

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn" and 'is not "type": "toml"' in result.message


@pytest.mark.parametrize("top", [False, True])
@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ('"uv.lock"', 'is not "type": "toml"'),
        ('{"type": "json", "path": "uv.lock", "jsonpath": "$.version"}', 'is not "type": "toml"'),
        ('{"type": "toml", "path": "uv.lock", "jsonpath": "$.package[0].version"}', "@.name,"),
    ],
)
def test_a_uv_lock_extra_file_warning_points_at_its_entry(repo, top, entry, said):
    """The line is the offending entry's, not the "extra-files" key's."""
    entries = ['"CHANGELOG.md"', '{"path": "x.txt"}', entry, '"README.md"']
    extra = '"extra-files": [\n' + ",\n".join(f"    {e}" for e in entries) + "\n  ]"
    package = '"package-name": "demo-app"' + ("" if top else f", {extra}")
    write(
        repo / "release-please-config.json",
        '{\n  "release-type": "python",\n  "include-component-in-tag": false,\n'
        + (f"  {extra},\n" if top else "")
        + f'  "packages": {{".": {{{package}}}}}\n}}\n',
    )

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn" and said in result.message, result.message
    lines = (repo / "release-please-config.json").read_text().splitlines()
    assert result.line is not None and lines[result.line - 1] == f"    {entry},"


def test_json_key_line_finds_an_array_entry():
    text = '{"a": [\n 1,\n "x,[]",\n {"b": [\n  null, {"c": 2}]},\n [3]\n]}'
    assert json.loads(text)["a"][3] == [3]
    assert [json_key_line(text, "a", i) for i in range(5)] == [2, 3, 4, 6, None]
    assert (json_key_line(text, "a", 2, "b", 1, "c"), json_key_line(text, "a", 2, "b")) == (5, 4)
    assert json_key_line(text, "a", 2, "b", 0) == 5


def test_component_in_tag_mismatch_warns(repo):
    """With include-component-in-tag at neither level there is no key to point at: the
    warning points at the package ".", where its hint's key goes."""
    config = root_package()
    del config["include-component-in-tag"]
    write_config(repo, config)

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn"
    assert "demo-app-vX.Y.Z" in result.message and "vX.Y.Z" in result.message
    assert result.hint == (
        'set "include-component-in-tag": false or change [tool.buildlib.release].git-tag to match'
    )
    lines = (repo / "release-please-config.json").read_text().splitlines()
    assert result.line is not None and lines[result.line - 1].strip() == '".": {'


def test_a_python_root_package_without_a_name_is_tagged_vx_y_z(repo):
    """release-please's Python strategy takes no component from pyproject.toml's name
    (BaseStrategy.getDefaultPackageName, src/strategies/base.ts): no package-name and no
    component means a tag without one, whatever include-component-in-tag says."""
    config = root_package()
    del config["include-component-in-tag"]
    del config["packages"]["."]["package-name"]
    write_config(repo, config)

    result = check_release_please_config(Project.load(repo))

    assert result.status == "ok", result.message
    assert "tags vX.Y.Z" in result.message


@pytest.mark.parametrize(
    ("options", "tag"),
    [
        ({"component": "api"}, "api-vX.Y.Z"),
        ({"package-name": "demo-app", "tag-separator": "/"}, "demo-app/vX.Y.Z"),
        ({"component": "api", "include-v-in-tag": False}, "api-X.Y.Z"),
    ],
)
def test_a_component_or_package_name_goes_into_the_tag(repo, options, tag):
    config = root_package()
    del config["include-component-in-tag"]
    del config["packages"]["."]["package-name"]
    config["packages"]["."].update(options)
    write_config(repo, config)

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn"
    assert f"would tag releases {tag}," in result.message


def set_git_tag(repo, git_tag):
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text().replace('git-tag = "v{version}"', f'git-tag = "{git_tag}"')
    write(pyproject, text)


@pytest.mark.parametrize(
    ("top", "package", "git_tag", "fix", "at"),
    [
        ({"include-v-in-tag": False}, {}, "v{version}", '"include-v-in-tag": true', "top"),
        (
            {"include-component-in-tag": True},
            {},
            "demo-app/v{version}",
            '"tag-separator": "/"',
            None,
        ),
        ({"include-component-in-tag": True}, {}, "api-v{version}", '"package-name": "api"', "."),
        (
            {"include-component-in-tag": True},
            {"component": "web", "tag-separator": "_"},
            "api_v{version}",
            '"component": "api"',
            ".",
        ),
    ],
)
def test_a_tag_mismatch_names_the_option_that_makes_it(repo, top, package, git_tag, fix, at):
    """TagName.toString (src/util/tag-name.ts) joins component, tag-separator and "v":
    the warning points at the option(s) whose value makes the difference and fixes those,
    or at the package "." when that option is missing."""
    config = root_package(**package)
    config.update(top)
    write_config(repo, config)
    set_git_tag(repo, git_tag)

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn" and "would tag releases" in result.message
    assert result.hint == f"set {fix} or change [tool.buildlib.release].git-tag to match"
    key = fix.split('"')[1]
    lines = (repo / "release-please-config.json").read_text().splitlines()
    assert result.file == "release-please-config.json" and result.line is not None
    line = lines[result.line - 1]
    assert line.strip() == '".": {' if at is None else f'"{key}":' in line
    indent = {"top": 2, None: 4, ".": 6}[at]
    assert line.startswith(" " * indent) and line[indent] == '"'


def test_a_tag_mismatch_of_several_options_names_each_with_its_line(repo):
    """include-v-in-tag (top level) and tag-separator (missing: it goes in package ".")
    both differ: the warning points at the first, and its hint names each key's line."""
    config = root_package(**{"include-component-in-tag": True})
    config["include-v-in-tag"] = False
    write_config(repo, config)
    set_git_tag(repo, "demo-app/v{version}")

    result = check_release_please_config(Project.load(repo))

    lines = (repo / "release-please-config.json").read_text().splitlines()
    v_line = next(n for n, line in enumerate(lines, 1) if line.startswith('  "include-v-in-tag"'))
    root_line = lines.index('    ".": {') + 1
    assert result.status == "warn" and "would tag releases demo-app-X.Y.Z" in result.message
    assert (result.file, result.line) == ("release-please-config.json", v_line)
    assert result.hint == (
        f'set "include-v-in-tag": true in release-please-config.json:{v_line} and '
        f'"tag-separator": "/" in release-please-config.json:{root_line} '
        "or change [tool.buildlib.release].git-tag to match"
    )


def test_a_tag_no_option_can_make_points_at_git_tag(repo):
    """release-please's tags end with the version (TagName.toString, src/util/tag-name.ts):
    a git-tag with text after {version} is git-tag's to change."""
    set_git_tag(repo, "release-{version}-final")

    result = check_release_please_config(Project.load(repo))

    assert result.status == "warn" and "would tag releases vX.Y.Z" in result.message
    assert result.file == "pyproject.toml" and result.line is not None
    lines = (repo / "pyproject.toml").read_text().splitlines()
    assert lines[result.line - 1].startswith("git-tag = ")
    assert result.hint == (
        'set git-tag = "v{version}" in [tool.buildlib.release] (the tag release-please makes)'
    )


def test_manifest_problems(repo):
    write(repo / ".release-please-manifest.json", '{"lib": "1.0.0"}\n')
    result = check_release_please_manifest(Project.load(repo))
    assert result.status == "fail" and 'no "." entry' in result.message

    write(repo / ".release-please-manifest.json", '{".": "not-a-version"}\n')
    result = check_release_please_manifest(Project.load(repo))
    assert result.status == "fail" and "not a version" in result.message

    # release-please's Version.parse needs X.Y.Z, in every entry
    write(repo / ".release-please-manifest.json", '{".": "1.2"}\n')
    result = check_release_please_manifest(Project.load(repo))
    assert result.status == "fail" and "\".\" is '1.2', not a version" in result.message
    write(repo / ".release-please-manifest.json", '{\n  ".": "0.1.0",\n  "lib": "2"\n}\n')
    result = check_release_please_manifest(Project.load(repo))
    assert result.status == "fail" and (result.line, result.hint) == (3, '"lib": "X.Y.Z"')

    (repo / ".release-please-manifest.json").unlink()
    result = check_release_please_manifest(Project.load(repo))
    assert result.status == "fail" and "does not exist" in result.message


def test_a_manifest_that_is_not_utf8_or_not_pep440_is_said(repo):
    manifest = repo / ".release-please-manifest.json"
    manifest.write_text('{".": "not-a-version"}\n')
    result = check_version_agreement(Project.load(repo))
    assert result.status == "fail" and result.message.startswith(
        "versions disagree: pyproject.toml says 0.1.0, .release-please-manifest.json says "
        "not-a-version"
    )

    manifest.write_bytes(b'{".": "0.1.0\xff"}\n')
    result = check_release_please_manifest(Project.load(repo))
    assert (result.id, result.status) == ("release-please-manifest", "fail")
    assert result.message.startswith(".release-please-manifest.json cannot be read: ")


def test_without_release_please_both_are_skipped(tmp_path):
    repo = make_repo(tmp_path, with_release_please=False)
    project = Project.load(repo)
    assert check_release_please_config(project).status == "skipped"
    assert check_release_please_manifest(project).status == "skipped"
    assert check_version_agreement(project).status == "ok"


def test_workflow_using_release_please_needs_the_config(tmp_path):
    repo = make_repo(tmp_path, with_release_please=False)
    write(
        repo / ".github/workflows/release.yml",
        "on: push\njobs:\n  r:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: googleapis/release-please-action@v4\n",
    )
    git(repo, "add", "-A")

    result = check_release_please_config(Project.load(repo))

    assert result.status == "fail"
    assert '"include-component-in-tag": false' in result.hint
