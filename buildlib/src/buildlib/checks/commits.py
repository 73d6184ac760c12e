"""Conventional Commits since the last release tag, and what release-please would do.

A commit that is not conventional (``type(scope)!: description``, as HEADER reads it) is left
out of the changelog and triggers no release: a ``warn``, never a failure; merge commits are
left aside. The preview reads each message as the commits release-please sees in it
(:func:`split_commit`), merge commits included (GitHub.mergeCommitIterator, src/github.ts).

This module only reads history, never rewrites it. The preview follows release-please's rules
(docs/doctor.md, "release-please's rules (the preview)"), each cited where it decides.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from buildlib.checks import CheckResult
from buildlib.checks.project import Project, per_project
from buildlib.checks.release_please import (
    MANIFEST,
    SEMVER,
    manifest_version,
    predicted_tag,
    read_json,
    root_options,
)
from buildlib.git import Commit

# The summary of @conventional-commits/parser (lib/parser.js), run by parseConventionalCommits
# (src/commit.ts): a type (no parentheses, whitespace, "!" or ":"; case kept), an optional
# non-empty scope, an optional "!", then ":" (the space after it optional).
_WS = " \t\v\f\xa0\ufeff"
_WORD = rf"[^()!:\r\n{_WS}]+"
_BREAKING = "BREAKING[ -]CHANGE"
_TYPE = rf"(?P<type>{_WORD})(?:\((?P<scope>[^()\r\n]+)\))?(?P<bang>!)?"
HEADER = re.compile(rf"{_TYPE}:")
# A footer's first line (footer and token, lib/parser.js:244-315): a token ("!", BREAKING
# CHANGE, or a type with an optional scope and "!"), then ":" or " #"; its value follows.
FOOTER = re.compile(
    rf"(?:(?P<breaking>!|{_BREAKING})|(?!{_BREAKING}){_TYPE})(?P<separator>:| #)[{_WS}]*"
)
# A line after the summary whose type opens a "(" not closed on the line: scope
# (lib/parser.js:176-178) throws, and parseConventionalCommits (src/commit.ts:442) drops it
UNCLOSED = re.compile(rf"(?!{_BREAKING}){_WORD}\([^()\r\n]*(?:\(|$)")
# body (lib/parser.js:194-225, @conventional-commits/parser f6253f0): a body line may open
# with BREAKING CHANGE, a marker only before ":" (the literal is eaten either way)
BODY_MARKER = re.compile(rf"{_BREAKING}(:[{_WS}]*)?")
# splitMessages (src/commit.ts) cuts a message before each paragraph that opens so
SPLIT = re.compile(
    r"\r?\n\r?\n(?=(?:feat|fix|docs|style|refactor|perf|test|build|ci|chore|revert)(?:\(.*?\))?: )"
)
# releaseAsRe of conventional-changelog-conventionalcommits' writer-opts.js, after "Release-As:"
RELEASE_AS_SHOWN = re.compile(r"\s*\w*@?[0-9]+\.[0-9]+\.[0-9a-z]", re.IGNORECASE)
# The visible sections of CHANGELOG_SECTIONS in src/strategies/python.ts
PYTHON_SECTIONS = [{"type": t} for t in ("feat", "fix", "perf", "deps", "revert", "docs")]
SHOWN = 8


@dataclass(frozen=True)
class ParsedCommit:
    short: str
    subject: str
    type: str | None  # None: not a conventional commit
    scope: str | None = None
    breaking: bool = False
    release_as: str | None = None


def _footers(lines: list[str]) -> int:
    """Where the footers ending a message start: the parser's preFooter takes the first line
    from which every line opens a footer or continues one (leading whitespace)."""
    for i, line in enumerate(lines):
        if FOOTER.match(line) and all(r[0] in _WS or FOOTER.match(r) for r in lines[i:]):
            return i
    return len(lines)


def parse_commit(short: str, message: str) -> ParsedCommit:
    """The commit as its header says; a Release-As footer forces a version."""
    return _commits(short, message)[-1]


def _commits(short: str, message: str) -> list[ParsedCommit]:
    """toConventionalChangelogFormat (src/commit.ts:81-311) of one message: the commit of each
    footer that reads as a header, then the message's own (type None if not conventional)."""
    # the parser's newline is a run of CR and LF: blank lines vanish
    lines = re.split(r"[\r\n]+", message.strip())
    match = HEADER.match(lines[0])
    if not match or any(UNCLOSED.match(line) for line in lines[1:]):
        return [ParsedCommit(short, lines[0], None)]
    start = _footers(lines[1:]) + 1
    # a footer's value: its line's rest, then each indented line below, unindented (value and
    # continuation, lib/parser.js:340-375)
    footers: list[tuple[re.Match[str], list[str]]] = []
    for line in lines[start:]:
        if found := FOOTER.match(line):
            footers.append((found, [line[found.end() :]]))
        else:
            footers[-1][1].append(line.lstrip(_WS))
    markers = [(line, BODY_MARKER.match(line)) for line in lines[1:start]]
    body = [line[marker.end() :] if marker else line for line, marker in markers]
    marked = next((i for i, (_, marker) in enumerate(markers) if marker and marker[1]), None)
    # toConventionalChangelogFormat (src/commit.ts:137-192) sets the BREAKING CHANGE note's
    # text from each marker in turn, the last one winning: the summary's "!" (its subject),
    # the body's (the text after its first marker), a footer's (its value's last line); an
    # empty text gives no note. (Its String(body) check, :181-190, reads "[object Object]".)
    notes = [lines[0][match.end() :].lstrip(_WS)] if match["bang"] else []
    notes += ["\n".join(body[marked:])] if marked is not None else []
    notes += [texts[-1] for found, texts in footers if "BREAKING" in (found["breaking"] or "")]
    # postProcessCommits (src/commit.ts:337-350) adds one for BREAKING-CHANGE: in the body
    extra = re.search(r"BREAKING-CHANGE:\s*(.*)", "\n".join(body))
    breaking = bool(notes and notes[-1]) or bool(extra and extra[1])
    commits: list[ParsedCommit] = []
    forced: list[str | None] = []
    for found, texts in footers:
        token = found.string[: found.start("separator")]
        # src/commit.ts:262-295: a footer of type release-as (any case, scope or "!") gives the
        # RELEASE AS note, its value's last line (trimmed by postProcessCommits)
        if (found["type"] or "").lower() == "release-as":
            forced.append(texts[-1].strip())
        # src/commit.ts:251-306: a typed footer is parsed again as a message (" #" left out)
        if found["type"]:
            text = token + (": " if found["separator"] == ":" else "") + "\n".join(texts)
            commits += [c for c in _commits(short, text) if c.type is not None]
    kind, scope = match.group("type", "scope")
    return [*commits, ParsedCommit(short, lines[0], kind, scope, breaking, (forced or [None])[0])]


def split_commit(short: str, message: str) -> list[ParsedCommit]:
    """The commits release-please reads in one message (parseConventionalCommits,
    src/commit.ts): splitMessages makes a message of each BEGIN_NESTED_COMMIT ...
    END_NESTED_COMMIT block and each paragraph SPLIT finds; then :func:`_commits`."""
    outer, *nested = message.split("BEGIN_NESTED_COMMIT")
    inner = []
    for part in nested:
        body, *rest = part.split("END_NESTED_COMMIT")
        inner.append(body)
        outer += "END_NESTED_COMMIT".join(rest)
    return [
        p for text in [t for t in SPLIT.split(outer) if t] + inner for p in _commits(short, text)
    ]


def _shown(commit: ParsedCommit, sections: list[Any]) -> bool:
    """findTypeEntry of conventional-changelog-conventionalcommits' writer-opts.js: the first
    section of the commit's type, lowercased, and of its scope when the section has one."""
    kind = str(commit.type).lower()
    entries = (s for s in sections if isinstance(s, dict) and s.get("type") == kind)
    entry = next((s for s in entries if s.get("scope") in (None, "", commit.scope)), None)
    return entry is not None and not entry.get("hidden")


@per_project
def _commits_since_tag(project: Project) -> tuple[str | None, list[Commit]] | str:
    """(last release tag, the commits since it), or the reason they cannot be known."""
    if not project.is_git:
        return "not a git repository"
    if project.head is None:
        return "the repository has no commits yet"
    tag = project.git.last_tag(project.tag_glob)
    tag = tag if tag is not None and project.tag_version(tag) is not None else None
    return tag, project.git.log(tag)


def check_conventional_commits(project: Project) -> CheckResult:
    found = _commits_since_tag(project)
    if isinstance(found, str):
        return CheckResult("conventional-commits", "skipped", found)
    tag, log = found
    commits = [parse_commit(c.short, c.message) for c in log if not c.merge]
    since = f"since {tag}" if tag else "(no release tag yet: all history)"
    bad = [c for c in commits if c.type is None]
    if not bad:
        what = f"{len(commits)} commit(s) {since}, all Conventional Commits" if commits else ""
        return CheckResult("conventional-commits", "ok", what or f"no commits {since}")
    listed = ", ".join(f"{c.short} {c.subject[:50]!r}" for c in bad[:SHOWN])
    more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
    hint = "before merging, reword them as `type(scope): description` (feat, fix, ...): "
    hint += f"git rebase -i {tag or '--root'}; or squash-merge the PR under a conventional title"
    # a conventional header left out: a body line UNCLOSED matches stopped the parser (an
    # indented one never does, lib/parser.js:125-139)
    stopped = next((c.short for c in bad if HEADER.match(c.subject)), None)
    if stopped:
        hint += f"; {stopped}'s header is conventional, but a line of its body opens a word "
        hint += 'and a "(" its line does not close (like `print(`), which stops '
        hint += "release-please's parser: indent that line"
    return CheckResult(
        "conventional-commits",
        "warn",
        f"{len(bad)} of {len(commits)} commit(s) {since} are not Conventional Commits "
        f"(release-please leaves them out): {listed}{more}",
        hint=hint,
    )


# --- release-please preview -----------------------------------------------------------------


def _semver(text: str) -> tuple[int, int, int, str]:
    """Version.parse (src/version.ts): the first X.Y.Z in ``text``, its -pre and +build kept."""
    match = SEMVER.search(text)
    if not match:
        raise ValueError(f"{text!r} is not a version to release-please (Version.parse)")
    pre, build = match.group(4, 5)
    return int(match[1]), int(match[2]), int(match[3]), f"{pre or ''}{'+' + build if build else ''}"


def _version(major: int, minor: int, patch: int, rest: str) -> str:
    """Version.toString() (src/version.ts), of _semver's parts."""
    return f"{major}.{minor}.{patch}{rest}"


def preview(
    current: str | None, commits: list[ParsedCommit], options: dict[str, Any]
) -> tuple[str | None, str]:
    """(next version or None when no release, the reason) by the rules of release-please's
    python strategy; ValueError for what it does not predict."""
    release_type = options.get("release-type") or "node"  # the Manifest's default
    if release_type != "python":
        raise ValueError(f"release-type {release_type}: the preview knows the python one only")
    # changelog-type github takes the notes from GitHub (src/changelog-notes/github.ts);
    # exclude-paths drops commits by the files they touch (src/util/commit-exclude.ts);
    # last-release-sha cuts the history (Manifest.buildPullRequests, src/manifest.ts)
    for key in ("changelog-type", "exclude-paths", "last-release-sha"):
        if options.get(key) not in (None, "", "default", []):
            raise ValueError(f"{key} {options[key]} is not predicted")
    # src/strategies/python.ts: the config's changelog-sections, else CHANGELOG_SECTIONS
    sections = options.get("changelog-sections")
    sections = sections if isinstance(sections, list) else PYTHON_SECTIONS
    # release-please drops a commit it cannot parse (parseConventionalCommits, src/commit.ts),
    # footers and all; DefaultVersioningStrategy (src/versioning-strategies/default.ts) then
    # bumps from every one left, hidden types too
    conventional = [c for c in commits if c.type is not None]
    # The notes show a breaking change, and any commit whose "Release-As: " footer matches
    # releaseAsRe (the transform of conventional-changelog-conventionalcommits' writer-opts.js)
    user_facing = [
        c
        for c in conventional
        if c.breaking or RELEASE_AS_SHOWN.match(c.release_as or "") or _shown(c, sections)
    ]
    if not commits:
        return None, "no commits"
    # BaseStrategy.buildReleasePullRequest (src/strategies/base.ts:277-339) skips a path
    # without conventional commits, builds the version (buildNewVersion, :543-569: release-as,
    # else the newest Release-As note, even empty; Version.parse throws without X.Y.Z), and
    # only then skips a release whose notes are empty (changelogEmpty).
    forced = next((c.release_as for c in conventional if c.release_as is not None), None)
    if isinstance(options.get("release-as"), str) and options["release-as"]:
        forced = options["release-as"]
    version = _version(*_semver(forced)) if conventional and forced is not None else None
    if not user_facing:
        kinds = ", ".join(sorted({c.type or "non-conventional" for c in commits}))
        return None, f"no user-facing commits (only {kinds})"
    if version:
        return version, f"release-as {forced}"
    # Manifest.buildPullRequests (src/manifest.ts): the manifest's version, unless 0.0.0, is
    # the latest release; else initialReleaseVersion 0.1.0 (src/strategies/python.ts), even
    # with initial-version set
    if current is None or _semver(current) == (0, 0, 0, ""):
        return "0.1.0", "the first release (no version in the manifest)"
    # src/factories/versioning-strategy-factory.ts; the always-bump-* strategies ignore
    # the pre-major options (src/versioning-strategies/always-bump-*.ts)
    versioning = str(options.get("versioning") or "default")
    if versioning not in ("default", "always-bump-patch", "always-bump-minor", "always-bump-major"):
        raise ValueError(f"versioning {versioning} is not predicted")
    breaking = sum(1 for c in conventional if c.breaking)
    features = sum(1 for c in conventional if c.type in ("feat", "feature"))
    # the reason names what decides the bump, hidden commits included
    if versioning.startswith("always-bump-"):
        bump, cause = versioning.removeprefix("always-bump-"), f"versioning {versioning}"
    elif breaking:
        bump, cause = "major", f"{breaking} breaking"
    elif features:
        bump, cause = "minor", f"{features} feat"
    else:
        counts = Counter(str(c.type) for c in user_facing)
        bump, cause = "patch", ", ".join(f"{n} {kind}" for kind, n in counts.items())
    # DefaultVersioningStrategy.determineReleaseType; versioning-strategy.ts's
    # Major/Minor/PatchVersionUpdate bump, keeping the -pre and +build parts
    major, minor, patch, rest = _semver(current)
    why = f"{bump} bump ({cause})"
    pre_major = major < 1 and versioning == "default"
    if pre_major and bump == "major" and options.get("bump-minor-pre-major") is True:
        bump, why = "minor", f"{why}; pre-1.0 with bump-minor-pre-major: only the minor moves"
    elif pre_major and bump == "major":
        why += "; pre-1.0: a breaking change reaches 1.0.0 (set bump-minor-pre-major to stay "
        why += "below 1.0)"
    elif pre_major and bump == "minor" and options.get("bump-patch-for-minor-pre-major") is True:
        why += "; pre-1.0 with bump-patch-for-minor-pre-major: only the patch moves"
        bump = "patch"
    bumped = {"major": (major + 1, 0, 0), "minor": (major, minor + 1, 0)}
    return _version(*bumped.get(bump, (major, minor, patch + 1)), rest), why


def check_release_preview(project: Project) -> CheckResult:
    found = _commits_since_tag(project)
    if isinstance(found, str):
        return CheckResult("release-preview", "skipped", found)
    # fetchReleasedVersions (src/manifest.ts) stops release-please without the manifest
    if not isinstance(read_json(project, MANIFEST)[0], dict):
        message = f"no valid {MANIFEST}, without which release-please stops"
        return CheckResult("release-preview", "skipped", message)
    current, options = manifest_version(project), root_options(project)
    try:
        # Manifest.buildPullRequests (src/manifest.ts) reads down to the release tagged with
        # the manifest's version, else to bootstrap-sha; at most commit-search-depth (500)
        released = current and _version(*_semver(current))
        tag = released and predicted_tag(options).replace("X.Y.Z", released)
        tag = tag if tag and project.git.tag_commit(tag) else options.get("bootstrap-sha")
        log = project.git.log(tag)[: options.get("commit-search-depth") or 500]
        commits = [p for c in log for p in split_commit(c.short, c.message)]
        version, why = preview(current, commits, options)
    except Exception as exc:  # noqa: BLE001 - a bad version/option: say so, do not crash
        return CheckResult("release-preview", "skipped", f"cannot compute: {exc}")
    since = f"since {tag}" if tag else "in all history (no release tag yet)"
    counted = f"{len(log)} commit(s) {since}"
    message = f"release-please would propose {current or 'a first release'} -> {version}: "
    message += f"{why}, {counted}"
    if version is None:
        message = f"release-please would not propose a release: {counted}, {why}"
    if not log:
        message = f"release-please would not propose a release: no commits {since}"
    return CheckResult("release-preview", "ok", message)
