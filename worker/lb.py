"""Load-balancer worker: the Tetra handler behind a small HTTP server.

``python -m worker.lb`` listens on ``0.0.0.0:${PORT:-80}``:

* ``GET /ping`` -> 200 ``{"status": "healthy"}``
* ``POST /execute`` with a job input as the JSON body (``{"function_code": ..., ...}``,
  or a whole job ``{"input": {...}}``) -> the handler's result: 200 on success, 500 when
  the job failed, 400 when the body is not a JSON object, 413 when it is too large.
* anything else -> 404 (405 for a known path with the wrong method).

SIGTERM and SIGINT shut the server down cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from worker.handler import handler

log = logging.getLogger("worker.lb")

MAX_BODY = 64 * 1024 * 1024
ROUTES = {"/ping": "GET", "/execute": "POST"}


class RequestHandler(BaseHTTPRequestHandler):
    server_version = "tetra-lb/1"
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection is dropped after this

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path
        allowed = ROUTES.get(path)
        if allowed is None:
            self._send_json(404, {"error": f"no such path: {path}"})
        elif method != allowed and not (method == "HEAD" and allowed == "GET"):
            self._send_json(405, {"error": f"{path} takes {allowed}"}, {"Allow": allowed})
        elif path == "/ping":
            self._send_json(200, {"status": "healthy"})
        else:
            self._execute()

    def _execute(self) -> None:
        length_header = self.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send_json(400, {"success": False, "error": "a Content-Length is required"})
            return
        if length > MAX_BODY:
            self.close_connection = True
            self._send_json(413, {"success": False, "error": f"body larger than {MAX_BODY} bytes"})
            return
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            self._send_json(400, {"success": False, "error": f"body is not valid JSON: {exc}"})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"success": False, "error": "body must be a JSON object"})
            return
        job = body if isinstance(body.get("input"), dict) else {"input": body}
        result = handler(job)
        self._send_json(200 if result.get("success") else 500, result)

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def make_server(host: str = "0.0.0.0", port: int = 80) -> ThreadingHTTPServer:
    """A bound server (port 0 picks a free one: see ``server.server_address``)."""
    server = ThreadingHTTPServer((host, port), RequestHandler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.lb", description="Tetra load-balancer worker (HTTP)."
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 80))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        server = make_server(args.host, args.port)
    except OSError as exc:
        print(f"worker.lb: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %d received: shutting down", signum)
        # shutdown() waits for serve_forever() to return, which runs in this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    host, port = server.server_address[:2]
    log.info("listening on %s:%s", host, port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
