"""What every Redis key has whatever its type: existence, a type, a TTL; and keys by pattern (SCAN)."""

from __future__ import annotations

from typing import Any

from graders.checks._expect import short
from graders.checks._resp import CappedRedis
from graders.i18n import _
from graders.results import Outcome

RANGE = {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "properties": {"min": {"type": "number", "minimum": 0, "description": "at least this"},
                   "max": {"type": "number", "minimum": 0, "description": "at most this"}},
}
OPTIONS = {
    "pattern": {"type": "string", "description": "a glob (`cache:*`): the keys matching it, found with SCAN"},
    "count": {"oneOf": [{"type": "integer", "minimum": 0}, RANGE],
              "description": "with `pattern`: how many keys match, exactly or `{min, max}` "
                             "(default: at least one)"},
    "ttl": {**RANGE, "description": "the key (with `pattern`: every matching key) expires, in between "
                                    "`min` and `max` seconds from now (`SET ... EX`, `EXPIRE`)"},
}
SCAN_LIMIT = 10_000  # keys looked at by one pattern; a student's Redis is small, a runaway one is not ours
TTL_SAMPLE = 100  # keys of a pattern whose TTL is read

# Redis TYPE answers -> the words the spec and the student use
TYPE_WORDS = {"string": "string (SET)", "hash": "hash (HSET)", "list": "list (RPUSH)", "set": "set (SADD)",
              "zset": "sorted set (ZADD)", "stream": "stream (XADD)"}


async def type_of(client: CappedRedis, key: str) -> str:
    return (await client.type(key)).decode()


def wrong_type(key: str, found: str, wanted: str) -> Outcome:
    return Outcome.fail(_("Redis key {key} is a {get}, expected a {get2}", key=repr(key),
                          get=TYPE_WORDS.get(found, found), get2=TYPE_WORDS.get(wanted, wanted)))


async def judge_exists(client: CappedRedis, key: str, wanted: bool) -> Outcome:
    """`exists` on a key of any type."""
    found = await type_of(client, key)
    if found == "none":
        return Outcome.ok(_("Redis has no key {key}, as expected", key=repr(key))) if not wanted else \
            Outcome.fail(_("Redis has no key {key}", key=repr(key)))
    if not wanted:
        return Outcome.fail(_("Redis key {key} exists ({get}) but should not", key=repr(key),
                              get=TYPE_WORDS.get(found, found)))
    return Outcome.ok(_("Redis key {key} exists ({get})", key=repr(key), get=TYPE_WORDS.get(found, found)))


def in_range(value: float, bounds: dict[str, float]) -> bool:
    return bounds.get("min", value) <= value <= bounds.get("max", value)


def shown_range(bounds: dict[str, float], unit: str = "") -> str:
    if "min" in bounds and "max" in bounds:
        return _("between {min} and {max}{unit}", min=format(bounds['min'], "g"), max=format(bounds['max'], "g"),
                 unit=unit)
    if "min" in bounds:
        return _("at least {min}{unit}", min=format(bounds['min'], "g"), unit=unit)
    return _("at most {max}{unit}", max=format(bounds['max'], "g"), unit=unit)


async def ttl_problem(client: CappedRedis, key: str, bounds: dict[str, float]) -> str:
    """Why the key's remaining time to live misses the bounds; "" when it is within them."""
    left_ms = await client.pttl(key)
    if left_ms == -2:
        return _("Redis has no key {key}", key=repr(key))
    if left_ms == -1:
        return _("Redis key {key} never expires; expected a TTL {shown_range} (SET ... EX, EXPIRE)", key=repr(key),
                 shown_range=shown_range(bounds, ' s'))
    left = left_ms / 1000
    if not in_range(left, bounds):
        return _("Redis key {key} expires in {left} s, expected {shown_range}", key=repr(key),
                 left=format(left, ".1f"), shown_range=shown_range(bounds, ' s'))
    return ""


async def judge_ttl(client: CappedRedis, body: dict[str, Any], outcome: Outcome) -> Outcome:
    """The TTL bound, once the rest of a single key's check passed."""
    if not outcome.passed or "ttl" not in body or "pattern" in body or body.get("exists") is False:
        return outcome
    key = next(body[t] for t in ("key", "hash", "list", "set", "zset") if t in body)
    if problem := await ttl_problem(client, key, body["ttl"]):
        return Outcome.fail(problem)
    left = await client.pttl(key)
    return Outcome.ok(_("{message}; expires in {value} s", message=outcome.message,
                        value=format(max(left, 0) / 1000, ".1f")), outcome.details)


async def scan(client: CappedRedis, pattern: str) -> list[str]:
    keys: list[str] = []
    async for raw in client.scan_iter(match=pattern, count=1000):
        keys.append(raw.decode("utf-8", "replace"))
        if len(keys) >= SCAN_LIMIT:
            break
    return sorted(keys)


async def judge_pattern(client: CappedRedis, body: dict[str, Any]) -> Outcome:
    pattern = body["pattern"]
    keys = await scan(client, pattern)
    count = body.get("count", {"min": 1})
    bounds = {"min": count, "max": count} if isinstance(count, int) else count
    sample = short(", ".join(keys[:10]) + (" ..." if len(keys) > 10 else ""), 300)
    if not in_range(len(keys), bounds):
        wanted = _("exactly {count}", count=count) if isinstance(count, int) else shown_range(bounds)
        return Outcome.fail(_("{keys} Redis key(s) match {pattern}, expected {wanted}", keys=len(keys),
                              pattern=repr(pattern), wanted=wanted)
                            + (f": {sample}" if keys else ""))
    if "ttl" in body:
        for key in keys[:TTL_SAMPLE]:
            if problem := await ttl_problem(client, key, body["ttl"]):
                return Outcome.fail(_("{problem} (of the keys matching {pattern})", problem=problem,
                                      pattern=repr(pattern)))
    matched = _("{keys} Redis key(s) match {pattern}", keys=len(keys), pattern=repr(pattern))
    return Outcome.ok(matched + (f": {sample}" if keys else ""))
