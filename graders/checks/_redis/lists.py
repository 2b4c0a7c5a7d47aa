"""A Redis list by position (LINDEX): the element at `index` (0 first, -1 last), or the list's existence."""

from __future__ import annotations

from typing import Any

from graders.checks._redis.keyspace import type_of, wrong_type
from graders.checks._redis.values import judge_text
from graders.checks._resp import CappedRedis
from graders.i18n import _
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
        return Outcome.ok(_("Redis has no list {key}, as expected", key=repr(key))) if found == "none" else \
            Outcome.fail(_("Redis list {key} exists but should not", key=repr(key)))
    if found == "none":
        return Outcome.fail(_("Redis has no list {key}", key=repr(key)))
    length = await client.llen(key)
    if length < body.get("min_length", 0):
        return Outcome.fail(_("Redis list {key} has {length} elements, expected at least {min_length}",
                              key=repr(key), length=length, min_length=body['min_length']))
    if "index" not in body:
        return Outcome.ok(_("Redis list {key} has {length} elements", key=repr(key), length=length))
    index = body["index"]
    raw = await client.lindex(key, index)
    if raw is None:
        return Outcome.fail(_("Redis list {key} has no element at index {index} (it has {length})", key=repr(key),
                              index=index, length=length))
    return judge_text(_("element {index} of Redis list {key}", index=index, key=repr(key)), raw, body)
