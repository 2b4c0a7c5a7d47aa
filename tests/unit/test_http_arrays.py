"""The `http` check's array helpers against a real HTTP server on loopback: `contains_json`,
`not_contains_json` and `items_at`, with placeholders and filters filled in first."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graders.checks import CheckContext, registry

ANSWERS = {
    "/items": [{"id": 1, "name": "cedar box", "tags": ["a"]}, {"id": 2, "name": "onyx cup"}],
    "/wrapped": {"items": [{"id": 3, "name": "CEDAR BOX"}], "total": 1},
    "/object": {"id": 1},
}


class LoopbackBackend:
    def __init__(self, port: int):
        self.port = port

    def address(self, service: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", self.port


@pytest.fixture(scope="module")
def port():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            body = json.dumps(ANSWERS[self.path.split("?")[0]]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def check(port):
    def run(path: str, expect: dict, variables: dict | None = None):
        ctx = CheckContext(backend=LoopbackBackend(port), submission=None, roles={"web": "web"},
                           role_ports={"web": 8000}, variables=dict(variables or {}), timeout_s=10)
        return asyncio.run(registry()["http"].run(ctx, {"path": path, "expect": expect}))

    return run


def test_contains_json_finds_an_element_by_subset(check):
    assert check("/items", {"contains_json": {"id": "{item_id}", "name": "{name}"}},
                 {"item_id": 1, "name": "cedar box"}).passed


def test_contains_json_names_the_closest_element_when_none_matches(check):
    outcome = check("/items", {"contains_json": {"id": 2, "name": "cedar box"}})
    assert not outcome.passed
    assert "no element of the 2 in the array matches" in outcome.message
    assert "closest: id: expected 2, got 1" in outcome.message


def test_not_contains_json_fails_while_the_element_is_still_there(check):
    assert check("/items", {"not_contains_json": {"id": 9}}).passed
    outcome = check("/items", {"not_contains_json": {"id": 2}})
    assert not outcome.passed and "still holds" in outcome.message and "onyx cup" in outcome.message


def test_items_at_reaches_an_array_inside_an_object_and_filters_apply(check):
    assert check("/wrapped", {"items_at": "items", "contains_json": {"name": "{name|upper}"}},
                 {"name": "cedar box"}).passed


def test_an_object_where_an_array_is_expected_fails_clearly(check):
    outcome = check("/object", {"contains_json": {"id": 1}})
    assert not outcome.passed and "the JSON answer is not an array" in outcome.message
