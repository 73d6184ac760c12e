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
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):  # noqa: UP036 - the tests also run on Python 3.10
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
ACTION_DIR = ROOT / ".github" / "actions"
CI = WORKFLOW_DIR / "ci.yml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# --- the reference pipeline -------------------------------------------------------------

STAGE1 = {"test", "lint", "docker-test", "docker-test-lb"}
MAIN_JOBS = {"docker-main-gpu", "docker-main-cpu", "docker-main-lb"}
PROD_JOBS = {"docker-prod-gpu", "docker-prod-cpu", "docker-prod-lb"}
REFERENCE_JOBS = STAGE1 | {"release"} | MAIN_JOBS | PROD_JOBS
REFERENCE_EDGES = {
    ("test", "docker-test"),
    ("lint", "docker-test"),
    ("test", "docker-test-lb"),
    ("lint", "docker-test-lb"),
    ("docker-test", "release"),
    ("docker-test-lb", "release"),
    *(("release", job) for job in sorted(MAIN_JOBS | PROD_JOBS)),
}
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


def matrix_values(job: dict[str, Any]) -> tuple[str, list[Any]] | None:
    """(key, values) of a job's one-dimensional matrix, or None without a matrix."""
    matrix = (job.get("strategy") or {}).get("matrix")
    if matrix is None:
        return None
    keys = [k for k in matrix if k not in ("include", "exclude")]
    if len(keys) != 1 or "include" in matrix or "exclude" in matrix:
        raise NotImplementedError(f"only one-key matrices are rendered here, not {matrix}")
    return keys[0], list(matrix[keys[0]])


def render(text: str, key: str, value: Any) -> str:
    return re.sub(r"\$\{\{\s*matrix\." + re.escape(key) + r"\s*\}\}", str(value), text)


def instances(job_id: str, job: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(displayed name, matrix values) of each job a job definition makes."""
    name = str(job.get("name", job_id))
    dims = matrix_values(job)
    if dims is None:
        assert "${{" not in name, f"{job_id}: a name with an expression but no matrix"
        return [(name, {})]
    key, values = dims
    names = [(render(name, key, v), {key: v}) for v in values]
    for shown, _ in names:
        assert "${{" not in shown, f"{job_id}: name {name!r} must show every matrix value"
    return names


def job_names(all_jobs: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {job_id: [n for n, _ in instances(job_id, job)] for job_id, job in all_jobs.items()}


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


def test_every_action_is_pinned_to_a_version() -> None:
    pinned = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")
    for where, step in all_steps():
        uses = step.get("uses")
        if uses is None or str(uses).startswith("./"):
            continue
        assert pinned.match(str(uses)), f"{where}: {uses} is not pinned to a version"


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
    assert sorted(shown) == sorted(REFERENCE_JOBS)


def test_needs_graph_is_the_reference_diagram() -> None:
    assert rendered_edges(jobs()) == REFERENCE_EDGES


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
    assert simulate(*MAIN, release_created="") == STAGE1 | {"release"} | MAIN_JOBS


def test_a_push_to_main_that_released_publishes_the_version() -> None:
    assert simulate(*MAIN, release_created="true") == STAGE1 | {"release"} | PROD_JOBS


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
    assert str(step["uses"]).startswith("googleapis/release-please-action@v4")
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
                run = str(step.get("run", ""))
                for key, value in values.items():
                    run = render(run, key, value)
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
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return frozenset(
        line.split()[0] for line in proc.stdout.splitlines()[1:] if line.startswith("  ")
    )


def dry_run_json(argv: list[str], step_env: dict[str, str]) -> dict[str, Any]:
    """``invoke ARGV --dry-run --json`` with placeholder credentials in the step's variables.

    The registry is a loopback port nobody listens on: no request leaves the machine, and
    the tags already released elsewhere cannot change the plan.
    """
    docker = shutil.which(os.environ.get("BUILDLIB_DOCKER", "docker"))
    if docker is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and no docker client: the dry runs plan with it")
        pytest.skip("no docker client on PATH: the dry runs plan with it")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKERHUB_", "GITHUB_", "BUILDLIB_REGISTRY"))
    }
    env.update({k: f"placeholder-{k.lower()}" for k in step_env})
    env["BUILDLIB_REGISTRY"] = f"127.0.0.1:{port}"
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *argv, "--dry-run", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    start = proc.stdout.index("{")
    document, _ = json.JSONDecoder().raw_decode(proc.stdout[start:])
    assert "placeholder" not in proc.stdout + proc.stderr, "a credential was printed"
    return document


def require_tasks(*names: str) -> None:
    missing = [n for n in names if n not in invoke_tasks()]
    if missing:
        pytest.skip(f"`invoke --list` has no {', '.join(missing)} task yet: nothing to compare")


def test_main_jobs_push_exactly_repository_main() -> None:
    require_tasks("push")
    for name, argv, env in publishing_commands("push"):
        image = name.removeprefix("docker-main-")
        plan = dry_run_json(argv, env)
        assert plan["login"] is True, f"{name}: {sorted(env)} are not the variables read"
        assert [(i["name"], i["repository"], i["tags"]) for i in plan["images"]] == [
            (image, REFERENCE_REPOSITORIES[image], ["main"])
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
