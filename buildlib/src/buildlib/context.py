"""What the engine receives as an image's build context, and which of it git does not track
(an untracked script, a git-ignored ``.env``: a ``COPY .`` would put it in a release).

``.dockerignore`` is matched as BuildKit does (moby/patternmatcher and the ignorefile
reader, fsutil's walk), not as git does: ``*`` and ``?`` never cross a ``/``, ``**`` spans
folders, ``[...]`` is a class (``[^...]`` negated), ``\\`` escapes, a pattern that matches a
folder excludes everything under it, ``!`` re-includes, and the last matching line wins.
Patterns are cleaned like Go's ``filepath.Clean`` and are case-sensitive. docker-py's
matcher lowercases both sides and reads ``[^...]`` as a literal ``^``; no package on PyPI
follows BuildKit's rules. BuildKit prefers ``<Dockerfile>.dockerignore`` to the context's
``.dockerignore``; the legacy builder reads only the latter.

It only reads the files and asks git: it must never send a context or run the engine.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from buildlib.errors import ConfigError
from buildlib.git import Git

IGNORE_FILE = ".dockerignore"
# Characters that make an exception (``!``) pattern more than a path prefix; with only
# prefixes, an excluded folder is walked only when an exception lies beneath it (fsutil).
_PATTERN_CHARS = frozenset("*[]?^\\")
# Regex metacharacters that are plain characters in a filepath pattern.
_ESCAPED = frozenset(".+()|{}$")


def go_clean(path: str) -> str:
    """Go's ``path.Clean``: ``posixpath.normpath`` but for the two leading slashes POSIX keeps."""
    cleaned = posixpath.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def read_patterns(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` (the ignorefile reader): a BOM dropped, ``#``
    lines skipped, spaces trimmed, each pattern cleaned and made relative to the root."""
    patterns = []
    for line in text.lstrip("\ufeff").splitlines():
        pattern = line.strip()
        if line.startswith("#") or not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


@dataclass
class _Pattern:
    text: str  # cleaned, without the ``!``
    exclusion: bool
    kind: str = ""  # exact | prefix | suffix | regexp
    regexp: re.Pattern[str] | None = None

    def compile(self) -> None:
        """patternmatcher's ``compile``: a plain path compares as a string, ``dir/**`` as a
        prefix, ``**/name`` as a suffix, anything else as an anchored regular expression.
        ``re.error`` for a class left open or a trailing ``\\``, as Go's ``filepath.Match``."""
        out, kind, i, text = "^", "exact", 0, self.text
        first, in_class = True, False
        while i < len(text):
            ch = text[i]
            i += 1
            if ch == "*" and text.startswith("*", i):
                i += 1 + text.startswith("/", i + 1)  # ``**/`` is ``**``
                if i < len(text):
                    out, kind = out + "(.*/)?", "regexp"
                elif kind == "exact":
                    kind = "prefix"
                else:
                    out, kind = out + ".*", "regexp"
                if first:
                    kind = "suffix"
            elif ch in "*?":
                out, kind = out + ("[^/]*" if ch == "*" else "[^/]"), "regexp"
            elif ch in _ESCAPED:
                out += "\\" + ch
            elif ch == "\\":
                if i >= len(text):
                    raise re.error("trailing backslash")
                out, kind = out + "\\" + text[i], "regexp"
                i += 1
            elif ch in "[]":
                out, kind = out + ch, "regexp"
                in_class = ch == "["  # a ``[`` inside a class is a plain character
            else:
                out += ch  # ``^`` too: it negates a class, as in Go
            first = False
        if kind == "regexp":
            self.regexp = re.compile(out + "$")
        self.kind = kind
        if in_class:
            raise re.error("unterminated character set")

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.fullmatch(path) is not None  # Go's $ never matches before a last \n


@dataclass
class IgnoreMatcher:
    """The patterns of one ignore file, matched as the engine matches them."""

    patterns: list[_Pattern] = field(default_factory=list)

    @classmethod
    def parse(cls, lines: list[str], source: str = IGNORE_FILE) -> IgnoreMatcher:
        patterns = []
        for line in lines:
            text = line.strip()
            if not text:
                continue
            text = go_clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                text = text[1:]
                if not text:
                    raise ConfigError(
                        'illegal exclusion pattern "!"',
                        location=source,
                        hint="name what to re-include after the !, or delete the line",
                    )
            pattern = _Pattern(text, exclusion)
            try:
                pattern.compile()
            except re.error as error:
                raise ConfigError(
                    f"bad pattern {line.strip()!r} ({error.msg}): the engine refuses it too",
                    location=source,
                    hint="close the [...] class, or escape the character with \\",
                ) from None
            patterns.append(pattern)
        return cls(patterns)

    def excluded(self, path: str) -> bool:
        """patternmatcher's ``MatchesOrParentMatches``: ``path`` (slash-separated, relative
        to the context) or one of its folders matches, and no later ``!`` line takes it back."""
        matched = False
        names = path.split("/")
        candidates = [path] + ["/".join(names[:i]) for i in range(1, len(names))]
        for pattern in self.patterns:
            if pattern.exclusion == matched and any(pattern.match(c) for c in candidates):
                matched = not pattern.exclusion
        return matched

    def may_reinclude_under(self, folder: str) -> bool:
        """Whether an excluded ``folder`` must still be walked (fsutil): an exception could
        bring back something inside it."""
        trimmed = [re.sub(r"/\*\*?$", "", p.text) for p in self.patterns if p.exclusion]
        if any(_PATTERN_CHARS & set(p) for p in trimmed):
            return True  # an exception with wildcards may match anything: walk it all
        return any((p + "/").startswith(folder + "/") for p in trimmed)


def ignore_file_for(dockerfile: Path, context: Path, *, buildkit: bool = True) -> Path | None:
    """The ignore file the engine uses for this Dockerfile and context, if there is one."""
    own = [dockerfile.with_name(dockerfile.name + IGNORE_FILE)] if buildkit else []
    return next((path for path in [*own, context / IGNORE_FILE] if path.is_file()), None)


def matcher_for(dockerfile: Path, context: Path, *, buildkit: bool = True) -> IgnoreMatcher:
    if (path := ignore_file_for(dockerfile, context, buildkit=buildkit)) is None:
        return IgnoreMatcher()
    text = path.read_text(encoding="utf-8", errors="replace")
    return IgnoreMatcher.parse(read_patterns(text), source=str(path))


def context_files(context: Path, matcher: IgnoreMatcher) -> list[str]:
    """The files (and symlinks) of ``context`` the engine receives, relative to it, sorted."""
    found = []
    for directory, folders, files in os.walk(context):
        rel_dir = Path(directory).relative_to(context).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for name in folders:
            rel = prefix + name
            if os.path.islink(os.path.join(directory, name)):
                if not matcher.excluded(rel):
                    found.append(rel)  # sent as a link, not followed
                continue
            if not matcher.excluded(rel) or matcher.may_reinclude_under(rel):
                kept.append(name)
        folders[:] = kept
        found += [prefix + name for name in files if not matcher.excluded(prefix + name)]
    return sorted(found)


# Files the Dockerfiles need that a repository may deliberately generate instead of
# committing (git-ignored): their freshness is checked (pre-flight) instead of their history.
GENERATED = ("uv.lock",)


@dataclass(frozen=True)
class Stray:
    """A file an image's build would receive that git does not track."""

    path: str  # relative to the project root
    images: tuple[str, ...]
    ignored: bool  # git-ignored (a stray ``.env``), else merely untracked

    def describe(self) -> str:
        if self.path == ".git":
            return ".git (the repository itself)"
        return f"{self.path} ({'git-ignored' if self.ignored else 'untracked'})"


def strays(
    root: Path, builds: list[tuple[str, Path, Path]], *, buildkit: bool = True
) -> list[Stray] | None:
    """The files of the build contexts (``(image, dockerfile, context)``) that git does not
    track, the Dockerfiles and ignore files included; ``None`` outside git."""
    git = Git(root)
    if (tracked := git.tracked_files()) is None:
        return None
    found: dict[str, list[str]] = {}
    base = os.path.abspath(root)
    for name, dockerfile, context in builds:
        matcher = matcher_for(dockerfile, context, buildkit=buildkit)
        ignore = ignore_file_for(dockerfile, context, buildkit=buildkit)
        inputs = [context / rel for rel in context_files(context, matcher)] + [dockerfile]
        inputs += [ignore] if ignore is not None else []
        for path in inputs:
            rel = Path(os.path.relpath(os.path.abspath(path), base)).as_posix()
            if rel.startswith(".git/"):
                rel = ".git"  # git's own folder (its config may hold a token): one entry
            if rel not in tracked and name not in found.setdefault(rel, []):
                found[rel].append(name)
    ignored = git.ignored(sorted(found))
    return [
        Stray(rel, tuple(images), rel in ignored)
        for rel, images in sorted(found.items())
        if not (rel in GENERATED and rel in ignored)
    ]
