"""The one interface between the checks and whatever runs the student's stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class StackError(Exception):
    """A step of bringing the stack up failed; `step` names it for the report."""

    def __init__(self, step: str, message: str, details: str = ""):
        super().__init__(message)
        self.step = step
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Limits:
    """Per-container limits the grader imposes, overriding the student's."""

    memory: str = "768m"
    cpus: float = 1.0
    pids: int = 512
    nofile: int = 4096
    log_cap_bytes: int = 64 * 1024  # per service, kept for the report
    file_cap_bytes: int = 1024 * 1024  # a file read from a container
    # The grading as a whole (its copies of the stack included): all its containers together.
    total_memory: str = "4g"
    total_cpus: float = 2.0
    total_pids: int = 4096
    max_services: int = 12  # services in the student's compose file
    runtime: str | None = None  # a container runtime the engine has (e.g. runsc, gVisor's)


@dataclass
class StackInfo:
    """What the backend learnt about the submission before running it."""

    compose_file: str | None  # relative to the submission; None when generated
    services: dict[str, dict[str, Any]]  # normalised compose model, before the grader's rewrite
    dockerfile: str | None = None
    notes: list[str] = field(default_factory=list)
    # The whole normalised compose model and the folder its paths point into, for the policy's
    # model rules (graders.policy.check_model); None where the backend has no such model.
    model: dict[str, Any] | None = None
    root: Path | None = None


class Backend(Protocol):
    name: str
    run_id: str
    capabilities: frozenset[str]  # e.g. {"docker"}: checks that `requires` more are left out
    dirty: bool  # a service was stopped, started or scaled since the last restore()

    def inspect(self) -> StackInfo: ...
    def prepare(self, probe_ports: dict[str, list[int]]) -> None: ...  # rewrite + build
    def start(self, ready: dict[str, tuple[int, bool]], timeout_s: float) -> list[str]: ...
    def address(self, service: str, port: int) -> tuple[str, int]: ...  # read again after start/stop/scale
    # Blocks until the service's readiness probe (the `ready` entry start() got) answers on every
    # running replica: "" when it does (or the service has none), else why not.
    def wait_ready(self, service: str, timeout_s: float) -> str: ...
    def read_file(self, service: str, path: str) -> bytes: ...
    def exec(self, service: str, command: list[str], timeout_s: float = 30) -> tuple[int, str]: ...
    def logs(self, service: str, tail: int = 200) -> str: ...
    def service_states(self) -> dict[str, list[str]]: ...
    def uptime_s(self, service: str) -> float | None: ...  # youngest running container's age
    # exits.Exit the grader did not ask for; `everywhere`: in the copies of the stack too
    def unexpected_exits(self, services: list[str] | None = None, everywhere: bool = False) -> list: ...
    def stop_service(self, service: str) -> None: ...
    def start_service(self, service: str) -> None: ...
    def scale(self, service: str, replicas: int) -> None: ...
    def restore(self) -> None: ...
    def teardown(self) -> None: ...
    # A program of the grader's own (a browser) run beside the stack: whether this backend can
    # put one into a service's network, and the argv prefix that does (the program then reaches
    # the service at localhost:<container port>, as the student's own browser would).
    def can_enter_networks(self) -> bool: ...
    def network_entry(self, service: str) -> list[str]: ...  # raises StackError where it cannot
