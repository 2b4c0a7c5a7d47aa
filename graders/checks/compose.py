"""`compose`: static rules on the student's compose model (normalised by `docker compose config`)."""

from __future__ import annotations

from typing import Any

from graders.checks import CheckContext, CheckFailed, check_type
from graders.i18n import _
from graders.results import Outcome

SCHEMA = {
    "type": "object",
    "required": ["rule"],
    "additionalProperties": False,
    "properties": {
        "rule": {"enum": ["depends_on", "roles_present", "file_present"],
                 "description": "`depends_on`: `role` depends on `target`; `roles_present`: a service plays each "
                                "of `roles`; `file_present`: the student wrote a compose file (not a stack "
                                "generated around a lone Dockerfile)"},
        "role": {"type": "string", "description": "with `depends_on`: the role that must depend"},
        "target": {"type": "string", "description": "with `depends_on`: the role depended on"},
        "roles": {"type": "array", "items": {"type": "string"},
                  "description": "with `roles_present`: roles some service must play"},
    },
}


def _services(ctx: CheckContext) -> dict[str, dict[str, Any]]:
    if ctx.stack_info is None:
        raise CheckFailed(_("there is no compose model to check (no compose file was read)"))
    return ctx.stack_info.services


def depends_on(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    services = _services(ctx)
    service, target = ctx.service(body["role"]), ctx.service(body["target"])
    deps = services.get(service, {}).get("depends_on") or {}
    names = list(deps) if isinstance(deps, (dict, list)) else []
    if target in names:
        return Outcome.ok(_("'{service}' depends_on '{target}'", service=service, target=target))
    return Outcome.fail(_("'{service}' does not depend_on '{target}' (it depends on: {value})", service=service,
                          target=target, value=', '.join(names) or 'nothing'))


def roles_present(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    _services(ctx)
    missing = [role for role in body.get("roles", []) if role not in ctx.roles]
    if missing:
        return Outcome.fail(_("no service plays: {missing}", missing=', '.join(missing)))
    return Outcome.ok("services found: " + ", ".join(f"{r}={ctx.roles[r]}" for r in body.get("roles", [])))


def file_present(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    if ctx.stack_info is not None and ctx.stack_info.compose_file:
        return Outcome.ok(_("the compose file is {compose_file}", compose_file=ctx.stack_info.compose_file))
    if ctx.stack_info is None:  # the stack was not read (e.g. the file is broken): is one there at all?
        found = sorted(p.name for p in ctx.submission.glob("*compose*.y*ml") if p.is_file())
        if found:
            return Outcome.ok(_("the compose file is {found}", found=found[0]))
    return Outcome.fail(_("no compose file (compose.yaml or docker-compose.yml): write one that describes the "
                        "whole stack"))


RULES = {"depends_on": depends_on, "roles_present": roles_present, "file_present": file_present}


EXAMPLE = """\
- id: compose_written
  points: 1
  compose: {rule: file_present}  # with `generated_stack: false` at the top of the spec
- id: depends_on_redis
  points: 2
  compose: {rule: depends_on, role: web, target: redis}
"""


@check_type("compose", schema=SCHEMA, needs_stack=False, example=EXAMPLE)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    return RULES[body["rule"]](ctx, body)
