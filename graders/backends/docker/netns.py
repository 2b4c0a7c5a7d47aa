"""Running a program of the grader's own inside a container's network namespace.

A chat page often hard-codes `ws://localhost:8000/ws`, as the lecture does. A browser the grader
runs in the web container's network namespace sees the web service at localhost:8000, exactly as
the student's browser did, while the program itself stays on the host (no image to build, and
Playwright still talks to it over a pipe). `nsenter` needs root (CAP_SYS_ADMIN and ptrace access
to the container's process), and the engine's processes must be visible in this PID namespace;
where either is missing (rootless Docker, a remote engine, an unprivileged grader container),
`can_enter_networks()` says no and the grading falls back to what needs no browser.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

DOCKERD_PIDFILE = Path("/var/run/docker.pid")


def entry_argv(pid: int) -> list[str]:
    """The argv prefix that runs a program in the network namespace of process `pid`."""
    return ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]


def _dockerd_pid() -> int | None:
    """The engine's PID as this PID namespace sees it: its pidfile, else a scan of /proc."""
    try:
        pid = int(DOCKERD_PIDFILE.read_text().strip())
        if Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd":
            return pid
    except (OSError, ValueError):
        pass
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "dockerd":
                return int(comm.parent.name)
        except (OSError, ValueError):
            continue
    return None


@functools.lru_cache(maxsize=1)
def can_enter_networks() -> bool:
    """Whether `nsenter` into the engine's namespaces works from here: tried once, for real
    (capabilities, seccomp and AppArmor all have a say), then remembered."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("nsenter")):
        return False
    pid = _dockerd_pid()
    if pid is None:
        return False
    try:
        return subprocess.run([*entry_argv(pid), "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def network_pid(container) -> int:
    """The PID whose network namespace is the container's; 0 when it is not running."""
    return int((container.attrs.get("State") or {}).get("Pid") or 0)
