"""Versions and Docker tags: the tag of a PEP 440 version, and the tags a release writes.

The rules are docker/metadata-action's ``type=pep440``, as README.md's "Version tags" lists
them. Beyond that list: the full tag comes first, then ``X.Y``, ``X``, ``latest`` (``version``
is implied); a floating tag moves when the version is >= every released final version in its
scope (``X.Y``: same major and minor; ``X``: same major; ``latest``: all), so releasing a
version again moves them all; released versions are read from git or registry tags (``v1.2.3``,
``1.2.3``, Docker renderings), anything else (``main``) is ignored. The tag grammar (128
characters at most) is :mod:`buildlib.references`'s.

Pure functions of the versions given: never asks git or a registry which versions exist.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from buildlib.errors import ConfigError
from buildlib.references import DOCKER_TAG_RE, require_str, validate_tag

FLOATING_PATTERNS: tuple[str, ...] = ("major.minor", "major", "latest")
PATTERNS: tuple[str, ...] = ("version", *FLOATING_PATTERNS)

# --- versions ---------------------------------------------------------------------------


def parse_version(text: str, *, location: str | None = None) -> Version:
    """Parse a PEP 440 version (a leading ``v`` is accepted), or raise ``ConfigError``."""
    require_str(text, "version", location)
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
    """The full Docker tag of ``version`` (``+`` -> ``-``, ``!`` -> ``_``: README.md)."""
    return validate_tag(str(_as_version(version)).replace("!", "_").replace("+", "-"))


def is_version_shaped(tag: str) -> bool:
    """Whether ``tag`` looks like a tag that ``release`` owns: ``latest`` or a version,
    anything PEP 440 parses (``1``, ``1.2``, ``v1.2.3``, ``1.2.3rc1``) or the Docker
    rendering of one (``1.2.3-abc.5``, ``1_2.0``)."""
    shaped = DOCKER_TAG_RE.fullmatch(tag) is not None and version_from_tag(tag) is not None
    return tag == "latest" or shaped


def version_in_tag(pattern: str, tag: str) -> str | None:
    """The text ``{version}`` stands for in ``tag``, by the release tag ``pattern``
    (``v{version}``: ``v1.2.3`` -> ``1.2.3``), or ``None`` when the tag does not fit it."""
    prefix, _, suffix = pattern.partition("{version}")
    fits = len(tag) > len(prefix) + len(suffix) and tag.startswith(prefix) and tag.endswith(suffix)
    return tag[len(prefix) : len(tag) - len(suffix)] if fits else None


def version_from_tag(text: str) -> Version | None:
    """Read a git or registry tag as a version, or ``None`` if it is not one."""
    # the second candidate undoes the Docker rendering of ``!`` and ``+``
    for candidate in (text, text.replace("_", "!", 1).replace("-", "+", 1)):
        with suppress(InvalidVersion):
            return Version(candidate)
    return None


def _as_version(version: Version | str) -> Version:
    return version if isinstance(version, Version) else parse_version(version)


# --- release tags -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseTags:
    """The tags a release writes, in order, and the floating tags it leaves alone."""

    tags: tuple[str, ...]  # ``full`` then the floating tags: the order to write them in
    full: str
    skipped: tuple[tuple[str, str], ...]  # (tag, reason) of each selected floating tag left


def validate_patterns(
    patterns: Iterable[str], *, location: str | None = None, key: str | None = None
) -> tuple[str, ...]:
    """Return the patterns without duplicates, or raise ``ConfigError`` for an unknown one
    (naming ``key``, the setting that gave it, if given)."""
    unique = tuple(dict.fromkeys(patterns))
    for pattern in unique:
        if pattern not in PATTERNS:
            choices = "valid patterns: " + ", ".join(repr(p) for p in PATTERNS)
            close = difflib.get_close_matches(str(pattern), PATTERNS, n=1)
            raise ConfigError(
                f"{f'{key}: ' if key else ''}unknown tag pattern {pattern!r}",
                hint=f"did you mean {close[0]!r}? {choices}" if close else choices,
                location=location,
            )
    return unique


def plan_release_tags(
    version: Version | str,
    patterns: Iterable[str] = PATTERNS,
    released: Iterable[Version | str] = (),
) -> ReleaseTags:
    version = _as_version(version)
    selected = validate_patterns(patterns)
    full = docker_tag_for(version)
    versions = (v if isinstance(v, Version) else version_from_tag(v) for v in released)
    finals = [v for v in versions if v is not None and _unstable_reason(v) is None]
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
    return ReleaseTags((full, *floating), full, tuple(skipped))


def _unstable_reason(version: Version) -> str | None:
    kinds = (
        (version.pre, "is a pre-release"),
        (version.post, "is a post-release"),
        (version.dev, "is a dev release"),
        (version.local, "has a local segment"),
    )
    kind = next((kind for part, kind in kinds if part is not None), None)
    return f"{version} {kind}: only its full tag is written" if kind else None


# How many release parts a floating tag keeps, and so which versions compete for it.
_PARTS = {"major.minor": 2, "major": 1, "latest": 0}


def _floating_tag(version: Version, pattern: str) -> str:
    # A one-part release ("1") has no minor: its X.Y tag collapses into the full tag.
    return ".".join(str(part) for part in version.release[: _PARTS[pattern]]) or "latest"


def _newer_in_scope(version: Version, pattern: str, tag: str, finals: list[Version]) -> str | None:
    # The epoch is left out of the scope on purpose: 1!2.0 and 2.1 both write the tag "2", so
    # they compete for it (and PEP 440 ordering, where the epoch wins, picks the newer).
    parts = _PARTS[pattern]
    scope = (version.major, version.minor)[:parts]
    newest = max((v for v in finals if (v.major, v.minor)[:parts] == scope), default=version)
    return f"{newest} is newer in scope {tag}" if newest > version else None
