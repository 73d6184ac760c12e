"""A loopback port that nobody listens on, for a server a test starts there or for a
connection that must be refused: bound once to learn a free number, then closed."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
