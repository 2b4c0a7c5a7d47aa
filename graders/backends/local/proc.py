"""The local backend's processes: one `Replica` per process of a service (a container, in
Docker's terms) with its own copy of the image files, its capped log, start, stop, restart
policies, and finding what a killed grading left running."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from graders.backends.local.env import wrap_hosts
from graders.backends.local.launch import RUN_ENV, Launch, map_env
from graders.backends.local.rewrite import map_path_arg


class CappedLog:
    """A process's output in a file that keeps only about the last `cap` bytes: a pump thread
    appends, and cuts the file back to `cap` whenever it passes twice that."""

    def __init__(self, path: Path, cap: int):
        self.path, self.cap = path, cap
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        self.threads: list[threading.Thread] = []

    def write(self, data: bytes) -> None:
        with self.lock:
            with open(self.path, "ab") as out:
                out.write(data)
                size = out.tell()
            if size > 2 * self.cap:
                with open(self.path, "rb") as src:
                    src.seek(-self.cap, os.SEEK_END)
                    tail = src.read()
                cut = tail.find(b"\n")
                tail = tail[cut + 1:] if 0 <= cut < 4096 else tail
                with open(self.path, "wb") as out:
                    out.write(f"[... earlier output cut: logs keep the last {self.cap // 1024} KB]\n".encode() + tail)

    def pump(self, stream) -> None:
        def run() -> None:
            with contextlib.suppress(OSError, ValueError):
                while chunk := os.read(stream.fileno(), 65536):
                    self.write(chunk)
            with contextlib.suppress(OSError):
                stream.close()
        thread = threading.Thread(target=run, daemon=True, name=f"log-{self.path.name}")
        thread.start()
        self.threads.append(thread)

    def tail(self, lines: int) -> str:
        with self.lock:
            try:
                text = self.path.read_bytes()[-self.cap:].decode("utf-8", errors="replace")
            except FileNotFoundError:
                return ""
        return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


@dataclass
class Replica:
    service: str
    index: int
    root: Path  # stands for the container's /
    cwd: Path  # its WORKDIR
    log: CappedLog
    env: dict[str, str] = field(default_factory=dict)
    policy: str = "no"  # compose's restart:
    proc: subprocess.Popen | None = None
    killed: bool = False  # its group was sent SIGKILL after it ended: never signal that pgid again
    stopped: bool = False  # stopped on purpose: no restart policy applies
    restarts: int = 0
    restart_at: float = 0.0  # a restart is due then (Docker's "restarting")
    started_at: float = 0.0

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def state(self) -> str:
        if self.running():
            return "running"
        return "restarting" if self.restart_at or self.will_restart() else "exited"

    def will_restart(self) -> bool:
        """Compose's `restart:` policy (no, always, unless-stopped, on-failure[:N]) applies."""
        if self.policy == "no" or self.stopped or self.proc is None or self.running():
            return False
        if self.policy.startswith("on-failure") and self.exit_code() == 0:
            return False
        limit = self.policy.partition(":")[2]
        return not (limit.isdigit() and self.restarts >= int(limit))

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()


def new_replica(service: str, index: int, launch: Launch, root: Path, log: Path, log_cap: int) -> Replica:
    """A fresh "container": a copy of the image files (or an empty folder for redis)."""
    if launch.image is not None:
        shutil.copytree(launch.image.root, root, symlinks=True)
    cwd = root / launch.workdir.lstrip("/")
    cwd.mkdir(parents=True, exist_ok=True)
    replica = Replica(service, index, root, cwd, CappedLog(log, log_cap), policy=launch.restart)
    replica.env = {k: map_env(k, v, root) for k, v in launch.env.items()}
    return replica


def spawn(replica: Replica, launch: Launch, hosts: Path | None) -> None:
    """Start the replica's process in its own session (so a signal reaches its whole group),
    output to its capped log; with `hosts`, behind a private /etc/hosts."""
    argv = [map_path_arg(a, replica.root) for a in launch.argv]
    if launch.kind == "redis":
        argv += ["--dir", str(replica.cwd)]
    elif argv[0].startswith("/") and not os.path.exists(argv[0]):  # /usr/local/bin/python of the image
        argv[0] = shutil.which(os.path.basename(argv[0]), path=replica.env.get("PATH")) or argv[0]
    if hosts is not None:
        argv = wrap_hosts(hosts, argv)
    replica.stopped, replica.killed, replica.restart_at, replica.started_at = False, False, 0.0, time.monotonic()
    try:
        replica.proc = subprocess.Popen(argv, cwd=replica.cwd, env=replica.env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        replica.log.write(f"cannot start {argv[0]}: {exc}\n".encode())
        replica.proc = subprocess.Popen(["sh", "-c", "exit 127"], start_new_session=True)
        return
    replica.log.pump(replica.proc.stdout)


def signal_group(proc: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def stop_replicas(replicas: list[Replica], grace_s: float) -> None:
    """SIGTERM to every process group at once, SIGKILL to what is left after the grace."""
    for replica in replicas:
        replica.stopped, replica.restart_at = True, 0.0
        if replica.running():
            signal_group(replica.proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for replica in replicas:
        if replica.proc is None or replica.killed:
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            replica.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        signal_group(replica.proc, signal.SIGKILL)  # children that outlived their leader, too
        replica.killed = True
        with contextlib.suppress(subprocess.TimeoutExpired):
            replica.proc.wait(timeout=5)
        for thread in replica.log.threads:
            thread.join(timeout=1)


def restart_due(replica: Replica, now: float) -> bool:
    """Whether to start an exited replica again now, by its restart policy; Docker's delay
    doubles from 0.1 s up to a minute and resets after 10 s of running."""
    if not replica.will_restart():
        return False
    if not replica.restart_at:
        if now - replica.started_at > 10:
            replica.restarts = 0
        replica.restart_at = now + min(0.1 * 2 ** replica.restarts, 60)
        return False
    if now >= replica.restart_at:
        replica.restarts += 1
        return True
    return False


def local_runs() -> dict[str, list[int]]:
    """Live processes of local gradings, by run id (from the LAB4_GRADER_RUN variable every
    service process carries): for `runner.py clean` and for tests."""
    found: dict[str, list[int]] = {}
    prefix = f"{RUN_ENV}=".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            for item in (entry / "environ").read_bytes().split(b"\0"):
                if item.startswith(prefix):
                    found.setdefault(item[len(prefix):].decode(errors="replace"), []).append(int(entry.name))
        except (OSError, IndexError):
            continue
    return found


def processes_of_run(run_id: str) -> list[int]:
    return local_runs().get(run_id, [])


def kill_run(run_id: str) -> list[int]:
    """SIGKILL every process a grading left running (when its grader was killed)."""
    pids = processes_of_run(run_id)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids
