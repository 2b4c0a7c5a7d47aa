"""A Redis list by position (LINDEX): the element at `index` (0 first, -1 last), or the list's existence."""

from __future__ import annotations

from typing import Any

from graders.checks._redis.keyspace import type_of, wrong_type
from graders.checks._redis.values import judge_text
from graders.checks._resp import CappedRedis
from graders.results import Outcome

OPTIONS = {
    "index": {"type": "integer", "description": "with `list`: the element at this position (0 is the first, "
                                                "-1 the last) is judged by `value` / `json` / `json_keys`"},
}


async def judge_index(client: CappedRedis, body: dict[str, Any]) -> Outcome:
    key = body["list"]
    found = await type_of(client, key)
    if found not in ("list", "none"):
        return wrong_type(key, found, "list")
    if body.get("exists") is False:
        return Outcome.ok(f"Redis has no list {key!r}, as expected") if found == "none" else \
            Outcome.fail(f"Redis list {key!r} exists but should not")
    if found == "none":
        return Outcome.fail(f"Redis has no list {key!r}")
    length = await client.llen(key)
    if length < body.get("min_length", 0):
        return Outcome.fail(f"Redis list {key!r} has {length} elements, expected at least {body['min_length']}")
    if "index" not in body:
        return Outcome.ok(f"Redis list {key!r} has {length} elements")
    index = body["index"]
    raw = await client.lindex(key, index)
    if raw is None:
        return Outcome.fail(f"Redis list {key!r} has no element at index {index} (it has {length})")
    return judge_text(f"element {index} of Redis list {key!r}", raw, body)
