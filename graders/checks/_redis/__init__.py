"""The `redis` check beyond a string key's value and a list's elements (graders/checks/redis.py):
one module per Redis data type, and what every type shares (existence, TTL, key patterns).

`judge(client, body)` answers for the bodies these modules own and None for the rest, which
redis.py judges as before; `judge_ttl` then adds the TTL bound to any single key.
"""

from __future__ import annotations

from typing import Any

from graders.checks._redis import hashes, keyspace, lists, members
from graders.checks._redis.keyspace import judge_ttl
from graders.checks._resp import CappedRedis
from graders.i18n import _
from graders.results import Outcome

TARGETS = ("key", "hash", "list", "set", "zset", "pattern")
STRING_OPTIONS = ("value", "json", "json_keys")

# Which options apply to which target, beside the ones every target takes.
COMMON = {"role", "db", "exists", "ttl"}
APPLIES = {
    "key": {"value", "json", "json_keys", "any_db"},
    "hash": {"field", "fields", "min_length", *STRING_OPTIONS},
    "list": {"contains_json", "min_length", "index", *STRING_OPTIONS},
    "set": {"members", "not_members", "min_length"},
    "zset": {"members", "not_members", "scores", "min_length"},
    "pattern": {"count"},
}

OPTIONS: dict[str, Any] = {
    **keyspace.OPTIONS, **hashes.OPTIONS, **lists.OPTIONS, **members.OPTIONS,
}


def target_of(body: dict[str, Any]) -> str:
    return next(t for t in TARGETS if t in body)


def problems(body: dict[str, Any]) -> list[str]:
    """Options that do not go with the body's target (the schema only knows each option alone)."""
    target = target_of(body)
    takes = sorted(APPLIES[target] | ({"ttl"} if target == "pattern" else {"exists", "ttl"}))
    found = [_("`{o}` does not apply to `{target}` (it takes: {takes})", o=o, target=target, takes=', '.join(takes))
             for o in body if o not in TARGETS and o not in COMMON | APPLIES[target]]
    if target == "pattern" and "exists" in body:
        found.append("`exists` does not apply to `pattern`: say `count: 0` for no matching key")
    if target == "hash" and "field" not in body and any(o in body for o in STRING_OPTIONS):
        found.append("`value`, `json` and `json_keys` on a hash need `field` (the field whose value they judge)")
    if target == "list" and "index" not in body and any(o in body for o in STRING_OPTIONS):
        found.append("`value`, `json` and `json_keys` on a list need `index` (the element they judge)")
    if body.get("exists") is False and (extra := sorted(set(body) - {target, "exists", "field", "role", "db"})):
        found.append(_("`exists: false` says the {value} is absent: nothing else to judge ({extra})",
                       value='field' if 'field' in body else 'key', extra=', '.join(extra)))
    return found


async def judge(client: CappedRedis, body: dict[str, Any]) -> Outcome | None:
    target = target_of(body)
    if target == "pattern":
        return await keyspace.judge_pattern(client, body)
    if target == "hash":
        return await hashes.judge_hash(client, body)
    if target in ("set", "zset"):
        return await members.judge_members(client, body, target)
    if target == "list" and ("index" in body or "exists" in body):
        return await lists.judge_index(client, body)
    if target == "key" and not any(o in body for o in STRING_OPTIONS):
        return await keyspace.judge_exists(client, body["key"], body.get("exists", True))
    return None  # a string key's value, a list's elements: redis.py


__all__ = ["OPTIONS", "TARGETS", "judge", "judge_ttl", "problems", "target_of"]
