"""Which containers died during a grading without a check asking for it.

`running` at the end of grading is not enough: a worker that dies when idle may be started
again by a later check (or by its restart policy) and look healthy at the end. A backend
records every exit it sees; the exits of containers the grader itself stopped are expected.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from graders.i18n import _


@dataclass(frozen=True)
class Exit:
    service: str
    code: int | None
    at_s: float  # seconds since the watch began
    where: str = ""  # the copy of the stack it ran in; "" = the main one

    def describe(self) -> str:
        code = "" if self.code is None else _(" with code {code}", code=self.code)
        where = _(" (in the grader's '{copy}' copy of the stack)", copy=self.where) if self.where else ""
        return _("service '{service}'{where} exited{code} {seconds} s into grading", service=self.service,
                 where=where, code=code, seconds=f"{self.at_s:.0f}")


class ExitWatch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expected: set[str] = set()  # container ids the grader is stopping or removing
        self._started = time.monotonic()
        self.exits: list[Exit] = []
        self.closed = False

    def expect(self, container_ids: list[str]) -> None:
        """The grader is about to stop or remove these containers: their exits are no news."""
        with self._lock:
            self._expected.update(container_ids)

    def record(self, container_id: str, service: str, code: int | None, where: str = "") -> None:
        with self._lock:
            if self.closed or container_id in self._expected:
                self._expected.discard(container_id)
                return
            self.exits.append(Exit(service, code, time.monotonic() - self._started, where))

    def unexpected(self, services: list[str] | None = None) -> list[Exit]:
        with self._lock:
            return [e for e in self.exits if services is None or e.service in services]

    def close(self) -> None:
        with self._lock:
            self.closed = True
