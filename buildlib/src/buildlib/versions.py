"""Versions and Docker tags: validation, PEP 440 to tag rendering, release tag planning.

Tag rendering (``docker_tag_for``)
----------------------------------
A release's full tag is its normalized PEP 440 string (``str(Version)``), with the two
characters a Docker tag cannot hold replaced:

====================  ===============  ===============  ==========================
version as written    normalized       Docker tag       rule
====================  ===============  ===============  ==========================
``1.0.0-rc.1``        ``1.0.0rc1``     ``1.0.0rc1``     normalized form
``v1.2``              ``1.2``          ``1.2``          normalized form
``1.2.3+abc.5``       ``1.2.3+abc.5``  ``1.2.3-abc.5``  local ``+`` becomes ``-``
``1!2.0``             ``1!2.0``        ``1_2.0``        epoch ``!`` becomes ``_``
====================  ===============  ===============  ==========================

A normalized version never contains ``-`` or ``_`` (normalization turns them into ``.``
or drops them), so the mapping is reversible: two different versions never get the same
tag. A version whose tag would exceed 128 characters is refused.

Release tags (``plan_release_tags``)
------------------------------------
The rules of docker/metadata-action's ``type=pep440`` tags:

* The full tag is always written, first. ``"version"`` may appear in the patterns (as in
  metadata-action) but is implied.
* Floating tags follow, in this order: ``"major.minor"`` -> ``X.Y``, ``"major"`` -> ``X``,
  ``"latest"`` -> ``latest``; only the selected patterns are written.
* A pre-, post- or dev-release, or a version with a local segment, gets only its full tag.
* Duplicates collapse, first one wins: ``1.2`` gives ``1.2, 1, latest``; ``1`` gives
  ``1, latest``.
* Major version 0 is not special: ``0.7.3`` gives ``0.7.3, 0.7, 0, latest``.
* A backport does not steal floating tags: a floating tag moves only if the new version
  is >= every released final version in the tag's scope (``X.Y``: same major and minor;
  ``X``: same major; ``latest``: all). Releasing the same version again moves them all.
  Released versions come from git tags or registry tag lists: ``v1.2.3``, ``1.2.3`` and
  the renderings above are understood; anything else (``main``, ``latest``) is ignored.

Version bumps (``next_version``)
--------------------------------
``bump`` is the conventional-commit level: ``"major"`` (a breaking change), ``"minor"``
(a feature), ``"patch"`` (anything else), as in release-please's default versioning
strategy, which its python strategy uses:

* ``major``: ``X+1.0.0``; ``minor``: ``X.Y+1.0``; ``patch``: ``X.Y.Z+1``.
* While the major version is 0, a breaking change still bumps the major by default
  (``0.7.3`` -> ``1.0.0``) and a feature the minor (``0.7.3`` -> ``0.8.0``).
  ``bump_minor_pre_major`` (release-please's ``bump-minor-pre-major``) turns a breaking
  change into a minor bump (``0.7.3`` -> ``0.8.0``); ``bump_patch_for_minor_pre_major``
  (``bump-patch-for-minor-pre-major``) turns a feature into a patch bump (``0.7.3`` ->
  ``0.7.4``). The two are independent and never apply from ``1.0.0`` on.
* Only ``X.Y.Z`` is bumped (missing parts count as 0, parts past the third are dropped),
  the epoch is kept, and pre/post/dev/local segments are dropped: ``1.0.0rc1`` + patch is
  ``1.0.1``, as release-please reads a normalized PEP 440 string (it only sees ``X.Y.Z``;
  it would carry a ``+local`` suffix along, which a release never has).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from buildlib.errors import ConfigError

__all__ = [
    "BUMPS",
    "DEFAULT_PATTERNS",
    "DOCKER_TAG_RE",
    "FLOATING_PATTERNS",
    "PATTERNS",
    "REPOSITORY_MAX_LENGTH",
    "TAG_MAX_LENGTH",
    "ReleaseTags",
    "docker_tag_for",
    "is_version_shaped",
    "next_version",
    "parse_version",
    "plan_release_tags",
    "release_tags",
    "split_registry",
    "validate_patterns",
    "validate_repository",
    "validate_tag",
]

TAG_MAX_LENGTH = 128
REPOSITORY_MAX_LENGTH = 255

DOCKER_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_TAG_CHARS_RE = re.compile(r"[A-Za-z0-9_.-]")

_PATH_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*")
_SEPARATOR_RUN_RE = re.compile(r"[._-]+")
_SEPARATOR_RE = re.compile(r"[._]|__|[-]+")
_PATH_CHARS_RE = re.compile(r"[a-zA-Z0-9._-]")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY_RE = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)

FLOATING_PATTERNS: tuple[str, ...] = ("major.minor", "major", "latest")
PATTERNS: tuple[str, ...] = ("version", *FLOATING_PATTERNS)
DEFAULT_PATTERNS: tuple[str, ...] = PATTERNS

BUMPS: tuple[str, ...] = ("major", "minor", "patch")


# --- tags -------------------------------------------------------------------------------


def validate_tag(tag: str, *, location: str | None = None) -> str:
    """Return ``tag`` if Docker accepts it as a tag, else raise ``ConfigError``."""
    _require_str(tag, "Docker tag", location)
    problems = _tag_problems(tag)
    if not problems:
        return tag
    raise ConfigError(
        f"invalid Docker tag {tag!r}: {'; '.join(problems)}",
        hint=_tag_hint(tag),
        location=location,
    )


def _tag_problems(tag: str) -> list[str]:
    if not tag:
        return ["it is empty"]
    problems = []
    bad = _invalid_chars(tag, _TAG_CHARS_RE)
    if bad:
        problems.append(f"{_describe_chars(bad)} not allowed")
    if tag[0] in ".-":
        problems.append(f"it starts with {tag[0]!r}")
    if len(tag) > TAG_MAX_LENGTH:
        problems.append(f"it is {len(tag)} characters long (at most {TAG_MAX_LENGTH})")
    return problems


def _tag_hint(tag: str) -> str:
    rule = (
        f"a tag is 1 to {TAG_MAX_LENGTH} letters, digits, '_', '.' or '-', "
        "and does not start with '.' or '-'"
    )
    suggestion = re.sub(r"[^A-Za-z0-9_.-]", "-", tag).lstrip(".-")[:TAG_MAX_LENGTH]
    if suggestion and suggestion != tag and DOCKER_TAG_RE.fullmatch(suggestion):
        return f"use {suggestion!r}; {rule}"
    return rule


# --- repositories -----------------------------------------------------------------------


def validate_repository(name: str, *, location: str | None = None) -> str:
    """Return ``name`` if it is a valid Docker repository name, else raise ``ConfigError``.

    The name is ``[registry-host[:port]/]path/to/repo`` without a tag or digest; the first
    component is a registry host only if it holds a ``.`` or ``:`` or is ``localhost``.
    """
    _require_str(name, "repository", location)
    if _is_valid_repository(name):
        return name
    problems = _repository_problems(name) or ["it does not match Docker's reference grammar"]
    raise ConfigError(
        f"invalid repository {name!r}: {'; '.join(problems)}",
        hint=_repository_hint(name),
        location=location,
    )


def split_registry(name: str) -> tuple[str | None, str]:
    """Split ``name`` into its registry host (or ``None``) and path, as Docker reads it.

    The first component is a host only if it holds a ``.`` or ``:`` or is ``localhost``:
    ``localhost:5000/app`` -> (``localhost:5000``, ``app``); ``acme/app`` -> (None, ``acme/app``).
    """
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return None, name


def _is_valid_repository(name: str) -> bool:
    if not name or len(name) > REPOSITORY_MAX_LENGTH:
        return False
    registry, path = split_registry(name)
    if registry is not None and not _REGISTRY_RE.fullmatch(registry):
        return False
    return all(_PATH_COMPONENT_RE.fullmatch(part) for part in path.split("/"))


def _repository_problems(name: str) -> list[str]:
    """Explain, in the user's terms, each way ``name`` breaks the grammar."""
    if not name:
        return ["it is empty"]
    problems = []
    if len(name) > REPOSITORY_MAX_LENGTH:
        problems.append(f"it is {len(name)} characters long (at most {REPOSITORY_MAX_LENGTH})")
    base, at, digest = name.partition("@")
    if at:
        problems.append(f"it contains a digest ('@{digest}'); give the name only")
    registry, path = split_registry(base)
    if registry is not None and not _REGISTRY_RE.fullmatch(registry):
        problems.append(f"registry host {registry!r} is invalid")
    path, tag = _split_tag(path)
    if tag is not None:
        problems.append(f"it contains a tag (':{tag}'); set the tag separately")
    problems.extend(_path_problems(path))
    return problems


def _split_tag(path: str) -> tuple[str, str | None]:
    head, slash, last = path.rpartition("/")
    if ":" not in last:
        return path, None
    last, _, tag = last.partition(":")
    return f"{head}{slash}{last}", tag


def _path_problems(path: str) -> list[str]:
    components = path.split("/")
    problems = []
    if any(not part for part in components):
        problems.append("it has an empty path component (a leading, trailing or double '/')")
    if any(char.isupper() for char in path):
        problems.append("it must be lowercase")
    bad = _invalid_chars(path.replace("/", ""), _PATH_CHARS_RE)
    if bad:
        problems.append(f"{_describe_chars(bad)} not allowed")
    for part in components:
        # Separators are only worth explaining once the characters themselves are valid.
        if part and not _invalid_chars(part, _PATH_CHARS_RE):
            problems.extend(_separator_problems(part.lower()))
    return problems


def _separator_problems(component: str) -> list[str]:
    problems = []
    if component[0] in "._-":
        problems.append(f"path component {component!r} starts with {component[0]!r}")
    if component[-1] in "._-":
        problems.append(f"path component {component!r} ends with {component[-1]!r}")
    for run in _SEPARATOR_RUN_RE.finditer(component):
        inner = 0 < run.start() and run.end() < len(component)
        if inner and not _SEPARATOR_RE.fullmatch(run.group()):
            problems.append(
                f"path component {component!r} has the separator {run.group()!r} "
                "(use one '.', one or two '_', or one or more '-')"
            )
    return problems


def _repository_hint(name: str) -> str:
    rule = (
        "a repository is lowercase letters and digits, in components separated by '/', "
        "with '.', '_', '__' or '-' between words, e.g. 'acme/worker-gpu'"
    )
    registry, _ = split_registry(name)
    if registry is not None and not _REGISTRY_RE.fullmatch(registry):
        rule = (
            "a registry host is a domain name or [IPv6] address with an optional ':port', "
            "e.g. 'ghcr.io' or 'localhost:5000'"
        )
    suggestion = _suggest_repository(name)
    return f"use {suggestion!r}" if suggestion else rule


def _suggest_repository(name: str) -> str | None:
    registry, path = split_registry(name.partition("@")[0])
    path, _ = _split_tag(path)
    components = [fixed for part in path.split("/") if (fixed := _fix_component(part))]
    if not components:
        return None
    candidate = "/".join([registry, *components] if registry else components)
    return candidate if candidate != name and _is_valid_repository(candidate) else None


def _fix_component(component: str) -> str:
    fixed = re.sub(r"[^a-z0-9._-]", "-", component.lower())
    fixed = _SEPARATOR_RUN_RE.sub(
        lambda run: run.group() if _SEPARATOR_RE.fullmatch(run.group()) else run.group()[0],
        fixed,
    )
    return fixed.strip("._-")


# --- versions ---------------------------------------------------------------------------


def parse_version(text: str, *, location: str | None = None) -> Version:
    """Parse a PEP 440 version (a leading ``v`` is accepted), or raise ``ConfigError``."""
    _require_str(text, "version", location)
    try:
        return Version(text)
    except InvalidVersion:
        raise ConfigError(
            f"invalid PEP 440 version {text!r}",
            hint="use a version such as '1.2.3', '1.2.3rc1', '1.2.3.post1' or '1.2.3.dev4' "
            "(https://peps.python.org/pep-0440/)",
            location=location,
        ) from None


def docker_tag_for(version: Version | str) -> str:
    """The full Docker tag of ``version``; see the module docstring for the mapping."""
    rendered = str(_as_version(version)).replace("!", "_").replace("+", "-")
    return validate_tag(rendered)


def is_version_shaped(tag: str) -> bool:
    """Whether ``tag`` looks like a tag that ``release`` owns: ``latest`` or a version.

    A version is anything PEP 440 parses (``1``, ``1.2``, ``v1.2.3``, ``1.2.3rc1``) or the
    Docker rendering of one (``1.2.3-abc.5``, ``1_2.0``).
    """
    if tag == "latest":
        return True
    return DOCKER_TAG_RE.fullmatch(tag) is not None and version_from_tag(tag) is not None


def version_from_tag(text: str) -> Version | None:
    """Read a git or registry tag as a version, or ``None`` if it is not one."""
    for candidate in (text, _undo_docker_rendering(text)):
        try:
            return Version(candidate)
        except InvalidVersion:
            continue
    return None


def _undo_docker_rendering(tag: str) -> str:
    return tag.replace("_", "!", 1).replace("-", "+", 1)


def _as_version(version: Version | str) -> Version:
    return version if isinstance(version, Version) else parse_version(version)


# --- release tags -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseTags:
    """The tags a release writes, in order, and the floating tags it leaves alone."""

    tags: tuple[str, ...]
    """``full`` then ``floating``: the order to write them in."""
    full: str
    floating: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    """``(tag, reason)`` for each selected floating tag that is not written."""


def validate_patterns(patterns: Iterable[str], *, location: str | None = None) -> tuple[str, ...]:
    """Return the patterns without duplicates, or raise ``ConfigError`` for an unknown one."""
    if isinstance(patterns, str):
        raise ConfigError(
            f"tag patterns must be a list, got the string {patterns!r}",
            hint=f"write [{patterns!r}]",
            location=location,
        )
    result: list[str] = []
    for pattern in patterns:
        if pattern not in PATTERNS:
            raise ConfigError(
                f"unknown tag pattern {pattern!r}",
                hint=_pattern_hint(pattern),
                location=location,
            )
        if pattern not in result:
            result.append(pattern)
    return tuple(result)


def _pattern_hint(pattern: object) -> str:
    choices = "valid patterns: " + ", ".join(repr(p) for p in PATTERNS)
    close = difflib.get_close_matches(str(pattern), PATTERNS, n=1)
    return f"did you mean {close[0]!r}? {choices}" if close else choices


def plan_release_tags(
    version: Version | str,
    patterns: Iterable[str] = DEFAULT_PATTERNS,
    released: Iterable[Version | str] = (),
) -> ReleaseTags:
    """Plan the tags for releasing ``version`` given the ``released`` versions."""
    version = _as_version(version)
    selected = validate_patterns(patterns)
    full = docker_tag_for(version)
    finals = [v for v in _released_versions(released) if _unstable_reason(v) is None]
    unstable = _unstable_reason(version)

    floating: list[str] = []
    skipped: list[tuple[str, str]] = []
    seen = {full}
    for pattern in FLOATING_PATTERNS:
        tag = _floating_tag(version, pattern)
        if pattern not in selected or tag in seen:
            continue
        seen.add(tag)
        reason = unstable or _newer_in_scope(version, pattern, tag, finals)
        if reason:
            skipped.append((tag, reason))
        else:
            floating.append(tag)
    return ReleaseTags(
        tags=(full, *floating), full=full, floating=tuple(floating), skipped=tuple(skipped)
    )


def release_tags(
    version: Version | str,
    patterns: Iterable[str] = DEFAULT_PATTERNS,
    released: Iterable[Version | str] = (),
) -> list[str]:
    """The tags to write for ``version``, in order; see ``plan_release_tags``."""
    return list(plan_release_tags(version, patterns, released).tags)


def _released_versions(released: Iterable[Version | str]) -> list[Version]:
    versions = []
    for item in released:
        version = item if isinstance(item, Version) else version_from_tag(item)
        if version is not None:
            versions.append(version)
    return versions


def _unstable_reason(version: Version) -> str | None:
    if version.pre is not None:
        kind = "is a pre-release"
    elif version.post is not None:
        kind = "is a post-release"
    elif version.dev is not None:
        kind = "is a dev release"
    elif version.local is not None:
        kind = "has a local segment"
    else:
        return None
    return f"{version} {kind}: only its full tag is written"


def _floating_tag(version: Version, pattern: str) -> str:
    if pattern == "major.minor":
        # A one-part release ("1") has no minor: its X.Y tag collapses into the full tag.
        return ".".join(str(part) for part in version.release[:2])
    if pattern == "major":
        return str(version.major)
    return "latest"


def _scope(version: Version, pattern: str) -> tuple[int, ...]:
    # The epoch is left out on purpose: 1!2.0 and 2.1 both write the tag "2", so they
    # compete for it (and PEP 440 ordering, where the epoch wins, picks the newer).
    if pattern == "major.minor":
        return (version.major, version.minor)
    if pattern == "major":
        return (version.major,)
    return ()


def _newer_in_scope(version: Version, pattern: str, tag: str, finals: list[Version]) -> str | None:
    scope = _scope(version, pattern)
    newest = max((v for v in finals if _scope(v, pattern) == scope), default=None)
    if newest is not None and newest > version:
        return f"{newest} is newer in scope {tag}"
    return None


# --- bumps ------------------------------------------------------------------------------


def next_version(
    current: Version | str,
    bump: str,
    *,
    bump_minor_pre_major: bool = False,
    bump_patch_for_minor_pre_major: bool = False,
) -> Version:
    """The version after ``current`` for a ``bump`` level; see the module docstring."""
    version = _as_version(current)
    level = _validate_bump(bump)
    if version.major == 0:
        if level == "major" and bump_minor_pre_major:
            level = "minor"
        elif level == "minor" and bump_patch_for_minor_pre_major:
            level = "patch"
    major, minor, micro = version.major, version.minor, version.micro
    if level == "major":
        release = (major + 1, 0, 0)
    elif level == "minor":
        release = (major, minor + 1, 0)
    else:
        release = (major, minor, micro + 1)
    epoch = f"{version.epoch}!" if version.epoch else ""
    return Version(epoch + ".".join(str(part) for part in release))


def _validate_bump(bump: str) -> str:
    if bump in BUMPS:
        return bump
    close = difflib.get_close_matches(str(bump), BUMPS, n=1)
    choices = "one of " + ", ".join(repr(b) for b in BUMPS)
    raise ConfigError(
        f"unknown version bump {bump!r}",
        hint=f"did you mean {close[0]!r}? use {choices}" if close else f"use {choices}",
    )


# --- helpers ----------------------------------------------------------------------------


def _require_str(value: object, what: str, location: str | None) -> None:
    # Values come straight from TOML, where an unquoted 1.2 is a float.
    if not isinstance(value, str):
        raise ConfigError(
            f"{what} must be a string, got {type(value).__name__} {value!r}",
            hint=f'quote it: "{value}"',
            location=location,
        )


def _invalid_chars(text: str, allowed: re.Pattern[str]) -> list[str]:
    """The distinct characters of ``text`` not matched by ``allowed``, in order."""
    return list(dict.fromkeys(char for char in text if not allowed.fullmatch(char)))


def _describe_chars(chars: list[str]) -> str:
    quoted = ", ".join(repr(char) for char in chars)
    return f"character {quoted} is" if len(chars) == 1 else f"characters {quoted} are"
