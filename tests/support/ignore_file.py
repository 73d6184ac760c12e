"""What the build-context tests ask of an ignore file's text: whether it keeps one path out
of the context, as the engine would read the file."""

from __future__ import annotations

from buildlib.context import IgnoreMatcher, read_patterns


def excluded(patterns: str, path: str) -> bool:
    return IgnoreMatcher.parse(read_patterns(patterns)).excluded(path)
