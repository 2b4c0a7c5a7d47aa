"""Hostile and broken submissions (tests/hostile/), graded for real with `runner.py`: the
policy refuses what would reach outside the submission's containers before anything runs,
and the limits contain what does run. Every grading must still write its report, name the
failing step, exit 0 and leave nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import threading
import time
from pathlib import Path

import docker
import docker.errors
import pytest
import yaml

from graders.backends.base import Limits
from graders.backends.docker import engine_available
from tests.conftest import REFERENCE, ROOT, labelled_leftovers, run_runner

HOSTILE = ROOT / "tests" / "hostile"
RSS_LIMIT_KB = 500 * 1024


@pytest.fixture(scope="module")
def engine():
    """A Docker engine. (Not conftest's `docker_engine`: its end-of-session count of grader
    containers also sees the gradings other sessions run on a shared machine; every test here
    checks its own grading's leftovers by run id instead.)"""
    if not engine_available():
        pytest.fail("no Docker engine answers: run `python -m graders.testbed` first (README)")


def deep_merge(into: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        else:
            into[key] = value
    return into


def materialise(case: str, tmp_path: Path) -> Path:
    """The submission of a case: its base, its compose patch, its files, its symlinks."""
    source = HOSTILE / case
    spec = yaml.safe_load((source / "case.yaml").read_text()) or {}
    dest = tmp_path / case
    if spec.get("base") == "reference":
        shutil.copytree(REFERENCE, dest, ignore=shutil.ignore_patterns("__pycache__", "log.txt"))
    else:
        dest.mkdir(parents=True)
    if spec.get("compose"):
        # A JSON round trip un-shares what the reference's YAML anchors share.
        compose = json.loads(json.dumps(yaml.safe_load((dest / "compose.yaml").read_text())))
        (dest / "compose.yaml").write_text(yaml.safe_dump(deep_merge(compose, spec["compose"]), sort_keys=False))
    for path in source.rglob("*"):
        if path.is_file() and path.name != "case.yaml":
            target = dest / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    for link, target in (spec.get("symlinks") or {}).items():
        (dest / link).unlink(missing_ok=True)
        (dest / link).symlink_to(target)
    return dest


def grade(tmp_path: Path, submission: Path, *parts: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess,
                                                                                         dict, float]:
    out = tmp_path / "report.json"
    args = [a for part in parts for a in ("--part", part)]
    started = time.monotonic()
    proc = run_runner(str(submission), "--format", "json", "--out", str(out), "--lang", "en", "-q", *args,
                      timeout=timeout)
    elapsed = time.monotonic() - started
    assert out.exists(), f"no report written (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(out.read_text())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert labelled_leftovers(report["run_id"]) == [], "the grading left containers, networks or volumes"
    client = docker.from_env()
    images = [t for i in client.images.list() for t in i.tags if f"-{report['run_id']}-" in t]
    client.close()
    assert images == [], f"the grading left its images: {images}"
    return proc, report, elapsed


def summary(report: dict, elapsed: float) -> str:
    t = report["timings"]
    return (f"graded in {elapsed:.0f} s (up {t['up_s']:.0f} s, checks {t['checks_s']:.0f} s, teardown "
            f"{t['teardown_s']:.1f} s), score {report['score']:g}/{report['max_score']:g}")


def statuses(report: dict) -> dict[str, str]:
    return {f"{p['id']}.{c['id']}": c["status"] for p in report["parts"] for c in p["checks"]}


def policy_problem(report: dict) -> str:
    (problem,) = [p for p in report["problems"] if p.startswith("policy: ")]
    return problem


# --- refused before running ------------------------------------------------------------------

@pytest.mark.docker
@pytest.mark.parametrize(("case", "expected"), [
    ("privileged", "service 'web': privileged: true is not allowed"),
    ("docker_socket", "service 'web': volumes: '/var/run/docker.sock' (the Docker socket) is not allowed"),
    ("host_bind_etc", "service 'web': volumes: '/etc:/host-etc' binds a host path outside the submission folder"),
    ("cap_add", "service 'web': cap_add: SYS_ADMIN, NET_ADMIN is not allowed"),
    ("network_mode_host", "service 'web': network_mode: host is not allowed"),
    ("symlink_escape", "symlinks leading outside the submission are not allowed: nginx/default.conf -> /etc/passwd"),
])
def test_a_hostile_submission_is_refused_before_anything_runs(tmp_path, engine, case, expected):
    submission = materialise(case, tmp_path)
    _, report, elapsed = grade(tmp_path, submission, "docker")
    assert expected in policy_problem(report)
    result = statuses(report)
    assert result["docker.image_builds"] == "failed" and result["docker.all_running"] in ("failed", "skipped")
    assert report["timings"]["build_s"] == 0 and elapsed < 120
    assert "root:x:0:0" not in json.dumps(report)  # nothing of the host's files reached the report


@pytest.mark.docker
def test_an_env_file_outside_is_refused_before_compose_config_reads_it(tmp_path, engine):
    submission = materialise("env_file_outside", tmp_path)
    os.mkfifo(tmp_path / "secret.env")  # whoever opens it to read hangs: `compose config` would time out
    _, report, elapsed = grade(tmp_path, submission, "docker")
    assert "service 'web': env_file '../secret.env' is outside the submission folder" in policy_problem(report)
    assert not any(p.startswith("compose-config") for p in report["problems"]) and elapsed < 60


# --- allowed, and contained --------------------------------------------------------------------

def image_id(tag: str) -> str:
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


@pytest.mark.docker
def test_image_beside_build_leaves_the_host_image_alone(tmp_path, engine):
    before = image_id("python:3.11-slim")
    submission = materialise("image_beside_build", tmp_path)
    _, report, elapsed = grade(tmp_path, submission, "docker")
    result = statuses(report)
    assert result["docker.image_builds"] == result["docker.all_running"] == "passed", report["problems"]
    assert image_id("python:3.11-slim") == before
    print(f"image beside build: python:3.11-slim still {before[:19]}; {summary(report, elapsed)}")


@contextlib.contextmanager
def engine_events(*filters: str):
    """The engine's events while the block runs (`docker events` live: its backlog is short
    on a machine busy with other gradings)."""
    args = [a for f in filters for a in ("--filter", f)]
    proc = subprocess.Popen(["docker", "events", *args, "--format", "{{json .}}"], stdout=subprocess.PIPE, text=True)
    seen: list[dict] = []
    try:
        time.sleep(1)  # subscribed before anything happens
        yield seen
    finally:
        time.sleep(2)
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        seen.extend(json.loads(line) for line in out.splitlines() if line.strip())


@pytest.mark.docker
def test_a_memory_hog_is_oom_killed_inside_its_limit_and_the_rest_is_graded(tmp_path, engine):
    submission = materialise("memory_hog", tmp_path)
    with engine_events("event=oom") as events:
        _, report, elapsed = grade(tmp_path, submission, "background", "queue")
    ooms = [e["Actor"]["Attributes"].get("com.docker.compose.service") for e in events
            if e["Actor"]["Attributes"].get("org.graders.run") == report["run_id"]]
    assert ooms and set(ooms) == {"worker"}, events  # killed by the kernel in its own memory cgroup, nothing else
    result = statuses(report)
    assert all(v == "passed" for k, v in result.items() if k.startswith("background.")), result
    assert result["queue.add_task"] == result["queue.status_key"] == "passed", result
    assert result["queue.processed"] == result["queue.drained_later"] == result["queue.worker_survives_idle"] \
        == "failed", result
    assert "hog: survived 2 GB" not in report["service_logs"]["worker"]
    assert elapsed < 400
    print(f"memory hog: {len(ooms)} OOM kill(s) of the worker; {summary(report, elapsed)}")


@contextlib.contextmanager
def peak_pids(name_prefix: str, service: str):
    """The most processes seen in the service's containers (sampled every second)."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        client = docker.from_env()
        while not stop.is_set():
            # a container may vanish between the listing and its stats
            with contextlib.suppress(docker.errors.APIError, ValueError, KeyError, TypeError, OSError):
                for container in client.containers.list(filters={"label": f"com.docker.compose.service={service}"}):
                    if container.name.startswith(name_prefix):
                        stats = container.stats(stream=False)
                        peak[0] = max(peak[0], stats["pids_stats"].get("current", 0))
            stop.wait(1)
        client.close()

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join(timeout=30)


@pytest.mark.docker
def test_a_fork_bomb_hits_the_pids_limit_and_the_rest_is_graded(tmp_path, engine):
    submission = materialise("fork_bomb", tmp_path)
    with peak_pids("grader-fork-bomb-", "worker") as peak:
        _, report, elapsed = grade(tmp_path, submission, "background", "queue", timeout=600)
    assert Limits().pids * 3 // 4 <= peak[0] <= Limits().pids, peak  # it ran, and stopped at the limit
    result = statuses(report)
    assert all(v == "passed" for k, v in result.items() if k.startswith("background.")), result
    assert result["queue.add_task"] == "passed", result
    assert result["queue.processed"] == result["queue.drained_later"] == "failed", result
    assert elapsed < 400 and report["timings"]["teardown_s"] < 60
    print(f"fork bomb: peak {peak[0]} processes; {summary(report, elapsed)}")


@pytest.mark.docker
def test_endless_log_spam_neither_fills_the_disk_nor_the_grader(tmp_path, engine):
    submission = materialise("log_spam", tmp_path)
    _, report, elapsed = grade(tmp_path, submission, "background")
    max_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far: the grader
    assert max_rss_kb < RSS_LIMIT_KB, f"the grader grew to {max_rss_kb // 1024} MB"
    assert "spam" in report["service_logs"] and len(report["service_logs"]["spam"]) < 64 * 1024
    result = statuses(report)
    assert result["background.responds_fast"] == "passed", result
    assert elapsed < 300
    print(f"log spam: grader max RSS {max_rss_kb // 1024} MB; {summary(report, elapsed)}")
