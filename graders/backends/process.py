"""Running a command with a deadline: the one place where the grader starts processes.

On timeout the whole process group is killed (compose and docker spawn children), and the
captured output is capped so a log-spamming build cannot fill the grader's memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass

OUTPUT_CAP_LINES = 400


@dataclass(frozen=True)
class CommandResult:
    args: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr merged, last OUTPUT_CAP_LINES lines
    timed_out: bool
    truncated: bool

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_command(args: list[str], *, timeout: float, cwd: str | None = None, env: dict | None = None,
                input_text: str | None = None) -> CommandResult:
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so a timeout kills all of it
    )
    lines: deque[str] = deque(maxlen=OUTPUT_CAP_LINES)
    counted = [0]

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            counted[0] += 1
            lines.append(raw.decode("utf-8", errors="replace").rstrip("\n")[:2000])

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if input_text is not None:
        assert proc.stdin is not None
        proc.stdin.write(input_text.encode())
        proc.stdin.close()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
    except BaseException:  # Ctrl-C while waiting: leave no child behind
        kill_group(proc)
        raise
    reader.join(timeout=5)
    return CommandResult(tuple(args), proc.returncode if proc.returncode is not None else -9,
                         "\n".join(lines), timed_out, counted[0] > OUTPUT_CAP_LINES)


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
