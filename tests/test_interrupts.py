"""Ctrl-C, SIGTERM and SIGKILL in the middle of a grading: nothing is left behind."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REFERENCE, ROOT, labelled_leftovers, run_runner

pytestmark = pytest.mark.docker


def start_grading() -> tuple[subprocess.Popen, str]:
    """Start grading the reference; return once its checks are running, with the run id."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "runner.py"), str(REFERENCE), "--part", "queue"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    run_id, deadline = None, time.monotonic() + 600
    for line in proc.stderr:
        if match := re.search(r"as run ([0-9a-f]+)", line):
            run_id = match.group(1)
        if line.lstrip().startswith(("✔", "✘", "–", "!")):  # the first check result: the stack is up
            break
        assert time.monotonic() < deadline, "grading did not reach its checks"
    assert run_id, "the runner did not print its run id"
    assert labelled_leftovers(run_id), "expected a running stack to interrupt"
    return proc, run_id


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_grading_tears_the_stack_down(docker_engine, signum):
    proc, run_id = start_grading()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "torn down" in err
    assert labelled_leftovers(run_id) == []


def test_clean_removes_what_a_killed_grading_left(docker_engine):
    proc, run_id = start_grading()
    proc.kill()  # SIGKILL: no teardown can run
    proc.wait(timeout=30)
    assert labelled_leftovers(run_id), "a SIGKILLed grading should have left its stack"
    listing = run_runner("clean", "--dry-run")
    assert f"run {run_id}: would remove" in listing.stdout
    cleaned = run_runner("clean", "--run", run_id)
    assert cleaned.returncode == 0, cleaned.stderr
    assert labelled_leftovers(run_id) == []
