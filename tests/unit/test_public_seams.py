"""Tests reach buildlib's behaviour through its public functions: a test that imports or
reaches into a ``_private`` name of a buildlib module pins an implementation detail, and a
refactoring that keeps every behaviour then breaks it. A test file's own private helpers
are its business."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

# publish.py and registry.py are still being changed by the integrity work, and publish.py is
# to be split (releaseplan, publish, report): these seams become public names there. The
# list may only shrink: an entry no test uses any more fails too.
PENDING = {
    "buildlib.publish._move_floating",
    "buildlib.publish._push_verified",
    "buildlib.publish._pushed_by_build_already_released",
    "buildlib.publish._release_stopped",
    "buildlib.publish._released",
    "buildlib.publish._run_local",
    "buildlib.publish._still_ours",
    "buildlib.publish._subplan",
    "buildlib.registry._Challenge",
    "buildlib.registry._SameHostAuthRedirect",
}


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) of each private name of a buildlib module that ``source`` imports or
    reads as an attribute of a buildlib module (however the module was imported)."""
    tree = ast.parse(source)
    modules: set[str] = set()  # local names bound to buildlib modules
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "buildlib":
                    if is_private(alias.name.rpartition(".")[2]):
                        found.append((node.lineno, alias.name))
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "buildlib":
            for alias in node.names:
                if is_private(alias.name):
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                else:
                    # ``from buildlib import engine``: perhaps a module; its attributes count
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = ast.unparse(node.value)
            if owner in modules:
                found.append((node.lineno, f"{owner}.{node.attr}"))
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("setattr"):
            # setattr(module, "_name", ...) and monkeypatch's setattr("buildlib.mod._name", ...)
            texts = [a.value for a in node.args[:2] if isinstance(a, ast.Constant)]
            owner = ast.unparse(node.args[0]) if node.args else ""
            for text in (t for t in texts if isinstance(t, str)):
                if owner in modules and is_private(text):
                    found.append((node.lineno, f"{owner}.{text}"))
                elif text.startswith("buildlib.") and is_private(text.rpartition(".")[2]):
                    found.append((node.lineno, text))
    return sorted(set(found))


def test_tests_use_no_private_name_of_buildlib() -> None:
    offenders = {}
    pending_used = set()
    for path in sorted(TESTS.rglob("*.py")):
        uses = private_uses(path.read_text(encoding="utf-8"))
        pending_used |= {name for _, name in uses if name in PENDING}
        uses = [(line, name) for line, name in uses if name not in PENDING]
        if uses:
            offenders[path.relative_to(TESTS).as_posix()] = uses
    assert PENDING <= pending_used, (
        f"no longer used, take them off PENDING: {PENDING - pending_used}"
    )
    assert not offenders, (
        "tests reach into private names of buildlib (test through a public function, or make "
        f"the name public if it is a real seam): {offenders}"
    )


def test_the_finder_sees_each_way_in() -> None:
    assert private_uses("from buildlib.publish import _subplan, push\n") == [
        (1, "buildlib.publish._subplan")
    ]
    assert private_uses("import buildlib.engine\nbuildlib.engine._DETECTED.clear()\n") == [
        (2, "buildlib.engine._DETECTED")
    ]
    assert private_uses("from buildlib import engine as e\ne._probe\n") == [(2, "e._probe")]
    assert private_uses("import buildlib.engine as e\nmonkeypatch.setattr(e, '_x', 1)\n") == [
        (2, "e._x")
    ]
    assert private_uses("monkeypatch.setattr('buildlib.engine._x', 1)\n") == [
        (1, "buildlib.engine._x")
    ]
    assert private_uses("def _helper():\n    pass\n_helper()\nself._cache\n") == []
    assert private_uses("from buildlib import __version__\n") == []
