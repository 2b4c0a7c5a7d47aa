"""Is a service up: a connection to its port, and with `http` any HTTP status line (a 404 at /
is the app's business). Both backends wait on these before grading starts."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def http_answers(sock: socket.socket) -> bool:
    """Any HTTP status line means the server is up (a 404 at / is the app's business)."""
    try:
        sock.settimeout(2)
        sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        return sock.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


def port_answers(host: str, port: int, http: bool) -> bool:
    """The port accepts a connection that stays open (with `http`: and answers with a status
    line). Docker's port proxy accepts at once and hangs up when nothing listens inside yet:
    an immediate end of stream is not an answer."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            if http:
                return http_answers(sock)
            sock.settimeout(0.3)
            try:
                return sock.recv(1) != b""
            except TimeoutError:
                return True  # open and waiting for the client to speak first (Redis does)
    except OSError:
        return False


def wait_answering(service: str, port: int, http: bool, addresses: Callable[[], list[tuple[str, int]]],
                   timeout_s: float) -> str:
    """Until every address `addresses()` gives (one per replica, read afresh each time) answers:
    "" when they do, else why not. After a start, restart or scale, before the next step."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = addresses()
        if found and all(port_answers(host, host_port, http) for host, host_port in found):
            return ""
        if time.monotonic() > deadline:
            why = "it did not answer" if found else "no running replica publishes it"
            return f"port {port} of service '{service}' is not ready after {timeout_s:.0f} s: {why}"
        time.sleep(0.3)
