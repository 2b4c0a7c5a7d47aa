"""What a running check may touch: the backend, the role map, the run's variables."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.template import render


class CheckFailed(Exception):
    """Raised inside a check (or a setup step) to fail it with a message for the student."""

    def __init__(self, message: str, details: str = "", cause: str = ""):
        super().__init__(message)
        self.message = message
        self.details = details
        self.cause = cause  # the kind of failure (graders.checks._causes), which picks the hint


class StackUnavailable(Exception):
    """The check needs a service that is not there (not found, not started)."""


Closer = Callable[[], Awaitable[None]]


class SharedResources:
    """What the checks of one grading share, opened by the first that asks (one browser, its
    tabs in many checks) and closed once, when the checks are over, in the same event loop."""

    CLOSE_TIMEOUT_S = 15

    def __init__(self) -> None:
        self._items: dict[Hashable, tuple[object, Closer]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}

    async def get(self, key: Hashable, open_it: Callable[[], Awaitable[tuple[object, Closer]]]) -> object:
        """The resource under `key`, opened with `open_it() -> (resource, async close)` the first time."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key not in self._items:
                self._items[key] = await open_it()
            return self._items[key][0]

    async def aclose(self) -> None:
        items, self._items = list(self._items.values()), {}
        for _resource, close in reversed(items):
            with contextlib.suppress(Exception):  # closing must not hide a grade; a stuck one is cut off
                await asyncio.wait_for(close(), self.CLOSE_TIMEOUT_S)


@dataclass
class CheckContext:
    backend: Any  # graders.backends.base.Backend; Any to keep checks free of backend imports
    submission: Path
    roles: dict[str, str]  # role -> service name
    role_ports: dict[str, int]  # role -> container port the grader probes
    variables: dict[str, Any]
    timeout_s: float
    limits: Any = None  # graders.backends.base.Limits
    stack_info: Any = None  # graders.backends.base.StackInfo: the student's compose model
    stack_started: bool = False
    stack_problem: str = ""  # why the stack is not running, when it is not
    saved: dict[str, Any] = field(default_factory=dict)
    shared: SharedResources = field(default_factory=SharedResources)  # one per grading: the engine closes it

    def render(self, value: Any) -> Any:
        return render(value, self.variables)

    def save(self, name: str, value: Any) -> None:
        self.saved[name] = value
        self.variables[name] = value

    def service(self, role: str) -> str:
        try:
            return self.roles[role]
        except KeyError:
            raise StackUnavailable(f"no service plays the role '{role}'") from None

    def base_url(self, role: str = "web") -> str:
        if role not in self.role_ports:
            raise StackUnavailable(f"the spec gives no port for the role '{role}'")
        host, port = self.backend.address(self.service(role), self.role_ports[role])
        return f"http://{host}:{port}"
