"""Redis sets (SADD) and sorted sets (ZADD): members present or absent, scores, size."""

from __future__ import annotations

import json
from typing import Any

from graders.checks._expect import short
from graders.checks._redis.keyspace import TYPE_WORDS, type_of, wrong_type
from graders.checks._resp import CappedRedis
from graders.i18n import _
from graders.results import Outcome

OPTIONS = {
    "set": {"type": "string", "description": "a set key (SADD)"},
    "zset": {"type": "string", "description": "a sorted set key (ZADD)"},
    "members": {"type": "array", "description": "with `set` / `zset`: values that must all be members"},
    "not_members": {"type": "array", "description": "with `set` / `zset`: values that must not be members"},
    "scores": {"type": "object", "additionalProperties": {"type": "number"},
               "description": "with `zset`: member -> its exact score (`ZINCRBY` counts, timestamps)"},
    "min_length": {"type": "integer", "minimum": 0,
                   "description": "at least this many elements (list), fields (hash) or members (set, zset)"},
}
SAMPLE = 10


def member_text(value: Any) -> str:
    """How a spec's value is stored as a member: text as is, anything else as JSON (`7`, `true`)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


async def judge_members(client: CappedRedis, body: dict[str, Any], kind: str) -> Outcome:
    key = body[kind]
    found = await type_of(client, key)
    if found not in (kind, "none"):
        return wrong_type(key, found, kind)
    noun = TYPE_WORDS[kind].split(" (")[0]
    if found == "none":
        # Redis deletes a set when its last member goes: then `not_members` alone holds.
        absent_ok = body.get("exists") is False or not set(body) & {"members", "scores", "min_length", "exists"}
        return Outcome.ok(_("Redis has no {noun} {key}, as expected", noun=noun, key=repr(key))) if absent_ok else \
            Outcome.fail(_("Redis has no {noun} {key}", noun=noun, key=repr(key)))
    if body.get("exists") is False:
        return Outcome.fail(_("Redis {noun} {key} exists but should not", noun=noun, key=repr(key)))
    size = await (client.scard(key) if kind == "set" else client.zcard(key))
    wanted = [member_text(m) for m in [*body.get("members", []), *body.get("scores", {})]]
    if missing := [m for m in wanted if not await _has(client, key, kind, m)]:
        return Outcome.fail(_("Redis {noun} {key} lacks {map}; it holds {value}", noun=noun, key=repr(key),
                              map=', '.join(map(repr, missing)), value=await _sample(client, key, kind, size)))
    unwanted = [member_text(m) for m in body.get("not_members", [])]
    if extra := [m for m in unwanted if await _has(client, key, kind, m)]:
        return Outcome.fail(_("Redis {noun} {key} still holds {map}", noun=noun, key=repr(key),
                              map=', '.join(map(repr, extra))))
    for member, score in (body.get("scores") or {}).items():
        got = await client.zscore(key, member_text(member))
        if abs(got - float(score)) > 1e-9:
            return Outcome.fail(_("{member_text} in Redis {noun} {key} has score {got}, expected {score}",
                                  member_text=repr(member_text(member)), noun=noun, key=repr(key),
                                  got=format(got, "g"), score=format(float(score), "g")))
    if size < body.get("min_length", 0):
        return Outcome.fail(_("Redis {noun} {key} has {size} members, expected at least {min_length}", noun=noun,
                              key=repr(key), size=size, min_length=body['min_length']))
    return Outcome.ok(_("Redis {noun} {key} ({size} members) holds {value}", noun=noun, key=repr(key), size=size,
                        value=await _sample(client, key, kind, size)))


async def _has(client: CappedRedis, key: str, kind: str, member: str) -> bool:
    return bool(await client.sismember(key, member)) if kind == "set" else await client.zscore(key, member) is not None


async def _sample(client: CappedRedis, key: str, kind: str, size: int) -> str:
    if kind == "set":
        _unused, raw = await client.sscan(key, 0, count=SAMPLE * 2)
        shown = sorted(m.decode("utf-8", "replace") for m in raw)[:SAMPLE]
    else:
        shown = [f"{m.decode('utf-8', 'replace')}={s:g}" for m, s in await client.zrange(key, 0, SAMPLE - 1,
                                                                                        withscores=True)]
    text = ", ".join(shown) + (" ..." if size > len(shown) else "")
    return short(text, 300) if shown else "nothing"
