"""A TCP proxy in front of a registry that can stall, or fail, one kind of request.

Every connection is relayed byte for byte, except that the first request line of a new
connection is read first: when it matches the pattern of :meth:`StallProxy.stall_requests`
(a regular expression such as ``^PUT /v2/runpod/tetra-rp-cpu/manifests/latest ``), the
request waits until :meth:`StallProxy.release` (``stalled`` is set meanwhile); when it
matches that of :meth:`StallProxy.fail_requests`, it is answered with HTTP 500.
buildlib's registry client opens one connection per request, so its manifest PUTs are
always first on theirs; a stalled request whose client went away is dropped, never
forwarded. The ``Host`` header is left alone, so the registry's upload URLs name the proxy
and docker keeps using it.
"""

from __future__ import annotations

import re
import socket
import threading
from types import TracebackType


class StallProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.stall: re.Pattern[bytes] | None = None
        self.fail: re.Pattern[bytes] | None = None
        self.stalled = threading.Event()
        self._released = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stall_requests(self, pattern: str) -> None:
        self.stall = re.compile(pattern.encode())
        self.stalled.clear()
        self._released.clear()

    def fail_requests(self, pattern: str) -> None:
        self.fail = re.compile(pattern.encode())

    def release(self) -> None:
        self.stall = None
        self._released.set()

    def __enter__(self) -> StallProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        self._released.set()
        self._server.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            first = b""
            while b"\r\n" not in first and len(first) < 65536:
                chunk = client.recv(65536)
                if not chunk:
                    return
                first += chunk
            line = first.split(b"\r\n", 1)[0]
            if self.fail is not None and self.fail.search(line):
                client.sendall(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
                return
            stall = self.stall
            if stall is not None and stall.search(line):
                self.stalled.set()
                self._released.wait()
                first, gone = _drain(client, first)
                if gone:
                    return  # the client gave up: the request must never land
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                return
            with upstream:
                upstream.sendall(first)
                back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                back.start()
                _pipe(client, upstream)
                back.join()


def _drain(client: socket.socket, data: bytes) -> tuple[bytes, bool]:
    """``data`` and whatever else the client has sent, and whether it has hung up."""
    client.setblocking(False)
    try:
        while True:
            try:
                chunk = client.recv(65536)
            except BlockingIOError:
                return data, False
            except OSError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
    finally:
        client.setblocking(True)


def _pipe(source: socket.socket, destination: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            destination.sendall(data)
    except OSError:
        pass
    finally:
        try:
            destination.shutdown(socket.SHUT_WR)
        except OSError:
            pass
