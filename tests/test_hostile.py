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
from graders.validate import apply_patch
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
    """The submission of a case: its base, its patch (`case.patch`, a diff against the reference),
    its compose merge, its files, its symlinks."""
    source = HOSTILE / case
    spec = yaml.safe_load((source / "case.yaml").read_text()) or {}
    dest = tmp_path / case
    if spec.get("base") == "reference":
        shutil.copytree(REFERENCE, dest, ignore=shutil.ignore_patterns("__pycache__", "log.txt"))
    else:
        dest.mkdir(parents=True)
    if (source / "case.patch").is_file():
        failure = apply_patch(source / "case.patch", dest)
        assert not failure, f"{case}/case.patch does not apply to the reference: {failure}"
    if spec.get("compose"):
        # A JSON round trip un-shares what the reference's YAML anchors share.
        compose = json.loads(json.dumps(yaml.safe_load((dest / "compose.yaml").read_text())))
        (dest / "compose.yaml").write_text(yaml.safe_dump(deep_merge(compose, spec["compose"]), sort_keys=False))
    for path in source.rglob("*"):
        if path.is_file() and path.name not in ("case.yaml", "case.patch"):
            target = dest / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    for link, target in (spec.get("symlinks") or {}).items():
        (dest / link).unlink(missing_ok=True)
        (dest / link).symlink_to(target)
    for name, codec in (spec.get("encoding") or {}).items():  # kept in UTF-8 in the repository
        (dest / name).write_bytes((dest / name).read_text(encoding="utf-8").encode(codec))
    for name, mib in (spec.get("sparse") or {}).items():  # big files, made here: nothing big is committed
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        with open(dest / name, "wb") as big:
            big.truncate(mib * 2**20)
    return dest


def grade(tmp_path: Path, submission: Path, *parts: str, timeout: float = 900,
          flags: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, dict, float]:
    out = tmp_path / "report.json"
    args = [a for part in parts for a in ("--part", part)] + list(flags)
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
    assert result["queue.processed"] == result["queue.worker_survives_idle"] == "failed", result
    assert result["queue.drained_later"] == "skipped", result  # it needs `processed`: charged once, there
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
    assert result["queue.processed"] == "failed" and result["queue.drained_later"] == "skipped", result
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


# --- broken: what a student gets wrong must be named, bounded and leave nothing -------------

def grader_rss_mb() -> int:
    """The largest child process so far, in MB: the grader (or one of its docker CLI children)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def check(report: dict, qualified: str) -> dict:
    part, _, check_id = qualified.partition(".")
    (found,) = [c for p in report["parts"] if p["id"] == part for c in p["checks"] if c["id"] == check_id]
    return found


def grade_case(tmp_path: Path, case: str, *parts: str, **options) -> tuple[dict, float]:
    """A case materialised and graded as users run it, held to `no_grader_fault`."""
    proc, report, elapsed = grade(tmp_path, materialise(case, tmp_path), *parts, **options)
    no_grader_fault(proc, report)
    return report, elapsed


def no_grader_fault(proc: subprocess.CompletedProcess, report: dict) -> None:
    """No traceback on stderr, no check in error, no decode error or traceback in the report (the
    service logs aside: a student's server may print its own tracebacks)."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = {k: v for k, v in statuses(report).items() if v == "error"}
    assert not errors, [check(report, k)["message"] for k in errors]
    text = json.dumps({k: v for k, v in report.items() if k != "service_logs"})
    assert "UnicodeDecodeError" not in text, "a decode error reached the report"
    assert "Traceback (most recent call last)" not in text, "a grader traceback reached the report"


def stack_problem(report: dict, *steps: str) -> str:
    """The one problem the bring-up stopped at: it starts with one of `steps`."""
    found = [p for p in report["problems"] if p.split(":", 1)[0] in steps]
    assert len(found) == 1, report["problems"]
    return found[0]


@pytest.mark.docker
@pytest.mark.parametrize(("case", "line"), [("yaml_tab", 24), ("yaml_unclosed", 24)])
def test_invalid_yaml_is_named_with_its_line_and_nothing_runs(tmp_path, engine, case, line):
    report, elapsed = grade_case(tmp_path, case, "docker")
    problem = stack_problem(report, "policy", "compose-config")
    assert "compose.yaml" in problem and f"line {line}" in problem, problem
    assert report["timings"]["build_s"] == 0 and elapsed < 60
    print(f"{case}: {problem.splitlines()[0]}; {summary(report, elapsed)}")


@pytest.mark.docker
@pytest.mark.parametrize(("case", "names"), [
    ("compose_unknown_top", ["servces"]),
    ("compose_unknown_service", ["buildd", "nginx"]),
])
def test_an_unknown_compose_key_is_named(tmp_path, engine, case, names):
    submission = materialise(case, tmp_path)
    proc, report, elapsed = grade(tmp_path, submission, "docker")
    no_grader_fault(proc, report)
    problem = stack_problem(report, "policy", "compose-config")
    assert all(name in problem for name in names), problem
    assert "/submission/" not in problem, problem  # the grader's private copy means nothing to a student
    assert check(report, "docker.image_builds")["status"] == "failed"
    assert report["timings"]["build_s"] == 0 and elapsed < 60
    print(f"{case}: {' | '.join(problem.splitlines())}; {summary(report, elapsed)}")


@pytest.mark.docker
def test_a_port_that_never_opens_ends_the_start_in_time(tmp_path, engine):
    report, elapsed = grade_case(tmp_path, "port_never_opens", "background", flags=("--start-timeout", "20"))
    problem = stack_problem(report, "ready", "start")
    assert problem.startswith("ready: no answer from web (port 8000) within 20 s"), problem
    assert check(report, "background.responds_fast")["status"] == "skipped"
    t = report["timings"]
    start_s = elapsed - t["build_s"] - t["teardown_s"]  # inspect + `up` + waiting for the port
    assert start_s < 20 + 15, f"the start took {start_s:.0f} s with --start-timeout 20"
    assert t["teardown_s"] < 60
    print(f"port never opens: start gave up after {start_s:.0f} s; {summary(report, elapsed)}")


@pytest.mark.docker
def test_an_endpoint_that_hangs_fails_on_its_own_timeout(tmp_path, engine):
    report, elapsed = grade_case(tmp_path, "endpoint_hangs", "background", flags=("--check-timeout", "15"))
    fast = check(report, "background.responds_fast")
    assert fast["status"] == "failed" and "/send-notification/" in fast["message"], fast["message"]
    assert fast["duration_s"] <= 15 + 2
    # log_line has no `needs`: judged on its own, and a request that never returns writes no line
    assert check(report, "background.log_line")["status"] == "failed"
    assert elapsed - report["timings"]["build_s"] < 90
    print(f"endpoint hangs: {fast['message']!r} after {fast['duration_s']:.1f} s; {summary(report, elapsed)}")


@pytest.mark.docker
def test_a_huge_response_is_read_only_in_part(tmp_path, engine):
    # --no-browser: the text search of the page is what is judged here (tests/test_browser_check.py
    # holds the browser's side of a huge page).
    report, elapsed = grade_case(tmp_path, "huge_response", "websocket",
                                 flags=("--check-timeout", "30", "--no-browser"))
    page = check(report, "websocket.chat_page")
    # The page's script comes after 200 MB of filler: judged on the bounded prefix read, it is not there.
    assert page["status"] == "failed" and "new WebSocket(" in page["message"], page
    assert len(page["message"]) < 500 and len(page["details"]) < 4096, page
    assert page["duration_s"] < 20
    assert statuses(report)["websocket.broadcast"] == "passed"  # the chat itself still works
    assert len(json.dumps(report)) < 256 * 1024
    rss = grader_rss_mb()
    assert rss < 300, f"the grader grew to {rss} MB"
    print(f"huge response: {page['message']!r} in {page['duration_s']:.1f} s; grader max RSS {rss} MB; "
          f"{summary(report, elapsed)}")


@pytest.mark.docker
def test_a_binary_page_fails_on_its_content_type(tmp_path, engine):
    report, elapsed = grade_case(tmp_path, "binary_response", "websocket",
                                 flags=("--check-timeout", "30", "--no-browser"))  # the text search is judged
    page = check(report, "websocket.chat_page")
    assert page["status"] == "failed", page
    assert "Content-Type 'application/octet-stream'" in page["message"] and "text/html" in page["message"], page
    assert len(page["message"]) + len(page["details"]) < 4096
    print(f"binary page: {page['message']!r} | {page['details']!r}; {summary(report, elapsed)}")


@pytest.mark.docker
@pytest.mark.parametrize("case", ["ws_flood", "ws_flood_greedy"])
def test_a_flooding_websocket_is_judged_within_bounds(tmp_path, engine, case):
    report, elapsed = grade_case(tmp_path, case, "websocket", flags=("--check-timeout", "30"))
    checks = [c for p in report["parts"] for c in p["checks"]]
    verdicts = "; ".join(f"{c['id']} {c['status']} in {c['duration_s']:.1f} s: {c['message'][:160]!r}"
                         for c in checks)
    rss = grader_rss_mb()
    print(f"{case}: {verdicts}; grader max RSS {rss} MB; {summary(report, elapsed)}")
    assert all(c["duration_s"] <= 30 + 2 for c in checks), verdicts
    assert rss < 300, f"the grader grew to {rss} MB"
    assert elapsed - report["timings"]["build_s"] < 180
    # A failure names what did not answer (the request, the client), not only the check's timeout.
    assert not any(c["message"].startswith("no verdict within") for c in checks), verdicts
    if case == "ws_flood":
        # The server does broadcast every chat message to everyone, the flood besides: the verdict
        # must be the chat's, not an artefact of the grader dropping frames.
        assert all(c["status"] == "passed" for c in checks if c["graded"] and c["id"] != "chat_in_browser"), verdicts
        # A browser's page freezes under the flood, as a classmate's would: that check fails, saying why.
        browser = check(report, "websocket.chat_in_browser")
        assert browser["status"] == "failed" and "WebSocket messages" in browser["message"], browser


@pytest.mark.docker
@pytest.mark.parametrize(("case", "expected"), [
    ("ws_silent", "did not receive"),
    ("ws_never_accepts", "could not open a websocket"),
])
def test_a_websocket_that_never_answers_fails_clearly(tmp_path, engine, case, expected):
    # --no-browser: the page's text is fine (chat_page passes); the socket is what fails.
    report, elapsed = grade_case(tmp_path, case, "websocket", flags=("--check-timeout", "30", "--no-browser"))
    broadcast = check(report, "websocket.broadcast")
    assert broadcast["status"] == "failed" and expected in broadcast["message"], broadcast
    if case == "ws_silent":
        assert "within 2 s" in broadcast["message"], broadcast
    else:
        assert "handshake" in broadcast["message"] or "timed out" in broadcast["message"], broadcast
    assert broadcast["duration_s"] < 15
    result = statuses(report)
    assert result["websocket.five_clients"] == result["websocket.survives_disconnects"] == "skipped", result
    assert result["websocket.chat_page"] == "passed", result
    print(f"{case}: {broadcast['message']!r} after {broadcast['duration_s']:.1f} s; {summary(report, elapsed)}")


@pytest.mark.docker
def test_a_dockerfile_in_cp1251_is_built_and_read(tmp_path, engine):
    submission = materialise("dockerfile_cp1251", tmp_path)
    with pytest.raises(UnicodeDecodeError):
        (submission / "Dockerfile").read_text(encoding="utf-8")  # the case is what it says
    proc, report, elapsed = grade(tmp_path, submission, "docker")
    no_grader_fault(proc, report)
    result = statuses(report)
    assert result["docker.image_builds"] == "passed", report["problems"]
    rules = {k: check(report, k)["message"] for k in ("docker.cmd_exec_form", "docker.requirements_first")}
    assert all(result[k] == "passed" for k in rules), rules  # comments aside, it is the reference's Dockerfile
    print(f"Dockerfile in cp1251: {result}; {summary(report, elapsed)}")


@pytest.mark.docker
def test_a_compose_file_in_cp1251_is_graded_or_named(tmp_path, engine):
    report, elapsed = grade_case(tmp_path, "compose_cp1251", "docker")
    result = statuses(report)
    if result["docker.image_builds"] != "passed":  # rejected: the report must say why in words a student acts on
        problem = stack_problem(report, "policy", "compose-config")
        assert "compose.yaml" in problem and ("UTF-8" in problem or "utf-8" in problem), problem
    print(f"compose.yaml in cp1251: {result}; problems {report['problems']}; {summary(report, elapsed)}")


@pytest.mark.docker
def test_a_main_py_in_latin1_is_graded(tmp_path, engine):
    report, elapsed = grade_case(tmp_path, "main_latin1", "docker")
    result = statuses(report)
    assert result["docker.image_builds"] == result["docker.all_running"] == "passed", report["problems"]
    print(f"main.py in latin-1 (a comment): {result}; {summary(report, elapsed)}")


@pytest.mark.docker
def test_a_main_py_in_latin1_that_python_refuses_fails_the_start(tmp_path, engine):
    report, elapsed = grade_case(tmp_path, "main_latin1_literal", "docker")
    problem = stack_problem(report, "start", "ready")
    assert "service 'web' exited" in problem and "codec can't decode" in problem, problem
    assert check(report, "docker.image_builds")["status"] == "failed"
    print(f"main.py in latin-1 (a string): {' | '.join(problem.splitlines()[:1] + problem.splitlines()[-3:])}; "
          f"{summary(report, elapsed)}")


def allocated_mb(folder: Path) -> tuple[int, int]:
    """(apparent, allocated on disk) MB of the files under `folder`."""
    apparent = allocated = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            apparent += info.st_size
            allocated += info.st_blocks * 512
    return apparent // 2**20, allocated // 2**20


@pytest.mark.docker
def test_a_600_mb_submission_is_refused_with_its_size(tmp_path, engine):
    submission = materialise("huge_file_600mb", tmp_path)
    proc, report, elapsed = grade(tmp_path, submission, "docker")
    no_grader_fault(proc, report)
    assert "the submission's files add up to 600 MB, more than the 512 MB allowed" in policy_problem(report)
    assert report["timings"]["build_s"] == 0 and elapsed < 60
    print(f"600 MB file: refused in {elapsed:.1f} s")


@pytest.mark.docker
def test_a_300_mb_file_is_copied_built_and_cleaned_up(tmp_path, engine, monkeypatch):
    submission = materialise("huge_file_300mb", tmp_path)
    assert allocated_mb(submission)[1] < 10  # sparse: the test itself takes no disk
    # What the grader's private copy costs (the same call as DockerBackend._private_copy).
    started = time.monotonic()
    shutil.copytree(submission, tmp_path / "copy", symlinks=True, ignore=shutil.ignore_patterns(".git"))
    copy_s = time.monotonic() - started
    copy_apparent, copy_allocated = allocated_mb(tmp_path / "copy")
    shutil.rmtree(tmp_path / "copy")
    # The grader's temporary work folder goes here, so what it leaves is seen.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    try:
        proc, report, elapsed = grade(tmp_path, submission, "docker")
        left_allocated = allocated_mb(scratch)[1]
        left = sorted(p.relative_to(scratch).as_posix() for p in scratch.iterdir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # what the grader left here, never kept by this test
    no_grader_fault(proc, report)
    result = statuses(report)
    print(f"300 MB file: copytree {copy_s:.1f} s, the copy takes {copy_allocated} MB on disk for {copy_apparent} MB "
          f"apparent; build {report['timings']['build_s']:.0f} s; left in the grader's temp folder: "
          f"{left_allocated} MB; {result}; {summary(report, elapsed)}")
    assert result["docker.image_builds"] == "passed", report["problems"]
    assert elapsed < 600
    assert left_allocated < 1, f"the grading left {left_allocated} MB in its temporary folder: {left}"
