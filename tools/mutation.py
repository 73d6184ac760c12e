"""Mutation testing of the modules that decide what ships: ``uv run invoke mutation``.

mutmut (configured in ``[tool.mutmut]`` of pyproject.toml) changes one thing at a time in
each listed module (``only_mutate``) and runs the unit tests that reach the changed function;
a mutant the tests do not notice *survived*. This script prints a table per module and, as
its last line, one JSON object::

    {"score": 0.91, "killed": N, "survived": N, "modules": {"publish": {...}}}

It exits 1 when the score is below ``[tool.mutation] target`` overall or below
``module-target`` in any module it ran.

Why a stage: mutmut names a module after its path from the directory it runs in, with one
``src/`` prefix stripped, and puts ``mutants/src`` first on ``sys.path``. buildlib lives in
``buildlib/src`` (a workspace member), so the run happens in ``.mutation/`` (git-ignored),
where ``src`` is a link to ``buildlib/src``: the mutants are then ``buildlib.publish`` as
the tests import them, and the editable install's path (``buildlib/src``) is the one mutmut
takes off ``sys.path``, so the tests cannot reach the unmutated code.

Equivalent mutants (no test can tell them apart: the program behaves the same) are listed
with their reason in ``[tool.mutation] equivalents``, by function and change (mutmut
renumbers a function's mutants after an edit of it): the changed line and the line it
replaces, or for a mutant that only deletes lines (an argument of a call written over
several lines) the first line it deletes; where several mutants of the function make that
change, by its place among them. An entry that no mutant makes any more is reported as
stale, one that could be several mutants as ambiguous: neither is applied.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_SRC = ROOT / "buildlib" / "src"
STAGE = ROOT / ".mutation"
MUTANTS = STAGE / "mutants"

# mutmut's exit codes (mutmut.stats.status_by_exit_code): a failing test run (1, or 3 for
# pytest's internal error), a run that timed out or crashed kills the mutant; a passing run
# (0) or no test reaching the function (33, 5) lets it survive.
KILLED = {1, 3, 36, 37, -24, 24, 152, 255, -11, -9}
SURVIVED = {0, 5, 33}


@dataclass
class Tally:
    killed: int = 0
    survived: int = 0
    equivalent: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        tested = self.killed + self.survived
        return self.killed / tested if tested else 1.0


@dataclass(frozen=True)
class Settings:
    modules: dict[str, str]  # short name ("publish") -> path as mutmut sees it
    target: float
    module_target: float
    equivalents: Path


def load_settings() -> Settings:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mutmut = pyproject["tool"]["mutmut"]
    ours = pyproject["tool"]["mutation"]
    modules: dict[str, str] = {}
    missing = []
    for path in mutmut["only_mutate"]:
        relative = Path(path).relative_to("src")
        if not (PACKAGE_SRC / relative).is_file():
            missing.append(path)
        name = ".".join(relative.with_suffix("").parts[1:])
        modules[name] = path
    if missing:
        sys.exit(
            f"mutation: [tool.mutmut] only_mutate lists {', '.join(missing)}, not in "
            "buildlib/src: a module was renamed or removed; update the list in pyproject.toml"
        )
    return Settings(
        modules=modules,
        target=float(ours["target"]),
        module_target=float(ours["module-target"]),
        equivalents=ROOT / ours["equivalents"],
    )


def prepare_stage(fresh: bool) -> None:
    """Make .mutation/ look like a src-layout project whose src/ is buildlib/src."""
    if fresh and STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(exist_ok=True)
    for name, target in (
        ("src", PACKAGE_SRC),
        ("pyproject.toml", ROOT / "pyproject.toml"),
        ("tests", ROOT / "tests"),
    ):
        link = STAGE / name
        if not link.is_symlink():
            link.symlink_to(target)
    # The tests run in mutants/ and read the repository's files from there (pyproject.toml,
    # docs, workflows, Dockerfiles, buildlib/src as text): link every other top-level entry.
    # mutants/src/buildlib, a regular package first on sys.path, still wins over the
    # buildlib/ folder for imports. tests/ is copied by
    # mutmut itself; a fresh copy each run, so a deleted test does not linger.
    MUTANTS.mkdir(exist_ok=True)
    shutil.rmtree(MUTANTS / "tests", ignore_errors=True)
    # The stats decide which tests run for each mutant; stale stats miss a test that now
    # reaches a function, so they are collected again on every run.
    (MUTANTS / "mutmut-stats.json").unlink(missing_ok=True)
    skip = {".git", ".venv", ".mutation", "tests", "pyproject.toml"}
    for entry in ROOT.iterdir():
        if entry.name in skip or entry.name.startswith((".mypy", ".pytest", ".ruff")):
            continue
        link = MUTANTS / entry.name
        if link.is_symlink() or not link.exists():
            link.unlink(missing_ok=True)
            link.symlink_to(entry)


def sample(settings: Settings, names: list[str], size: int) -> list[str]:
    """A fixed share of each module's mutants: the same names on every run of one code.

    mutmut generates the mutants first (a run with no test yet is not needed: the stage
    run below names them), so the names come from a generation-only pass.
    """
    chosen: list[str] = []
    for name in names:
        keys = sorted(load_results(settings.modules[name]))
        keys.sort(key=lambda key: hashlib.sha256(key.encode()).hexdigest())
        chosen += keys[:size]
    return chosen


def changed_since(settings: Settings, base: str) -> list[str]:
    """The listed modules and unit tests changed between base and the work tree; when git
    cannot compare (a new branch's all-zero base, a shallow clone), everything counts."""
    diff = subprocess.run(
        ["git", "diff", "--name-only", base, "--"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if diff.returncode != 0:
        return [f"(no comparison with {base!r}: {diff.stderr.strip()[:120]})"]
    out = diff.stdout.split()
    watched = {"buildlib/" + path for path in settings.modules.values()}
    return [
        path
        for path in out
        if path in watched
        or path.startswith("tests/unit/")
        or path in {"pyproject.toml", "tools/mutation.py", "tools/mutation-equivalents.toml"}
    ]


def run_mutmut(patterns: list[str], jobs: int, expect_failure: bool = False) -> None:
    log = STAGE / "mutmut.log"
    argv = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *patterns]
    print(f"mutation: mutmut run ({len(patterns)} name pattern(s)), output in {log}", flush=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.call(argv, cwd=STAGE, stdout=out, stderr=subprocess.STDOUT, env=env)
    if code != 0 and not expect_failure:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        print("\n".join(tail))
        sys.exit(f"mutation: mutmut run failed (exit {code}); see {log}")


def load_results(path: str) -> dict[str, int | None]:
    meta = MUTANTS / (path + ".meta")
    if not meta.is_file():
        sys.exit(f"mutation: no results for {path} yet: run without --report-only first")
    data: dict[str, Any] = json.loads(meta.read_text(encoding="utf-8"))
    return data["exit_code_by_key"]


def show(mutant: str) -> str:
    """mutmut's diff of one mutant (its function before and after the change)."""
    return subprocess.run(
        [sys.executable, "-m", "mutmut", "show", mutant],
        cwd=STAGE,
        capture_output=True,
        text=True,
        check=False,
    ).stdout


def function_of(mutant: str) -> str:
    """The mutated function's name as mutmut writes it, without the mutant's number
    (``buildlib.versions.x_next_version__mutmut_20`` -> ``buildlib.versions.x_next_version``)."""
    return mutant.rsplit("__mutmut_", 1)[0]


def module_of(function: str) -> str:
    """The short name of a function's module (``buildlib.versions.x_next_version`` ->
    ``versions``)."""
    return function.rpartition(".")[0].removeprefix("buildlib.")


def changes_by_mutant(path: str) -> dict[str, tuple[str, str, str]]:
    """Each mutant of one module with its change (:func:`change_of`).

    Read from mutmut's mutated copy of the module, where every mutant is a function of its
    own beside the original (``..._mutmut_orig``): one parse instead of one ``mutmut show``
    process per mutant.
    """
    source = (MUTANTS / path).read_text(encoding="utf-8")
    lines = source.splitlines()
    bodies = {
        node.name: [
            _plain_def(lines[node.lineno - 1], node.name),
            *lines[node.lineno : node.end_lineno],
        ]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name
    }
    module = "buildlib." + Path(path).with_suffix("").name
    changes: dict[str, tuple[str, str, str]] = {}
    for name, body in bodies.items():
        base, _, number = name.rpartition("__mutmut_")
        if number == "orig" or base + "__mutmut_orig" not in bodies:
            continue
        changes[f"{module}.{name}"] = change_of(bodies[base + "__mutmut_orig"], body)
    return changes


def change_of(before: list[str], after: list[str]) -> tuple[str, str, str]:
    """What a mutant does to its function, as an equivalents entry names it: ``("change",
    the lines it writes, the lines they replace)``, one a line, or ``("removed", the first
    line it deletes, "")`` for a mutant that writes none (mutmut deletes an argument with its
    line when the call is written over several lines)."""
    diff = [line for line in difflib.ndiff(before, after) if line.startswith(("+ ", "- "))]
    added = [line[2:].strip() for line in diff if line.startswith("+ ")]
    removed = [line[2:].strip() for line in diff if line.startswith("- ")]
    if added:
        return ("change", "\n".join(added), "\n".join(removed))
    return ("removed", removed[0] if removed else "", "")


def _plain_def(line: str, name: str) -> str:
    """A ``def`` line of mutmut's copy under the function's own name, as ``mutmut show``
    prints it (``def x_f__mutmut_3(n=2):`` -> ``def f(n=2):``, ``xǁClassǁf`` -> ``f``): every
    copy has a name of its own, and a mutant that changes the signature (a default
    argument) changes only this line, so it must compare equal where nothing else changed."""
    mangled = name.partition("__mutmut_")[0]
    plain = mangled.rpartition("ǁ")[2] if "ǁ" in mangled else mangled.removeprefix("x_")
    return line.replace(name, plain, 1)


# A change as change_of names it, in its function: (function, kind, text, original).
Key = tuple[str, str, str, str]


def load_equivalents(path: Path) -> list[tuple[Key, tuple[int, int], dict[str, Any]]]:
    """Equivalent mutants by function and change (:func:`change_of`): mutmut numbers a
    function's mutants afresh after any edit of it, so an entry names the function and the
    change (``change`` with the ``original`` lines it replaces, or ``removed``), and still
    applies when the mutant's number moves. Where M mutants of the function make that change
    (one line written twice), ``occurrence = "N of M"`` names the Nth in the function."""
    if not path.is_file():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    equivalents: list[tuple[Key, tuple[int, int], dict[str, Any]]] = []
    for entry in data.get("equivalent", []):
        kinds = [kind for kind in ("change", "removed") if kind in entry]
        place = re.fullmatch(r"([1-9]\d*) of (\d+)", str(entry.get("occurrence", "1 of 1")))
        if (
            len(kinds) != 1
            or ("original" in entry) != (kinds[0] == "change")
            or not place
            or int(place[1]) > int(place[2])
        ):
            sys.exit(
                f"mutation: {path.name}: the equivalent entry for {entry.get('mutant')} needs "
                "one of change (the lines a mutant writes) with original (the lines they "
                "replace) or removed (the first line it deletes), and an occurrence only as "
                '"N of M"; `uv run invoke mutation --show MUTANT` prints its diff'
            )
        text, original = (_lines(entry.get(key, "")) for key in (kinds[0], "original"))
        key = (function_of(entry["mutant"]), kinds[0], text, original)
        equivalents.append((key, (int(place[1]), int(place[2])), entry))
    return equivalents


def _lines(text: str) -> str:
    return "\n".join(line.strip() for line in text.strip().splitlines())


def match_equivalents(
    settings: Settings, names: list[str], changes: dict[str, tuple[str, str, str]]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The mutant each equivalent entry names, among ``changes`` (every mutant of the
    modules ``names``), and a line for each entry that names none or could be several: it
    is applied to none then, so that it never hides another mutant of the same change. An
    entry of a module that is not listed is always stale: no run mutates it."""
    same: dict[Key, list[str]] = {}
    for mutant in sorted(changes, key=lambda name: int(name.rpartition("__mutmut_")[2])):
        same.setdefault((function_of(mutant), *changes[mutant]), []).append(mutant)
    matched: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for key, occurrence, entry in load_equivalents(settings.equivalents):
        if module_of(key[0]) not in names and module_of(key[0]) in settings.modules:
            continue
        found = same.get(key, [])
        place, count = occurrence
        if found and len(found) == count:
            matched[found[place - 1]] = entry
        elif not found:
            verb = {"change": "makes", "removed": "removes"}[key[1]]
            was = f" from {key[3]!r}" if key[3] else ""
            problems.append(
                f"stale equivalent entry {entry['mutant']}: no mutant {verb} {key[2]!r}{was}"
            )
        else:
            numbers = ", ".join(mutant.rpartition("__mutmut_")[2] for mutant in found)
            problems.append(
                f"ambiguous equivalent entry {entry['mutant']}: mutants {numbers} of its function "
                f'make that change; name one by its place, occurrence = "N of {len(found)}"'
            )
    return matched, problems


def tally(
    settings: Settings, names: list[str], chosen: list[str] | None = None
) -> tuple[dict[str, Tally], list[str]]:
    results = {name: load_results(settings.modules[name]) for name in names}
    changes = {
        mutant: change
        for name in names
        for mutant, change in changes_by_mutant(settings.modules[name]).items()
    }
    matched, problems = match_equivalents(settings, names, changes)
    tallies: dict[str, Tally] = {}
    for name in names:
        counts = tallies[name] = Tally()
        for mutant, code in sorted(results[name].items()):
            if chosen is not None and mutant not in chosen:
                continue
            if mutant in matched:
                counts.equivalent += 1
                continue
            if code in KILLED:
                counts.killed += 1
            elif code in SURVIVED:
                counts.survived += 1
                counts.survivors.append(mutant)
            else:
                # suspicious, not checked or interrupted: the run did not decide it.
                counts.survived += 1
                counts.survivors.append(f"{mutant} (undecided: exit {code})")
    return tallies, problems


def report(settings: Settings, tallies: dict[str, Tally], problems: list[str]) -> bool:
    killed = sum(t.killed for t in tallies.values())
    survived = sum(t.survived for t in tallies.values())
    total = Tally(killed=killed, survived=survived)
    width = max(len(n) for n in tallies) + 2
    print()
    print(f"{'module':<{width}}{'killed':>8}{'survived':>10}{'equivalent':>12}{'score':>8}")
    for name, t in tallies.items():
        low = "  < target" if t.score < settings.module_target else ""
        print(f"{name:<{width}}{t.killed:>8}{t.survived:>10}{t.equivalent:>12}{t.score:>8.2f}{low}")
    equivalent = sum(t.equivalent for t in tallies.values())
    print(f"{'total':<{width}}{killed:>8}{survived:>10}{equivalent:>12}{total.score:>8.2f}")
    survivors = [s for t in tallies.values() for s in t.survivors]
    if survivors:
        print(f"\nsurvivors ({len(survivors)}; `uv run invoke mutation --show NAME` shows one):")
        for name in survivors:
            print(f"  {name}")
    for problem in problems:
        print(f"mutation: {problem}")
    ok = total.score >= settings.target and all(
        t.score >= settings.module_target for t in tallies.values()
    )
    summary = {
        "score": round(total.score, 4),
        "killed": killed,
        "survived": survived,
        "modules": {n: {"killed": t.killed, "survived": t.survived} for n, t in tallies.items()},
    }
    print(json.dumps(summary))
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--module",
        action="append",
        help="only this module (short name, e.g. publish); repeatable",
    )
    parser.add_argument("--fresh", action="store_true", help="start from an empty .mutation/")
    parser.add_argument(
        "--report-only", action="store_true", help="score the last run without running mutmut"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel mutants")
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="test only N mutants of each module (a fixed choice): an estimate, for a quick look",
    )
    parser.add_argument(
        "--if-changed",
        metavar="BASE",
        help="do nothing (exit 0) unless a listed module or a unit test changed since BASE",
    )
    parser.add_argument(
        "--show", action="append", metavar="MUTANT", help="print a mutant's change and exit"
    )
    args = parser.parse_args(argv)
    if args.show:
        for mutant in args.show:
            print(show(mutant))
        return 0

    settings = load_settings()
    names = args.module or list(settings.modules)
    unknown = [n for n in names if n not in settings.modules]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; listed: {', '.join(settings.modules)}")
    if args.if_changed:
        changed = changed_since(settings, args.if_changed)
        if not changed:
            print(f"mutation: no listed module and no unit test changed since {args.if_changed}")
            return 0
        print(f"mutation: changed since {args.if_changed}: {', '.join(changed)}")
    chosen: list[str] | None = None
    if not args.report_only:
        prepare_stage(args.fresh)
        patterns = [f"buildlib.{name}.*" for name in names]
        if args.sample:
            if not all((MUTANTS / (settings.modules[n] + ".meta")).is_file() for n in names):
                # Generate the mutants (and their names) without testing one: a name that
                # matches no mutant makes mutmut stop after generating.
                run_mutmut(["buildlib.no-such-module.*"], args.jobs, expect_failure=True)
            chosen = sample(settings, names, args.sample)
            patterns = chosen
        # Naming the mutants makes mutmut test them again even when it has a verdict from
        # an earlier run: the tests may have changed since.
        run_mutmut(patterns, args.jobs)
    elif args.sample:
        chosen = sample(settings, names, args.sample)
    tallies, problems = tally(settings, names, chosen)
    return 0 if report(settings, tallies, problems) else 1


if __name__ == "__main__":
    sys.exit(main())
