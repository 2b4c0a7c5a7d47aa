"""Running a command with a deadline: the one place where the grader starts processes.

On timeout the whole process tree is stopped (compose and docker spawn children, some in
sessions of their own), and the captured output is capped so a log-spamming build cannot fill
the grader's memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psutil

OUTPUT_CAP_LINES = 400
STDOUT_CAP_BYTES = 16 * 1024 * 1024

# What a command that reads student files may inherit: how to reach the engine and the compose
# plugin, nothing else (no tokens, proxies or CI variables to interpolate into a container).
SCRUBBED_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR", "DOCKER_HOST", "DOCKER_CONFIG",
                     "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION")


def scrubbed_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `docker compose` may interpolate `${VAR}` from: no secrets of the
    grader's end up in a student's container."""
    source = os.environ if environ is None else environ
    return {key: source[key] for key in SCRUBBED_ENV_KEEP if key in source}


@dataclass(frozen=True)
class CommandResult:
    args: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr merged (stderr only with `keep_stdout`), last OUTPUT_CAP_LINES lines
    timed_out: bool
    truncated: bool
    stdout: str = ""  # the whole stdout, with `keep_stdout` (machine-readable output)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_command(args: list[str], *, timeout: float, cwd: str | None = None, env: dict | None = None,
                input_text: str | None = None, keep_stdout: bool = False, grace_s: float = 0) -> CommandResult:
    """Run `args`; with `keep_stdout`, stdout is kept whole (up to 16 MiB) apart from the
    capped, line-cut log of stderr. At the deadline the command gets SIGTERM and `grace_s` to
    end (a grader tears its stack down), then its whole process tree is killed."""
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if keep_stdout else subprocess.STDOUT,
        stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so a timeout kills all of it
    )
    lines: deque[str] = deque(maxlen=OUTPUT_CAP_LINES)
    counted = [0]
    kept = bytearray()

    def pump_lines(stream) -> None:
        while raw := stream.readline(65536):  # a line without end is read in pieces, never whole
            counted[0] += 1
            lines.append(raw.decode("utf-8", errors="replace").rstrip("\n")[:2000])

    def pump_stdout() -> None:
        while chunk := proc.stdout.read(65536):
            if len(kept) < STDOUT_CAP_BYTES:
                kept.extend(chunk[: STDOUT_CAP_BYTES - len(kept)])

    readers = [threading.Thread(target=pump_lines, args=(proc.stderr if keep_stdout else proc.stdout,),
                                daemon=True)]
    if keep_stdout:
        readers.append(threading.Thread(target=pump_stdout, daemon=True))
    for reader in readers:
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
        stop_tree(proc, grace_s)
    except BaseException:  # Ctrl-C while waiting: leave no child behind
        kill_group(proc)
        raise
    for reader in readers:
        reader.join(timeout=5)
    return CommandResult(tuple(args), proc.returncode if proc.returncode is not None else -9,
                         "\n".join(lines), timed_out, counted[0] > OUTPUT_CAP_LINES,
                         kept.decode("utf-8", errors="replace"))


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def stop_tree(proc: subprocess.Popen, grace_s: float = 0) -> None:
    """End `proc` and everything it started, in any session (`docker compose build` runs in a
    group of its own, and outlives a killed parent): SIGTERM first when there is a grace period,
    then SIGKILL to whatever of the tree (as it was before the signal) is still alive."""
    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.Error:
        tree = []
    if grace_s > 0:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    kill_group(proc)
    for process in tree:
        with contextlib.suppress(psutil.Error):
            for child in [process, *process.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    child.kill()


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie (an orphan of a killed grading may wait to be reaped)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: a number no process can have
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
