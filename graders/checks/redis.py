"""`redis`: what the stack's own Redis holds, read directly (not through the student's API).

Name one target: `key` (any type: `exists`, `ttl`; a string key's `value`, `json`, `json_keys`),
`hash` (a `field`'s value, or its `fields`), `list` (`contains_json` anywhere, or the element at
`index`), `set` / `zset` (`members`, `not_members`, `scores`), or `pattern` (the keys SCAN finds:
`count`). `ttl` bounds any single key, or every key of a pattern. An option that does not go
with the target is a spec error. Members and values are compared as text; a non-text value
from the spec is written as JSON (`7`, `true`). The string-key and list-element judging is
here; the other types' in graders/checks/_redis/, one module each."""

from __future__ import annotations

import json
from typing import Any

import redis.exceptions

from graders.checks import CheckContext, CheckFailed, _redis, check_type
from graders.checks._expect import MISSING, mismatches, missing_keys, parse_json, short
from graders.checks._resp import CappedRedis
from graders.i18n import _
from graders.results import Outcome

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "role": {"type": "string", "description": "the Redis role (default: redis)"},
        "db": {"type": "integer", "minimum": 0, "description": "the database number (default: 0)"},
        "any_db": {"type": "boolean",
                   "description": "look for `key` in every database of the server, not only `db` (a result "
                                  "backend on redis://…/1 is as good as one on /0)"},
        "key": {"type": "string", "description": "a key of any type: `exists`, `ttl`; with `value` / `json` / "
                                                 "`json_keys`, a string key (SET) and its value"},
        "list": {"type": "string", "description": "a list (RPUSH): its elements (`contains_json`, `min_length`) "
                                                  "or one by position (`index`)"},
        "exists": {"type": "boolean", "description": "the key (with `hash` + `field`: the field) exists; "
                                                     "`false`: it must be absent"},
        "value": {"type": "string", "description": "the exact text of the string key, hash field or list element"},
        "json": {"description": "the string key's (hash field's, list element's) value is JSON containing this "
                                "(objects as subsets)"},
        "json_keys": {"type": "array", "items": {"type": "string"},
                      "description": "dotted paths that must be present in the JSON value"},
        "contains_json": {"description": "some element of `list` must contain this JSON"},
        **_redis.OPTIONS,
    },
    "oneOf": [{"required": [target]} for target in _redis.TARGETS],
}

EXAMPLE = """\
- id: item_in_hash
  points: 3
  needs: [create]
  redis: {hash: items, field: "{item_id}", json: {name: "{name}"}}
- id: cache_expires
  points: 2
  redis: {key: "cache:items", ttl: {min: 1, max: 60}}
- id: tag_indexed
  points: 2
  redis: {set: "tag:{tag}", members: ["{item_id}"]}
- id: task_waits
  points: 2
  redis: {list: task_queue, contains_json: {id: "{task_id}", status: pending}}
"""


def connect(ctx: CheckContext, body: dict[str, Any]) -> CappedRedis:
    role = body.get("role", "redis")
    host, port = ctx.backend.address(ctx.service(role), ctx.role_ports.get(role, 6379))
    return CappedRedis(host=host, port=port, db=body.get("db", 0), socket_timeout=10, socket_connect_timeout=5)


async def read_key(client: CappedRedis, key: str) -> bytes | None:
    kind = (await client.type(key)).decode()
    if kind not in ("string", "none"):
        raise CheckFailed(_("Redis key {key} is a {kind}, expected a string (JSON text)", key=repr(key), kind=kind))
    return await client.get(key)


async def find_in_any_db(ctx: CheckContext, body: dict[str, Any]) -> tuple[bytes | None, int]:
    """The key in the first other database that holds it (Redis has 16 unless configured)."""
    client = connect(ctx, body)
    try:
        reply = await client.execute_command("CONFIG", "GET", "databases")
        count = int(reply[1]) if isinstance(reply, list) and len(reply) == 2 else 16
    except (redis.exceptions.RedisError, ValueError):
        count = 16
    finally:
        await client.aclose()
    for db in range(min(count, 64)):
        if db == body.get("db", 0):
            continue
        other = connect(ctx, {**body, "db": db})
        try:
            if (raw := await read_key(other, body["key"])) is not None:
                return raw, db
        finally:
            await other.aclose()
    return None, 0


def judge_key(key: str, raw: bytes | None, body: dict[str, Any]) -> Outcome:
    if raw is None:
        if body.get("exists") is False:
            return Outcome.ok(_("Redis has no key {key}, as expected", key=repr(key)))
        return Outcome.fail(_("Redis has no key {key}", key=repr(key)))
    if body.get("exists") is False:
        return Outcome.fail(_("Redis key {key} exists but should not", key=repr(key)))
    text = raw.decode("utf-8", errors="replace")
    if "value" in body and text != body["value"]:
        return Outcome.fail(_("Redis key {key} is {text}, expected {value}", key=repr(key), text=short(text),
                              value=short(body['value'])))
    if "json" in body or "json_keys" in body:
        data = parse_json(raw)
        if data is MISSING:
            return Outcome.fail(_("Redis key {key} is not JSON: {text}", key=repr(key), text=short(text)))
        problems = mismatches(body.get("json", {}), data) + [
            _("{k}: missing", k=k) for k in missing_keys(body.get("json_keys", []), data)]
        if problems:
            return Outcome.fail(_("Redis key {key}: {problems}", key=repr(key), problems='; '.join(problems)),
                                f"value: {short(text, 1000)}")
    return Outcome.ok(_("Redis key {key} holds {text}", key=repr(key), text=short(text, 120)))


def judge_list(name: str, items: list[bytes], body: dict[str, Any]) -> Outcome:
    if len(items) < body.get("min_length", 0):
        return Outcome.fail(_("Redis list {name} has {items} elements, expected at least {min_length}",
                              name=repr(name), items=len(items), min_length=body['min_length']))
    if "contains_json" not in body:
        return Outcome.ok(_("Redis list {name} has {items} elements", name=repr(name), items=len(items)))
    if not items:
        return Outcome.fail(_("Redis list {name} is empty or missing; expected an element like {contains_json}",
                              name=repr(name), contains_json=short(body['contains_json'])))
    best: list[str] | None = None
    for raw in items:
        data = parse_json(raw)
        problems = ["not JSON: " + short(raw.decode("utf-8", "replace"))] if data is MISSING else \
            mismatches(body["contains_json"], data)
        if not problems:
            return Outcome.ok(_("Redis list {name} holds {data}", name=repr(name), data=short(data, 120)))
        if best is None or len(problems) < len(best):
            best = problems
    return Outcome.fail(_("no element of Redis list {name} matches; closest: {value}", name=repr(name),
                          value='; '.join(best or [])),
                        "elements: " + short(json.dumps([i.decode("utf-8", "replace") for i in items[:5]]), 1000))


@check_type("redis", schema=SCHEMA, example=EXAMPLE, validate=_redis.problems)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    body = ctx.render(body)
    client = connect(ctx, body)
    try:
        outcome = await _redis.judge(client, body)  # None: a string key's value or a list's elements
        if outcome is None and "key" in body:
            raw = await read_key(client, body["key"])
            if raw is None and body.get("any_db"):
                raw, where = await find_in_any_db(ctx, body)
                if raw is not None:
                    found = judge_key(body["key"], raw, body)
                    return Outcome(found.passed, _("{message} (in database {where})", message=found.message,
                                                   where=where), found.details)
            outcome = judge_key(body["key"], raw, body)
        elif outcome is None:
            kind = (await client.type(body["list"])).decode()
            if kind not in ("list", "none"):
                return Outcome.fail(_("Redis key {list} is a {kind}, expected a list (RPUSH)",
                                      list=repr(body['list']), kind=kind))
            outcome = judge_list(body["list"], await client.lrange(body["list"], 0, 199), body)
        return await _redis.judge_ttl(client, body, outcome)
    except redis.exceptions.RedisError as exc:
        raise CheckFailed(_("could not talk to the stack's Redis: {exc}", exc=exc)) from None
    finally:
        await client.aclose()
