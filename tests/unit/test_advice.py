"""buildlib's advice is true in every repository that adopts it: no message or hint in the
library names this repository's images, variables, dependency groups or machines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "buildlib" / "src" / "buildlib"

# What is true here and not elsewhere: this repository's names, its dev dependency group
# (buildlib's own dependencies are not in anybody's group), a Debian package that Debian 12
# does not have, and "the README" (the adopter's has no buildlib reference).
PROJECT_URL = "https://github.com/runpod-workers/worker-tetra"
LEAKS = re.compile(
    r"tetra|runpod|\bdev group\b|dev dependency group|apt-get install docker-buildx|"
    r"uv sync|TETRA_|"
    # the adopter's README is not buildlib's: a reference must say whose
    r"\bthe README\b|\(README\)|its README",
    re.IGNORECASE,
)


def strings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize(
    "path", sorted(SOURCE.rglob("*.py")), ids=lambda p: str(p.relative_to(SOURCE))
)
def test_no_message_assumes_this_repository(path: Path) -> None:
    found = [
        f"{path.name}:{line}: {text!r}"
        for line, text in strings(path)
        if LEAKS.search(text.replace(PROJECT_URL, ""))  # where buildlib itself lives is fine
    ]
    assert not found, "\n".join(found)
