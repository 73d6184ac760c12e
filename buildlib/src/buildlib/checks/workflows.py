"""GitHub workflow files validate against the workflow schema and pass actionlint, offline.

``check-jsonschema --builtin-schema vendor.github-workflows -o JSON FILES`` (its vendored
copy of SchemaStore's schema: no network) runs through the :class:`Runner`. Skipped, with
the reason, when there are no workflow files or check-jsonschema is not installed (it is one
of buildlib's own dependencies, so that means an incomplete installation).

check-jsonschema is slow to start, most of doctor's time. A set of files it found valid
is remembered (by the SHA-256 of each file and the tool's own path, size and mtime) in
``$XDG_CACHE_HOME/buildlib/valid-workflows`` (``~/.cache/...``), so an unchanged set is not
validated again; any change to a file or to the tool runs it. ``BUILDLIB_NO_CACHE=1`` turns
that off.

``actionlint`` (:func:`check_actionlint`, when it is installed) finds what the schema
accepts: a ``needs:`` naming no job, an output or expression property nothing defines.

These checks only read: they never change a workflow file and never use the network.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from buildlib.checks import CheckResult
from buildlib.checks.project import Project
from buildlib.checks.verdicts import Verdicts, key_of
from buildlib.runner import ask, find_program

CHECK_ID = "workflows"
TOOL = "check-jsonschema"


def workflow_files(project: Project) -> list[str]:
    folder = project.root / ".github" / "workflows"
    if not folder.is_dir():
        return []
    return sorted(
        project.rel(p) for p in folder.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml")
    )


def find_tool() -> str | None:
    return find_program(TOOL)


def check_workflows(project: Project) -> list[CheckResult]:
    files = workflow_files(project)
    if not files:
        return [CheckResult(CHECK_ID, "skipped", "no workflow files (.github/workflows/*.yml)")]
    tool = find_tool()
    if tool is None:
        return [
            CheckResult(
                CHECK_ID,
                "skipped",
                f"{TOOL} is not installed, so {len(files)} workflow file(s) were not validated",
                hint=f"install {TOOL} where buildlib runs (it is a dependency of buildlib: "
                f"`python -m pip install {TOOL}`, or reinstall buildlib), or put it on PATH",
            )
        ]
    key = _cache_key(project, tool, files)
    if key is not None and _verdicts(project).passed(key):
        return [
            CheckResult(
                CHECK_ID,
                "ok",
                f"{len(files)} workflow file(s) valid "
                f"({TOOL}, GitHub workflow schema; unchanged since it last ran)",
            )
        ]
    result = ask(
        [tool, "--builtin-schema", "vendor.github-workflows", "-o", "JSON", *files],
        cwd=project.root,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        detail = (result.stderr or result.stdout).strip().splitlines()
        return [
            CheckResult(
                CHECK_ID,
                "fail" if not result.ok else "ok",
                f"{TOOL} said: {detail[-1] if detail else 'nothing'}",
                hint=f"{TOOL} --builtin-schema vendor.github-workflows {' '.join(files)}",
            )
        ]
    results = []
    for error in report.get("parse_errors") or []:
        file = str(error.get("filename", ""))
        line, reason = _yaml_problem(project.root / file)
        results.append(
            CheckResult(
                CHECK_ID,
                "fail",
                f"{file} is not valid YAML" + (f": {reason}" if reason else ""),
                file=file,
                line=line,
                hint=f"fix the YAML syntax of {file}" + (f" at line {line}" if line else ""),
            )
        )
    for error in report.get("errors") or []:
        file = str(error.get("filename", ""))
        best = error.get("best_deep_match") or error.get("best_match") or error
        path = str(best.get("path") or error.get("path") or "$")
        message = str(best.get("message") or error.get("message") or "invalid")
        line = locate(project.root / file, path)
        results.append(
            CheckResult(
                CHECK_ID,
                "fail",
                f"{file}: {path}: {message}",
                file=file,
                line=line,
                hint=f"fix {_readable(path)} (the GitHub workflow syntax reference; "
                f"`{TOOL} --builtin-schema vendor.github-workflows --verbose {file}` shows all "
                "errors)",
            )
        )
    if results:
        return results
    if result.ok and key is not None:
        _verdicts(project).remember(key)
    return [
        CheckResult(
            CHECK_ID, "ok", f"{len(files)} workflow file(s) valid ({TOOL}, GitHub workflow schema)"
        )
    ]


def _verdicts(project: Project) -> Verdicts:
    return Verdicts("valid-workflows", project.environ)


def _cache_key(project: Project, tool: str, files: list[str]) -> str | None:
    try:
        stat = os.stat(tool)
        parts = [f"{tool}|{stat.st_size}|{stat.st_mtime_ns}".encode()]
        for rel in files:
            parts += [rel.encode(), (project.root / rel).read_bytes()]
    except OSError:
        return None
    return key_of(parts)


def _readable(path: str) -> str:
    return path[2:] if path.startswith("$.") else path


_TOKEN = re.compile(r"\.([A-Za-z0-9_-]+)|\['([^']*)'\]|\[(\d+)\]")


def locate(path: Path, json_path: str) -> int | None:
    """The line of ``json_path`` (``$.jobs.a.steps[0]['timeout-minutes']``) in a YAML file,
    found by indentation (block style; for flow style, the nearest block key's line)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    tokens = [(m.group(1) or m.group(2), m.group(3)) for m in _TOKEN.finditer(json_path)]
    start, parent, parent_is_key, found = 0, -1, False, None
    for key, index in tokens:
        hit = None
        child = None  # the indentation of the node's children, from its first child
        seen = -1
        for number in range(start, len(lines)):
            text = lines[number]
            stripped = text.strip()
            if not stripped or stripped.startswith("#"):
                continue
            raw = len(text) - len(text.lstrip())
            dash = re.match(r"^(\s*)(-\s+)", text)
            if number > start or found is None:
                ends = raw < parent or (raw == parent and not (parent_is_key and dash))
                if found is not None and number > start and ends:
                    break
            if key is not None:
                effective = raw + (len(dash.group(2)) if dash else 0)
                child = effective if child is None else child
                if effective == child and re.match(
                    rf"^\s*(?:-\s+)?[\"']?{re.escape(key)}[\"']?\s*:", text
                ):
                    hit, parent, parent_is_key = number, effective, True
                    break
            elif dash:
                child = raw if child is None else child
                if raw == child:
                    seen += 1
                    if seen == int(index):
                        hit, parent, parent_is_key = number, raw, False
                        break
        if hit is None:
            break
        found = hit
        start = hit if key is None else hit + 1
    return found + 1 if found is not None else None


def _yaml_problem(path: Path) -> tuple[int | None, str | None]:
    """Line and reason of a YAML syntax error (via ruamel.yaml, which check-jsonschema uses)."""
    try:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import MarkedYAMLError
    except ImportError:
        return None, None
    try:
        YAML(typ="safe").load(path.read_text(encoding="utf-8", errors="replace"))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return (mark.line + 1 if mark else None), (exc.problem or exc.context)
    except Exception as exc:  # noqa: BLE001 - any other parse failure: no line
        return None, str(exc).splitlines()[0] if str(exc) else None
    return None, None


# --- actions pinned to a commit where secrets are ------------------------------------------

_PINNED = re.compile(r"@[0-9a-f]{40}$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _pinned(uses: str) -> bool:
    """A full commit SHA (a tag or branch can be moved to other code), an image digest,
    or a local action (it is part of the checkout)."""
    if uses.startswith("./"):
        return True
    if uses.startswith("docker://"):
        return bool(_DIGEST.search(uses))
    return bool(_PINNED.search(uses))


def check_pinned_actions(project: Project) -> list[CheckResult]:
    """A warning, with file:line, for every action not pinned to a full commit SHA in a job
    that receives secrets (its steps, env or ``with:`` reference ``secrets.``), including
    the steps of the local composite actions it uses: such an action runs beside the
    secrets, and whoever can move its tag can read them."""
    try:
        from ruamel.yaml import YAML
    except ImportError:  # check-jsonschema brings it; `check_workflows` says it is missing
        return []
    yaml = YAML(typ="rt")
    results = []
    for rel in workflow_files(project):
        data = _load(yaml, project.root / rel)
        jobs = data.get("jobs") if isinstance(data, dict) else None
        for job_id, job in (jobs or {}).items() if isinstance(jobs, dict) else ():
            if not isinstance(job, dict) or "secrets." not in _text(job) + _secrets_inherit(job):
                continue
            for file, line, uses in _job_uses(project, rel, job, yaml):
                if _pinned(uses):
                    continue
                results.append(
                    CheckResult(
                        CHECK_ID,
                        "warn",
                        f"{file}:{line}: {uses} is not pinned to a commit, in job {job_id}, "
                        "which receives secrets",
                        file=file,
                        line=line,
                        hint=f"pin it: {uses.split('@')[0]}@<full commit SHA> # <version> "
                        "(git rev-parse <tag>^{commit} in a clone of the action)",
                    )
                )
    return results


def _load(yaml: Any, path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8", errors="replace"))
    except Exception:  # noqa: BLE001 - an invalid file is check_workflows' finding
        return None


def _text(node: Any) -> str:
    return json.dumps(node, default=str)


def _secrets_inherit(job: dict[str, Any]) -> str:
    return "secrets." if job.get("secrets") == "inherit" else ""


def _line_of(node: Any, key: str | int) -> int | None:
    try:
        return int(node.lc.key(key)[0]) + 1 if isinstance(key, str) else None
    except (AttributeError, KeyError, TypeError):
        return None


def _job_uses(project: Project, rel: str, job: Any, yaml: Any) -> list[tuple[str, int, str]]:
    """(file, line, uses) of a job: a reusable workflow, each step, and the steps of the
    local composite actions its steps use."""
    found = []
    if isinstance(job.get("uses"), str):
        found.append((rel, _line_of(job, "uses") or 0, job["uses"]))
    for step in job.get("steps") or []:
        uses = step.get("uses") if isinstance(step, dict) else None
        if not isinstance(uses, str):
            continue
        found.append((rel, _line_of(step, "uses") or 0, uses))
        if uses.startswith("./"):
            found += _composite_uses(project, uses, yaml)
    return found


def _composite_uses(project: Project, uses: str, yaml: Any) -> list[tuple[str, int, str]]:
    folder = project.root / uses.removeprefix("./")
    for name in ("action.yml", "action.yaml"):
        path = folder / name
        if not path.is_file():
            continue
        data = _load(yaml, path)
        runs = data.get("runs") if isinstance(data, dict) else None
        steps = runs.get("steps") if isinstance(runs, dict) else None
        rel = project.rel(path)
        return [
            (rel, _line_of(step, "uses") or 0, step["uses"])
            for step in steps or []
            if isinstance(step, dict) and isinstance(step.get("uses"), str)
        ]
    return []


# --- actionlint: what the schema cannot see -------------------------------------------------

ACTIONLINT = "actionlint"


def check_actionlint(project: Project) -> list[CheckResult]:
    """actionlint's findings, each with its file:line: a ``needs:`` of a job that does not
    exist, an output or a property an expression names but nothing defines, a type error in
    an expression; the schema accepts all of them. Its shellcheck and pyflakes passes are
    off (they depend on what else is installed). Skipped, with the reason, without it."""
    files = workflow_files(project)
    if not files:
        return []
    tool = find_program(ACTIONLINT)
    if tool is None:
        return [
            CheckResult(
                CHECK_ID,
                "skipped",
                f"{ACTIONLINT} is not installed, so {len(files)} workflow file(s) were not "
                "linted (undefined needs, outputs, expressions)",
                hint=f"install {ACTIONLINT} on PATH, then `{ACTIONLINT} {' '.join(files)}`",
            )
        ]
    result = ask(
        [tool, "-format", "{{json .}}", "-shellcheck=", "-pyflakes=", *files], cwd=project.root
    )
    try:
        findings = json.loads(result.stdout or "[]")
    except ValueError:
        findings = None
    if not isinstance(findings, list) or (not result.ok and not findings):
        detail = (result.stderr or result.stdout).strip().splitlines()
        return [
            CheckResult(
                CHECK_ID,
                "fail",
                f"{ACTIONLINT} could not lint the workflows: "
                + (detail[-1] if detail else f"exit {result.returncode}"),
                hint=f"{ACTIONLINT} {' '.join(files)}",
            )
        ]
    results = []
    for finding in findings:
        file = str(finding.get("filepath", ""))
        line = finding.get("line") if isinstance(finding.get("line"), int) else None
        kind = finding.get("kind")
        results.append(
            CheckResult(
                CHECK_ID,
                "fail",
                f"{file}:{line}: {finding.get('message', 'invalid')}"
                + (f" [{kind}]" if kind else ""),
                file=file,
                line=line,
                hint=f"fix it; `{ACTIONLINT} {file}` shows it in context",
            )
        )
    return results or [CheckResult(CHECK_ID, "ok", f"{ACTIONLINT} finds nothing")]


def with_actionlint(schema: list[CheckResult], lint: list[CheckResult]) -> list[CheckResult]:
    """actionlint's findings after the schema's results; its pass, or why it did not run,
    joins the schema's one ok line, so a clean repository keeps one ``workflows`` line."""
    if len(schema) == len(lint) == 1 and schema[0].status == "ok" and lint[0].status != "fail":
        note = lint[0]
        return [replace(schema[0], message=f"{schema[0].message}; {note.message}", hint=note.hint)]
    return [*schema, *lint]
