"""The worker package: the handler, its command line and queue loop, and the LB server."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from tests.support.ports import free_port
from worker import lb
from worker.handler import handler, main, run_queue

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "test_input.json"
DOUBLE = "def f(x):\n  return x*2"


def job(**inp: Any) -> dict[str, Any]:
    return {"id": "job-1", "input": inp}


# --------------------------------------------------------------------------- handler


def test_ping() -> None:
    assert handler({"input": {"ping": True}}) == {"success": True, "result": "pong"}


def test_executes_function_with_args_and_kwargs() -> None:
    code = "def add(a, b, *, scale=1):\n    return (a + b) * scale\n"
    out = handler(job(function_code=code, function_name="add", args=[2, 3], kwargs={"scale": 10}))
    assert out["success"] is True
    assert out["result"] == 50
    assert cloudpickle.loads(base64.b64decode(out["result_pickle"])) == 50


def test_example_from_the_docs() -> None:
    assert handler(job(function_code=DOUBLE, function_name="f", args=[21]))["result"] == 42


def test_args_pickle_carries_values_json_cannot() -> None:
    args = ({3, 1, 2}, lambda v: v + 1)
    payload = base64.b64encode(cloudpickle.dumps((args, {"extra": b"\x00"}))).decode()
    code = "def g(items, fn, extra):\n    return frozenset(fn(i) for i in items), extra\n"
    out = handler(job(function_code=code, function_name="g", args_pickle=payload))
    assert out["success"] is True, out
    # Not JSON-serialisable: the JSON result is the repr, the pickle is exact.
    assert isinstance(out["result"], str)
    assert out["result_type"] == "builtins.tuple"
    assert cloudpickle.loads(base64.b64decode(out["result_pickle"])) == (
        frozenset({2, 3, 4}),
        b"\x00",
    )


def test_args_pickle_and_args_together_are_refused() -> None:
    payload = base64.b64encode(cloudpickle.dumps(((1,), {}))).decode()
    out = handler(job(function_code=DOUBLE, function_name="f", args=[1], args_pickle=payload))
    assert out["success"] is False
    assert "args_pickle" in out["error"]


def test_bad_args_pickle() -> None:
    out = handler(job(function_code=DOUBLE, function_name="f", args_pickle="not base64!"))
    assert out["success"] is False and "base64" in out["error"]


def test_stdout_of_the_function_is_returned_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    code = "def hello(name):\n    print('hello', name)\n    return len(name)\n"
    out = handler(job(function_code=code, function_name="hello", args=["tetra"]))
    assert out["result"] == 5
    assert out["stdout"] == "hello tetra\n"
    assert capsys.readouterr().out == ""


def test_async_function_is_awaited() -> None:
    code = "import asyncio\nasync def slow(x):\n    await asyncio.sleep(0)\n    return x + 1\n"
    assert handler(job(function_code=code, function_name="slow", args=[1]))["result"] == 2


def test_exception_in_function_returns_error_and_traceback() -> None:
    code = "def boom():\n    raise ValueError('nope')\n"
    out = handler(job(function_code=code, function_name="boom"))
    assert out["success"] is False
    assert out["error"] == "ValueError: nope"
    assert "raise ValueError('nope')" in out["traceback"]  # the user's source line


def test_sys_exit_in_function_does_not_escape() -> None:
    code = "import sys\ndef leave():\n    sys.exit(3)\n"
    out = handler(job(function_code=code, function_name="leave"))
    assert out["success"] is False and out["error"].startswith("SystemExit")


@pytest.mark.parametrize(
    ("bad_job", "message"),
    [
        ("not a dict", "JSON object"),
        ({"id": 1}, '"input"'),
        ({"input": []}, '"input"'),
        (job(function_name="f"), "function_code"),
        (job(function_code=DOUBLE), "function_name"),
        (job(function_code=DOUBLE, function_name="g"), "does not define 'g'"),
        (job(function_code="f = 3", function_name="f"), "not callable"),
        (job(function_code=DOUBLE, function_name="f", args={"x": 1}), "args"),
        (job(function_code=DOUBLE, function_name="f", kwargs=[1]), "kwargs"),
        (job(function_code="def f(:\n", function_name="f"), "SyntaxError"),
    ],
)
def test_invalid_jobs_fail_cleanly(bad_job: Any, message: str) -> None:
    out = handler(bad_job)
    assert out["success"] is False
    assert message in out["error"]
    assert isinstance(out["traceback"], str)


def test_unpicklable_result_still_succeeds() -> None:
    code = "def gen():\n    return (i for i in range(3))\n"
    out = handler(job(function_code=code, function_name="gen"))
    assert out["success"] is True
    assert "generator" in out["result"]
    assert "result_pickle" not in out and "result_pickle_error" in out


# --------------------------------------------------------------------------- command line


def test_cli_test_input(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--test-input", json.dumps(job(function_code=DOUBLE, function_name="f", args=[4]))])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["result"] == 8


def test_cli_failure_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--test-input", json.dumps(job(function_code="def f():\n  1/0", function_name="f"))])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["success"] is False and "ZeroDivisionError" in out["error"]


def test_cli_test_input_file_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--test-input-file", str(FIXTURE)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["result"] == {"n": 30, "value": 832040}


def test_cli_test_input_json_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "test_input.json").write_text(json.dumps({"input": {"ping": True}}))
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == "pong"


def test_cli_bad_json_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--test-input", "{nope"]) == 2
    assert "cannot read the test input" in capsys.readouterr().err


def test_cli_without_queue_env_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNPOD_WEBHOOK_GET_JOB", raising=False)
    monkeypatch.delenv("RUNPOD_WEBHOOK_POST_OUTPUT", raising=False)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RUNPOD_WEBHOOK_GET_JOB" in err


def run_module(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def started_module(module: str, *args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``python -m MODULE ARGS`` in the repository, left running for the test to stop
    (:func:`sigterm`); killed if the test leaves it running."""
    with subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def sigterm(proc: subprocess.Popen[str]) -> str:
    """Stops a started module as a container stop does; returns what it wrote to stderr."""
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=15)[1]


def test_python_dash_m_handler(tmp_path: Path) -> None:
    proc = run_module(
        "-m", "worker.handler", "--test-input", '{"input":{"ping":true}}', cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"success": True, "result": "pong"}
    assert "Warning" not in proc.stderr  # e.g. runpy's "found in sys.modules"


def test_test_handler_script() -> None:
    proc = subprocess.run(
        ["./test-handler.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "832040" in proc.stdout and "1 passed, 0 failed" in proc.stdout


# --------------------------------------------------------------------------- queue loop


class FakeQueue:
    """A stand-in for the job API: hands out the given jobs, then 204; records posts."""

    def __init__(self, jobs: list[dict[str, Any]], long_poll: bool = False) -> None:
        self.jobs = list(jobs)
        self.posted: dict[str, Any] = {}
        self.auth: list[str | None] = []
        self.polled = threading.Event()
        self.release = threading.Event()  # a long poll answers when this is set
        queue = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                queue.auth.append(self.headers.get("Authorization"))
                queue.polled.set()
                if long_poll:
                    queue.release.wait(60)
                if queue.jobs and self.path.startswith("/job-take/worker-7"):
                    body = json.dumps(queue.jobs.pop(0)).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(204)
                    self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                queue.posted[self.path] = json.loads(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeQueue:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


QUEUE_JOBS = [
    {"id": "a1", "input": {"function_code": DOUBLE, "function_name": "f", "args": [5]}},
    {
        "id": "b2",
        "input": {"function_code": "def f():\n  raise KeyError('k')", "function_name": "f"},
    },
]


def test_run_queue_takes_jobs_and_posts_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_POD_ID", "worker-7")
    with FakeQueue(QUEUE_JOBS) as queue:
        done = run_queue(
            f"{queue.url}/job-take/$RUNPOD_POD_ID",
            f"{queue.url}/job-done/$RUNPOD_POD_ID/$ID",
            api_key="secret",
            poll_interval=0.01,
            max_jobs=2,
        )
    assert done == 2
    ok = queue.posted["/job-done/worker-7/a1"]
    assert ok["output"]["success"] is True and ok["output"]["result"] == 10
    failed = queue.posted["/job-done/worker-7/b2"]
    assert failed["error"] == "KeyError: 'k'" and failed["output"]["success"] is False
    assert set(queue.auth) == {"secret"}


def test_run_queue_stops_on_event_while_idle() -> None:
    stop = threading.Event()
    with FakeQueue([]) as queue:
        timer = threading.Timer(0.3, stop.set)
        timer.start()
        started = time.monotonic()
        assert run_queue(f"{queue.url}/x", f"{queue.url}/y/$ID", poll_interval=0.05, stop=stop) == 0
        timer.join()
    assert time.monotonic() - started < 5


def test_run_queue_survives_an_unreachable_endpoint() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    assert run_queue(f"{dead}/x", f"{dead}/y", poll_interval=0.05, stop=stop) == 0
    timer.join()


def test_python_dash_m_handler_queue_mode() -> None:
    with FakeQueue(QUEUE_JOBS[:1]) as queue:
        proc = run_module(
            "-m",
            "worker.handler",
            "--max-jobs",
            "1",
            "--poll-interval",
            "0.05",
            env={
                "RUNPOD_WEBHOOK_GET_JOB": f"{queue.url}/job-take/$RUNPOD_POD_ID",
                "RUNPOD_WEBHOOK_POST_OUTPUT": f"{queue.url}/done/$ID",
                "RUNPOD_POD_ID": "worker-7",
            },
        )
    assert proc.returncode == 0, proc.stderr
    assert queue.posted["/done/a1"]["output"]["result"] == 10


def test_sigterm_interrupts_a_long_poll() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RUNPOD_WEBHOOK_GET_JOB": "",
        "RUNPOD_WEBHOOK_POST_OUTPUT": "",
    }
    with FakeQueue([], long_poll=True) as queue:
        env["RUNPOD_WEBHOOK_GET_JOB"] = f"{queue.url}/job-take/$RUNPOD_POD_ID"
        env["RUNPOD_WEBHOOK_POST_OUTPUT"] = f"{queue.url}/done/$ID"
        with started_module("worker.handler", env=env) as proc:
            assert queue.polled.wait(30), "the worker never polled"
            started = time.monotonic()
            err = sigterm(proc)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 5  # not the 90 s poll timeout
    assert "stopping after 0 job(s)" in err


# --------------------------------------------------------------------------- load balancer


@pytest.fixture
def lb_url() -> Iterator[str]:
    server = lb.make_server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_lb_ping(lb_url: str) -> None:
    assert http("GET", f"{lb_url}/ping") == (200, {"status": "healthy"})


def test_lb_execute(lb_url: str) -> None:
    body = json.dumps({"function_code": DOUBLE, "function_name": "f", "args": [21]}).encode()
    status, out = http("POST", f"{lb_url}/execute", body)
    assert status == 200 and out["success"] is True and out["result"] == 42


def test_lb_execute_accepts_a_whole_job(lb_url: str) -> None:
    status, out = http("POST", f"{lb_url}/execute", json.dumps({"input": {"ping": True}}).encode())
    assert (status, out) == (200, {"success": True, "result": "pong"})


def test_lb_execute_failure_is_500(lb_url: str) -> None:
    body = json.dumps({"function_code": "def f():\n  return 1/0", "function_name": "f"}).encode()
    status, out = http("POST", f"{lb_url}/execute", body)
    assert status == 500 and out["success"] is False and "ZeroDivisionError" in out["error"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
def test_lb_execute_bad_body_is_400(lb_url: str, body: bytes) -> None:
    status, out = http("POST", f"{lb_url}/execute", body)
    assert status == 400 and out["success"] is False


def test_lb_unknown_path_is_404_and_wrong_method_405(lb_url: str) -> None:
    assert http("GET", f"{lb_url}/nope")[0] == 404
    assert http("POST", f"{lb_url}/ping", b"{}")[0] == 405
    assert http("GET", f"{lb_url}/execute")[0] == 405


def test_lb_concurrent_requests(lb_url: str) -> None:
    results: list[tuple[int, Any]] = []
    body = json.dumps({"function_code": DOUBLE, "function_name": "f", "args": [1]}).encode()
    threads = [
        threading.Thread(target=lambda: results.append(http("POST", f"{lb_url}/execute", body)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r[0] for r in results] == [200] * 8


def test_python_dash_m_lb_serves_and_stops_on_sigterm() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PORT": str(port)}
    with started_module("worker.lb", "--host", "127.0.0.1", env=env) as proc:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert http("GET", f"http://127.0.0.1:{port}/ping")[0] == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "worker.lb did not come up"
                time.sleep(0.1)
        err = sigterm(proc)
    assert proc.returncode == 0, err
    assert "stopped" in err
