"""A Redis hash (HSET key field value): the key, one field's value (text or JSON), its fields."""

from __future__ import annotations

from typing import Any

from graders.checks._expect import short
from graders.checks._redis.keyspace import type_of, wrong_type
from graders.checks._redis.values import judge_text
from graders.checks._resp import CappedRedis
from graders.i18n import _
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
        if body.get("exists") is False:
            return Outcome.ok(_("Redis has no hash {key}, as expected", key=repr(key)))
        return Outcome.fail(_("Redis has no hash {key}", key=repr(key)))
    if body.get("exists") is False:
        return Outcome.fail(_("Redis hash {key} exists but should not", key=repr(key)))
    names = {n.decode("utf-8", "replace") for n in await client.hkeys(key)}
    if missing := [f for f in body.get("fields", []) if str(f) not in names]:
        return Outcome.fail(_("Redis hash {key} has no field {map}; its fields: {sample}", key=repr(key),
                              map=', '.join(map(repr, missing)), sample=_sample(names)))
    if len(names) < body.get("min_length", 0):
        return Outcome.fail(_("Redis hash {key} has {names} fields, expected at least {min_length}", key=repr(key),
                              names=len(names), min_length=body['min_length']))
    return Outcome.ok(_("Redis hash {key} has {names} fields: {sample}", key=repr(key), names=len(names),
                        sample=_sample(names)))


async def _judge_field(client: CappedRedis, key: str, field: str, found: str, body: dict[str, Any]) -> Outcome:
    what = _("field {field} of Redis hash {key}", field=repr(field), key=repr(key))
    raw = await client.hget(key, field) if found == "hash" else None
    if raw is None:
        if body.get("exists") is False:
            return Outcome.ok(_("Redis hash {key} has no field {field}, as expected", key=repr(key), field=repr(field)))
        if found == "none":
            return Outcome.fail(_("Redis has no hash {key} (so no field {field})", key=repr(key), field=repr(field)))
        names = {n.decode("utf-8", "replace") for n in await client.hkeys(key)}
        return Outcome.fail(_("Redis hash {key} has no field {field}; its fields: {sample}", key=repr(key),
                              field=repr(field), sample=_sample(names)))
    if body.get("exists") is False:
        return Outcome.fail(_("{what} exists but should not: {decode}", what=what,
                              decode=short(raw.decode('utf-8', 'replace'), 120)))
    return judge_text(what, raw, body)


def _sample(names: set[str]) -> str:
    shown = sorted(names)[:10]
    return (", ".join(map(repr, shown)) + (" ..." if len(names) > 10 else "")) if names else "(none)"
