"""`parallel`: replicas of a worker really work in parallel.

One task is timed alone; then the grader scales the worker itself (`--scale`) and times
`tasks` tasks submitted at once. They must finish in under `max_ratio` times one task's time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from graders.checks import CheckContext, CheckFailed, check_type
from graders.checks._expect import MISSING, get_path, parse_json
from graders.checks.http import REQUEST, send
from graders.checks.stack import wait_running
from graders.results import Outcome
from graders.spec.template import render

SCHEMA = {
    "type": "object",
    "required": ["role", "replicas", "submit", "status"],
    "additionalProperties": False,
    "properties": {
        "role": {"type": "string"},
        "replicas": {"type": "integer", "minimum": 2, "maximum": 10},
        "tasks": {"type": "integer", "minimum": 2, "maximum": 20},
        "submit": {"type": "object", "required": ["path"], "additionalProperties": False, "properties": REQUEST},
        "status": {"type": "object", "required": ["path", "field", "done"], "additionalProperties": False,
                   "properties": {"path": {"type": "string"}, "field": {"type": "string"},
                                  "done": {"type": "string"}, "role": {"type": "string"}}},
        "max_ratio": {"type": "number", "exclusiveMinimum": 1},
        "within_s": {"type": "number", "exclusiveMinimum": 0},
    },
}


def why_not_scalable(service: dict[str, Any]) -> str | None:
    if service.get("container_name"):
        return f"it sets container_name '{service['container_name']}', and names must be unique per container"
    for port in service.get("ports") or []:
        if isinstance(port, dict) and port.get("published"):
            return f"it publishes the fixed host port {port['published']}, which only one replica can take"
    return None


async def submit_and_wait(ctx: CheckContext, body: dict[str, Any], deadline: float) -> float:
    started = time.monotonic()
    answer = await send(ctx, body["submit"])
    data = parse_json(answer.body)
    (name, path), = body["submit"].get("save", {"task_id": "task_id"}).items()
    task_id = get_path(data, path) if data is not MISSING else MISSING
    if answer.status != 200 or task_id is MISSING:
        raise CheckFailed(f"submitting a task answered {answer.status}: {answer.excerpt()}")
    status = render(body["status"], {**ctx.variables, name: task_id})
    while time.monotonic() < deadline:
        answer = await send(ctx, {"method": "GET", "path": status["path"], "role": status.get("role", "web")})
        data = parse_json(answer.body)
        if data is not MISSING and str(get_path(data, status["field"])) == status["done"]:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise CheckFailed(f"task {task_id} did not reach {status['done']!r} in time")


@check_type("parallel", schema=SCHEMA)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    service = ctx.service(body["role"])
    original = (ctx.stack_info.services if ctx.stack_info else {}).get(service, {})
    if why := why_not_scalable(original):
        return Outcome.fail(f"'{service}' cannot run as {body['replicas']} replicas: {why}")
    body = {**body, "submit": ctx.render(body["submit"])}
    deadline = time.monotonic() + float(body.get("within_s", 60))
    one = await submit_and_wait(ctx, body, deadline)
    await asyncio.to_thread(ctx.backend.scale, service, body["replicas"])
    if not await wait_running(ctx, service, body["replicas"]):
        return Outcome.fail(f"'{service}' did not reach {body['replicas']} running replicas")
    await asyncio.sleep(2)  # the new replicas connect to Redis before the burst
    tasks = int(body.get("tasks", body["replicas"]))
    burst_started = time.monotonic()
    await asyncio.gather(*(submit_and_wait(ctx, body, deadline) for _ in range(tasks)))
    burst = time.monotonic() - burst_started
    ratio = burst / one
    limit = float(body.get("max_ratio", 2.0))
    summary = (f"one task took {one:.1f} s; {tasks} tasks on {body['replicas']} replicas took {burst:.1f} s "
               f"({ratio:.2f}x, limit {limit:g}x)")
    return Outcome.ok(summary) if ratio < limit else Outcome.fail(
        summary + ": the replicas did not share the work (a global lock, or one consumer?)")
