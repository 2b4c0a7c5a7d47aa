"""Is a service up: a connection to its port, and with `http` any HTTP status line (a 404 at /
is the app's business). Both backends wait on these before grading starts."""

from __future__ import annotations

import socket


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
