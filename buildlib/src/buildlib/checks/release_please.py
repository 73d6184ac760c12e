"""release-please's files, and one version everywhere.

Its config and manifest must be valid JSON of the expected shape; the version must agree in
pyproject.toml, the manifest, uv.lock's own entry (release-please leaves the lock behind unless
an ``extra-files`` entry covers it) and the release tag at HEAD.

Each prediction of release-please cites the place in its source that decides it
(https://github.com/googleapis/release-please, ``src/``), never this repository's layout.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import partial
from typing import Any

from packaging.version import InvalidVersion, Version

from buildlib.checks import CheckResult
from buildlib.checks.lock import read_lock_version, then_commit
from buildlib.checks.project import PYPROJECT, Project, per_project
from buildlib.config import Locator
from buildlib.release_please import CONFIG, MANIFEST, runs_in_workflow

# The option types of schemas/config.json (ReleaserConfigOptions and the top level), and
# of package-name and component, which only ReleaserPackageConfig (src/manifest.ts) has.
_BOOLEAN = """bump-minor-pre-major bump-patch-for-minor-pre-major include-v-in-tag
    include-component-in-tag draft prerelease skip-github-release separate-pull-requests"""
_STRING = "release-type package-name component changelog-path versioning release-as tag-separator"
_TYPES: dict[str, tuple[type, str]] = {
    **dict.fromkeys(_BOOLEAN.split(), (bool, "true or false")),
    **dict.fromkeys(_STRING.split(), (str, "a string")),
    "extra-files": (list, "a list"),
}
# A null is no value (mergeReleaserConfig, src/manifest.ts: package ?? top level), except a
# top-level one of these: TagName (src/util/tag-name.ts) defaults them for undefined only.
_NULL_AT_TOP = ("include-v-in-tag", "tag-separator")
_ROOT = ("packages", ".")  # src/manifest.ts ROOT_PROJECT_PATH, the repository root's package
_TOP_ONLY = ("bootstrap-sha", "last-release-sha", "commit-search-depth")
# src/factory.ts maps "python" to the Python strategy, the only one whose buildUpdates
# (src/strategies/python.ts) writes pyproject.toml (the PyProjectToml updater).
_PYPROJECT_TYPES = ("python",)
# BaseStrategy's constructor (src/strategies/base.ts), TagName's DEFAULT_SEPARATOR
_TAG_DEFAULTS = {"include-v-in-tag": True, "include-component-in-tag": True, "tag-separator": "-"}
# Version.parse (src/version.ts): the first X.Y.Z anywhere, then a -pre and a +build part
SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(-[^+]+)?(?:\+(.*))?")
# a JSON string (a key when a colon follows), a bracket, a comma, or another value
_JSON_TOKEN = re.compile(r'("(?:[^"\\]|\\.)*")(\s*:)?|[][{},]|[^][{},"\s]+')


def json_key_line(text: str, *path: str | int) -> int | None:
    """The line of the key or array entry (an index) at ``path``; of duplicate keys the last,
    as json.loads keeps. ``text`` has universal newlines, as json.JSONDecodeError counts."""
    found: int | None = None
    inside: list[str | int | None] = [None]  # the key or index of each open bracket's value
    for token in _JSON_TOKEN.finditer(text):
        at = inside[-1]
        if token[0] == ",":
            inside[-1] = at + 1 if isinstance(at, int) else None
        elif token[0] in "]}":
            inside.pop()
        elif token[2] or isinstance(at, int):  # a key, or an entry's value
            inside[-1] = json.loads(token[1]) if token[2] else at
            found = token.start() if inside[1:] == list(path) else found
        if token[0] in "[{":
            inside.append(0 if token[0] == "[" else None)
    return None if found is None else text.count("\n", 0, found) + 1


@per_project
def read_json(project: Project, name: str) -> tuple[Any, str, CheckResult | None]:
    """(data or None, text or "", the problem reading it or None)."""
    path = project.root / name
    if not path.is_file():
        return None, "", None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, "", CheckResult("", "fail", f"{name} cannot be read: {exc}", file=name)
    try:
        return json.loads(text), text, None
    except json.JSONDecodeError as exc:
        message = f"{name} is not valid JSON (column {exc.colno}): {exc.msg}"
        hint = "fix the JSON at that position"
        return None, text, CheckResult("", "fail", message, name, exc.lineno, hint)


def manifest_version(project: Project) -> str | None:
    # src/manifest.ts: a package path to its version; the root's is ROOT_PROJECT_PATH, "."
    data, _, _ = read_json(project, MANIFEST)
    value = data.get(".") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def root_options(project: Project) -> dict[str, Any]:
    """The top level, then package ".", a null being no value: mergeReleaserConfig
    (src/manifest.ts:1742-1799) takes the package's option ?? the top level's."""
    data, _, _ = read_json(project, CONFIG)
    data = data if isinstance(data, dict) else {}
    packages = data.get("packages")
    root = packages.get(".") if isinstance(packages, dict) else None
    # parseConfig (src/manifest.ts:1468-1483) reads these from the top level only
    root = {k: v for k, v in root.items() if k not in _TOP_ONLY} if isinstance(root, dict) else {}
    top = {k: v for k, v in data.items() if k != "packages"}
    return {k: v for table in (top, root) for k, v in table.items() if v is not None}


def _extra_files_hint(project: Project) -> str:
    from packaging.utils import canonicalize_name  # see read_lock_version's import

    name = canonicalize_name(project.project_name or "PROJECT")
    path = f"$.package[?(@.name.value=='{name}')].version"
    entry = json.dumps({"type": "toml", "path": "uv.lock", "jsonpath": path})
    return (
        f'add to packages["."] of {CONFIG}: "extra-files": [{entry}] '
        "(release-please then bumps uv.lock with pyproject.toml)"
    )


def check_release_please_config(project: Project) -> CheckResult:
    check_id = "release-please-config"
    fail = partial(CheckResult, check_id, "fail", file=CONFIG)
    data, text, problem = read_json(project, CONFIG)
    if problem is not None:
        return replace(problem, id=check_id)
    if data is None:
        if not runs_in_workflow(project.root):
            return CheckResult(check_id, "skipped", f"release-please is not set up (no {CONFIG})")
        return fail(
            f"a workflow runs release-please but {CONFIG} does not exist",
            hint=f'create {CONFIG}: {{"release-type": "python", '
            '"include-component-in-tag": false, "packages": {".": {}}} and '
            f'{MANIFEST}: {{".": "{project.version_text or "0.1.0"}"}}',
        )
    if not isinstance(data, dict):
        hint = '{"packages": {".": {"release-type": "python"}}}'
        return fail(f"{CONFIG} must be a JSON object", line=1, hint=hint)
    packages = data.get("packages")
    if not isinstance(packages, dict) or not packages:
        line = json_key_line(text, "packages") or 1
        hint = 'add "packages": {".": {}} (the project at the repository root)'
        return fail(f'{CONFIG} has no "packages" object', line=line, hint=hint)
    root = packages.get(".")  # src/manifest.ts ROOT_PROJECT_PATH
    if not isinstance(root, dict):
        return fail(
            f'{CONFIG} has no package "." (the project at the repository root), '
            "so release-please never bumps its pyproject.toml",
            line=json_key_line(text, "packages"),
            hint='add "." to "packages": "packages": {".": {}}',
        )
    top, package = ("top level", data, _NULL_AT_TOP, ()), ('package "."', root, (), _ROOT)
    for scope, table, refused, where in (top, package):
        for key, (kind, name) in _TYPES.items():
            value = table.get(key, kind())  # a missing key passes, a null unless refused
            if not isinstance(value, kind) and (value is not None or key in refused):
                return fail(
                    f"{CONFIG}: {key} ({scope}) must be {name}, not {json.dumps(value)}",
                    line=json_key_line(text, *where, key),
                    hint=f'"{key}": true' if kind is bool else None,
                )
    options = root_options(project)

    def option_line(key: str, *inside: int) -> int | None:
        """The line of the option (or its list entry) release-please takes, else of "."."""
        where = () if root.get(key) is None and key in data else _ROOT
        return json_key_line(text, *where, key, *inside) or json_key_line(text, *_ROOT)

    warnings: list[tuple[str, str, int | None, str]] = []

    def warn(message: str, line: int | None, hint: str, file: str = CONFIG) -> None:
        warnings.append((message, file, line, hint))

    # mergeReleaserConfig (src/manifest.ts): releaseType ?? 'node', for a null as for none
    release_type = options.get("release-type", "node")
    extra = options.get("extra-files") or []

    def written(path: str) -> list[tuple[int, Any, str]]:
        """(index, type, jsonpath) of the extra-files entries for ``path``. BaseStrategy.
        extraFileUpdates (src/strategies/base.ts) runs GenericToml at a "toml" entry's jsonpath,
        Generic (src/updaters/generic.ts: only lines marked x-release-please-version) for a
        "generic" entry or a bare path (a .toml one after $.version, which neither file has)."""
        entries = [{"type": "generic", "path": e} if isinstance(e, str) else e for e in extra]
        return [
            (i, e.get("type"), str(e.get("jsonpath")))
            for i, e in enumerate(entries)
            if isinstance(e, dict) and str(e.get("path", "")).lstrip("/") == path
        ]

    marked = re.search(r"x-release-please-(start-)?version(?!-)", project.text or "")
    if release_type not in _PYPROJECT_TYPES and not any(
        (kind == "generic" and marked) or (kind == "toml" and path == "$.project.version")
        for _, kind, path in written(PYPROJECT)
    ):
        if "release-type" in options:
            said = f"release-type is {json.dumps(release_type)}: release-please"
        else:
            state = "null" if "release-type" in {**data, **root} else "missing"
            said = f'release-type is {state}, so release-please uses "node" and'
        warn(
            f"{said} will not bump pyproject.toml's version",
            option_line("release-type"),
            'set "release-type": "python"',
        )
    # Python.buildUpdates (src/strategies/python.ts) never writes uv.lock; of the extra files
    # only a "toml" one can: GenericToml.updateContent (src/updaters/generic-toml.ts) runs the
    # jsonpath on parseWith's tree (src/util/toml-edit.ts), where TaggedTOMLParser.return wraps
    # every scalar as {value, start, end}: a name is @.name.value. An uncommitted lock is not
    # release-please's to bump.
    lock = written("uv.lock")
    toml = [(i, path) for i, kind, path in lock if kind == "toml"]
    lock_committed = (project.root / "uv.lock").is_file() and (
        not project.is_git or project.git.is_tracked("uv.lock")
    )
    if lock_committed and not any(".name.value" in path for _, path in toml):
        entry = [i for i, *_ in toml or lock][:1]  # the offending entry, if any
        warn(
            "the uv.lock extra-files entry's jsonpath filters on @.name, which matches "
            "nothing in release-please's TOML tree (it needs @.name.value)"
            if toml
            else 'the uv.lock extra-files entry is not "type": "toml", the only one '
            "release-please updates a lock with"
            if lock
            else "release-please bumps pyproject.toml but not uv.lock: the lock's "
            "own version falls behind on every release",
            option_line("extra-files", *entry),
            _extra_files_hint(project),
        )
    predicted = predicted_tag(options)
    expected = project.release_tag("X.Y.Z") or ""
    if predicted != expected:
        said = f"release-please would tag releases {predicted}, but "
        said += f"[tool.buildlib.release].git-tag expects {expected}"
        fix = tag_fix(options, expected)
        if fix is None:
            git_tag = predicted.replace("X.Y.Z", "{version}")
            hint = f'set git-tag = "{git_tag}" in [tool.buildlib.release] (the tag '
            hint += "release-please makes)"
            at = Locator(project.text or "", PYPROJECT).key_line("tool.buildlib.release", "git-tag")
            warn(said, at, hint, PYPROJECT)
        else:
            several = len(fix) > 1  # the warning's line is the first key's: each names its own
            keys = " and ".join(
                f'"{k}": {json.dumps(v)}' + (f" in {CONFIG}:{option_line(k)}" if several else "")
                for k, v in fix.items()
            )
            at = option_line(next(iter(fix)))
            warn(said, at, f"set {keys} or change [tool.buildlib.release].git-tag to match")
    if warnings:
        message = f"{CONFIG}: " + "; ".join(w[0] for w in warnings)
        hint = "; ".join(w[3] for w in warnings)  # each problem the line names, with its fix
        return CheckResult(check_id, "warn", message, *warnings[0][1:3], hint)
    message = f"{CONFIG} is valid (release-type {release_type}, tags {predicted})"
    return CheckResult(check_id, "ok", message, file=CONFIG)


def predicted_tag(options: dict[str, Any]) -> str:
    """The tag release-please would write for version X.Y.Z.

    src/strategies/base.ts: the BaseStrategy constructor defaults includeComponentInTag and
    includeVInTag to true and takes ``component``, else getComponent()'s
    getDefaultPackageName(), which the Python strategy does not override: ``package-name`` or
    nothing, never [project].name. src/util/tag-name.ts TagName.toString joins component,
    separator (DEFAULT_SEPARATOR "-") and "v".
    """
    tag = {**_TAG_DEFAULTS, **options}
    included = tag["include-component-in-tag"] is not False
    component = (tag.get("component") or tag.get("package-name")) if included else None
    prefix = f"{component}{tag['tag-separator']}" if component else ""
    return f"{prefix}{'v' if tag['include-v-in-tag'] is not False else ''}X.Y.Z"


def tag_fix(options: dict[str, Any], expected: str) -> dict[str, Any] | None:
    """The fewest options to change, with their new values, for release-please to tag
    version X.Y.Z as ``expected``; None when none can (its tags end with the version).
    A new tag-separator is one character TagName.parse (src/util/tag-name.ts TAG_PATTERN)
    reads back as one: not a letter or digit."""
    head, version, tail = expected.rpartition("X.Y.Z")
    if not version or tail:
        return None
    options = {**_TAG_DEFAULTS, **options}
    name = next((k for k in ("component", "package-name") if options.get(k)), "component")
    component, separator = options.get(name) or "", options["tag-separator"]
    tries: list[dict[str, Any]] = []
    for include_v in (True, False):  # a try that cannot give ``expected`` is filtered below
        rest = head.removesuffix("v") if include_v else head
        base = {"include-v-in-tag": include_v, "include-component-in-tag": bool(rest)}
        splits = [(rest[: -len(separator)], separator)] if rest.endswith(separator) else []
        splits += [(component, rest[len(component) :])] if rest.startswith(component) else []
        tries += [
            {**base, name: c, "tag-separator": s}
            for c, s in [*splits, (rest[:-1], rest[-1:])]
            if c and s and (s == separator or re.fullmatch("[^a-zA-Z0-9]", s))
        ]
        tries += [] if rest else [base]  # no component: nothing else to set
    fixes = [
        {k: v for k, v in t.items() if options.get(k) != v}
        for t in tries
        if predicted_tag({**options, **t}) == expected
    ]
    return min(fixes, key=len, default=None)


def check_release_please_manifest(project: Project) -> CheckResult:
    check_id = "release-please-manifest"
    fail = partial(CheckResult, check_id, "fail", file=MANIFEST)
    data, text, problem = read_json(project, MANIFEST)
    if problem is not None:
        return replace(problem, id=check_id)
    current = project.version_text or "0.1.0"
    if data is None:
        if read_json(project, CONFIG)[0] is None and not runs_in_workflow(project.root):
            message = f"release-please is not set up (no {MANIFEST})"
            return CheckResult(check_id, "skipped", message)
        hint = f'create {MANIFEST} with {{".": "{current}"}}'
        return fail(f"{MANIFEST} does not exist", hint=hint)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        message = f"{MANIFEST} must map package paths to version strings"
        return fail(message, line=1, hint=f'{{".": "{current}"}}')
    if "." not in data:
        message = f'{MANIFEST} has no "." entry (the project at the repository root)'
        return fail(message, line=1, hint=f'add ".": "{current}"')
    # parseReleasedVersions (src/manifest.ts) reads every entry with Version.parse, which
    # stops release-please at one without X.Y.Z
    for key, value in data.items():
        if not SEMVER.search(value):
            message = f'{MANIFEST}: "{key}" is {value!r}, not a version (X.Y.Z)'
            example = current if key == "." else "X.Y.Z"
            return fail(message, line=json_key_line(text, key), hint=f'"{key}": "{example}"')
    message = f'{MANIFEST} is valid ("." at {data["."]})'
    return CheckResult(check_id, "ok", message, file=MANIFEST, line=json_key_line(text, "."))


def check_version_agreement(project: Project) -> CheckResult:
    """pyproject.toml == manifest == uv.lock's own entry == the release tag at HEAD."""
    check_id = "version-agreement"
    version_text, version = project.version_text, project.version
    if version_text is None or version is None:
        message = "no valid [project].version (see pyproject-version)"
        return CheckResult(check_id, "skipped", message)

    def same(other: str) -> bool:
        try:
            return Version(other) == version
        except InvalidVersion:
            return other == version_text

    fail = partial(CheckResult, check_id, "fail")
    disagree = f"versions disagree: {PYPROJECT} says {version_text}"
    seen = [f"{PYPROJECT} {version_text}"]
    pyproject_line = Locator(project.text or "", PYPROJECT).key_line("project", "version")
    manifest = manifest_version(project)
    if manifest is not None:
        seen.append(f"{MANIFEST} {manifest}")
        if not same(manifest):
            return fail(
                f"{disagree}, {MANIFEST} says {manifest}",
                file=MANIFEST,
                line=json_key_line(read_json(project, MANIFEST)[1], "."),
                # Manifest.buildPullRequests (src/manifest.ts) writes the manifest with the
                # ReleasePleaseManifest updater; Python.buildUpdates writes pyproject.toml.
                hint=f'make them one version: set ".": "{version_text}" in {MANIFEST}, or '
                f'version = "{manifest}" in {PYPROJECT}:{pyproject_line} (release-please '
                "writes both in its release PR)",
            )
    name = project.project_name
    locked, lock_line = read_lock_version(project.root, name) if name else (None, None)
    if locked is not None:
        seen.append(f"uv.lock {locked}")
        if not same(locked):
            hint = "uv lock (it rewrites the project's own version)" + then_commit(project)
            if read_json(project, CONFIG)[0] is not None:
                hint += f"; so release-please keeps it in step: {_extra_files_hint(project)}"
            return fail(
                f"{disagree}, uv.lock's entry for the project says {locked} (release-please "
                "bumped pyproject.toml and left the lock behind)",
                file="uv.lock",
                line=lock_line,
                hint=hint,
            )
    if project.is_git and project.head:
        tags = [(t, v) for t in project.git.tags_at_head() if (v := project.tag_version(t))]
        for tag, tagged in tags:
            seen.append(f"tag {tag}")
            if not same(tagged):
                return fail(
                    f"versions disagree: HEAD is tagged {tag} but {PYPROJECT} says {version_text}",
                    file=PYPROJECT,
                    line=pyproject_line,
                    hint=f'set version = "{tagged}" in {PYPROJECT}, or move the tag: '
                    f"git tag -f {project.release_tag()} (only if {tag} was never published)",
                )
        last = project.git.last_tag(project.tag_glob)
        last_version = project.tag_version(last) if last else None  # a valid version or None
        if last_version and not tags and Version(last_version) > version:
            return fail(
                f"{PYPROJECT} says {version_text}, older than the last release {last}",
                file=PYPROJECT,
                line=pyproject_line,
                # BaseStrategy.buildNewVersion (src/strategies/base.ts) bumps the latest
                # release's version, not the one in pyproject.toml.
                hint=f'set version = "{last_version}" in {PYPROJECT} (release-please '
                "bumps the last release's version, not this one)",
            )
    return CheckResult(check_id, "ok", f"one version, {version_text}: " + ", ".join(seen))
