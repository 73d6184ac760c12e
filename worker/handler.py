"""Queue worker: executes the Python function a Tetra job sends and returns its result.

A job is ``{"id": ..., "input": {...}}``; the input is one of

* ``{"ping": true}`` -> ``{"success": true, "result": "pong"}``
* ``{"function_code": "def f(x):\\n  return x*2", "function_name": "f",
  "args": [21], "kwargs": {}}`` -> ``{"success": true, "result": 42, "result_pickle": "..."}``

``args_pickle`` (base64 of ``cloudpickle.dumps((args, kwargs))``) may replace ``args`` and
``kwargs`` for values JSON cannot carry; ``result_pickle`` is the base64 cloudpickle of the
result. ``result`` is the result itself when it is JSON-serialisable, else its ``repr``.
Anything printed by the function is returned as ``stdout``. A failure returns
``{"success": false, "error": "...", "traceback": "..."}``; :func:`handler` never raises.

Run modes of ``python -m worker.handler``:

* ``--test-input JSON`` / ``--test-input-file PATH`` / a ``test_input.json`` in the working
  directory: run that one job, print the JSON result on stdout, exit 0 on success, 1 on
  failure (2 on a usage error such as unreadable input).
* otherwise the queue loop: take jobs from ``RUNPOD_WEBHOOK_GET_JOB`` and post results to
  ``RUNPOD_WEBHOOK_POST_OUTPUT`` until SIGTERM/SIGINT; without those variables it prints
  one line to stderr and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import builtins
import contextlib
import inspect
import io
import json
import linecache
import logging
import os
import signal
import socket
import sys
import threading
import traceback
import urllib.error
import urllib.request
from typing import Any

# Imported at module top on purpose: an image whose dependency layer lacks cloudpickle
# fails at start-up instead of on the first pickled job.
import cloudpickle

log = logging.getLogger("worker.handler")

GET_JOB_ENV = "RUNPOD_WEBHOOK_GET_JOB"
POST_OUTPUT_ENV = "RUNPOD_WEBHOOK_POST_OUTPUT"
TEST_INPUT_FILE = "test_input.json"

# Executions are serialised: stdout capture swaps the process-wide sys.stdout.
_EXEC_LOCK = threading.RLock()
_CODE_COUNTER = 0


class JobError(Exception):
    """A job input that cannot be executed (reported without a traceback)."""


def _failure(error: str, tb: str = "") -> dict[str, Any]:
    return {"success": False, "error": error, "traceback": tb}


def _compile_function(code: str, name: str) -> Any:
    global _CODE_COUNTER
    _CODE_COUNTER += 1
    filename = f"<function_code #{_CODE_COUNTER}>"
    # Register the source so tracebacks show the failing lines of the user's code.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "__tetra_remote__", "__builtins__": builtins}
    exec(compile(code, filename, "exec"), namespace)  # noqa: S102 (remote execution)
    if name not in namespace:
        raise JobError(f"function_code does not define {name!r}")
    func = namespace[name]
    if not callable(func):
        raise JobError(f"{name!r} defined by function_code is not callable")
    return func


def _arguments(inp: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    if "args_pickle" in inp:
        if inp.get("args") or inp.get("kwargs"):
            raise JobError("give either args_pickle or args/kwargs, not both")
        try:
            raw = base64.b64decode(inp["args_pickle"], validate=True)
        except (TypeError, ValueError) as exc:
            raise JobError(f"args_pickle is not valid base64: {exc}") from None
        loaded = cloudpickle.loads(raw)
        if not (isinstance(loaded, tuple) and len(loaded) == 2):
            raise JobError("args_pickle must hold a pickled (args, kwargs) tuple")
        args, kwargs = loaded
        return list(args), dict(kwargs)
    args = inp.get("args", [])
    kwargs = inp.get("kwargs", {})
    if not isinstance(args, list):
        raise JobError("args must be a JSON array")
    if not isinstance(kwargs, dict):
        raise JobError("kwargs must be a JSON object")
    return args, kwargs


def _encode_result(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"success": True}
    try:
        json.dumps(value, allow_nan=False)
        out["result"] = value
    except (TypeError, ValueError, OverflowError):
        out["result"] = repr(value)
        out["result_type"] = f"{type(value).__module__}.{type(value).__qualname__}"
    try:
        out["result_pickle"] = base64.b64encode(cloudpickle.dumps(value)).decode("ascii")
    except Exception as exc:  # noqa: BLE001 (unpicklable: a generator, a lock, ...)
        out["result_pickle_error"] = f"{type(exc).__name__}: {exc}"
    return out


def execute(inp: dict[str, Any]) -> dict[str, Any]:
    """Run one job input; raises on failure (see :func:`handler` for the safe wrapper)."""
    if inp.get("ping") and "function_code" not in inp:
        return {"success": True, "result": "pong"}
    code = inp.get("function_code")
    name = inp.get("function_name")
    if not isinstance(code, str) or not code.strip():
        raise JobError("input.function_code must be a non-empty string")
    if not isinstance(name, str) or not name.isidentifier():
        raise JobError("input.function_name must be a Python identifier")
    args, kwargs = _arguments(inp)
    captured = io.StringIO()
    with _EXEC_LOCK, contextlib.redirect_stdout(captured):
        func = _compile_function(code, name)
        value = func(*args, **kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_await(value))
    result = _encode_result(value)
    if captured.getvalue():
        result["stdout"] = captured.getvalue()
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def handler(job: dict[str, Any]) -> dict[str, Any]:
    """Execute a job ``{"id": ..., "input": {...}}``; returns the result dict, never raises."""
    if not isinstance(job, dict):
        return _failure("job must be a JSON object")
    inp = job.get("input")
    if not isinstance(inp, dict):
        return _failure('job must have an "input" object')
    try:
        return execute(inp)
    except JobError as exc:
        return _failure(str(exc))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 (any failure is a result)
        return _failure(f"{type(exc).__name__}: {exc}", traceback.format_exc())


# --------------------------------------------------------------------------- queue loop


def _request(
    url: str, data: bytes | None, api_key: str | None, timeout: float
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = api_key
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response open
        raise


def _post_result(url: str, job_id: str, result: dict[str, Any], api_key: str | None) -> None:
    body: dict[str, Any] = {"output": result}
    if not result.get("success"):
        body["error"] = result.get("error", "job failed")
    data = json.dumps(body).encode()
    target = url.replace("$ID", job_id)
    for attempt in range(1, 4):
        try:
            _request(target, data, api_key, timeout=30)
            return
        except (urllib.error.URLError, OSError) as exc:
            log.warning("posting the result of job %s failed (try %d/3): %s", job_id, attempt, exc)
    log.error("dropping the result of job %s: could not post it", job_id)


class StopPolling(BaseException):
    """Raised by the SIGTERM handler to abort a (long) poll; never raised while a job runs."""


# "polling" is True while the queue loop waits for a job (it may then be interrupted).
_STATE = {"polling": False}


def _take_jobs(
    get_url: str, api_key: str | None, stop: threading.Event, poll_interval: float, backoff: float
) -> tuple[list[Any], float]:
    """One poll: (jobs, next backoff); waits before returning when there is no job."""
    try:
        status, raw = _request(get_url, None, api_key, timeout=90)
    except (urllib.error.URLError, OSError) as exc:
        log.warning("taking a job failed: %s; retrying in %.1f s", exc, backoff)
        stop.wait(backoff)
        return [], min(backoff * 2, 30.0)
    if status == 204 or not raw.strip():
        stop.wait(poll_interval)
        return [], poll_interval
    try:
        payload = json.loads(raw)
    except ValueError:
        log.error("the job endpoint answered something that is not JSON: %.200r", raw)
        stop.wait(poll_interval)
        return [], poll_interval
    return (payload if isinstance(payload, list) else [payload]), poll_interval


def run_queue(
    get_url: str,
    post_url: str,
    *,
    api_key: str | None = None,
    poll_interval: float = 1.0,
    max_jobs: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Take jobs from ``get_url`` and post results to ``post_url`` until stopped.

    ``$RUNPOD_POD_ID`` in either URL is replaced by this worker's id and ``$ID`` in
    ``post_url`` by the job id. An empty answer or HTTP 204 means "no job now".
    Returns the number of jobs run.
    """
    stop = stop or threading.Event()
    worker_id = os.environ.get("RUNPOD_POD_ID") or socket.gethostname()
    get_url = get_url.replace("$RUNPOD_POD_ID", worker_id)
    post_url = post_url.replace("$RUNPOD_POD_ID", worker_id)
    done = 0
    backoff = poll_interval
    log.info("worker %s taking jobs", worker_id)
    while not stop.is_set() and (max_jobs is None or done < max_jobs):
        try:
            _STATE["polling"] = True
            jobs, backoff = _take_jobs(get_url, api_key, stop, poll_interval, backoff)
        except StopPolling:
            break
        finally:
            _STATE["polling"] = False
        for job in jobs:
            job_id = str(job.get("id", "")) if isinstance(job, dict) else ""
            log.info("job %s started", job_id or "?")
            result = handler(job)
            log.info("job %s %s", job_id or "?", "succeeded" if result["success"] else "failed")
            if job_id:
                _post_result(post_url, job_id, result, api_key)
            else:
                log.error("job without an id: result not posted")
            done += 1
    log.info("worker %s stopping after %d job(s)", worker_id, done)
    return done


# --------------------------------------------------------------------------- command line


def _load_test_input(args: argparse.Namespace) -> tuple[str, Any] | None:
    """Returns (source, job) for local test mode, or None for the queue loop."""
    if args.test_input is not None:
        source, text = "--test-input", args.test_input
    elif args.test_input_file is not None:
        source = args.test_input_file
        with open(source, encoding="utf-8") as fh:
            text = fh.read()
    elif os.path.isfile(TEST_INPUT_FILE):
        source = os.path.abspath(TEST_INPUT_FILE)
        with open(source, encoding="utf-8") as fh:
            text = fh.read()
    else:
        return None
    return source, json.loads(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.handler",
        description="Tetra queue worker. With a test input it runs one job locally; "
        f"otherwise it takes jobs from ${GET_JOB_ENV}.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--test-input",
        "--test_input",
        dest="test_input",
        metavar="JSON",
        help="run this one job (JSON text) and print its result",
    )
    group.add_argument(
        "--test-input-file",
        "--test_input_file",
        dest="test_input_file",
        metavar="PATH",
        help="run the job in this JSON file and print its result",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="queue mode: wait between polls when there is no job (default 1)",
    )
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=None,
        metavar="N",
        help="queue mode: stop after N jobs (default: run until SIGTERM)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    try:
        test = _load_test_input(args)
    except (OSError, ValueError) as exc:
        print(f"worker.handler: cannot read the test input: {exc}", file=sys.stderr)
        return 2
    if test is not None:
        source, job = test
        log.info("running the test input from %s", source)
        result = handler(job)
        print(json.dumps(result), flush=True)
        return 0 if result.get("success") else 1

    get_url = os.environ.get(GET_JOB_ENV)
    post_url = os.environ.get(POST_OUTPUT_ENV)
    if not get_url or not post_url:
        print(
            f"worker.handler: {GET_JOB_ENV} and {POST_OUTPUT_ENV} are not set; to run one job "
            f"locally pass --test-input JSON or --test-input-file PATH, or put "
            f"{TEST_INPUT_FILE} in the working directory",
            file=sys.stderr,
        )
        return 2

    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stop.set()
        if _STATE["polling"]:
            log.info("signal %d received: stopping", signum)
            raise StopPolling
        log.info("signal %d received: finishing the current job, then stopping", signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_queue(
        get_url,
        post_url,
        api_key=os.environ.get("RUNPOD_AI_API_KEY"),
        poll_interval=args.poll_interval,
        max_jobs=args.max_jobs,
        stop=stop,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
