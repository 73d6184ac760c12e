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


def text_io_without_encoding(tree: ast.AST) -> list[int]:
    """Lines of calls that read or write text in the locale's encoding: ``open`` or
    ``Path.open`` in a text mode, ``read_text``/``write_text``, a text-mode subprocess."""

    def keyword(call: ast.Call, name: str) -> ast.expr | None:
        return next((k.value for k in call.keywords if k.arg == name), None)

    def text_mode(mode: ast.expr | None) -> bool:
        return not (isinstance(mode, ast.Constant) and "b" in str(mode.value))

    found = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or keyword(call, "encoding") is not None:
            continue
        func = call.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        args = call.args
        builtin = isinstance(func, ast.Name) or ast.unparse(func) == "io.open"
        if name == "fdopen" or name == "open" and builtin:
            wrong = text_mode(keyword(call, "mode") or (args[1] if len(args) > 1 else None))
        elif name == "open":  # Path.open(mode); urllib's opener.open(request) is no file
            first = args[0] if args else keyword(call, "mode")
            wrong = (first is None or isinstance(first, ast.Constant)) and text_mode(first)
        elif name in ("read_text", "write_text"):
            wrong = True
        else:  # subprocess: text=True or universal_newlines=True decodes by the locale
            flags = (keyword(call, "text"), keyword(call, "universal_newlines"))
            wrong = any(isinstance(f, ast.Constant) and f.value is True for f in flags)
        if wrong:
            found.append(call.lineno)
    return found


def test_every_text_file_and_pipe_names_its_encoding() -> None:
    """Without ``encoding=`` text is read and written in the locale's encoding, which is
    not UTF-8 under e.g. LANG=en_US.ISO-8859-1 or a Windows code page."""
    unnamed = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "buildlib/src/buildlib").rglob("*.py"))
        for line in text_io_without_encoding(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert unnamed == []


@pytest.mark.parametrize(
    "code",
    [
        "open(p)",
        "io.open(p)",
        "open(p, 'w')",
        "open(fd, mode='a')",
        "os.fdopen(fd, 'w')",
        "path.open()",
        "path.open('w')",
        "path.read_text(errors='replace')",
        "path.write_text(text)",
        "subprocess.run(argv, text=True)",
        "subprocess.Popen(argv, universal_newlines=True)",
    ],
)
def test_the_encoding_check_catches_text_io(code: str) -> None:
    assert text_io_without_encoding(ast.parse(code)) == [1]


@pytest.mark.parametrize(
    "code",
    [
        "open(p, 'rb')",
        "open(p, mode='r+b')",
        "open(p, 'w', encoding='utf-8')",
        "path.open('ab')",
        "path.read_text(encoding='utf-8')",
        "path.read_bytes()",
        "opener.open(request, timeout=5)",
        "subprocess.run(argv, capture_output=True)",
        "subprocess.run(argv, encoding='utf-8', errors='replace')",
    ],
)
def test_the_encoding_check_passes_bytes_and_named_encodings(code: str) -> None:
    assert text_io_without_encoding(ast.parse(code)) == []
