"""Which gradings are alive: each registers its run id with its PID in a small state file, so
`runner.py clean` (and a batch worker's sweep) removes only runs whose grader is gone (killed
with SIGKILL, a crashed machine), never a grading still in progress. Both backends register."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from graders.backends.process import pid_alive


def runs_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "lab4-grader" / "runs"


def register_run(run_id: str) -> None:
    runs_dir().mkdir(parents=True, exist_ok=True)
    (runs_dir() / run_id).write_text(str(os.getpid()))


def unregister_run(run_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (runs_dir() / run_id).unlink()


def run_alive(run_id: str) -> bool:
    try:
        pid = int((runs_dir() / run_id).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return pid_alive(pid)
