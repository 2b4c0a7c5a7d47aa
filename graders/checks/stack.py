"""`stack`: the state of the running stack, and the operations a check may need.

As a check: `started: true` (the build and start succeeded) or `running: all | [roles]`.
As a setup step: `stop`, `start` or `restart` a role's service, or `scale` it. A start, restart
or scale returns once the role's readiness probe (its `port` and `probe`) answers again, and
the next step reads the service's address afresh: "restart, then read" is one check.
The engine puts the stack back in shape after every stage that changed it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from graders.checks import CheckContext, check_type
from graders.i18n import _
from graders.results import Outcome

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "started": {"const": True, "description": "the stack was built and started"},
        "running": {"oneOf": [{"const": "all"}, {"type": "array", "items": {"type": "string"}}],
                    "description": "these roles' services (or all) have every container running"},
        "up_for_s": {"type": "number", "exclusiveMinimum": 0,
                     "description": "with running: and have been up this long (waits for it), so a service "
                                    "that dies after idling is caught"},
        "stop": {"type": "string", "description": "role whose service to stop"},
        "start": {"type": "string", "description": "role whose service to start (returns once its readiness "
                                                  "probe answers)"},
        "restart": {"type": "string", "description": "role whose service to stop and start again (returns once "
                                                    "its readiness probe answers)"},
        "scale": {"type": "object", "required": ["role", "replicas"], "additionalProperties": False,
                  "description": "run this many replicas of a role's service",
                  "properties": {"role": {"type": "string", "description": "the role to scale"},
                                 "replicas": {"type": "integer", "minimum": 0, "maximum": 10,
                                              "description": "how many containers"}}},
    },
    "minProperties": 1,
    "maxProperties": 2,
    "dependentRequired": {"up_for_s": ["running"]},
}


async def wait_running(ctx: CheckContext, service: str, count: int, within_s: float = 30) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        states = (await asyncio.to_thread(ctx.backend.service_states)).get(service, [])
        if states.count("running") >= count:
            return True
        await asyncio.sleep(0.5)
    return False


async def wait_ready(ctx: CheckContext, service: str) -> str:
    """Until the service answers its readiness probe again: "" when it does, else why not."""
    ready = getattr(ctx.backend, "wait_ready", None)
    if ready is None:
        return ""
    # Within the check's own time, leaving it some to judge what comes next.
    return await asyncio.to_thread(ready, service, min(60.0, max(5.0, ctx.timeout_s - 10)))


async def _wait_uptime(ctx: CheckContext, services: list[str], seconds: float) -> None:
    """Sleep until every service has been up `seconds`, or one is down (then the check says so)."""
    for _unused in range(3):  # a service restarted meanwhile: wait for it again, a bounded number of times
        ages = [await asyncio.to_thread(ctx.backend.uptime_s, s) for s in services]
        if any(age is None for age in ages):
            return
        shortfall = seconds - min(ages)
        if shortfall <= 0:
            return
        await asyncio.sleep(shortfall + 0.5)


async def _running(ctx: CheckContext, which: Any, up_for_s: float | None = None) -> Outcome:
    states = await asyncio.to_thread(ctx.backend.service_states)
    services = list(states) if which == "all" else [ctx.service(role) for role in which]
    if up_for_s:
        await _wait_uptime(ctx, services, up_for_s)
        states = await asyncio.to_thread(ctx.backend.service_states)
    down = {s: states.get(s, []) for s in services if not states.get(s) or
            any(state != "running" for state in states.get(s, []))}
    # `all` is every service the grader ran, in the copies of the stack too; named roles, this stack's.
    exits = await asyncio.to_thread(ctx.backend.unexpected_exits, services, which == "all")
    if not down and exits:
        return Outcome.fail(_("{describe} and had to be started again; a service must keep running the whole time",
                              describe=exits[0].describe()), "\n".join(e.describe() for e in exits))
    if not down:
        held = _(" (up for at least {up_for_s} s)", up_for_s=format(up_for_s, "g")) if up_for_s else ""
        return Outcome.ok(_("running the whole time: {services}{held}", services=', '.join(services), held=held))
    name, seen = next(iter(down.items()))
    last = (await asyncio.to_thread(ctx.backend.logs, name, 8)).splitlines()[-3:]
    return Outcome.fail(_("service '{name}' is {value}, not running", name=name, value=', '.join(seen) or 'gone')
                        + (_("; its last log lines: {last}", last=' | '.join(last)) if last else ""),
                        "\n".join(f"{s}: {', '.join(v) or 'no container'}" for s, v in down.items()))


EXAMPLE = """\
- id: image_builds
  points: 2
  requires: [docker]
  stack: {started: true}
- id: survives_restart
  title: "data lives in Redis: a restarted web still has the item"
  points: 3
  needs: [create]
  stage: 1  # alone: nothing else talks to web while it restarts
  setup:
    - stack: {restart: web}  # returns once web's probe answers again
  http: {path: "/items/{item_id}", expect: {json: {name: "{name}"}}}
- id: all_running
  points: 2
  stage: 2
  stack: {running: all, up_for_s: 10}
"""


@check_type("stack", schema=SCHEMA, needs_stack=False, usable_as_step=True, example=EXAMPLE)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    if "started" in body:
        if ctx.stack_started:
            return Outcome.ok(_("the images built and every service started"))
        return Outcome.fail(ctx.stack_problem or "the stack did not start")
    if not ctx.stack_started:
        return Outcome.fail(_("the stack is not running ({value})", value=ctx.stack_problem or 'not started'))
    if "running" in body:
        return await _running(ctx, body["running"], body.get("up_for_s"))
    if "scale" in body:
        service, replicas = ctx.service(body["scale"]["role"]), body["scale"]["replicas"]
        await asyncio.to_thread(ctx.backend.scale, service, replicas)
        if not await wait_running(ctx, service, replicas):
            return Outcome.fail(_("'{service}' did not reach {replicas} running replicas", service=service,
                                  replicas=replicas))
        if replicas and (problem := await wait_ready(ctx, service)):
            return await _not_ready(ctx, service, problem, _("scaled to {replicas}", replicas=replicas))
        return Outcome.ok(_("scaled '{service}' to {replicas}", service=service, replicas=replicas))
    action = next(iter(body))  # stop / start / restart: one key
    service = ctx.service(body[action])
    if action in ("stop", "restart"):
        await asyncio.to_thread(ctx.backend.stop_service, service)
    if action in ("start", "restart"):
        await asyncio.to_thread(ctx.backend.start_service, service)
        if not await wait_running(ctx, service, 1):
            return Outcome.fail(_("'{service}' did not come back up after {action}", service=service, action=action))
        if problem := await wait_ready(ctx, service):
            return await _not_ready(ctx, service, problem, _("after {action}", action=action))
    return Outcome.ok(f"{action} '{service}'" + (" (ready again)" if action != "stop" else ""))


async def _not_ready(ctx: CheckContext, service: str, problem: str, when: str) -> Outcome:
    last = (await asyncio.to_thread(ctx.backend.logs, service, 8)).splitlines()[-3:]
    return Outcome.fail(_("'{service}' runs {when} but is not ready: {problem}", service=service, when=when,
                          problem=problem)
                        + (_("; its last log lines: {last}", last=' | '.join(last)) if last else ""))
