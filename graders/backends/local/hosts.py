"""Service host names through the machine's own /etc/hosts, for containers that run the grader as
root without CAP_SYS_ADMIN (Gradescope-like): no mount namespace there, but the container's
/etc/hosts is its own and writable.

Each grading adds one marked block (`# lab4-grader run ID pid PID begin` ... `end`) and removes
it at teardown; a block whose grader is dead is cleared by the next grading. Two live gradings
cannot both own a name such as `redis`, so a grading that finds its names taken gets False and
falls back to environment variables. The file is rewritten in place (Docker bind-mounts it: a
rename over it fails), under a lock shared by the gradings of this machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Mapping
from pathlib import Path

from graders.backends.process import pid_alive

HOSTS = Path("/etc/hosts")
_BLOCK = re.compile(r"^# lab4-grader run (?P<run>\S+) pid (?P<pid>\d+) begin\n(?P<body>.*?)"
                    r"^# lab4-grader run (?P=run) end\n", re.M | re.S)


def hosts_writable(path: Path = HOSTS) -> bool:
    return path.is_file() and os.access(path, os.W_OK)


def _lock_path(path: Path) -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / f"lab4-grader-{path.name}.lock"


def _names(body: str) -> set[str]:
    return {name.lower() for line in body.splitlines() for name in line.split("#", 1)[0].split()[1:]}


def _rewrite(path: Path, change) -> bool:
    """Apply `change(text) -> new text | None` to the file under the lock; None: leave it."""
    with open(_lock_path(path), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(path, "r+", encoding="utf-8", errors="replace") as hosts:
            text = hosts.read()
            new = change(text)
            if new is None:
                return False
            hosts.seek(0)
            hosts.write(new)
            hosts.truncate()
    return True


def _without_dead(text: str) -> str:
    return _BLOCK.sub(lambda m: m.group(0) if pid_alive(int(m.group("pid"))) else "", text)


def claim_names(run_id: str, addresses: Mapping[str, str], path: Path = HOSTS) -> bool:
    """Add `addresses` (name -> address) to the hosts file for this run; False (and nothing
    written) when a live grading holds one of the names already."""
    wanted = {name.lower() for name in addresses}

    def change(text: str) -> str | None:
        text = _without_dead(text)
        if any(_names(m.group("body")) & wanted for m in _BLOCK.finditer(text)):
            return None
        by_address: dict[str, list[str]] = {}
        for name, address in addresses.items():
            by_address.setdefault(address, []).append(name)
        block = [f"# lab4-grader run {run_id} pid {os.getpid()} begin",
                 *(f"{address}\t{' '.join(sorted(names))}" for address, names in by_address.items()),
                 f"# lab4-grader run {run_id} end"]
        return text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(block) + "\n"

    try:
        return _rewrite(path, change)
    except OSError:
        return False


def release_names(run_id: str, path: Path = HOSTS) -> None:
    """Remove this run's block (and any dead grading's)."""
    def change(text: str) -> str:
        return _BLOCK.sub(lambda m: "" if m.group("run") == run_id else m.group(0), _without_dead(text))

    with contextlib.suppress(OSError):
        _rewrite(path, change)
