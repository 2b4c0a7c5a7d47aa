"""A Redis hash (HSET key field value): the key, one field's value (text or JSON), its fields."""

from __future__ import annotations

from typing import Any

from graders.checks._expect import short
from graders.checks._redis.keyspace import type_of, wrong_type
from graders.checks._redis.values import judge_text
from graders.checks._resp import CappedRedis
from graders.results import Outcome

OPTIONS = {
    "hash": {"type": "string", "description": "a hash key (HSET): with `field`, that field's value is judged"},
    "field": {"type": "string", "description": "with `hash`: the field; `value` / `json` / `json_keys` judge its "
                                               "value, `exists: false` says it is absent"},
    "fields": {"type": "array", "items": {"type": "string"},
               "description": "with `hash`: fields that must all be present"},
}


async def judge_hash(client: CappedRedis, body: dict[str, Any]) -> Outcome:
    key, field = body["hash"], body.get("field")
    found = await type_of(client, key)
    if found not in ("hash", "none"):
        return wrong_type(key, found, "hash")
    if field is not None:
        return await _judge_field(client, key, str(field), found, body)
    if found == "none":
        return Outcome.ok(f"Redis has no hash {key!r}, as expected") if body.get("exists") is False else \
            Outcome.fail(f"Redis has no hash {key!r}")
    if body.get("exists") is False:
        return Outcome.fail(f"Redis hash {key!r} exists but should not")
    names = {n.decode("utf-8", "replace") for n in await client.hkeys(key)}
    if missing := [f for f in body.get("fields", []) if str(f) not in names]:
        return Outcome.fail(f"Redis hash {key!r} has no field {', '.join(map(repr, missing))}; its fields: "
                            f"{_sample(names)}")
    if len(names) < body.get("min_length", 0):
        return Outcome.fail(f"Redis hash {key!r} has {len(names)} fields, expected at least {body['min_length']}")
    return Outcome.ok(f"Redis hash {key!r} has {len(names)} fields: {_sample(names)}")


async def _judge_field(client: CappedRedis, key: str, field: str, found: str, body: dict[str, Any]) -> Outcome:
    what = f"field {field!r} of Redis hash {key!r}"
    raw = await client.hget(key, field) if found == "hash" else None
    if raw is None:
        if body.get("exists") is False:
            return Outcome.ok(f"Redis hash {key!r} has no field {field!r}, as expected")
        if found == "none":
            return Outcome.fail(f"Redis has no hash {key!r} (so no field {field!r})")
        names = {n.decode("utf-8", "replace") for n in await client.hkeys(key)}
        return Outcome.fail(f"Redis hash {key!r} has no field {field!r}; its fields: {_sample(names)}")
    if body.get("exists") is False:
        return Outcome.fail(f"{what} exists but should not: {short(raw.decode('utf-8', 'replace'), 120)}")
    return judge_text(what, raw, body)


def _sample(names: set[str]) -> str:
    shown = sorted(names)[:10]
    return (", ".join(map(repr, shown)) + (" ..." if len(names) > 10 else "")) if names else "(none)"
