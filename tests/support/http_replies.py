"""A loopback HTTP server whose answers a test decides: the transport the registry-client
tests share. What is answered is the test's business (``answer(seen)``); this module only
records the request and writes the reply, or a fault, back on a real socket."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLOSE = "close"  # a fault: close the connection without answering
RESET = "reset"  # a fault: drop the connection with a TCP RST
SLOW = "slow"  # a fault: answer 200 only after a second


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Seen:
    method: str
    target: str  # the request target as sent: path and query
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def json_reply(status: int, data: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()
    )


class ReplyServer:
    """Serves on 127.0.0.1 (TLS when given a context) until ``close()``; each request is
    handed to ``answer``, which returns a Reply or one of the faults above."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start_serving(self) -> None:
        self._thread.start()

    def answer(self, seen: Seen) -> Reply | str:
        raise NotImplementedError

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler_for(server: ReplyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        do_HEAD = do_PUT = do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def _serve(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            query = urllib.parse.parse_qs(url.query)
            reply = server.answer(Seen(self.command, self.path, url.path, query, headers, body))
            if reply == CLOSE:
                self.close_connection = True
                return
            if reply == RESET:
                # Linger 0 turns close() into a TCP RST: the client sees "connection reset".
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.rfile.close()
                self.connection.close()
                return
            if reply == SLOW:
                time.sleep(1.0)
                reply = json_reply(200, {})
            assert isinstance(reply, Reply)
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

    return Handler
