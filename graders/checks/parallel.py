"""`parallel`: replicas of a worker really work in parallel.

The grader scales the worker itself (`--scale`), waits until every replica is blocked on
its queue, submits `tasks` tasks at once and times each to its done state. The fastest task
ran alone on a free worker, so its time is one task's time; with replicas sharing the work
the slowest finishes in about the same time, while a worker that serialises (a global lock,
one consumer) makes the slowest take `tasks` times as long. The check passes when the
slowest took under `max_ratio` times the fastest.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from graders.checks import CheckContext, CheckFailed, check_type
from graders.checks._expect import MISSING, get_path, parse_json
from graders.checks.http import REQUEST, send
from graders.checks.redis import connect
from graders.checks.stack import wait_running
from graders.i18n import _
from graders.results import Outcome
from graders.template import render

SCHEMA = {
    "type": "object",
    "required": ["role", "replicas", "submit", "status"],
    "additionalProperties": False,
    "properties": {
        "role": {"type": "string", "description": "the worker role the grader scales"},
        "replicas": {"type": "integer", "minimum": 2, "maximum": 10, "description": "how many workers"},
        "tasks": {"type": "integer", "minimum": 2, "maximum": 20,
                  "description": "tasks submitted at once (default: `replicas`)"},
        "submit": {"type": "object", "required": ["path"], "additionalProperties": False, "properties": REQUEST,
                   "description": "the request that submits one task (an `http` request; `save` names its id)"},
        "status": {"type": "object", "required": ["path", "field", "done"], "additionalProperties": False,
                   "description": "how a task's state is polled",
                   "properties": {"path": {"type": "string", "description": "GET path, with the saved id"},
                                  "field": {"type": "string", "description": "dotted path of the state"},
                                  "done": {"type": "string", "description": "the state that means finished"},
                                  "role": {"type": "string", "description": "whose port (default: web)"}}},
        "max_ratio": {"type": "number", "exclusiveMinimum": 1,
                      "description": "the slowest task may take at most this times the fastest"},
        "within_s": {"type": "number", "exclusiveMinimum": 0,
                     "description": "every task must be done within this"},
        "blocked_command": {"type": "string", "description": "the Redis command idle replicas block in "
                                                             "(default blpop); the burst waits for them"},
    },
}


def why_not_scalable(service: dict[str, Any]) -> str | None:
    if service.get("container_name"):
        return _("it sets container_name '{container_name}', and names must be unique per container",
                 container_name=service['container_name'])
    for port in service.get("ports") or []:
        if isinstance(port, dict) and port.get("published"):
            return _("it publishes the fixed host port {published}, which only one replica can take",
                     published=port['published'])
    return None


async def blocked_clients(ctx: CheckContext, command: str) -> int | None:
    """How many Redis clients sit in `command` (e.g. idle BLPOP workers); None if unknown."""
    try:
        client = connect(ctx, {})
    except Exception:  # noqa: BLE001 - no redis role: fall back to a fixed settle time
        return None
    try:
        clients = await client.client_list()
        return sum(1 for c in clients if c.get("cmd", "").lower() == command)
    except Exception:  # noqa: BLE001 - CLIENT LIST refused: fall back to a fixed settle time
        return None
    finally:
        await client.aclose()


async def wait_for_idle_replicas(ctx: CheckContext, service: str, replicas: int, command: str,
                                 within_s: float = 20) -> None:
    """Until every replica blocks on the queue. A replica that died meanwhile (some workers die
    when idle: another check's business) is started again, so the burst meets all of them."""
    deadline = time.monotonic() + within_s
    next_revive = time.monotonic() + 3
    while time.monotonic() < deadline:
        count = await blocked_clients(ctx, command)
        if count is None:
            await asyncio.sleep(2)  # cannot see them: give the new replicas time to connect
            return
        if count >= replicas:
            return
        if time.monotonic() >= next_revive:
            states = (await asyncio.to_thread(ctx.backend.service_states)).get(service, [])
            if states.count("running") < replicas:
                await asyncio.to_thread(ctx.backend.scale, service, replicas)
            next_revive = time.monotonic() + 3
        await asyncio.sleep(0.2)


async def submit_and_wait(ctx: CheckContext, body: dict[str, Any], deadline: float) -> float:
    started = time.monotonic()
    answer = await send(ctx, body["submit"])
    data = parse_json(answer.body)
    ((name, path),) = (body["submit"].get("save") or {"task_id": "task_id"}).items()
    task_id = get_path(data, path) if data is not MISSING else MISSING
    if answer.status != 200 or task_id is MISSING:
        raise CheckFailed(_("submitting a task answered {status}: {excerpt}", status=answer.status,
                            excerpt=answer.excerpt()))
    status = render(body["status"], {**ctx.variables, name: task_id})
    while time.monotonic() < deadline:
        answer = await send(ctx, {"method": "GET", "path": status["path"], "role": status.get("role", "web")})
        data = parse_json(answer.body)
        if data is not MISSING and str(get_path(data, status["field"])) == status["done"]:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise CheckFailed(_("task {task_id} did not reach {done} in time: the replicas did not get through {get} tasks",
                        task_id=task_id, done=repr(status['done']), get=body.get('tasks', body['replicas'])))


EXAMPLE = """\
- id: scale
  points: 5
  requires: [docker]
  parallel:
    role: worker
    replicas: 3
    submit: {method: POST, path: /add-task/, json: "{payload}", save: {task_id: task_id}}
    status: {path: "/task/{task_id}", field: status, done: completed}
    max_ratio: 2.0
    within_s: 60
"""


@check_type("parallel", schema=SCHEMA, example=EXAMPLE)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    service = ctx.service(body["role"])
    original = (ctx.stack_info.services if ctx.stack_info else {}).get(service, {})
    if why := why_not_scalable(original):
        return Outcome.fail(_("'{service}' cannot run as {replicas} replicas: {why}", service=service,
                              replicas=body['replicas'], why=why))
    replicas, tasks = body["replicas"], int(body.get("tasks", body["replicas"]))
    body = {**body, "submit": ctx.render(body["submit"])}
    await asyncio.to_thread(ctx.backend.scale, service, replicas)
    if not await wait_running(ctx, service, replicas):
        return Outcome.fail(_("'{service}' did not reach {replicas} running replicas", service=service,
                              replicas=replicas))
    await wait_for_idle_replicas(ctx, service, replicas, body.get("blocked_command", "blpop"))
    deadline = time.monotonic() + float(body.get("within_s", 60))
    times = sorted(await asyncio.gather(*(submit_and_wait(ctx, body, deadline) for _unused in range(tasks))))
    ratio = times[-1] / times[0]
    limit = float(body.get("max_ratio", 2.0))
    summary = (_("{tasks} tasks at once on {replicas} replicas: the fastest took {times} s, the slowest {times2} s "
                 "({ratio}x, limit {limit}x)", tasks=tasks, replicas=replicas, times=format(times[0], ".1f"),
                 times2=format(times[-1], ".1f"), ratio=format(ratio, ".2f"), limit=format(limit, "g")))
    if ratio < limit:
        return Outcome.ok(summary)
    return Outcome.fail(summary + ": the replicas did not share the work (a global lock, or one consumer?)")
