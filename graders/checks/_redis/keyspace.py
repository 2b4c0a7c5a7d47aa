"""What every Redis key has whatever its type: existence, a type, a TTL; and keys by pattern (SCAN)."""

from __future__ import annotations

from typing import Any

from graders.checks._expect import short
from graders.checks._resp import CappedRedis
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
    return Outcome.fail(f"Redis key {key!r} is a {TYPE_WORDS.get(found, found)}, expected a "
                        f"{TYPE_WORDS.get(wanted, wanted)}")


async def judge_exists(client: CappedRedis, key: str, wanted: bool) -> Outcome:
    """`exists` on a key of any type."""
    found = await type_of(client, key)
    if found == "none":
        return Outcome.ok(f"Redis has no key {key!r}, as expected") if not wanted else \
            Outcome.fail(f"Redis has no key {key!r}")
    if not wanted:
        return Outcome.fail(f"Redis key {key!r} exists ({TYPE_WORDS.get(found, found)}) but should not")
    return Outcome.ok(f"Redis key {key!r} exists ({TYPE_WORDS.get(found, found)})")


def in_range(value: float, bounds: dict[str, float]) -> bool:
    return bounds.get("min", value) <= value <= bounds.get("max", value)


def shown_range(bounds: dict[str, float], unit: str = "") -> str:
    if "min" in bounds and "max" in bounds:
        return f"between {bounds['min']:g} and {bounds['max']:g}{unit}"
    return f"at least {bounds['min']:g}{unit}" if "min" in bounds else f"at most {bounds['max']:g}{unit}"


async def ttl_problem(client: CappedRedis, key: str, bounds: dict[str, float]) -> str:
    """Why the key's remaining time to live misses the bounds; "" when it is within them."""
    left_ms = await client.pttl(key)
    if left_ms == -2:
        return f"Redis has no key {key!r}"
    if left_ms == -1:
        return f"Redis key {key!r} never expires; expected a TTL {shown_range(bounds, ' s')} (SET ... EX, EXPIRE)"
    left = left_ms / 1000
    if not in_range(left, bounds):
        return f"Redis key {key!r} expires in {left:.1f} s, expected {shown_range(bounds, ' s')}"
    return ""


async def judge_ttl(client: CappedRedis, body: dict[str, Any], outcome: Outcome) -> Outcome:
    """The TTL bound, once the rest of a single key's check passed."""
    if not outcome.passed or "ttl" not in body or "pattern" in body or body.get("exists") is False:
        return outcome
    key = next(body[t] for t in ("key", "hash", "list", "set", "zset") if t in body)
    if problem := await ttl_problem(client, key, body["ttl"]):
        return Outcome.fail(problem)
    left = await client.pttl(key)
    return Outcome.ok(f"{outcome.message}; expires in {max(left, 0) / 1000:.1f} s", outcome.details)


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
        wanted = f"exactly {count}" if isinstance(count, int) else shown_range(bounds)
        return Outcome.fail(f"{len(keys)} Redis key(s) match {pattern!r}, expected {wanted}"
                            + (f": {sample}" if keys else ""))
    if "ttl" in body:
        for key in keys[:TTL_SAMPLE]:
            if problem := await ttl_problem(client, key, body["ttl"]):
                return Outcome.fail(f"{problem} (of the keys matching {pattern!r})")
    return Outcome.ok(f"{len(keys)} Redis key(s) match {pattern!r}" + (f": {sample}" if keys else ""))
