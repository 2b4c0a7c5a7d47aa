"""Shared fixtures.

`reference_stack` brings reference/ up ONCE per test session, through the grader's own
Docker backend (the same rewrite, loopback ports, labels and teardown that grading uses),
and is shared by the end-to-end probes and the check-type tests. Tests that stop, start or
scale a service put it back before they end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from graders.backends.base import StackInfo
from graders.backends.discovery import discover_roles
from graders.backends.docker import DockerBackend, engine_available
from graders.checks import CheckContext, CheckFailed, registry
from graders.results import Outcome
from graders.spec.loader import load_spec

# Everything the gradings of this test session create carries this label (subprocesses inherit
# it), so the leftover check at the end counts only this session's containers.
SESSION_LABEL = f"org.graders.test-session={secrets.token_hex(4)}"
os.environ["GRADER_EXTRA_LABELS"] = SESSION_LABEL

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
LAB_SPEC = ROOT / "specs" / "lab4.yaml"
# Services probed on loopback: service -> (container port, answers HTTP)
READY = {"web": (8000, True), "nginx": (80, True), "redis": (6379, False)}


def run(cmd: list[str], timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


NO_LANGUAGE = ("validate", "clean", "check-spec", "schema")  # commands without --lang


def run_runner(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`python runner.py ARGS` as a user runs it. Tests read English messages, so English is asked
    for unless the test asks for a language itself (the Russian pages: tests/test_feedback.py)."""
    if "--lang" not in args and (not args or args[0] not in NO_LANGUAGE):
        args = (*args, "--lang", "en")
    return subprocess.run([sys.executable, str(ROOT / "runner.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def labelled_leftovers(run_id: str) -> list[str]:
    """Containers, networks, volumes and built images carrying this grading's label."""
    client = docker.from_env()
    label = {"label": f"org.graders.run={run_id}"}
    found = [c.name for c in client.containers.list(all=True, filters=label)]
    found += [n.name for n in client.networks.list(filters=label)]
    found += [v.name for v in client.volumes.list(filters=label)]
    found += [(i.tags or [i.short_id])[0] for i in client.images.list(filters=label)]
    client.close()
    return found


@dataclass
class Stack:
    backend: DockerBackend
    info: StackInfo
    web_url: str = ""
    nginx_url: str = ""
    redis_url: str = ""

    @property
    def project(self) -> str:
        return self.backend.project

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["docker", "compose", "-p", self.project, "-f", str(self.backend.compose_path), *args],
                   timeout, check)

    def url(self, service: str, port: int) -> str:
        host, host_port = self.backend.address(service, port)
        return f"{host}:{host_port}"

    def read_file(self, service: str, path: str) -> str:
        """A file inside the service's containers, relative to the working dir; '' if missing."""
        try:
            return self.backend.read_file(service, path).decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def context(self, variables: dict[str, Any] | None = None, timeout_s: float = 90) -> CheckContext:
        spec = load_spec(LAB_SPEC)
        roles, _ = discover_roles(spec.roles, self.info.services, "uvicorn main:app --host 0.0.0.0")
        return CheckContext(backend=self.backend, submission=REFERENCE, roles=roles,
                            role_ports={n: r.port for n, r in spec.roles.items() if r.port},
                            variables=dict(variables or {}), timeout_s=timeout_s, stack_info=self.info,
                            stack_started=True)

    def check(self, type_name: str, body: dict[str, Any], variables: dict[str, Any] | None = None,
              ctx: CheckContext | None = None) -> Outcome:
        """Run one check type's body against this stack; a CheckFailed becomes a failed
        Outcome, as in the engine."""
        ctx = ctx or self.context(variables)

        async def run_then_close() -> Outcome:
            try:
                return await asyncio.wait_for(registry()[type_name].run(ctx, body), ctx.timeout_s)
            finally:
                await ctx.shared.aclose()  # what the check opened for the grading (a browser)

        try:
            return asyncio.run(run_then_close())
        except CheckFailed as exc:
            return Outcome.fail(exc.message, exc.details)


def grader_containers() -> set[str]:
    client = docker.from_env()
    found = {c.id for c in client.containers.list(all=True, filters={"label": SESSION_LABEL})}
    client.close()
    return found


@pytest.fixture(scope="session")
def docker_engine():
    """A Docker engine; at the end of the session, no grader container this session made is left."""
    if not engine_available():
        pytest.fail("no Docker engine answers: run `python -m graders.testbed` first (README)")
    before = grader_containers()
    yield
    left = grader_containers() - before
    assert not left, f"the test session left {len(left)} grader container(s) behind"


@pytest.fixture(scope="session")
def reference_stack(docker_engine):
    workdir = Path(tempfile.mkdtemp(prefix="reftest-"))
    backend = DockerBackend(REFERENCE, workdir)
    try:
        info = backend.inspect()
        backend.prepare({name: [port] for name, (port, _) in READY.items()})
        backend.start(READY, timeout_s=180)
        stack = Stack(backend, info)
        stack.web_url = "http://" + stack.url("web", 8000)
        stack.nginx_url = "http://" + stack.url("nginx", 80)
        stack.redis_url = f"redis://{stack.url('redis', 6379)}/0"
        yield stack
    finally:
        backend.teardown()
        shutil.rmtree(workdir, ignore_errors=True)
