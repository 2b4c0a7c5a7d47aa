"""Check types: one module each, registered by name with `@check_type`.

A check type is an async function `run(ctx, body) -> Outcome` plus the JSON Schema of its
body. Adding a type is adding one module here; the spec schema and the engine pick it up.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graders.checks.context import CheckContext, CheckFailed, StackUnavailable
from graders.results import Outcome

RunFn = Callable[[CheckContext, dict[str, Any]], Awaitable[Outcome]]


@dataclass(frozen=True)
class CheckType:
    name: str
    run: RunFn
    schema: dict[str, Any]
    needs_stack: bool  # False: static checks of files, which run even when nothing starts
    usable_as_step: bool  # may appear in a check's `setup`


_REGISTRY: dict[str, CheckType] = {}
_SCANNED = False
_SCAN_LOCK = threading.Lock()  # gradings in threads (validate -j) may ask at once


def check_type(name: str, *, schema: dict[str, Any], needs_stack: bool = True,
               usable_as_step: bool = False) -> Callable[[RunFn], RunFn]:
    def register(run: RunFn) -> RunFn:
        if name in _REGISTRY:
            raise RuntimeError(f"check type {name!r} registered twice")
        _REGISTRY[name] = CheckType(name, run, schema, needs_stack, usable_as_step)
        return run

    return register


def registry() -> dict[str, CheckType]:
    """All check types, importing every module of this package once."""
    global _SCANNED
    with _SCAN_LOCK:
        if not _SCANNED:  # a flag, not emptiness: one module imported first must not stop the scan
            for module in pkgutil.iter_modules(__path__):
                if not module.name.startswith("_") and module.name != "context":
                    importlib.import_module(f"{__name__}.{module.name}")
            _SCANNED = True
    return _REGISTRY


__all__ = ["CheckContext", "CheckFailed", "CheckType", "StackUnavailable", "check_type", "registry"]
