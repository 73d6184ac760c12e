"""Only three modules of buildlib read the process environment: ``options`` (every variable
that changes what buildlib does), ``runner`` (the environment a child process inherits) and
``console`` (``NO_COLOR``, ``FORCE_COLOR``, whether output is a terminal). Any other module
takes what it needs from ``options``, so the priority defaults < pyproject < environment <
flags has one place to be read."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "buildlib" / "src" / "buildlib"
READERS = {"options.py", "runner.py", "console.py"}
OS_NAMES = {"environ", "environb", "getenv", "getenvb"}


def environment_reads(source: str) -> list[int]:
    """Lines that read the process environment: ``os.environ``, ``os.getenv`` (however
    ``os`` is named) or a name imported from ``os`` for it."""
    tree = ast.parse(source)
    os_aliases = {"os"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_aliases |= {a.asname or a.name for a in node.names if a.name == "os"}
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [node.lineno for a in node.names if a.name in OS_NAMES]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in OS_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in os_aliases
        ):
            found.append(node.lineno)
    return sorted(found)


def test_only_options_runner_and_console_read_the_environment() -> None:
    readers = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        lines = environment_reads(path.read_text(encoding="utf-8"))
        if lines and relative not in READERS:
            readers[relative] = lines
    assert not readers, (
        f"these modules read the environment: {readers}; read it in buildlib/options.py "
        "(a function naming the variable) and pass the value"
    )


def test_the_reader_finder_sees_every_form() -> None:
    assert environment_reads("import os\nos.environ.get('X')\n") == [2]
    assert environment_reads("import os as o\no.getenv('X')\n") == [2]
    assert environment_reads("from os import environ\n") == [1]
    assert environment_reads("from os import getenv as g\n") == [1]
    assert environment_reads("import os\nos.path.join('a')\n") == []
    assert environment_reads("def f(environ):\n    return environ.get('X')\n") == []
