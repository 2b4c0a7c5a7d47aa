"""What `runner.py check-spec` finds in a spec that loaded (schema and meaning checks passed):
mistakes that only show on a running stack. Errors make check-spec exit 2; warnings do not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graders.spec.model import CheckSpec, Spec
from graders.template import placeholders


@dataclass(frozen=True)
class Finding:
    level: str  # "error" | "warning"
    where: str  # file:line: part.check, or the file
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.level}: {self.message}"


def lint_spec(spec: Spec) -> list[Finding]:
    return [*_roles_without_port(spec), *_unordered_saves(spec), *_unused_inputs(spec)]


def _where(spec: Spec, check: CheckSpec) -> str:
    return f"{spec.path}:{check.line}: {check.qualified_id}"


def _bodies(check: CheckSpec) -> list[tuple[str, dict[str, Any]]]:
    return [(check.type, check.body), *((step.type, step.body) for step in check.setup)]


def roles_reached(type_name: str, body: dict[str, Any]) -> set[str]:
    """Roles a body talks to over the network: each needs a `port` (published on loopback)."""
    if type_name in ("http", "websocket"):
        return {body.get("role", "web")}
    if type_name == "redis":
        return {body.get("role", "redis")}
    if type_name == "lifecycle":
        return {body[k].get("role", "web" if k == "http" else "redis") for k in ("http", "redis") if k in body}
    if type_name == "parallel":
        return {body["submit"].get("role", "web"), body["status"].get("role", "web"), "redis"}
    return set()


def _roles_without_port(spec: Spec) -> list[Finding]:
    found = []
    for check in spec.checks():
        for type_name, body in _bodies(check):
            for role in sorted(roles_reached(type_name, body)):
                if role in spec.roles and spec.roles[role].port is None:
                    found.append(Finding("error", _where(spec, check), f"`{type_name}` talks to the role "
                                         f"'{role}', which has no `port`: give the role its container port"))
    return found


def _saved(value: Any) -> set[str]:
    """Variable names a body saves (`save:` at any depth: a parallel check saves inside `submit`)."""
    if isinstance(value, dict):
        names = set(value["save"]) if isinstance(value.get("save"), dict) else set()
        return names.union(*(_saved(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_saved(v) for v in value)) if value else set()
    return set()


def _before(spec: Spec, check: CheckSpec) -> set[str]:
    """Checks certainly finished before this one starts: its needs and afters, transitively."""
    seen: set[str] = set()
    todo = [*check.needs, *check.after]
    while todo:
        qid = todo.pop()
        if qid not in seen:
            seen.add(qid)
            prior = spec.check(qid)
            todo += [*prior.needs, *prior.after]
    return seen


def _unordered_saves(spec: Spec) -> list[Finding]:
    savers: dict[str, list[CheckSpec]] = {}
    for check in spec.checks():
        for name in _saved([body for _, body in _bodies(check)]):
            savers.setdefault(name, []).append(check)
    found = []
    for check in spec.checks():
        own = _saved([body for _, body in _bodies(check)])
        before = _before(spec, check)
        for name in sorted(placeholders([body for _, body in _bodies(check)]) - set(spec.inputs) - own):
            by = savers.get(name, [])
            if by and not any(s.qualified_id in before or s.stage < check.stage for s in by):
                found.append(Finding("warning", _where(spec, check), f"'{{{name}}}' is saved by "
                                     f"{', '.join(s.qualified_id for s in by)}, which may not have run yet: "
                                     f"add it to `needs` (or `after`, or an earlier `stage`)"))
    return found


def _unused_inputs(spec: Spec) -> list[Finding]:
    used = placeholders([body for check in spec.checks() for _, body in _bodies(check)])
    return [Finding("warning", spec.path, f"input '{name}' is never used as {{{name}}}")
            for name in spec.inputs if name not in used]
