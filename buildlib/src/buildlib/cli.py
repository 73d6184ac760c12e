"""The ``buildlib`` command: the same tasks as ``invoke`` in a repository with no tasks.py.

It finds the nearest ``pyproject.toml`` with a ``[tool.buildlib]`` table, from the current
directory upwards, and serves :func:`buildlib.tasks.collection` for it through Invoke's own
``Program``, so flags, ``--list``, ``--help TASK`` and shell completion behave as in
``invoke``. It must never hold task logic of its own.
"""

from __future__ import annotations

import difflib
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from invoke import Exit, ParseError, Program

from buildlib.config import parse_toml
from buildlib.errors import REFERENCE, BuildlibError

MARKER = "[tool.buildlib]"


def package_version() -> str:
    try:
        return version("buildlib")
    except PackageNotFoundError:  # imported from a source tree that is not installed
        return "unknown"


def find_project(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if not candidate.is_file():
            continue
        text = candidate.read_text(encoding="utf-8", errors="replace")
        try:
            tool = parse_toml(text, str(candidate)).get("tool", {})
        except BuildlibError:
            # a broken file that names the table is still the project: its tasks report the error
            tool = {"buildlib": {}} if MARKER in text else {}
        if isinstance(tool, dict) and "buildlib" in tool:
            return directory
    return None


class BuildlibProgram(Program):
    """Invoke's Program, with the collection of the project found instead of a tasks.py."""

    def load_collection(self) -> None:
        from buildlib.tasks import collection

        root = find_project(Path.cwd())
        if root is None:
            raise Exit(
                f"error: no pyproject.toml with a {MARKER} table in {Path.cwd()} or above "
                f"(fix: run buildlib inside a repository that has one; see {REFERENCE})",
                code=2,
            )
        self.config.set_project_location(str(root))
        self.config.load_project()
        # a [tool.buildlib] that does not validate still lists its tasks (tasks.collection)
        self.collection = collection(root)

    # Invoke's Program exits 1 on a ParseError (invoke/program.py, Program.run); buildlib's
    # usage errors exit 2 (README, "Exit codes"), with the nearest name when one is close.
    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as error:
            raise self._usage_error(error) from None

    def parse_cleanup(self) -> None:
        try:
            super().parse_cleanup()
        except ParseError as error:
            raise self._usage_error(error) from None

    def _usage_error(self, error: ParseError) -> Exit:
        text = str(error)
        token = next(iter(re.findall(r"'([^']+)'", text)), "")
        context = error.context or self.initial_context
        where = f"buildlib --help {context.name}" if context.name else "buildlib --help"
        names = [*context.flags, *context.inverse_flags, *self.initial_context.flags]
        if token and not token.startswith("-"):  # a task's name
            names = list(self.collection.task_names) if self.collection else []
            where = "buildlib --list"
        match = difflib.get_close_matches(token, names, n=1) if token else []
        hint = f"did you mean {match[0]}? `{where}` lists them" if match else f"see `{where}`"
        return Exit(f"error: {text} (fix: {hint})", code=2)


def main(argv: list[str] | None = None) -> None:
    from buildlib import console

    # The tasks' advice then names `buildlib TASK`, the command this user runs.
    console.set_program("buildlib")
    try:
        try:
            BuildlibProgram(name="buildlib", binary="buildlib", version=package_version()).run(argv)
        finally:
            sys.stdout.flush()  # a buffered output meets a gone reader here, not as Python exits
    except BrokenPipeError:
        # the reader went away while Invoke wrote help or the list (`buildlib --help build |
        # head -1`): exit as the tasks do, without a traceback
        raise SystemExit(141) from None


if __name__ == "__main__":  # pragma: no cover
    main()
