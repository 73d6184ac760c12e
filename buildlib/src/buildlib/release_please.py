"""Whether release-please makes this repository's release tags: the one piece of
release-please a release needs, to say who makes a missing tag. Doctor's checks of
release-please's files (:mod:`buildlib.checks.release_please`) build on it. It only looks at
which files exist and what the workflows say; it must never predict what release-please
writes (that is the checks', each prediction cited from release-please's source).
"""

from __future__ import annotations

from pathlib import Path

from buildlib.repofiles import mentions, workflow_paths

CONFIG = "release-please-config.json"
MANIFEST = ".release-please-manifest.json"


def runs_in_workflow(root: Path) -> bool:
    return mentions(workflow_paths(root), "release-please")


def in_use(root: Path) -> bool:
    """Whether release-please makes the release tags here: its config or manifest is there,
    or a workflow runs it. Only then may a missing tag's message send the user to it."""
    return any((root / name).is_file() for name in (CONFIG, MANIFEST)) or runs_in_workflow(root)
