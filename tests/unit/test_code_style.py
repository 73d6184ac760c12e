"""The CI lint job's checks, run with the tests so a formatting slip fails `uv run pytest` too."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "args",
    [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("mypy",)],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_code_passes_the_lint_job(args: tuple[str, ...]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}"


# A figure with a time unit, a "~" before a number, a speed ratio, or a duration in words.
TIMING = re.compile(
    r"(?ix)~\s*\d|\b\d+(?:\.\d+)?\s*(?:ms|µs|us|s|secs?|seconds?|minutes?|mins?)\b"
    r"|\b\d+(?:\.\d+)?\s*x\s+(?:slower|faster)\b"
    r"|\b(?:in|under|within)\s+(?:a|one)\s+(?:second|minute)\b|\b\w+-(?:second|minute)\b"
)


def comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    found = [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                found.append((node.body[0].lineno, docstring))
    return found


def test_no_timing_figures_in_comments() -> None:
    """Measured timings go stale in comments; docs/performance.md holds the figures."""
    stale = [
        f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r}"
        for path in sorted((ROOT / "buildlib/src/buildlib").rglob("*.py"))
        for line, text in comments_and_docstrings(path)
        for match in TIMING.finditer(text)
    ]
    assert stale == []


def test_the_timing_pattern_catches_figures() -> None:
    for text in ("costs ~0.1 s", "about 20 ms", "1.3x slower", "fails in a second", "ten-minute"):
        assert TIMING.search(text), text
    for text in ("a second time", "seconds: float", "3.11 or later"):
        assert not TIMING.search(text), text


def test_every_module_says_what_it_is_for() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "buildlib/src/buildlib").rglob("*.py"))
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []
