"""Read-only git queries: revision, commit time, tags, branch, cleanliness.

Each returns ``None`` (or an empty result) outside a git repository, so builds work from a
source tarball too; release, which needs git, checks for that itself. It must never change
the repository (no commit, tag, checkout or config write) nor read the environment itself
(the CI branch comes from :mod:`buildlib.options`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from buildlib.options import ci_branch
from buildlib.runner import Result, ask
from buildlib.urls import public_url


@dataclass(frozen=True)
class Git:
    root: Path

    def _git(self, *args: str, stdin: bytes | None = None, strip: bool = True) -> str | None:
        """Output of a read-only git command (``strip=False`` for -z and record separators), or
        ``None``; U+FFFD for a byte that is no UTF-8, fit to print: a path given back to git
        or to the disk comes from :meth:`_paths`."""
        if (result := self._query(*args, stdin=stdin)) is None:
            return None
        return result.stdout.strip() if strip else result.stdout

    def _query(self, *args: str, stdin: bytes | None = None) -> Result | None:
        if shutil.which("git") is None:
            return None
        env = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        result = ask(["git", *args], cwd=self.root, env=env, stdin=stdin)
        return result if result.ok else None

    def is_repository(self) -> bool:
        return self._git("rev-parse", "--is-inside-work-tree") == "true"

    def head(self) -> str | None:
        return self._git("rev-parse", "HEAD")

    def head_commit_time(self) -> int | None:
        """Committer time of HEAD, as epoch seconds: a reproducible ``created`` timestamp."""
        out = self._git("log", "-1", "--format=%ct", "HEAD")
        return int(out) if out and out.isdigit() else None

    def branch(self) -> str | None:
        """Current branch; in GitHub Actions the ref name (checkouts there are detached)."""
        if (from_ci := ci_branch()) is not None:
            return from_ci
        return self._git("symbolic-ref", "--short", "-q", "HEAD") or None

    def tags(self) -> list[str]:
        return (self._git("tag", "--list") or "").splitlines()

    def tag_commit(self, tag: str) -> str | None:
        return self._git("rev-list", "-n", "1", f"refs/tags/{tag}")

    def tags_at_head(self) -> list[str]:
        return (self._git("tag", "--points-at", "HEAD") or "").splitlines()

    def dirty_files(self) -> list[str]:
        """Tracked files with changes. A rename or copy names its new path; in ``-z`` output
        its old path follows as an entry of its own."""
        out = self._git("status", "--porcelain", "-z", "--untracked-files=no", strip=False)
        entries = iter((out or "").split("\0"))
        files = []
        for entry in entries:
            if len(entry) < 4:
                continue
            files.append(entry[3:])
            if "R" in entry[:2] or "C" in entry[:2]:
                next(entries, None)
        return files

    def remote_url(self) -> str | None:
        """``origin``'s URL as it may be shown and published (see :func:`public_url`)."""
        url = self._git("remote", "get-url", "origin")
        return public_url(url) if url else None

    def files(self) -> list[str] | None:
        """Tracked and unignored untracked files (relative to root); ``None`` outside git."""
        paths = self._paths("ls-files", "-z", "--cached", "--others", "--exclude-standard")
        return None if paths is None else sorted(paths)

    def tracked_files(self) -> set[str] | None:
        """Every file git tracks (submodules' too), relative to ``root``; ``None`` outside git."""
        return self._paths("ls-files", "-z", "--recurse-submodules")

    def _paths(self, *args: str, stdin: bytes | None = None) -> set[str] | None:
        """The paths of ``-z`` output as :func:`os.listdir` names them: a file name that is
        not UTF-8 keeps its bytes both ways (:func:`os.fsdecode`, :func:`os.fsencode`)."""
        if (result := self._query(*args, stdin=stdin)) is None:
            return None
        return {os.fsdecode(path) for path in result.stdout_bytes.split(b"\0") if path}

    def ignored(self, paths: list[str]) -> set[str]:
        """The ``paths`` (relative to ``root``) that git ignores."""
        # exit 1 means "none ignored", and 0 that some are: the output says which
        argv = ("check-ignore", "-z", "--no-index", "--stdin")
        stdin = b"".join(os.fsencode(p) + b"\0" for p in paths)
        return (self._paths(*argv, stdin=stdin) or set()) if paths else set()

    def attribute(self, name: str, path: str) -> str | None:
        """What git's attributes set ``name`` to for ``path`` (``unspecified`` when none)."""
        out = self._git("check-attr", name, "--", path)
        return out.rsplit(": ", 1)[-1] if out else None

    def is_tracked(self, path: str) -> bool:
        return self._git("ls-files", "--error-unmatch", "--", path) is not None

    def ignore_source(self, path: str) -> tuple[str, int] | None:
        """The ignore file and line that make git ignore ``path`` (None if it is not)."""
        # -z (git takes it with --stdin only): each field as written, ended by NUL; the -v
        # line C-quotes a file name that is not ASCII and separates its fields with ":"
        # (git's builtin/check-ignore.c, output_pattern)
        out = self._git("check-ignore", "-v", "-z", "--stdin", stdin=os.fsencode(path) + b"\0")
        if not out:
            return None
        file, line, pattern = out.split("\0")[:3]
        # with -v git names the last matching pattern even when it is a "!" one, which keeps
        # the path (check_ignore drops those only without --verbose)
        return None if pattern.startswith("!") else (file, int(line) if line.isdigit() else 0)

    def last_tag(self, match: str) -> str | None:
        """The nearest tag reachable from HEAD whose name matches the glob ``match``."""
        return self._git("describe", "--tags", "--abbrev=0", "--match", match, "HEAD") or None

    def log(self, since_tag: str | None = None) -> list[Commit]:
        """Commits after ``since_tag`` (all without) up to HEAD, newest first, merges marked."""
        rev = f"{since_tag}..HEAD" if since_tag else "HEAD"
        out = self._git("log", "--format=%h%x1f%P%x1f%B%x1e", rev, strip=False)
        records = (r.strip("\n") for r in (out or "").split("\x1e"))
        fields = [(r.split("\x1f", 2) + ["", ""])[:3] for r in records if r]
        return [Commit(h, message.strip(), merge=len(p.split()) > 1) for h, p, message in fields]


@dataclass(frozen=True)
class Commit:
    short: str
    message: str
    merge: bool = False
