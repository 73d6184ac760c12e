"""The developer conveniences of worker-tetra (the old Makefile's targets) as Invoke tasks.

``tasks.py`` adds every task of :data:`TASKS` to its collection, so they show in
``uv run invoke --list`` beside buildlib's image tasks; ``uv run invoke --help NAME`` shows
each one's flags. Every command goes through buildlib's :class:`~buildlib.runner.Runner`:
it is printed before it runs, and ``--dry-run`` or Invoke's own ``--dry`` print without
running (``--echo`` also shows the read-only queries).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from invoke import Context, task

from buildlib import config as config_module
from buildlib import console
from buildlib.engine import docker_binary
from buildlib.errors import BuildlibError, CheckFailed, CommandFailed
from buildlib.options import resolve_tag
from buildlib.runner import Result, Runner
from buildlib.tasks import invoke_flags, user_errors

ROOT = Path(__file__).resolve().parent
TEST_INPUT = ROOT / "tests" / "fixtures" / "test_input.json"
CACHE_DIRS = (".pytest_cache", ".mypy_cache", ".ruff_cache")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules"}
LB_PORT = 80  # the port worker.lb listens on inside the image (Dockerfile-lb EXPOSE)


def _python(*args: str) -> list[str]:
    """A tool of the project's environment, run by the interpreter running invoke."""
    return [sys.executable, "-m", *args]


def _colour_flag() -> list[str]:
    # Output is piped through the Runner, so tools cannot see the terminal themselves.
    return ["--color=yes"] if console.style().red else []


def _check_all(runner: Runner, commands: list[list[str]], what: str, hint: str) -> None:
    """Run every command (even after a failure); fail once, naming each that failed."""
    failed = [
        " ".join(argv[2:] if argv[0] == sys.executable else argv)
        for argv in commands
        if not runner.run(argv, check=False, cwd=str(ROOT)).ok
    ]
    if failed:
        raise CommandFailed(f"{what} failed: {'; '.join(failed)}", hint=hint)


# --------------------------------------------------------------------------- code quality


@task(
    help={
        "unit": "run only tests/unit (no Docker engine needed)",
        "k": "only tests whose name matches this pytest -k expression",
        "exitfirst": "stop at the first failure",
        "verbose": "list every test",
    }
)
def test(
    c: Context,
    unit: bool = False,
    k: str | None = None,
    exitfirst: bool = False,
    verbose: bool = False,
) -> None:
    """Run the test suite (pytest; the integration tests need a Docker engine)."""
    argv = _python("pytest", *_colour_flag())
    if exitfirst:
        argv.append("-x")
    if verbose:
        argv.append("-v")
    if k:
        argv += ["-k", k]
    if unit:
        argv.append("tests/unit")
    with user_errors(), invoke_flags(c) as dry_run:
        Runner(dry_run=dry_run).run(
            argv, cwd=str(ROOT), what="tests", hint="read the failures above"
        )


@task
def lint(c: Context) -> None:
    """Check the code: `ruff check` and `ruff format --check` (fix with `invoke format`)."""
    with user_errors(), invoke_flags(c) as dry_run:
        _check_all(
            Runner(dry_run=dry_run),
            [_python("ruff", "check", "."), _python("ruff", "format", "--check", ".")],
            "lint",
            hint="invoke format (then fix what ruff check still reports)",
        )


@task(name="format")
def format_(c: Context) -> None:
    """Format the code with ruff and apply ruff's safe fixes."""
    with user_errors(), invoke_flags(c) as dry_run:
        runner = Runner(dry_run=dry_run)
        runner.run(_python("ruff", "format", "."), cwd=str(ROOT), what="ruff format")
        runner.run(
            _python("ruff", "check", "--fix", "."),
            cwd=str(ROOT),
            what="ruff check --fix",
            hint="fix the remaining findings by hand",
        )


@task
def typecheck(c: Context) -> None:
    """Type-check buildlib and the task files with mypy (configured in pyproject.toml)."""
    with user_errors(), invoke_flags(c) as dry_run:
        Runner(dry_run=dry_run).run(
            _python("mypy"), cwd=str(ROOT), what="mypy", hint="fix the type errors above"
        )


@task(
    help={
        "module": "only these modules, comma-separated short names (e.g. publish,credentials)",
        "sample": "test only N mutants of each module (a fixed choice): a quick estimate",
        "fresh": "start from an empty .mutation/ (no mutant or result kept)",
        "if_changed": "do nothing unless a listed module or a unit test changed since this ref",
        "jobs": "mutants tested at once (default: the number of cores)",
        "show": "print the change of these mutants (comma-separated names) and exit",
    }
)
def mutation(
    c: Context,
    module: str | None = None,
    sample: int | None = None,
    fresh: bool = False,
    if_changed: str | None = None,
    jobs: int | None = None,
    show: str | None = None,
) -> None:
    """Mutation-test the modules that decide what ships (mutmut; tools/mutation.py)."""
    argv = [sys.executable, str(ROOT / "tools" / "mutation.py")]
    for name in (module or "").split(","):
        if name.strip():
            argv += ["--module", name.strip()]
    if sample:
        argv += ["--sample", str(sample)]
    if fresh:
        argv.append("--fresh")
    if if_changed:
        argv += ["--if-changed", if_changed]
    if jobs:
        argv += ["--jobs", str(jobs)]
    for name in (show or "").split(","):
        if name.strip():
            argv += ["--show", name.strip()]
    with user_errors():
        Runner().run(
            argv,
            cwd=str(ROOT),
            what="mutation testing",
            hint="write tests that kill the survivors listed above (or record a true "
            "equivalent in tools/mutation-equivalents.toml)",
        )


# --------------------------------------------------------------------------- housekeeping


def _cache_dirs(root: Path) -> Iterator[Path]:
    for name in CACHE_DIRS:
        if (root / name).is_dir():
            yield root / name
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and d not in CACHE_DIRS]
        if "__pycache__" in dirnames:
            dirnames.remove("__pycache__")
            yield Path(dirpath) / "__pycache__"


@task(
    help={
        "images": "also remove the images the build tasks make (REPO:local, or --tag)",
        "tag": "with --images: the tag to remove (default: $TETRA_IMAGE_TAG, else 'local')",
        "dry-run": "print what would be removed; remove nothing",
    }
)
def clean(c: Context, images: bool = False, tag: str | None = None, dry_run: bool = False) -> None:
    """Remove the tool caches (pytest, mypy, ruff, __pycache__); --images the local images."""
    with user_errors(), invoke_flags(c, dry_run) as dry_run:
        for path in _cache_dirs(ROOT):
            console.info(f"{'would remove' if dry_run else 'removing'} {path.relative_to(ROOT)}")
            if not dry_run:
                shutil.rmtree(path, ignore_errors=True)
        if not images:
            return
        config = config_module.load(ROOT)
        chosen = resolve_tag(config, tag, os.environ)
        runner = Runner(dry_run=dry_run)
        docker = docker_binary()
        for image in config.images:
            reference = f"{image.repository}:{chosen}"
            if _image_id(runner, docker, reference) is None:
                console.info(f"{reference}: not present")
                continue
            runner.run([docker, "image", "rm", reference], what=f"removing {reference}")


@task(
    help={
        "upgrade": "upgrade every locked package to the newest allowed version",
        "check": "only check that uv.lock matches pyproject.toml (exit 1 if not)",
    }
)
def lock(c: Context, upgrade: bool = False, check: bool = False) -> None:
    """Update uv.lock from pyproject.toml (`uv lock`); --upgrade raises every pin."""
    with user_errors(), invoke_flags(c) as dry_run:
        uv = os.environ.get("UV") or shutil.which("uv")
        if not uv:
            raise BuildlibError("uv was not found on PATH", hint="install uv, then `uv sync`")
        argv = [uv, "lock"]
        if check:
            argv.append("--check")
        if upgrade:
            argv.append("--upgrade")
        Runner(dry_run=dry_run).run(
            argv,
            cwd=str(ROOT),
            what="uv lock",
            hint="uv lock (then commit uv.lock)" if check else None,
        )


# --------------------------------------------------------------------------- smoke tests


def _image_id(runner: Runner, docker: str, reference: str) -> str | None:
    found = runner.run(
        [docker, "image", "inspect", "--format", "{{.Id}}", reference],
        capture=True,
        check=False,
        mutating=False,
    )
    return (found.stdout.strip() or None) if found.ok else None


def _require_image(runner: Runner, docker: str, reference: str, name: str) -> None:
    if runner.dry_run:
        return
    if _image_id(runner, docker, reference) is None:
        raise CheckFailed(
            f"image {reference} not found in the Docker engine",
            hint=f"invoke build-{name} (or pass the --tag it was built with)",
        )


def _load_job(path: str | None) -> tuple[Path, dict[str, Any]]:
    source = Path(path) if path else TEST_INPUT
    try:
        job = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildlibError(
            f"cannot read the test input {source}: {exc}",
            hint='pass --test-input FILE with a job {"input": {...}}',
        ) from None
    if not isinstance(job, dict) or not isinstance(job.get("input"), dict):
        raise BuildlibError(f'{source}: a job must be a JSON object with an "input" object')
    return source, job


def _expected(job: dict[str, Any]) -> Any:
    """What the handler in this checkout returns for the job (the image must agree)."""
    from worker.handler import handler

    return handler(job).get("result")


def _last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


@task(
    help={
        "image": "comma-separated queue-worker images to run: cpu, gpu (default: cpu)",
        "tag": "tag of the built image (default: $TETRA_IMAGE_TAG, else 'local')",
        "test-input": "job file to run (default: tests/fixtures/test_input.json)",
        "dry-run": "print the docker command; run nothing",
    }
)
def smoketest(
    c: Context,
    image: str = "cpu",
    tag: str | None = None,
    test_input: str | None = None,
    dry_run: bool = False,
) -> None:
    """Run the built queue-worker image on the test input and check its result.

    The job must succeed with the result the handler in this checkout computes."""
    with user_errors(), invoke_flags(c, dry_run) as dry_run:
        config = config_module.load(ROOT)
        chosen = resolve_tag(config, tag, os.environ)
        source, job = _load_job(test_input)
        runner = Runner(dry_run=dry_run)
        docker = docker_binary()
        for name in [n.strip() for n in image.split(",") if n.strip()]:
            spec = config.image(name)
            reference = f"{spec.repository}:{chosen}"
            _require_image(runner, docker, reference, name)
            console.step(f"{name}: {reference} on {source.name}")
            result = runner.run(
                [
                    docker,
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    reference,
                    "python",
                    "-m",
                    "worker.handler",
                    "--test-input",
                    json.dumps(job),
                ],
                capture=True,
                check=False,
                what=f"{reference} on the test input",
            )
            if not dry_run:
                _judge_handler_run(reference, result, _expected(job))


def _judge_handler_run(reference: str, result: Result, expected: Any) -> None:
    output = _last_json(result.stdout)
    if output is None:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise CheckFailed(
            f"{reference} printed no JSON result (exit {result.returncode}): {tail}",
            hint="run it by hand: docker run --rm -it IMAGE bash",
        )
    if not output.get("success"):
        raise CheckFailed(
            f"{reference}: the job failed: {output.get('error')}",
            hint="the traceback is in the JSON above; fix worker/ and rebuild",
        )
    if output.get("result") != expected:
        raise CheckFailed(
            f"{reference} returned {output.get('result')!r}, this checkout's handler {expected!r}",
            hint="rebuild the image from this checkout",
        )
    console.info(json.dumps(output)[:500])
    console.success(f"{reference}: ok (result {json.dumps(output.get('result'))})")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    # imported here: urllib.request pulls in http.client and ssl, which every `invoke` run
    # would load for the smoke test of one task
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")


@task(
    help={
        "tag": "tag of the built image (default: $TETRA_IMAGE_TAG, else 'local')",
        "port": "host port to publish on 127.0.0.1 (default: a free one)",
        "timeout": "seconds to wait for /ping to answer (default: 60)",
        "dry-run": "print the docker commands; run nothing",
    }
)
def smoketest_lb(
    c: Context,
    tag: str | None = None,
    port: int | None = None,
    timeout: int = 60,
    dry_run: bool = False,
) -> None:
    """Start the built load-balancer image, check GET /ping and POST /execute, stop it.

    The port is published on 127.0.0.1 of the Docker host: use a local engine."""
    with user_errors(), invoke_flags(c, dry_run) as dry_run:
        config = config_module.load(ROOT)
        spec = config.image("lb")
        reference = f"{spec.repository}:{resolve_tag(config, tag, os.environ)}"
        _, job = _load_job(None)
        runner = Runner(dry_run=dry_run)
        docker = docker_binary()
        _require_image(runner, docker, reference, "lb")
        host_port = port or _free_port()
        name = f"tetra-lb-smoketest-{os.getpid()}"
        console.step(f"lb: {reference} on 127.0.0.1:{host_port}")
        # No --rm: the logs of a container that died must still be readable.
        runner.run(
            [
                docker,
                "run",
                "--detach",
                "--name",
                name,
                "--publish",
                f"127.0.0.1:{host_port}:{LB_PORT}",
                reference,
            ],
            capture=True,
            what=f"starting {reference}",
        )
        try:
            if not dry_run:
                _probe_lb(runner, docker, name, f"http://127.0.0.1:{host_port}", job, timeout)
        except BuildlibError:
            _show_logs(runner, docker, name)
            raise
        finally:
            runner.run(
                [docker, "stop", "--time", "10", name],
                capture=True,
                check=False,
                what=f"stopping {name}",
            )
            code = _exit_code(runner, docker, name)
            runner.run(
                [docker, "rm", "--force", name], capture=True, check=False, what=f"removing {name}"
            )
        if not dry_run:
            if code not in ("0", None):
                console.warn(f"{name} exited with code {code} on SIGTERM (expected 0)")
            console.success(f"{reference}: ok (/ping healthy, /execute succeeded)")


def _show_logs(runner: Runner, docker: str, name: str) -> None:
    logs = runner.run(
        [docker, "logs", "--tail", "30", name], capture=True, check=False, mutating=False
    )
    text = (logs.stdout + logs.stderr).strip()
    if text:
        console.info(f"--- last lines of {name}:\n{text}")


def _running(runner: Runner, docker: str, name: str) -> bool:
    state = runner.run(
        [docker, "container", "inspect", "--format", "{{.State.Running}}", name],
        capture=True,
        check=False,
        mutating=False,
    )
    return state.ok and state.stdout.strip() == "true"


def _exit_code(runner: Runner, docker: str, name: str) -> str | None:
    if runner.dry_run:
        return None
    state = runner.run(
        [docker, "container", "inspect", "--format", "{{.State.ExitCode}}", name],
        capture=True,
        check=False,
        mutating=False,
    )
    return state.stdout.strip() if state.ok else None


def _probe_lb(
    runner: Runner, docker: str, name: str, url: str, job: dict[str, Any], timeout: int
) -> None:
    import urllib.error  # see _http

    deadline = time.monotonic() + timeout
    while True:
        try:
            status, body = _http("GET", f"{url}/ping")
            if status == 200 and body == {"status": "healthy"}:
                break
            raise CheckFailed(f"GET /ping answered {status} {body!r}, not 200 healthy")
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            if not _running(runner, docker, name):
                raise CheckFailed(
                    f"container {name} exited before answering /ping",
                    hint="its last log lines are above",
                ) from None
            if time.monotonic() > deadline:
                raise CheckFailed(
                    f"GET {url}/ping did not answer within {timeout} s",
                    hint="raise --timeout, or read the log lines above",
                ) from None
            time.sleep(0.5)
    console.info(f"GET /ping -> 200 {json.dumps(body)}")
    status, out = _http("POST", f"{url}/execute", json.dumps(job).encode())
    if status != 200 or not isinstance(out, dict) or not out.get("success"):
        raise CheckFailed(f"POST /execute answered {status}: {str(out)[:300]}")
    expected = _expected(job)
    if out.get("result") != expected:
        raise CheckFailed(
            f"POST /execute returned {out.get('result')!r}, this checkout's handler {expected!r}",
            hint="rebuild the image from this checkout",
        )
    console.info(f"POST /execute -> 200 result {json.dumps(out.get('result'))}")


#: The tasks tasks.py adds to its collection (``ns.add_task(t)`` for each).
TASKS: list[Any] = [
    test,
    lint,
    format_,
    typecheck,
    mutation,
    clean,
    lock,
    smoketest,
    smoketest_lb,
]
