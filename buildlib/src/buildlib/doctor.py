"""``invoke doctor``: every check, one line each, with the exact fix. It only reports (and,
with ``fix``, rewrites line endings): the checks themselves live in :mod:`buildlib.checks`.

The exit status, the JSON shape, the GitHub annotations and the colours are docs/doctor.md's.
No network unless ``for_`` is given. Also runnable as ``python -m buildlib.doctor``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from buildlib import console
from buildlib.checks import CheckResult
from buildlib.checks.project import Project
from buildlib.checks.suite import FOR_CHOICES, run_checks
from buildlib.errors import UsageError, placed
from buildlib.flags import DoctorFlags
from buildlib.options import environment, registry_override

_LABELS = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skipped": "skip"}


def collect(
    root: Path | str = ".",
    *,
    fix: bool = False,
    for_: str | None = None,
    registry: str | None = None,
    environ: Mapping[str, str] | None = None,
    engine: bool = True,
) -> list[CheckResult]:
    if for_ not in FOR_CHOICES:
        hint = "invoke doctor --for push (or --for release)"
        raise UsageError(f"--for {for_!r} is not push or release", hint=hint)
    if not Path(root).is_dir():
        raise UsageError(
            f"--root {root}: no such directory", hint="pass the folder that holds pyproject.toml"
        )
    # a bad registry is one line, before any check runs
    registry_override(registry, environment() if environ is None else environ)
    project = Project.load(root, environ=environ, registry=registry)
    return run_checks(project, fix=fix, for_=for_, engine=engine)


def doctor(flags: DoctorFlags) -> int:
    return run_doctor(
        flags.root, fix=flags.fix, as_json=flags.as_json, for_=flags.for_, registry=flags.registry
    )


def as_document(results: Sequence[CheckResult]) -> dict[str, object]:
    failed = any(r.status == "fail" for r in results)
    typed = [
        replace(r, message=console.as_typed(r.message), hint=r.hint and console.as_typed(r.hint))
        for r in results
    ]
    return {"ok": not failed, "checks": [r.as_dict() for r in typed]}


def run_doctor(
    root: Path | str = ".",
    *,
    fix: bool = False,
    as_json: bool = False,
    for_: str | None = None,
    registry: str | None = None,
    out: TextIO | None = None,
    engine: bool = True,
) -> int:
    """Run every check, print the report (or JSON), return the exit status (0 or 1).
    ``engine=False`` skips the Docker checks."""
    stream = out or sys.stdout
    started = time.perf_counter()
    results = collect(root, fix=fix, for_=for_, registry=registry, engine=engine)
    elapsed = time.perf_counter() - started
    if as_json:
        text = json.dumps(as_document(results), indent=2)
    else:
        colour = console.colour_wanted(stream)
        text = render(results, root=Path(root).resolve(), for_=for_, elapsed=elapsed, colour=colour)
    print(text, file=stream, flush=True)
    if console.in_github_actions():
        # Annotations go to stdout, where the runner reads them; with --json, stdout holds
        # only the document, so they go to stderr (which the runner reads too).
        target = sys.stderr if as_json else stream
        with contextlib.redirect_stdout(target):
            for found in [r for r in results if r.status in ("fail", "warn")]:
                hint = f" (fix: {found.hint})" if found.hint else ""
                level = "error" if found.status == "fail" else "warning"
                text = f"{found.id}: {found.message}{hint}"
                console.annotation(text, file=found.file, line=found.line, level=level)
    return 1 if any(r.status == "fail" for r in results) else 0


def render(
    results: Sequence[CheckResult],
    *,
    root: Path | None = None,
    for_: str | None = None,
    elapsed: float | None = None,
    colour: bool = False,
) -> str:
    s = console.Style(colour)
    colours = {"ok": s.green, "warn": s.yellow, "fail": s.red + s.bold, "skipped": s.dim}
    width = max((len(r.id) for r in results), default=10)
    lines = []
    if root is not None:
        purpose = f" (for {for_})" if for_ else ""
        lines.append(f"{s.bold}buildlib doctor{s.reset}: {root}{purpose}")
    for result in results:
        label = f"{colours[result.status]}{_LABELS[result.status]:<4}{s.reset}"
        lines.append(f"  {label}  {result.id:<{width}}  {placed(result.where(), result.message)}")
        if result.hint and result.status != "ok":
            lines.append(f"  {'':<4}  {'':<{width}}  {s.dim}fix:{s.reset} {result.hint}")
    counts = Counter(r.status for r in results)
    summary = (
        f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed, "
        f"{counts['skipped']} skipped"
    )
    if elapsed is not None:
        summary += f" in {elapsed:.2f} s"
    verdict = (
        f"{s.red}{s.bold}doctor found problems{s.reset}"
        if counts["fail"]
        else f"{s.green}doctor: all good{s.reset}"
    )
    lines.append(f"{verdict}: {summary}")
    return console.as_typed("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m buildlib.doctor", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--root", default=".", help="the repository to check")
    parser.add_argument("--fix", action="store_true", help="rewrite CRLF/CR files to LF")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--for",
        dest="for_",
        choices=["push", "release"],
        help="also check what a push/release needs (uses the network)",
    )
    parser.add_argument("--registry", help="registry host (default: the configured one)")
    args = parser.parse_args(argv)
    return run_doctor(
        args.root, fix=args.fix, as_json=args.json, for_=args.for_, registry=args.registry
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
