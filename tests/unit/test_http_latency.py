"""The `http` check's time bound, against a real HTTP server on loopback: a slow first answer
gets one more try (a cold start), an endpoint slow every time fails with both times."""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graders.checks import CheckContext, registry


class LoopbackBackend:
    """Only what the http check asks of a backend: where a role's port is reachable."""

    def __init__(self, port: int):
        self.port = port

    def address(self, service: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", self.port


def serve(delays: list[float]):
    """A server that waits delays[n] before its n-th answer (the last delay after that)."""
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            calls.append(time.monotonic())
            time.sleep(delays[min(len(calls) - 1, len(delays) - 1)])
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, calls


@pytest.fixture
def run_http():
    servers = []

    def run(delays: list[float], bound: float):
        server, calls = serve(delays)
        servers.append(server)
        ctx = CheckContext(backend=LoopbackBackend(server.server_address[1]), submission=None, roles={"web": "web"},
                           role_ports={"web": 8000}, variables={}, timeout_s=20)
        body = {"path": "/", "expect": {"status": 200, "json": {"ok": True}, "max_latency_s": bound}}
        return asyncio.run(registry()["http"].run(ctx, body)), calls

    yield run
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_slow_first_answer_gets_one_more_try_and_the_second_counts(run_http):
    outcome, calls = run_http([0.6, 0.0], bound=0.3)
    assert outcome.passed and len(calls) == 2
    assert "(a first try took 0.6" in outcome.message


def test_an_endpoint_slow_every_time_fails_naming_both_times(run_http):
    outcome, calls = run_http([0.6], bound=0.3)
    assert not outcome.passed and len(calls) == 2
    assert "expected under 0.3 s" in outcome.message and "(a first try took 0.6" in outcome.message


def test_a_fast_answer_is_asked_once(run_http):
    outcome, calls = run_http([0.0], bound=0.3)
    assert outcome.passed and len(calls) == 1 and "first try" not in outcome.message
