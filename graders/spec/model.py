"""The typed model of a spec: what the loader hands to the engine once validation passed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RoleSpec:
    """How to find one service of a student's stack, whatever the student named it."""

    name: str
    names: tuple[str, ...] = ()
    image: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    not_command: tuple[str, ...] = ()
    port: int | None = None
    probe: str = "tcp"  # how readiness is known on `port`: "http" (any status line) or "tcp"
    service: str | None = None  # pinned: the service is exactly this one
    optional: bool = False


@dataclass(frozen=True)
class Step:
    """One action of a check's `setup`: a check type's body run for its effect."""

    type: str
    body: dict[str, Any]


@dataclass(frozen=True)
class CheckSpec:
    part: str
    id: str
    title: str
    points: float
    type: str
    body: dict[str, Any]
    needs: tuple[str, ...] = ()  # qualified ids "part.check": must pass first, else this is skipped
    after: tuple[str, ...] = ()  # must have finished first, whatever their result (ordering only)
    stage: int = 0
    visibility: str = "visible"
    hint: dict[str, str] = field(default_factory=dict)  # language -> text; "" key = any
    setup: tuple[Step, ...] = ()
    bonus: bool = False
    timeout_s: float | None = None
    requires: frozenset[str] = frozenset()  # backend capabilities, e.g. {"docker"}
    copy: str | None = None  # runs on this copy of the stack (Spec.copies), not the main one
    # "part.check" this one stands in for: graded only where that check's `requires` are missing
    fallback_for: str | None = None
    line: int = 0
    contract: dict[str, str] = field(default_factory=dict)  # language -> the assignment's line it enforces
    advice: bool = False  # reported, never scored
    titles: dict[str, str] = field(default_factory=dict)  # language -> title, when the spec gives several
    hints_when: dict[str, dict[str, str]] = field(default_factory=dict)  # cause -> language -> hint

    @property
    def qualified_id(self) -> str:
        return f"{self.part}.{self.id}"

    def hint_in(self, lang: str) -> str:
        return in_language(self.hint, lang)

    def contract_in(self, lang: str) -> str:
        return in_language(self.contract, lang)

    def title_in(self, lang: str) -> str:
        return in_language(self.titles, lang) or self.title


@dataclass(frozen=True)
class PartSpec:
    id: str
    title: str
    points: float
    bonus: bool
    checks: tuple[CheckSpec, ...]
    titles: dict[str, str] = field(default_factory=dict)

    def title_in(self, lang: str) -> str:
        return in_language(self.titles, lang) or self.title


@dataclass(frozen=True)
class CopySpec:
    """A second copy of the student's stack, started beside the main one, so that checks
    which need a service to themselves (stop it, scale it, keep its queue) overlap in time
    instead of queueing up. Only `start` (and what it depends on) is started."""

    name: str
    start: tuple[str, ...]  # roles


@dataclass(frozen=True)
class Timeouts:
    build_s: float = 900
    start_s: float = 120
    check_s: float = 90
    total_s: float = 1800


@dataclass(frozen=True)
class GradingLimits:
    """The spec's caps on a grading as a whole; None = the grader's default."""

    memory: str | None = None
    cpus: float | None = None
    pids: int | None = None
    services: int | None = None


@dataclass(frozen=True)
class Spec:
    version: int
    title: str
    path: str
    inputs: dict[str, dict[str, Any]]
    roles: dict[str, RoleSpec]
    timeouts: Timeouts
    parts: tuple[PartSpec, ...]
    copies: dict[str, CopySpec] = field(default_factory=dict)
    limits: GradingLimits = field(default_factory=GradingLimits)
    allowed_images: tuple[str, ...] = ()  # spec `policy.images`: local-only images builds may use
    allowed_registries: tuple[str, ...] = ()  # spec `policy.registries`: registries on the grader's network
    generated_stack: bool = True  # False: a Dockerfile without a compose file is not graded in a made-up stack
    titles: dict[str, str] = field(default_factory=dict)

    def title_in(self, lang: str) -> str:
        return in_language(self.titles, lang) or self.title

    def checks(self):
        for part in self.parts:
            yield from part.checks

    def check(self, qualified_id: str) -> CheckSpec:
        for check in self.checks():
            if check.qualified_id == qualified_id:
                return check
        raise KeyError(qualified_id)

    def fallbacks(self, qualified_id: str) -> list[CheckSpec]:
        """The checks graded in place of this one where what it `requires` is missing."""
        return [c for c in self.checks() if c.fallback_for == qualified_id]

    def counts_with(self, check: CheckSpec, capabilities: frozenset[str] | set[str]) -> bool:
        """Whether `check` is in the maximum of a grading that has `capabilities`: it needs
        nothing missing, and, for a fallback, its primary cannot run there."""
        if check.requires - set(capabilities):
            return False
        return not check.fallback_for or bool(self.check(check.fallback_for).requires - set(capabilities))

    def to_run(self, parts: tuple[str, ...] | list[str] = ()) -> list[CheckSpec]:
        """The checks a grading of `parts` (all when empty) runs, in spec order: those of the parts
        and, transitively, the checks they `need` from other parts, so that `--part bonus` still
        grades a check that builds on `queue.processed`."""
        wanted = {c.qualified_id for c in self.checks() if not parts or c.part in parts}
        todo = list(wanted)
        while todo:
            for need in self.check(todo.pop()).needs:
                if need not in wanted:
                    wanted.add(need)
                    todo.append(need)
        return [c for c in self.checks() if c.qualified_id in wanted]

    def all_capabilities(self) -> frozenset[str]:
        return frozenset().union(*(c.requires for c in self.checks()))


def in_language(texts: dict[str, str], lang: str) -> str:
    """A text in `lang`, else the language-free one, else English, else any."""
    return texts.get(lang) or texts.get("") or texts.get("en") or next(iter(texts.values()), "")


def roles_named(value: Any) -> set[str]:
    """Every role a check body or step names (`role: web`, `stop: worker`, `running: [...]`)."""
    if isinstance(value, dict):
        found = {value["role"]} if isinstance(value.get("role"), str) else set()
        for key in ("stop", "start", "restart", "target"):
            if isinstance(value.get(key), str):
                found.add(value[key])
        if isinstance(value.get("running"), list):
            found |= set(value["running"])
        return found.union(*(roles_named(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(roles_named(v) for v in value)) if value else set()
    return set()
