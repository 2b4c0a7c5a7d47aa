"""Ctrl-C, SIGTERM and SIGKILL in the middle of a grading: nothing is left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import docker
import pytest

from tests.conftest import ROOT, labelled_leftovers, run_runner
from tests.test_hostile import materialise

pytestmark = pytest.mark.docker


def start_grading(tmp_path) -> tuple[subprocess.Popen, str]:
    """Start grading a submission whose first check hangs (its endpoint never answers, and the
    check may wait 600 s): the grading is certainly still running whenever the signal lands.
    Returns once the stack is up, with the run id."""
    submission = materialise("endpoint_hangs", tmp_path)
    proc = subprocess.Popen([sys.executable, str(ROOT / "runner.py"), str(submission), "--part", "background",
                             "--check-timeout", "600"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "COLUMNS": "1000"})  # progress lines unwrapped
    run_id, deadline = None, time.monotonic() + 600
    for line in proc.stderr:
        if match := re.search(r"as run ([0-9a-f]+)", line):
            run_id = match.group(1)
        if line.strip() == "» start":
            break
        assert time.monotonic() < deadline, "grading did not reach its start"
    assert run_id, "the runner did not print its run id"
    client = docker.from_env()
    while not client.containers.list(filters={"label": [f"org.graders.run={run_id}",
                                                        "com.docker.compose.service=web"]}):
        assert time.monotonic() < deadline, "the stack did not start"
        time.sleep(0.5)
    client.close()
    time.sleep(3)  # the web answers and the hanging check has begun (either way, mid-grading)
    return proc, run_id


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_grading_tears_the_stack_down(docker_engine, tmp_path, signum):
    proc, run_id = start_grading(tmp_path)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "torn down" in err, err
    assert "Traceback" not in err and "never retrieved" not in err, err  # one line, no noise
    assert labelled_leftovers(run_id) == []


def test_clean_removes_what_a_killed_grading_left(docker_engine, tmp_path):
    proc, run_id = start_grading(tmp_path)
    proc.kill()  # SIGKILL: no teardown can run
    proc.wait(timeout=30)
    assert labelled_leftovers(run_id), "a SIGKILLed grading should have left its stack"
    listing = run_runner("clean", "--dry-run")
    assert f"run {run_id}: would remove" in listing.stdout
    cleaned = run_runner("clean", "--run", run_id)
    assert cleaned.returncode == 0, cleaned.stderr
    assert labelled_leftovers(run_id) == []
