"""Read-only git queries: revision, commit time, tags, branch, cleanliness.

Each returns ``None`` (or an empty result) outside a git repository, so builds work from a
source tarball too; release, which needs git, checks for that itself.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Git:
    root: Path

    def _git(self, *args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=self.root,
                capture_output=True,
                text=True,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
            )
        except FileNotFoundError:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

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
        if os.environ.get("GITHUB_ACTIONS") == "true" and os.environ.get("GITHUB_REF_NAME"):
            if os.environ.get("GITHUB_REF_TYPE", "branch") == "branch":
                return os.environ["GITHUB_REF_NAME"]
        name = self._git("symbolic-ref", "--short", "-q", "HEAD")
        return name or None

    def tags(self) -> list[str]:
        out = self._git("tag", "--list")
        return out.splitlines() if out else []

    def tag_commit(self, tag: str) -> str | None:
        return self._git("rev-list", "-n", "1", f"refs/tags/{tag}")

    def tags_at_head(self) -> list[str]:
        out = self._git("tag", "--points-at", "HEAD")
        return out.splitlines() if out else []

    def dirty_files(self) -> list[str]:
        out = self._git("status", "--porcelain", "--untracked-files=no")
        return [line[3:] for line in out.splitlines()] if out else []

    def remote_url(self) -> str | None:
        return self._git("remote", "get-url", "origin")
