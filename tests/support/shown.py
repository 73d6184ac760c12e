"""The command lines buildlib showed, read from its console output as the user sees it."""

from __future__ import annotations


def commands(err: str) -> list[str]:
    """Each ``$ COMMAND`` line of ``err`` (buildlib's stderr, colour off), without the ``$ ``."""
    return [line[2:] for line in err.splitlines() if line.startswith("$ ")]
