"""The GitHub Actions pipeline (.github/workflows/, .github/actions/) against the reference
pipeline (docs/Docker_Build_Pipeline.md) and against what buildlib would push.

Nothing here needs GitHub: the files are validated with check-jsonschema's bundled schemas,
and the job graph is run on paper by a small evaluator of GitHub's ``if:`` expressions, for a
pull request, a push to main, and a push to main that made a release.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):  # noqa: UP036 - the tests also run on Python 3.10
    import tomllib
else:
    import tomli as tomllib

from tests.conftest import invoke, unavailable
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
ACTION_DIR = ROOT / ".github" / "actions"
CI = WORKFLOW_DIR / "ci.yml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# --- the reference pipeline -------------------------------------------------------------

TEST_JOBS = {"test-3.10", "test-3.11"}
STAGE1 = TEST_JOBS | {"lint", "mutation", "docker-test", "docker-test-lb"}
MAIN_JOBS = {"docker-main-gpu", "docker-main-cpu", "docker-main-lb"}
PROD_JOBS = {"docker-prod-gpu", "docker-prod-cpu", "docker-prod-lb"}
# Not in the reference: the job that reads the image matrix of stages 2 and 3 from
# [tool.buildlib], on pushes to main only.
HELPER_JOBS = {"images"}
REFERENCE_JOBS = STAGE1 | {"release"} | MAIN_JOBS | PROD_JOBS
REFERENCE_EDGES = {
    *((test, "mutation") for test in sorted(TEST_JOBS)),
    *((test, "docker-test") for test in sorted(TEST_JOBS)),
    ("lint", "docker-test"),
    *((test, "docker-test-lb") for test in sorted(TEST_JOBS)),
    ("lint", "docker-test-lb"),
    ("docker-test", "release"),
    ("docker-test-lb", "release"),
    *(("release", job) for job in sorted(MAIN_JOBS | PROD_JOBS)),
}
HELPER_EDGES = {("images", job) for job in MAIN_JOBS | PROD_JOBS}
REFERENCE_REPOSITORIES = {
    "gpu": "runpod/tetra-rp",
    "cpu": "runpod/tetra-rp-cpu",
    "lb": "runpod/tetra-rp-lb",
}
SECRET_NAMES = ("DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN")
ALLOWED_DOCKER_ACTIONS = {"docker/setup-buildx-action", "docker/setup-qemu-action"}
PUBLISHING = re.compile(
    r"\binvoke\s+(push|release)\b|\bdocker\s+(login|push)\b|--push\b|\bbuildx\s+imagetools\b"
)


# --- loading ------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    """PyYAML when installed, else ruamel.yaml (check-jsonschema's own YAML parser).

    PyYAML reads the key ``on`` as the boolean True (YAML 1.1); it is put back as "on".
    """
    text = path.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:
        from ruamel.yaml import YAML

        data = YAML(typ="safe", pure=True).load(text)
    else:
        data = yaml.safe_load(text)
    if isinstance(data, dict) and True in data:
        data["on"] = data.pop(True)
    return data


def workflow_files() -> list[Path]:
    return sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])


def action_files() -> list[Path]:
    return sorted([*ACTION_DIR.glob("*/action.yml"), *ACTION_DIR.glob("*/action.yaml")])


def ci() -> dict[str, Any]:
    data = load_yaml(CI)
    assert isinstance(data, dict)
    return data


def jobs() -> dict[str, dict[str, Any]]:
    return ci()["jobs"]


FROM_JSON = re.compile(r"^\$\{\{\s*fromJSON\(\s*needs\.([\w-]+)\.outputs\.([\w-]+)\s*\)\s*\}\}$")
STEP_OUTPUT = re.compile(r"^\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}$")


def output_command(all_jobs: dict[str, dict[str, Any]], job_id: str, output: str) -> list[str]:
    """The ``invoke`` command whose stdout a job exports as ``output``: the step behind
    ``outputs.OUTPUT: ${{ steps.S.outputs.NAME }}`` that runs
    ``echo "NAME=$(uv run invoke ...)" >> "$GITHUB_OUTPUT"``."""
    job = all_jobs[job_id]
    ref = STEP_OUTPUT.match(str(job["outputs"][output]))
    assert ref, f"{job_id}.outputs.{output} is not a step output"
    (step,) = [s for s in job["steps"] if s.get("id") == ref.group(1)]
    run = str(step["run"])
    found = re.fullmatch(
        rf'echo "{re.escape(ref.group(2))}=\$\((uv run invoke [^)]*)\)" >> "\$GITHUB_OUTPUT"',
        run.strip(),
    )
    assert found, f"{job_id}: {run!r} does not write {ref.group(2)} from an invoke command"
    return shlex.split(found.group(1))


@cache
def invoke_stdout(argv: tuple[str, ...], root: Path = ROOT) -> str:
    """``uv run invoke ARGS`` as this environment runs it (``python -m invoke ARGS``)."""
    assert argv[:3] == ("uv", "run", "invoke"), argv
    proc = invoke(*argv[3:], cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def matrix_rows(
    job: dict[str, Any], all_jobs: dict[str, dict[str, Any]] | None = None, root: Path = ROOT
) -> list[dict[str, Any]] | None:
    """The matrix values of each job a job definition makes, or None without a matrix.

    A one-key matrix is listed; ``${{ fromJSON(needs.J.outputs.O) }}`` is what job J's
    command prints in ``root``, run here as the workflow runs it."""
    matrix = (job.get("strategy") or {}).get("matrix")
    if matrix is None:
        return None
    if isinstance(matrix, str):
        source = FROM_JSON.match(matrix.strip())
        assert source, f"a matrix expression other than fromJSON(needs...): {matrix}"
        assert source.group(1) in needs_of(job), f"{matrix} reads a job it does not need"
        command = output_command(all_jobs or jobs(), source.group(1), source.group(2))
        matrix = json.loads(invoke_stdout(tuple(command), root))
        assert set(matrix) == {"include"}, matrix
        return list(matrix["include"])
    keys = [k for k in matrix if k not in ("include", "exclude")]
    if len(keys) != 1 or "include" in matrix or "exclude" in matrix:
        raise NotImplementedError(f"only one-key matrices are rendered here, not {matrix}")
    return [{keys[0]: value} for value in matrix[keys[0]]]


def render(text: str, values: dict[str, Any]) -> str:
    for key, value in values.items():
        text = re.sub(r"\$\{\{\s*matrix\." + re.escape(key) + r"\s*\}\}", str(value), text)
    return text


def instances(
    job_id: str,
    job: dict[str, Any],
    all_jobs: dict[str, dict[str, Any]] | None = None,
    root: Path = ROOT,
) -> list[tuple[str, dict[str, Any]]]:
    """(displayed name, matrix values) of each job a job definition makes."""
    name = str(job.get("name", job_id))
    rows = matrix_rows(job, all_jobs, root)
    if rows is None:
        assert "${{" not in name, f"{job_id}: a name with an expression but no matrix"
        return [(name, {})]
    names = [(render(name, row), row) for row in rows]
    for shown, _ in names:
        assert "${{" not in shown, f"{job_id}: name {name!r} must show every matrix value"
    return names


def job_names(all_jobs: dict[str, dict[str, Any]], root: Path = ROOT) -> dict[str, list[str]]:
    return {
        job_id: [n for n, _ in instances(job_id, job, all_jobs, root)]
        for job_id, job in all_jobs.items()
    }


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def rendered_edges(all_jobs: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """The ``needs`` graph between jobs as GitHub shows them (matrix jobs expanded)."""
    names = job_names(all_jobs)
    return {
        (before, after)
        for job_id, job in all_jobs.items()
        for need in needs_of(job)
        for before in names[need]
        for after in names[job_id]
    }


def local_action_steps(uses: str) -> list[dict[str, Any]]:
    path = ROOT / uses.removeprefix("./")
    for name in ("action.yml", "action.yaml"):
        if (path / name).is_file():
            return list(load_yaml(path / name)["runs"].get("steps", []))
    raise AssertionError(f"local action {uses} has no action.yml")


def steps_of(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A job's steps, with the steps of the local composite actions it uses."""
    for step in job.get("steps", []):
        yield step
        uses = str(step.get("uses", ""))
        if uses.startswith("./"):
            yield from local_action_steps(uses)


def all_steps() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in workflow_files():
        for job_id, job in (load_yaml(path).get("jobs") or {}).items():
            for step in job.get("steps", []):
                yield f"{path.name}:{job_id}", step
    for path in action_files():
        for step in load_yaml(path)["runs"].get("steps", []):
            yield f"{path.parent.name}/{path.name}", step


def dump(value: Any) -> str:
    return json.dumps(value, default=str)


# --- GitHub's `if:` expressions -----------------------------------------------------------

TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[!<>(),])|(?P<name>[A-Za-z_][\w.\-]*))"
)
STATUS_FUNCTIONS = ("success", "always", "failure", "cancelled")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot read the expression at {text[pos:]!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value.strip() or 0)
    except ValueError:
        return math.nan


def _equal(left: Any, right: Any) -> bool:
    """GitHub's loose ``==``: strings ignore case; mixed types compare as numbers."""
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right):
        return bool(left == right)
    return _number(left) == _number(right)


def _truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


class Expression:
    """Evaluates ``a == 'x' && !(b != c) || f()`` over a context of nested dicts."""

    def __init__(
        self, text: str, context: dict[str, Any], functions: dict[str, Callable[[], Any]]
    ) -> None:
        text = text.strip()
        if text.startswith("${{") and text.endswith("}}"):
            text = text[3:-2]
        self.tokens = _tokens(text)
        self.pos = 0
        self.context = context
        self.functions = functions

    def value(self) -> Any:
        result = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.pos][1]!r}")
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if _truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek() == "&&":
            self._take()
            right = self._compare()
            left = right if _truthy(left) else left
        return left

    def _compare(self) -> Any:
        left = self._unary()
        while self._peek() in ("==", "!=", "<", ">", "<=", ">="):
            op = self._take()[1]
            right = self._unary()
            if op == "==":
                left = _equal(left, right)
            elif op == "!=":
                left = not _equal(left, right)
            else:
                a, b = _number(left), _number(right)
                left = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not _truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(":
            inner = self._or()
            self._take(")")
            return inner
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self._peek() == "(":
            self._take("(")
            self._take(")")
            return self.functions[text]()
        value: Any = self.context
        for part in text.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value


def evaluate(
    text: str, context: dict[str, Any], functions: dict[str, Callable[[], Any]] | None = None
) -> Any:
    return Expression(text, context, functions or {}).value()


def simulate(
    event: str, ref: str, release_created: str = "", pessimistic: bool = False
) -> set[str]:
    """The displayed names of the jobs that run for one event, every job succeeding.

    ``pessimistic`` also lets ``failure()`` and ``cancelled()`` be true once a job they
    need may run: the jobs that *can* run for the event, whatever fails.
    """
    all_jobs = jobs()
    ran: dict[str, bool] = {}
    outputs = {
        "release": {
            "release_created": release_created,
            "tag_name": "v9.9.9" if release_created == "true" else "",
            "version": "9.9.9" if release_created == "true" else "",
        }
    }
    pending = list(all_jobs)
    while pending:
        for job_id in pending:
            needs = needs_of(all_jobs[job_id])
            if all(n in ran for n in needs):
                break
        else:
            raise AssertionError(f"needs cycle among {pending}")
        pending.remove(job_id)
        job = all_jobs[job_id]
        needs_ok = all(ran[n] for n in needs)
        context = {
            "github": {"event_name": event, "ref": ref},
            "needs": {
                n: {
                    "result": "success" if ran[n] else "skipped",
                    "outputs": outputs.get(n, {}) if ran[n] else {},
                }
                for n in needs
            },
        }
        any_ran = any(ran[n] for n in needs)
        functions: dict[str, Callable[[], Any]] = {
            "success": lambda ok=needs_ok: ok,
            "always": lambda: True,
            "failure": lambda failed=pessimistic and any_ran: failed,
            "cancelled": lambda: pessimistic,
        }
        condition = str(job.get("if", "success()"))
        explicit_status = any(re.search(rf"\b{f}\s*\(", condition) for f in STATUS_FUNCTIONS)
        runs = _truthy(evaluate(condition, context, functions))
        ran[job_id] = runs if explicit_status else (needs_ok and runs)
    names = job_names(all_jobs)
    return {name for job_id, did in ran.items() if did for name in names[job_id]}


PR = ("pull_request", "refs/pull/7/merge")
MAIN = ("push", "refs/heads/main")


# --- validity -------------------------------------------------------------------------------


def check_jsonschema(schema: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_pipeline_files_exist() -> None:
    assert CI in workflow_files()
    assert action_files(), "the composite setup action is missing"


def test_workflows_match_the_github_workflow_schema() -> None:
    proc = check_jsonschema("vendor.github-workflows", workflow_files())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actions_match_the_github_action_schema() -> None:
    proc = check_jsonschema("vendor.github-actions", action_files())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps: [{run: true, uses: 3}]\n")
    proc = check_jsonschema("vendor.github-workflows", [broken])
    assert proc.returncode == 1, proc.stdout + proc.stderr


USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<uses>\S+)(?P<rest>.*)$")
PINNED = re.compile(
    r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$"  # a full commit: a tag can be moved, a commit cannot
)
VERSION_COMMENT = re.compile(r"^\s+# v\d+\.\d+\.\d+$")


def uses_lines() -> Iterator[tuple[str, str, str]]:
    """(file:line, uses, rest of the line) of every ``uses:`` of .github/, read as text:
    the version comment after a commit is not in the parsed YAML."""
    for path in [*workflow_files(), *action_files()]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = USES_LINE.match(line)
            if match:
                yield f"{path.name}:{number}", match.group("uses"), match.group("rest")


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    seen = 0
    for where, uses, rest in uses_lines():
        if uses.startswith("./"):
            continue
        seen += 1
        assert PINNED.match(uses), f"{where}: {uses} is not pinned to a full commit SHA"
        assert VERSION_COMMENT.match(rest), f"{where}: {uses} needs its version (# vX.Y.Z)"
    parsed = [s for _, s in all_steps() if not str(s.get("uses", "./")).startswith("./")]
    assert seen == len(parsed) > 0, "every uses: of the parsed files was read as text"


def test_the_pin_check_rejects_tags_and_bare_commits() -> None:
    assert not PINNED.match("actions/checkout@v5")
    assert not PINNED.match("actions/checkout@fbc6f39")
    assert PINNED.match("actions/checkout@" + "a" * 40)
    assert not VERSION_COMMENT.match("")
    assert VERSION_COMMENT.match(" # v5.1.0")


def zizmor(*paths: Path, min_severity: str = "medium") -> list[dict[str, Any]]:
    """zizmor's findings (JSON), offline: no GitHub API audit, no network."""
    tool = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if not Path(tool).is_file():
        unavailable("zizmor is not installed (dev group: uv sync)")
    proc = subprocess.run(
        [tool, "--offline", "--format", "json", "--min-severity", min_severity, *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # exit codes: 0 clean, 10-14 findings by highest severity; anything else is an error
    assert proc.returncode == 0 or 10 <= proc.returncode <= 14, proc.stderr
    return list(json.loads(proc.stdout or "[]"))


def test_zizmor_finds_nothing_of_medium_or_higher_severity() -> None:
    findings = zizmor(ROOT / ".github")
    shown = [
        f"{f['ident']} ({f['determinations']['severity']}): "
        + ", ".join(
            f"{loc['symbolic']['key']['Local']['given_path']}:"
            f"{loc['concrete']['location']['start_point']['row'] + 1}"
            for loc in f["locations"]
            if loc["symbolic"]["kind"] == "Primary"
        )
        for f in findings
    ]
    assert not findings, "\n".join(shown)


def test_zizmor_would_catch_an_unpinned_action_and_an_injection(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: pull_request\n"
        "permissions: {}\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v5\n"
        "        with: {persist-credentials: false}\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    found = {f["ident"] for f in zizmor(tmp_path / ".github")}
    assert {"unpinned-uses", "template-injection"} <= found, found


def test_every_zizmor_suppression_says_why() -> None:
    for path in [*workflow_files(), *action_files()]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "zizmor: ignore" in line:
                reason = line.split("zizmor: ignore", 1)[1].split("]", 1)[-1]
                assert len(reason.strip(" -:")) >= 10, f"{path.name}:{number}: say why"


def test_expression_evaluator() -> None:
    context = {"github": {"event_name": "push"}, "needs": {"r": {"outputs": {"x": ""}}}}
    assert evaluate("github.event_name == 'PUSH'", context) is True
    assert evaluate("${{ needs.r.outputs.x != 'true' }}", context) is True
    assert evaluate("needs.r.outputs.x == 'true' || !(1 < 2)", context) is False
    assert evaluate("always() && github.event_name", context, {"always": lambda: True}) == "push"
    assert evaluate("needs.missing.outputs.x == ''", context) is True


# --- the job graph ----------------------------------------------------------------------


def test_job_names_are_the_reference_names() -> None:
    shown = [name for names in job_names(jobs()).values() for name in names]
    assert sorted(shown) == sorted(REFERENCE_JOBS | HELPER_JOBS)


def test_needs_graph_is_the_reference_diagram() -> None:
    assert rendered_edges(jobs()) == REFERENCE_EDGES | HELPER_EDGES


def test_unit_tests_run_on_the_oldest_supported_python_and_the_default_one() -> None:
    buildlib = tomllib.loads((ROOT / "buildlib" / "pyproject.toml").read_text(encoding="utf-8"))
    oldest = buildlib["project"]["requires-python"].removeprefix(">=")
    test = jobs()["test"]
    assert matrix_rows(test) == [{"python": oldest}, {"python": "3.11"}]
    (setup,) = [s for s in test["steps"] if s.get("uses") == "./.github/actions/setup"]
    assert setup["with"]["python"] == "${{ matrix.python }}"
    action = load_yaml(ACTION_DIR / "setup" / "action.yml")
    (sync,) = [s for s in action["runs"]["steps"] if "uv sync" in str(s.get("run"))]
    assert "inputs.python" in dump(sync)


def test_triggers_are_pull_requests_and_pushes_to_main() -> None:
    triggers = ci()["on"]
    assert set(triggers) == {"pull_request", "push"}
    assert (triggers["pull_request"] or {}).get("branches") is None, "every pull request"
    assert triggers["push"] == {"branches": ["main"]}
    for path in workflow_files():
        on = load_yaml(path)["on"]
        names = {on} if isinstance(on, str) else set(on)
        assert not names & {"pull_request_target", "workflow_run"}, (
            f"{path.name}: these triggers run with the repository's secrets"
        )


def test_a_pull_request_runs_stage_one_only() -> None:
    assert simulate(*PR) == STAGE1


def test_a_push_to_main_without_a_release_pushes_main() -> None:
    ran = simulate(*MAIN, release_created="")
    assert ran == STAGE1 | {"release"} | HELPER_JOBS | MAIN_JOBS


def test_a_push_to_main_that_released_publishes_the_version() -> None:
    ran = simulate(*MAIN, release_created="true")
    assert ran == STAGE1 | {"release"} | HELPER_JOBS | PROD_JOBS


def test_the_publishing_jobs_carry_the_release_conditions() -> None:
    all_jobs = jobs()
    for job_id, job in all_jobs.items():
        names = set(job_names(all_jobs)[job_id])
        condition = " ".join(str(job.get("if", "")).split())
        if names <= MAIN_JOBS:
            assert "needs.release.outputs.release_created != 'true'" in condition, job_id
            assert "github.event_name == 'push'" in condition, job_id
            assert "github.ref == 'refs/heads/main'" in condition, job_id
        if names <= PROD_JOBS:
            assert "needs.release.outputs.release_created == 'true'" in condition, job_id


def test_release_runs_release_please_and_exports_its_outputs() -> None:
    release = jobs()["release"]
    assert " ".join(str(release["if"]).split()) == (
        "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    )
    (step,) = [s for s in release["steps"] if "release-please-action" in str(s.get("uses"))]
    assert str(step["uses"]).startswith("googleapis/release-please-action@")
    assert any(
        uses == step["uses"] and rest.strip().startswith("# v4.") for _, uses, rest in uses_lines()
    ), "release-please-action v4 (the release-please-config.json format)"
    assert (ROOT / step["with"]["config-file"]).is_file()
    assert (ROOT / step["with"]["manifest-file"]).is_file()
    for output in ("release_created", "tag_name", "version"):
        assert release["outputs"][output] == f"${{{{ steps.{step['id']}.outputs.{output} }}}}"
    assert release["permissions"]["contents"] == "write"
    assert release["permissions"]["pull-requests"] == "write"


def test_prod_jobs_check_out_the_release_tag() -> None:
    for job_id, job in jobs().items():
        if set(job_names(jobs())[job_id]) <= PROD_JOBS:
            (checkout,) = [s for s in job["steps"] if "actions/checkout" in str(s.get("uses"))]
            assert "needs.release.outputs.tag_name" in checkout["with"]["ref"]
            assert checkout["with"].get("fetch-depth") == 0, "release reads earlier tags"


# --- secrets, logins and pushes ---------------------------------------------------------


def test_pull_requests_never_log_in_push_or_see_secrets() -> None:
    workflow = ci()
    assert "secrets." not in dump(workflow.get("env", {})), "workflow-wide env reaches PRs"
    reachable = simulate(*PR, pessimistic=True)
    assert reachable == STAGE1
    names = job_names(workflow["jobs"])
    for job_id, job in workflow["jobs"].items():
        if not set(names[job_id]) & reachable:
            continue
        text = dump({k: v for k, v in job.items() if k != "steps"})
        assert "secrets." not in text, f"{job_id} reads secrets"
        for step in steps_of(job):
            where = f"{job_id}: {step.get('name') or step.get('uses') or step.get('run')}"
            assert "secrets." not in dump(step), f"{where} reads secrets"
            assert not PUBLISHING.search(str(step.get("run", ""))), f"{where} publishes"
            assert "docker/login-action" not in str(step.get("uses", "")), where


def test_docker_hub_secrets_reach_only_the_publishing_step() -> None:
    seen = 0
    for path in [*workflow_files(), *action_files()]:
        data = load_yaml(path)
        assert "DOCKERHUB" not in dump(data.get("env", {})), f"{path.name}: workflow-wide env"
        for job_id, job in (data.get("jobs") or {}).items():
            assert "DOCKERHUB" not in dump(job.get("env", {})), f"{job_id}: job-wide env"
            for step in job.get("steps", []):
                outside_env = {k: v for k, v in step.items() if k != "env"}
                assert "DOCKERHUB" not in dump(outside_env), f"{job_id}: {step}"
                env = step.get("env", {})
                if "DOCKERHUB" not in dump(env):
                    continue
                seen += 1
                assert re.match(r"^uv run invoke (push|release)\b", step["run"]), step
                for name in SECRET_NAMES:
                    assert env[name] == f"${{{{ secrets.{name} }}}}", (job_id, name)
    assert seen == 2, "one publishing step in docker-main, one in docker-prod"


def test_every_docker_step_goes_through_invoke() -> None:
    docker_words = re.compile(r"\b(docker|buildx|podman)\b", re.IGNORECASE)
    for where, step in all_steps():
        uses = str(step.get("uses", ""))
        if uses.startswith("docker/"):
            assert uses.split("@")[0] in ALLOWED_DOCKER_ACTIONS, f"{where}: {uses}"
        for line in str(step.get("run", "")).splitlines():
            if docker_words.search(line):
                assert re.match(r"^\s*uv run invoke [\w-]+", line), f"{where}: {line}"
    for job_id, job in jobs().items():
        if job_id.startswith("docker-"):
            runs = [str(s.get("run", "")) for s in job["steps"]]
            assert any(r.startswith("uv run invoke ") for r in runs), job_id


def test_pull_request_image_jobs_build_without_pushing() -> None:
    for job_id in ("docker-test", "docker-test-lb"):
        runs = [str(s["run"]) for s in jobs()[job_id]["steps"] if "run" in s]
        assert any(re.match(r"uv run invoke build(-lb)?\b", r) for r in runs), job_id
        assert not any(PUBLISHING.search(r) for r in runs), job_id


def test_uv_in_ci_is_the_version_the_images_and_ci_run_use() -> None:
    (setup,) = [s for _, s in all_steps() if str(s.get("uses", "")).startswith("astral-sh/")]
    version = str(setup["with"]["version"])
    for dockerfile in ("Dockerfile", "Dockerfile-cpu", "Dockerfile-lb"):
        text = (ROOT / dockerfile).read_text(encoding="utf-8")
        assert re.search(rf"/astral-sh/uv:{re.escape(version)}\s", text), dockerfile
    ci_run = ROOT / ".ci" / "run"
    if ci_run.is_file():
        assert f"UV_VERSION={version}" in ci_run.read_text(encoding="utf-8")


# --- the tags the publishing jobs would push ----------------------------------------------


def publishing_commands(task: str) -> list[tuple[str, list[str], dict[str, str]]]:
    """(displayed job name, invoke argv, step env) of every ``uv run invoke TASK`` step."""
    found = []
    for job_id, job in jobs().items():
        for name, values in instances(job_id, job):
            for step in job.get("steps", []):
                run = render(str(step.get("run", "")), values)
                # a value from the matrix reaches the command through the step's env
                # ("$IMAGE"), never pasted into the script
                for key, value in (step.get("env") or {}).items():
                    shown = render(str(value), values)
                    if "${{" not in shown:
                        run = re.sub(rf"\$(?:{key}\b|\{{{key}\}})", shown, run)
                argv = shlex.split(run)
                if argv[:4] == ["uv", "run", "invoke", task]:
                    found.append((name, argv[3:], dict(step.get("env", {}))))
    return found


def configured_images() -> dict[str, dict[str, Any]]:
    return PYPROJECT["tool"]["buildlib"]["images"]


def test_publishing_jobs_cover_every_image_once() -> None:
    images = set(configured_images())
    assert images == set(REFERENCE_REPOSITORIES)
    for name, repository in REFERENCE_REPOSITORIES.items():
        assert configured_images()[name]["repository"] == repository
    for task, prefix in (("push", "docker-main-"), ("release", "docker-prod-")):
        commands = publishing_commands(task)
        assert {name for name, _, _ in commands} == {prefix + image for image in images}
        for name, argv, _ in commands:
            image = name.removeprefix(prefix)
            assert argv[argv.index("--image") + 1] == image, name
            if task == "push":
                assert argv[argv.index("--tag") + 1] == "main", name


@cache
def invoke_tasks() -> frozenset[str]:
    """The tasks ``invoke --list`` shows in the repository."""
    proc = invoke("--list", cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return frozenset(
        line.split()[0] for line in proc.stdout.splitlines()[1:] if line.startswith("  ")
    )


def dry_run_json(argv: list[str], step_env: dict[str, str], root: Path = ROOT) -> dict[str, Any]:
    """``invoke ARGV --dry-run --json`` with placeholder credentials in the step's variables.

    The registry is a loopback port nobody listens on: no request leaves the machine, and
    the tags already released elsewhere cannot change the plan.
    """
    docker = shutil.which(os.environ.get("BUILDLIB_DOCKER", "docker"))
    if docker is None:
        unavailable("no docker client on PATH: the dry runs plan with it")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKERHUB_", "GITHUB_", "BUILDLIB_REGISTRY"))
    }
    env.update({k: f"placeholder-{k.lower()}" for k in step_env})
    env["BUILDLIB_REGISTRY"] = f"127.0.0.1:{port}"
    # The cache flags need CI's docker-container builder, which this machine may lack; they
    # do not change what is pushed (test_every_image_build_reads_and_writes_the_actions_cache)
    argv = [a for i, a in enumerate(argv) if not {a, argv[i - 1]} & {"--cache-from", "--cache-to"}]
    proc = invoke(*argv, "--dry-run", "--json", cwd=root, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    start = proc.stdout.index("{")
    document, _ = json.JSONDecoder().raw_decode(proc.stdout[start:])
    assert "placeholder" not in proc.stdout + proc.stderr, "a credential was printed"
    return document


def require_tasks(*names: str) -> None:
    missing = [n for n in names if n not in invoke_tasks()]
    # the workflows call these tasks: one missing from `invoke --list` is a failure
    assert not missing, f"`invoke --list` has no {', '.join(missing)} task"


def snapshot(folder: Path) -> str:
    """This checkout's files (those git lists, as they are now) committed in a new repository
    at ``folder``; its commit. A commit landing in this checkout meanwhile cannot move it.
    The checkout is git's top level: in the mutation stage ROOT is .mutation/mutants, which
    git ignores, so it lists nothing there."""
    checkout = Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for rel in filter(None, listed.split("\0")):
        if (checkout / rel).is_file():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(checkout / rel, folder / rel)
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    for command in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *command], cwd=folder, capture_output=True, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_main_jobs_push_exactly_repository_main_and_its_commit(tmp_path: Path) -> None:
    require_tasks("push")
    commit = snapshot(tmp_path)
    for name, argv, env in publishing_commands("push"):
        image = name.removeprefix("docker-main-")
        plan = dry_run_json(argv, env, root=tmp_path)
        assert plan["login"] is True, f"{name}: {sorted(env)} are not the variables read"
        assert [(i["name"], i["repository"], i["tags"]) for i in plan["images"]] == [
            (image, REFERENCE_REPOSITORIES[image], ["main", f"sha-{commit[:7]}"])
        ], name


def test_prod_jobs_push_the_version_and_latest() -> None:
    require_tasks("release")
    manifest = json.loads((ROOT / ".release-please-manifest.json").read_text())
    version = manifest["."]
    major, minor = version.split(".")[:2]
    for name, argv, env in publishing_commands("release"):
        image = name.removeprefix("docker-prod-")
        plan = dry_run_json(argv, env)
        assert plan["version"] == version, name
        assert plan["login"] is True, f"{name}: {sorted(env)} are not the variables read"
        (entry,) = plan["images"]
        assert (entry["name"], entry["repository"]) == (image, REFERENCE_REPOSITORIES[image])
        assert entry["tags"][0] == version and "latest" in entry["tags"], entry
        assert set(entry["tags"]) <= {version, f"{major}.{minor}", major, "latest"}, entry


def test_every_invoke_task_the_workflow_runs_exists() -> None:
    used = set()
    for _, step in all_steps():
        for line in str(step.get("run", "")).splitlines():
            match = re.match(r"^\s*uv run invoke ([\w-]+)", line)
            if match:
                used.add(match.group(1))
    assert used, "the workflow runs no invoke task"
    missing = used - invoke_tasks()
    assert not missing, f"tasks.py does not provide {sorted(missing)} (devtasks.TASKS?)"


# --- release-please -----------------------------------------------------------------------


def release_please() -> tuple[dict[str, Any], dict[str, Any]]:
    config = json.loads((ROOT / "release-please-config.json").read_text(encoding="utf-8"))
    manifest = json.loads((ROOT / ".release-please-manifest.json").read_text(encoding="utf-8"))
    return config, manifest


def test_release_please_releases_the_pyproject_version() -> None:
    config, manifest = release_please()
    assert manifest == {".": PYPROJECT["project"]["version"]}
    assert config["release-type"] == "python"
    package = config["packages"]["."]
    assert package["package-name"] == PYPROJECT["project"]["name"]
    assert (ROOT / package["changelog-path"]).is_file()


def test_release_please_tags_what_invoke_release_looks_for() -> None:
    config, _ = release_please()
    package = {**config, **config["packages"]["."]}
    prefix = "v" if package.get("include-v-in-tag", True) else ""
    assert package.get("include-component-in-tag") is False
    git_tag = PYPROJECT["tool"]["buildlib"]["release"]["git-tag"]
    assert git_tag == prefix + "{version}"


def test_release_please_changelog_sections() -> None:
    config, _ = release_please()
    sections = config["packages"]["."]["changelog-sections"]
    assert [s["type"] for s in sections] == ["feat", "fix", "perf", "refactor", "docs"]
    assert all(s["section"] and not s.get("hidden") for s in sections)


# --- one image list: the matrix of stages 2 and 3 is [tool.buildlib] ------------------------


def matrix_jobs() -> dict[str, dict[str, Any]]:
    """The image jobs (the test job's matrix is Python versions)."""
    return {job_id: job for job_id, job in jobs().items() if "strategy" in job and job_id != "test"}


def test_the_image_jobs_take_their_matrix_from_tool_buildlib() -> None:
    assert set(matrix_jobs()) == {"docker-main", "docker-prod"}
    for job_id, job in matrix_jobs().items():
        matrix = job["strategy"]["matrix"]
        assert isinstance(matrix, str), f"{job_id}: the image list is written in the YAML"
        assert FROM_JSON.match(matrix.strip()), matrix
        rows = matrix_rows(job)
        assert rows is not None
        assert [row["image"] for row in rows] == list(configured_images())
        for row in rows:
            assert row["repository"] == configured_images()[row["image"]]["repository"]
    images = jobs()["images"]
    assert images["if"] == jobs()["release"]["if"], "the matrix is read when it is used"
    assert "secrets." not in dump(images), "the images job needs no secret"
    assert not images.get("permissions"), "the images job reads only (workflow default)"


def test_adding_an_image_to_the_table_adds_its_jobs(tmp_path: Path) -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    text += '\n[tool.buildlib.images.arm]\nrepository = "runpod/tetra-rp-arm"\n'
    text += 'dockerfile = "Dockerfile-cpu"\nplatforms = ["linux/arm64"]\n'
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    for name in ("Dockerfile", "Dockerfile-cpu", "Dockerfile-lb"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "tasks.py").write_text(
        "from pathlib import Path\n"
        "from buildlib.tasks import collection\n"
        "ns = collection(Path(__file__).parent)\n",
        encoding="utf-8",
    )
    names = job_names(jobs(), root=tmp_path)
    assert set(names["docker-main"]) == MAIN_JOBS | {"docker-main-arm"}
    assert set(names["docker-prod"]) == PROD_JOBS | {"docker-prod-arm"}
    assert names["docker-test"] == ["docker-test"], "the other jobs are unchanged"


def test_images_json_is_one_line_with_every_image() -> None:
    out = invoke_stdout(("uv", "run", "invoke", "images", "--json"))
    assert out.count("\n") == 1, "one line: the step writes it to $GITHUB_OUTPUT"
    rows = json.loads(out)["include"]
    assert [(r["image"], r["repository"]) for r in rows] == list(REFERENCE_REPOSITORIES.items())


# --- a fresh runner reuses the last build: every image build reads and writes the cache ----

CACHE_FROM = "type=gha,scope=image-{image}"
CACHE_TO = "type=gha,scope=image-{image},mode=max,ignore-error=true"
IMAGE_TASKS = re.compile(r"^uv run invoke (build(-[\w-]+)?|push|release)$")


def test_every_image_build_reads_and_writes_the_actions_cache() -> None:
    seen = set()
    for job_id, job in jobs().items():
        for step in job.get("steps", []):
            argv = shlex.split(str(step.get("run", "")))
            if not IMAGE_TASKS.match(" ".join(argv[:4])):
                continue
            seen.add(job_id)
            pairs = list(zip(argv, argv[1:], strict=False))
            assert ("--cache-from", CACHE_FROM) in pairs, f"{job_id}: {argv}"
            assert ("--cache-to", CACHE_TO) in pairs, f"{job_id}: {argv}"
    assert seen == {"docker-test", "docker-test-lb", "docker-main", "docker-prod"}


def test_image_jobs_get_a_builder_that_exports_the_actions_cache() -> None:
    (setup,) = [
        s for _, s in all_steps() if str(s.get("uses", "")).startswith("docker/setup-buildx")
    ]
    # the `docker` driver can export no cache (nor attestations); docker-container can
    assert setup["with"]["driver"] == "docker-container"
    (runtime,) = [s for _, s in all_steps() if "ghaction-github-runtime" in str(s.get("uses", ""))]
    assert runtime["if"] == setup["if"] == "inputs.docker == 'true'"
    for job_id, job in jobs().items():
        if job_id.startswith("docker-"):
            (local,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("./")]
            assert local["with"]["docker"] == "true", job_id


def test_only_jobs_that_build_images_get_the_actions_runtime_token() -> None:
    """crazy-max/ghaction-github-runtime exports ACTIONS_RUNTIME_TOKEN to the later steps
    of its job (the type=gha cache needs it): only jobs that build an image may run it."""
    (runtime,) = [
        s
        for s in local_action_steps("./.github/actions/setup")
        if "ghaction-github-runtime" in str(s.get("uses", ""))
    ]
    assert runtime["if"] == "inputs.docker == 'true'"
    assert re.fullmatch(r"crazy-max/ghaction-github-runtime@[0-9a-f]{40}", runtime["uses"])
    with_docker = set()
    for job_id, job in jobs().items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")) == "./.github/actions/setup" and (
                str((step.get("with") or {}).get("docker", "false")) == "true"
            ):
                with_docker.add(job_id)
    building = {
        job_id
        for job_id, job in jobs().items()
        for step in job.get("steps", [])
        if IMAGE_TASKS.match(" ".join(shlex.split(str(step.get("run", "")))[:4]))
    }
    assert (
        with_docker == building == {"docker-test", "docker-test-lb", "docker-main", "docker-prod"}
    )
    assert "ghaction-github-runtime" in CI.read_text(encoding="utf-8"), (
        "the workflow says why the action is there"
    )


# --- release pull requests get checks: a GitHub App token when configured -----------------


def test_release_please_uses_the_app_token_when_configured_else_github_token() -> None:
    steps = jobs()["release"]["steps"]
    (check,) = [s for s in steps if s.get("id") == "app"]
    (app,) = [s for s in steps if "create-github-app-token" in str(s.get("uses", ""))]
    (please,) = [s for s in steps if "release-please-action" in str(s.get("uses", ""))]
    assert steps.index(check) < steps.index(app) < steps.index(please)
    assert set(check["env"].values()) == {
        "${{ secrets.RELEASE_APP_ID }}",
        "${{ secrets.RELEASE_APP_PRIVATE_KEY }}",
    }
    assert app["if"] == "steps.app.outputs.configured == 'true'"
    assert app["with"]["app-id"] == "${{ secrets.RELEASE_APP_ID }}"
    assert app["with"]["private-key"] == "${{ secrets.RELEASE_APP_PRIVATE_KEY }}"
    # the App token may do what the job's own token may, no more
    granted = {k.removeprefix("permission-"): v for k, v in app["with"].items()}
    for scope, level in jobs()["release"]["permissions"].items():
        assert granted[scope] == level, scope
    token = please["with"]["token"]
    assert token == "${{ steps.app-token.outputs.token || secrets.GITHUB_TOKEN }}"
    for configured, expected in (("true", "app-token"), ("", "github-token")):
        outputs = {"token": "app-token"} if configured else {}
        context = {
            "steps": {"app-token": {"outputs": outputs}},
            "secrets": {"GITHUB_TOKEN": "github-token"},
        }
        assert evaluate(token, context) == expected


def test_qemu_is_set_up_only_for_images_that_declare_platforms() -> None:
    """Multi-platform images build the other architectures under QEMU: the publishing jobs
    set it up when their matrix row has platforms to ``emulate``; no other job does."""
    for job_id, job in jobs().items():
        qemu = [
            step
            for step in job.get("steps", [])
            if str(step.get("uses", "")).startswith("docker/setup-qemu-action@")
        ]
        if job_id not in ("docker-main", "docker-prod"):
            assert qemu == [], job_id
            continue
        (step,) = qemu
        assert step["if"] == "matrix.emulate != ''", job_id
        assert re.fullmatch(r"docker/setup-qemu-action@[0-9a-f]{40}", step["uses"]), job_id
        names = [str(s.get("uses") or s.get("name")) for s in job["steps"]]
        assert names.index(step["uses"]) < names.index("./.github/actions/setup"), (
            "QEMU is there before the buildx builder starts"
        )


def test_the_matrix_names_each_images_platforms(tmp_path: Path) -> None:
    from buildlib.matrix import image_matrix

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    text += '\n[tool.buildlib.images.arm]\nrepository = "runpod/tetra-rp-arm"\n'
    text += 'dockerfile = "Dockerfile-cpu"\nplatforms = ["linux/amd64", "linux/arm64"]\n'
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    for name in ("Dockerfile", "Dockerfile-cpu", "Dockerfile-lb"):
        shutil.copy(ROOT / name, tmp_path / name)
    rows = {row["image"]: row for row in image_matrix(tmp_path)["include"]}
    assert rows["arm"]["platforms"] == "linux/amd64,linux/arm64"
    assert rows["arm"]["emulate"] == "linux/arm64", "QEMU for arm64 only"
    assert rows["gpu"]["emulate"] == "", "no QEMU for the runner's own platform"
