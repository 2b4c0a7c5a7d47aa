"""Check types: one module each, registered by name with `@check_type`.

A check type is an async function `run(ctx, body) -> Outcome` plus the JSON Schema of its
body. Adding a type is adding one module here; the spec schema and the engine pick it up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graders.checks.context import CheckContext, CheckFailed, StackUnavailable
from graders.plugins import PluginRegistry
from graders.results import Outcome

RunFn = Callable[[CheckContext, dict[str, Any]], Awaitable[Outcome]]
ValidateFn = Callable[[dict[str, Any]], list[str]]
WarmFn = Callable[[CheckContext, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class CheckType:
    name: str
    run: RunFn
    schema: dict[str, Any]
    needs_stack: bool  # False: static checks of files, which run even when nothing starts
    usable_as_step: bool  # may appear in a check's `setup`
    example: str = ""  # YAML: a list of checks of this type, for docs/spec.md (validated by a test)
    validate: ValidateFn | None = None  # what the schema cannot say: option combinations -> problems
    # Run by the engine as soon as the check is scheduled, while it still waits for its `needs`
    # and `after`: slow preparation (a browser's launch) overlaps the checks before it.
    warm_up: WarmFn | None = None


_TYPES: PluginRegistry[CheckType] = PluginRegistry(__name__, __path__, skip={"context"})


def check_type(name: str, *, schema: dict[str, Any], needs_stack: bool = True, usable_as_step: bool = False,
               example: str = "", validate: ValidateFn | None = None,
               warm_up: WarmFn | None = None) -> Callable[[RunFn], RunFn]:
    def register(run: RunFn) -> RunFn:
        _TYPES.add(name, CheckType(name, run, schema, needs_stack, usable_as_step, example, validate, warm_up),
                   what="check type")
        return run

    return register


def registry() -> dict[str, CheckType]:
    """All check types, importing every module of this package once."""
    return _TYPES.all()


__all__ = ["CheckContext", "CheckFailed", "CheckType", "StackUnavailable", "check_type", "registry"]
