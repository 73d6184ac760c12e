"""GitHub workflow files: they validate against the workflow schema and pass actionlint,
offline; an action that runs beside secrets is pinned to a commit.

``check-jsonschema --builtin-schema vendor.github-workflows`` (SchemaStore's schema, vendored:
no network) says whether a file is valid; ``actionlint`` says where (file:line), and finds what
the schema accepts (a ``needs:`` naming no job). This module must never re-implement either
tool's rules; it only locates the ``uses:`` lines of jobs that receive secrets.

A pass of check-jsonschema (slow to start) is remembered (docs/doctor.md, "Workflow files"); a
failure is always checked again. Skipped, with the reason, without workflow files or a tool.
These checks only read: never a change to a workflow file, never the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from buildlib.checks import CheckResult, Status
from buildlib.checks.project import Project
from buildlib.options import verdict_cache
from buildlib.repofiles import workflow_paths
from buildlib.runner import Result, ask, find_program, last_lines

CHECK_ID = "workflows"
TOOL = "check-jsonschema"
ACTIONLINT = "actionlint"
# actionlint's words for a file it cannot parse (rhysd/actionlint parse.go,
# handleYAMLUnmarshalError, read at 011a6d1), which it gives with the line
UNPARSED = ": could not parse as YAML: "


def workflow_files(project: Project) -> list[str]:
    return [project.rel(path) for path in workflow_paths(project.root)]


def _not_installed(tool: str, files: list[str], what: str, hint: str) -> list[CheckResult]:
    message = f"{tool} is not installed, so {len(files)} workflow file(s) were not {what}"
    return [CheckResult(CHECK_ID, "skipped", message, hint=hint)]


def check_workflows(project: Project) -> list[CheckResult]:
    files = workflow_files(project)
    if not files:
        return [CheckResult(CHECK_ID, "skipped", "no workflow files (.github/workflows/*.yml)")]
    tool = find_program(TOOL)
    if tool is None:
        hint = (
            f"install {TOOL} where buildlib runs (it is a dependency of buildlib: "
            f"`python -m pip install {TOOL}`, or reinstall buildlib), or put it on PATH"
        )
        return _not_installed(TOOL, files, "validated", hint)
    valid = f"{len(files)} workflow file(s) valid ({TOOL}, GitHub workflow schema"
    cache = verdict_cache(project.environ)
    verdicts = None if cache is None else Path(cache) / "valid-workflows"
    key = _cache_key(project, tool, files)
    if key is not None and key in _known(verdicts):
        return [CheckResult(CHECK_ID, "ok", f"{valid}; unchanged since it last ran)")]
    command = [tool, "--builtin-schema", "vendor.github-workflows"]
    result = ask([*command, "-o", "JSON", *files], cwd=project.root)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        said = f"{TOOL} said: {_last_line(result) or 'nothing'}"
        hint = " ".join([*command, *files])
        return [CheckResult(CHECK_ID, "ok" if result.ok else "fail", said, hint=hint)]
    # where: actionlint's findings, which follow these, give the line of each
    results = []
    for error in report.get("parse_errors") or []:
        file = str(error.get("filename", ""))
        hint = f"fix the YAML syntax; `{ACTIONLINT} {file}` shows where"
        results.append(CheckResult(CHECK_ID, "fail", _not_yaml(file), file, hint=hint))
    for error in report.get("errors") or []:
        file = str(error.get("filename", ""))
        best = error.get("best_deep_match") or error.get("best_match") or error
        path = str(best.get("path") or error.get("path") or "$")
        message = f"{file}: {path}: {best.get('message') or error.get('message') or 'invalid'}"
        hint = (
            f"fix {path.removeprefix('$.')} (the GitHub workflow syntax reference; "
            f"`{' '.join(command)} --verbose {file}` shows all errors)"
        )
        results.append(CheckResult(CHECK_ID, "fail", message, file, hint=hint))
    if results:
        return results
    if result.ok and key is not None and verdicts is not None:
        _remember(verdicts, key)
    return [CheckResult(CHECK_ID, "ok", f"{valid})")]


def _not_yaml(file: str) -> str:
    return f"{file} is not valid YAML"


def _cache_key(project: Project, tool: str, files: list[str]) -> str | None:
    try:
        stat = os.stat(tool)
        parts = [f"{tool}|{stat.st_size}|{stat.st_mtime_ns}".encode()]
        for rel in files:
            parts += [rel.encode(), (project.root / rel).read_bytes()]
    except OSError:
        return None
    return hashlib.sha256(b"".join(len(p).to_bytes(8, "big") + p for p in parts)).hexdigest()


def _known(path: Path | None) -> list[str]:
    try:
        return path.read_text(encoding="ascii").split() if path and path.exists() else []
    except (OSError, UnicodeDecodeError):
        return []


def _remember(path: Path, key: str, kept: int = 200) -> None:
    """Add ``key`` to the last ``kept`` passes, written whole (a reader never sees half)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        known = [k for k in _known(path) if k != key][-(kept - 1) :] + [key]
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text("\n".join(known) + "\n", encoding="ascii")
        os.replace(tmp, path)
    except OSError:
        pass


# A full commit SHA (a tag or branch can be moved to other code), an image digest, or a
# local action (it is part of the checkout).
_PINNED = re.compile(r"^\./|^docker://.*@sha256:[0-9a-f]{64}$|^(?!docker://).*@[0-9a-f]{40}$")


def check_pinned_actions(project: Project) -> list[CheckResult]:
    """A warning, with file:line, for every action not pinned to a full commit SHA in a job
    that receives secrets (``secrets: inherit``, or ``secrets.`` anywhere in it), its local
    composite actions' steps included: whoever can move such an action's tag reads them."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    results = []
    for rel in workflow_files(project):
        data = _load(yaml, project.root / rel)
        jobs = data.get("jobs") if isinstance(data, dict) else None
        for job_id, job in jobs.items() if isinstance(jobs, dict) else ():
            if not isinstance(job, dict) or (
                job.get("secrets") != "inherit" and "secrets." not in json.dumps(job, default=str)
            ):
                continue
            for file, line, uses in _job_uses(project, rel, job, yaml):
                if _PINNED.search(uses):
                    continue
                message = (
                    f"{file}:{line}: {uses} is not pinned to a commit, in job {job_id}, "
                    "which receives secrets"
                )
                hint = (
                    f"pin it: {uses.split('@')[0]}@<full commit SHA> # <version> "
                    "(git rev-parse <tag>^{commit} in a clone of the action)"
                )
                results.append(CheckResult(CHECK_ID, "warn", message, file, line, hint))
    return results


def _load(yaml: Any, path: Any) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8", errors="replace"))
    except Exception:  # noqa: BLE001 - an invalid file is check_workflows' finding
        return None


def _uses(rel: str, node: Any) -> list[tuple[str, int, str]]:
    """(file, line, uses) of a node with a string ``uses:`` (ruamel's lines are 0-based)."""
    if not isinstance(node, dict) or not isinstance(node.get("uses"), str):
        return []
    lines: Any = node  # isinstance narrowed it to a dict: ruamel's CommentedMap has .lc
    try:
        line = int(lines.lc.key("uses")[0]) + 1
    except (AttributeError, KeyError, TypeError):
        line = 0
    return [(rel, line, node["uses"])]


def _job_uses(project: Project, rel: str, job: Any, yaml: Any) -> list[tuple[str, int, str]]:
    """A job's reusable workflow, each step, and the steps of the local composite actions
    its steps use."""
    found = _uses(rel, job)
    for step in job.get("steps") or []:
        found += _uses(rel, step)
        uses = step.get("uses") if isinstance(step, dict) else None
        if isinstance(uses, str) and uses.startswith("./"):
            folder = project.root / uses.removeprefix("./")
            path = next(
                (folder / n for n in ("action.yml", "action.yaml") if (folder / n).is_file()), None
            )
            if path is not None:
                data = _load(yaml, path)
                runs = data.get("runs") if isinstance(data, dict) else None
                steps = runs.get("steps") if isinstance(runs, dict) else None
                found += [u for s in steps or [] for u in _uses(project.rel(path), s)]
    return found


def check_actionlint(project: Project) -> list[CheckResult]:
    """actionlint's findings, each with its file:line. Its shellcheck and pyflakes passes are
    off (they depend on what else is installed). Skipped, with the reason, without it."""
    files = workflow_files(project)
    if not files:
        return []
    tool = find_program(ACTIONLINT)
    if tool is None:
        what = "linted (undefined needs, outputs, expressions)"
        hint = f"install {ACTIONLINT} on PATH, then `{ACTIONLINT} {' '.join(files)}`"
        return _not_installed(ACTIONLINT, files, what, hint)
    argv = [tool, "-format", "{{json .}}", "-shellcheck=", "-pyflakes=", *files]
    result = ask(argv, cwd=project.root)
    try:
        findings = json.loads(result.stdout or "[]")
    except ValueError:
        findings = None
    if not isinstance(findings, list) or (not result.ok and not findings):
        reason = _last_line(result) or f"exit {result.returncode}"
        message = f"{ACTIONLINT} could not lint the workflows: {reason}"
        return [CheckResult(CHECK_ID, "fail", message, hint=f"{ACTIONLINT} {' '.join(files)}")]
    results = []
    for finding in findings:
        file = str(finding.get("filepath", ""))
        line = finding.get("line") if isinstance(finding.get("line"), int) else None
        kind = f" [{finding['kind']}]" if finding.get("kind") else ""
        message = f"{file}:{line}: {finding.get('message', 'invalid')}{kind}"
        hint = f"fix it; `{ACTIONLINT} {file}` shows it in context"
        results.append(CheckResult(CHECK_ID, "fail", message, file, line, hint))
    return results or [CheckResult(CHECK_ID, "ok", f"{ACTIONLINT} finds nothing")]


def _last_line(result: Result) -> str:
    return last_lines((result.stderr or result.stdout).splitlines(), 1)


def one_verdict(
    schema: list[CheckResult], lint: list[CheckResult], pinned: list[CheckResult]
) -> list[CheckResult]:
    """The schema's, actionlint's and the pinning check's results as one verdict: their
    findings alone when there are any (an ``ok`` beside them would contradict them), else one
    line joining the passes and the reasons a tool did not run (``ok`` if anything ran).
    A file neither tool can parse is one finding: actionlint's, which has the line."""
    said = {_not_yaml(r.file) for r in lint if r.file and UNPARSED in r.message}
    schema = [r for r in schema if r.message not in said]
    results = [*schema, *lint, *pinned]
    findings = [r for r in results if r.status in ("warn", "fail")]
    if findings or not results:
        return findings
    status: Status = "ok" if any(r.status == "ok" for r in results) else "skipped"
    hint = next((r.hint for r in results if r.status == "skipped" and r.hint), None)
    message = "; ".join(r.message for r in results)
    return [CheckResult(CHECK_ID, status, message, hint=hint)]
