"""Shared fixtures. `reference_stack` runs reference/compose.yaml once per test session."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_COMPOSE = ROOT / "reference" / "compose.yaml"
# Services published on loopback with ephemeral host ports: service -> container port.
PUBLISHED = {"web": 8000, "nginx": 80, "redis": 6379}


def run(cmd: list[str], timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return run(["docker", "info"], timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@dataclass
class Stack:
    project: str
    compose_file: Path
    web_url: str = ""
    nginx_url: str = ""
    redis_url: str = ""

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(
            ["docker", "compose", "-p", self.project, "-f", str(self.compose_file), *args], timeout, check
        )

    def host_address(self, service: str, port: int) -> str:
        """`127.0.0.1:<ephemeral port>` where the service's container port is published."""
        return self.compose("port", service, str(port)).stdout.strip()

    def read_file(self, service: str, path: str) -> str:
        """A file inside the service's (first) container, relative to its working dir; '' if missing."""
        result = self.compose("exec", "-T", service, "cat", path, check=False)
        return result.stdout if result.returncode == 0 else ""


def loopback_config() -> dict:
    """The reference compose config with every port re-published on 127.0.0.1:<random>."""
    config = json.loads(
        run(["docker", "compose", "-f", str(REFERENCE_COMPOSE), "config", "--format", "json"]).stdout
    )
    for name, service in config["services"].items():
        # Replacing the whole list (not an override file) because compose merges `ports` lists.
        service.pop("ports", None)
        if name in PUBLISHED:
            service["ports"] = [{"target": PUBLISHED[name], "host_ip": "127.0.0.1", "published": ""}]
    return config


def wait_for_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer 200 within {timeout} s")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def reference_stack():
    if not docker_available():
        pytest.skip("needs a Docker engine with `docker compose`")
    workdir = Path(tempfile.mkdtemp(prefix="reftest-"))
    stack = Stack(project=f"reftest-{secrets.token_hex(4)}", compose_file=workdir / "compose.json")
    # JSON is valid YAML; build contexts and bind mounts in the normalised config are absolute.
    stack.compose_file.write_text(json.dumps(loopback_config(), indent=2))
    try:
        try:
            stack.compose("up", "-d", "--build", "--wait", timeout=900)
        except RuntimeError as exc:
            logs = stack.compose("logs", "--no-color", "--tail", "50", check=False).stdout
            raise RuntimeError(f"{exc}\n--- logs ---\n{logs}") from exc
        stack.web_url = "http://" + stack.host_address("web", 8000)
        stack.nginx_url = "http://" + stack.host_address("nginx", 80)
        stack.redis_url = f"redis://{stack.host_address('redis', 6379)}/0"
        wait_for_http(stack.web_url + "/")
        wait_for_http(stack.nginx_url + "/")
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", "--rmi", "local", timeout=300, check=False)
        shutil.rmtree(workdir, ignore_errors=True)
