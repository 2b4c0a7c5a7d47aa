"""`compose`: static rules on the student's compose model (normalised by `docker compose config`)."""

from __future__ import annotations

from typing import Any

from graders.checks import CheckContext, CheckFailed, check_type
from graders.results import Outcome

SCHEMA = {
    "type": "object",
    "required": ["rule"],
    "additionalProperties": False,
    "properties": {
        "rule": {"enum": ["depends_on", "roles_present"]},
        "role": {"type": "string"},
        "target": {"type": "string", "description": "with depends_on: the role depended on"},
        "roles": {"type": "array", "items": {"type": "string"}},
    },
}


def _services(ctx: CheckContext) -> dict[str, dict[str, Any]]:
    if ctx.stack_info is None:
        raise CheckFailed("there is no compose model to check (no compose file was read)")
    return ctx.stack_info.services


def depends_on(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    services = _services(ctx)
    service, target = ctx.service(body["role"]), ctx.service(body["target"])
    deps = services.get(service, {}).get("depends_on") or {}
    names = list(deps) if isinstance(deps, (dict, list)) else []
    if target in names:
        return Outcome.ok(f"'{service}' depends_on '{target}'")
    return Outcome.fail(f"'{service}' does not depend_on '{target}' (it depends on: {', '.join(names) or 'nothing'})")


def roles_present(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    _services(ctx)
    missing = [role for role in body.get("roles", []) if role not in ctx.roles]
    if missing:
        return Outcome.fail(f"no service plays: {', '.join(missing)}")
    return Outcome.ok("services found: " + ", ".join(f"{r}={ctx.roles[r]}" for r in body.get("roles", [])))


RULES = {"depends_on": depends_on, "roles_present": roles_present}


@check_type("compose", schema=SCHEMA, needs_stack=False)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    return RULES[body["rule"]](ctx, body)
