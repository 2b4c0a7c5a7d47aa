"""`lifecycle`: a status, polled over HTTP or from Redis, passes through given states in time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.exceptions

from graders.checks import CheckContext, CheckFailed, check_type
from graders.checks._causes import NOT_REACHED
from graders.checks._expect import MISSING, get_path, mismatches, parse_json, short
from graders.checks.http import send
from graders.checks.redis import connect, read_key
from graders.i18n import _
from graders.results import Outcome

STATE = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
SCHEMA = {
    "type": "object",
    "required": ["field", "states"],
    "additionalProperties": False,
    "properties": {
        "http": {"type": "object", "required": ["path"], "additionalProperties": False,
                 "description": "poll a GET of this path (its JSON answer)",
                 "properties": {"path": {"type": "string", "description": "the path to GET"},
                                "role": {"type": "string", "description": "whose port (default: web)"}}},
        "redis": {"type": "object", "required": ["key"], "additionalProperties": False,
                  "description": "poll a string key holding JSON",
                  "properties": {"key": {"type": "string", "description": "the key to GET"},
                                 "role": {"type": "string", "description": "the Redis role (default: redis)"}}},
        "field": {"type": "string", "description": "dotted path of the status in the JSON"},
        "states": {"type": "array", "items": STATE, "minItems": 1,
                   "description": "to be seen in this order (a list = any of them); the last is final"},
        "allowed": {"type": "array", "items": {"type": "string"},
                    "description": "any other status seen fails the check at once"},
        "within_s": {"type": "number", "exclusiveMinimum": 0,
                     "description": "the final state must be reached within this (default 30 s)"},
        "poll_s": {"type": "number", "exclusiveMinimum": 0, "description": "time between looks (default 0.2 s)"},
        "final_json": {"description": "the last observation must contain this JSON"},
        "final_keys": {"type": "array", "items": {"type": "string"},
                       "description": "dotted paths the last observation must have (e.g. finished_at)"},
    },
    "oneOf": [{"required": ["http"]}, {"required": ["redis"]}],
}


def progress(observed: list[str], states: list[list[str]]) -> int:
    """How many of `states` the distinct observations have passed through, in order."""
    matched = 0
    for value in observed:
        if matched < len(states) and value in states[matched]:
            matched += 1
    return matched


def trail(observed: list[str]) -> str:
    return " -> ".join(observed) if observed else "(nothing)"


async def observe(ctx: CheckContext, body: dict[str, Any]) -> tuple[Any, str]:
    """One look: the whole JSON and the status field (as text, or '(missing)')."""
    if "http" in body:
        answer = await send(ctx, {"method": "GET", **body["http"]})
        data = parse_json(answer.body)
        if answer.status >= 500 or data is MISSING:
            raise CheckFailed(_("GET {path} answered {status}: {excerpt}", path=body['http']['path'],
                                status=answer.status, excerpt=answer.excerpt()))
    else:
        client = connect(ctx, body["redis"])
        try:
            raw = await read_key(client, body["redis"]["key"])
        except redis.exceptions.RedisError as exc:
            raise CheckFailed(_("could not read Redis {key}: {exc}", key=repr(body['redis']['key']), exc=exc)) from None
        finally:
            await client.aclose()
        data = parse_json(raw) if raw is not None else None
        if data is MISSING:
            raise CheckFailed(_("Redis key {key} is not JSON: {raw}", key=repr(body['redis']['key']), raw=short(raw)))
    value = get_path(data, body["field"]) if data is not None else MISSING
    return data, "(missing)" if value is MISSING else str(value)


EXAMPLE = """\
- id: status_lifecycle
  points: 6
  needs: [submit]
  lifecycle:
    http: {path: "/celery/task/{celery_task_id}"}
    field: task_status
    states: [[PENDING, STARTED], SUCCESS]
    allowed: [PENDING, STARTED, RECEIVED, SUCCESS]
    within_s: 30
    final_json: {task_result: "Notification sent to {celery_email}"}
- id: drained
  points: 4
  needs: [add_task]
  lifecycle: {redis: {key: "task:{task_id}"}, field: status, states: [completed], within_s: 25}
"""


@check_type("lifecycle", schema=SCHEMA, example=EXAMPLE)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    body = ctx.render(body)
    states = [s if isinstance(s, list) else [s] for s in body["states"]]
    final = states[-1]
    allowed = set(body.get("allowed", [])) | {v for s in states for v in s}
    within = float(body.get("within_s", 30))
    source = _("GET {path}", path=body['http']['path']) if "http" in body else _("Redis {key}",
                                                                                 key=repr(body['redis']['key']))
    deadline = time.monotonic() + within
    observed: list[str] = []
    started = time.monotonic()
    while True:
        data, value = await observe(ctx, body)
        if not observed or observed[-1] != value:
            observed.append(value)
        if body.get("allowed") and value not in allowed and value != "(missing)":
            return Outcome.fail(_("{source}: {field} became {value}, which is not one of {allowed}; seen: {trail}",
                                  source=source, field=body['field'], value=repr(value),
                                  allowed=', '.join(sorted(allowed)), trail=trail(observed)))
        if value in final:
            if progress(observed, states) < len(states):
                wanted = " -> ".join("/".join(s) for s in states)
                return Outcome.fail(_("{source}: {field} reached {value} without passing through {wanted}; seen: "
                                      "{trail}", source=source, field=body['field'], value=repr(value),
                                      wanted=wanted, trail=trail(observed)))
            if "final_json" in body and (diff := mismatches(body["final_json"], data)):
                return Outcome.fail(_("{source} at {value}: {diff}", source=source, value=repr(value),
                                      diff='; '.join(diff)))
            if missing := [k for k in body.get("final_keys", []) if get_path(data, k) is MISSING]:
                return Outcome.fail(_("{source} at {value} has no {missing}; got {data}", source=source,
                                      value=repr(value), missing=', '.join(missing), data=short(data)))
            return Outcome.ok(_("{source}: {trail} in {value} s", source=source, trail=trail(observed),
                                value=format(time.monotonic() - started, ".1f")))
        if time.monotonic() >= deadline:
            wanted = " -> ".join("/".join(s) for s in states)
            return Outcome.fail(_("{source}: {field} did not reach {final} within {within} s (expected {wanted}); "
                                  "seen: {trail}", source=source, field=body['field'], final='/'.join(final),
                                  within=format(within, "g"), wanted=wanted, trail=trail(observed)),
                                cause=NOT_REACHED)
        await asyncio.sleep(float(body.get("poll_s", 0.2)))
