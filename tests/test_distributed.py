"""`runner.py batch --queue`: a class graded by two Celery workers through a real Redis, one of
them killed with SIGKILL mid-grading; every row still comes back, once, and nothing is left."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

import docker
import pytest
import redis

from graders.batch.submissions import Submission
from tests.conftest import ROOT, labelled_leftovers
from tests.test_batch import make_class

VISIBILITY_S = 20  # short, so the killed worker's task comes back fast


@pytest.fixture(scope="module")
def broker(docker_engine):
    """A Redis (the stand-in redis:7-alpine) published on an ephemeral loopback port."""
    client = docker.from_env()
    container = client.containers.run("redis:7-alpine", detach=True, ports={"6379/tcp": ("127.0.0.1", None)},
                                      labels={"org.graders.test": "distributed"})
    try:
        deadline = time.monotonic() + 30
        while True:
            container.reload()
            bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get("6379/tcp")
            if bindings:
                url = f"redis://127.0.0.1:{bindings[0]['HostPort']}/0"
                with contextlib.suppress(redis.RedisError):
                    if redis.Redis.from_url(url, socket_timeout=2).ping():
                        break
            assert time.monotonic() < deadline, "the Redis container did not answer"
            time.sleep(0.3)
        yield url
    finally:
        container.remove(force=True, v=True)
        client.close()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a worker and everything it started (as if its machine died), by pid."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as handle:
        return subprocess.Popen([sys.executable, "-m", "celery", "-A", "graders.batch.distributed", "worker",
                                 "--concurrency", "1", "-n", f"{name}@%h", "--loglevel", "INFO"],
                                cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
    return value


@pytest.mark.docker
def test_a_worker_killed_mid_grading_loses_no_row_and_leaves_nothing(tmp_path, broker):
    started = time.monotonic()
    classroom, out, state, work = tmp_path / "class", tmp_path / "out", tmp_path / "state", tmp_path / "work"
    classroom.mkdir()
    expected = make_class(classroom)
    runs = state / "lab4-grader" / "runs"
    env = {**os.environ, "GRADER_BROKER_URL": broker, "GRADER_VISIBILITY_TIMEOUT": str(VISIBILITY_S),
           "GRADER_WORK_DIR": str(work), "XDG_STATE_HOME": str(state), "GRADER_QUEUE_DEADLINE": "600"}
    seen_runs: set[str] = set()  # every run id the workers registered: what must be gone at the end
    watching = threading.Event()

    def watch_runs() -> None:
        while not watching.wait(0.3):
            with contextlib.suppress(FileNotFoundError):
                seen_runs.update(p.name for p in runs.iterdir())

    watcher = threading.Thread(target=watch_runs, daemon=True)
    watcher.start()
    workers = {name: start_worker(name, env, tmp_path / f"{name}.log") for name in ("w1", "w2")}
    batch = None
    try:
        for name in workers:
            wait_for(lambda n=name: "ready." in (tmp_path / f"{n}.log").read_text(), 60, f"{name} to be ready")
        with (tmp_path / "batch.log").open("w") as log:
            batch = subprocess.Popen([sys.executable, str(ROOT / "runner.py"), "batch", str(classroom),
                                      "--queue", broker, "--out", str(out), "--format", "text", "--lang", "en",
                                      "--timeout", "600"],
                                     cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

        def w1_stack_up() -> str | None:
            """The run id of a grading of w1's whose stack has containers."""
            mine = set(descendants(workers["w1"].pid))
            with contextlib.suppress(FileNotFoundError):
                for run in runs.iterdir():
                    with contextlib.suppress(OSError, ValueError):
                        if int(run.read_text()) in mine and labelled_leftovers(run.name):
                            return run.name
            return None

        killed_run = wait_for(w1_stack_up, 400, "w1 to be grading a stack")
        kill_tree(workers["w1"])
        assert labelled_leftovers(killed_run), "the killed grading's stack should be left running"

        batch.wait(timeout=600)
        stderr = (tmp_path / "batch.log").read_text()
        assert batch.returncode == 0, stderr[-3000:]
        with (out / "gradebook.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert sorted(r["submission"] for r in rows) == sorted(expected), "one row per submission, none twice"
        rows_by_name = {r["submission"]: r for r in rows}
        assert {n: r["outcome"] for n, r in rows_by_name.items()} == expected, stderr[-3000:]
        assert rows_by_name["ref_student"]["total"] == "100" and rows_by_name["ref_student"]["bonus"] == "10"
        assert float(rows_by_name["bg_inline"]["total"]) < 100
        assert float(rows_by_name["chat_echo_sender_only"]["total"]) < 100
        assert rows_by_name["no_dockerignore"]["total"] == "100"  # advice, never scored
        assert "no compose file" in rows_by_name["empty_student"]["message"]
        assert "not a valid zip" in rows_by_name["broken"]["message"]
        for name in ("ref_student", "no_dockerignore"):
            assert json.loads((out / name / "report.json").read_text())["score"] == float(rows_by_name[name]["total"])
            assert (out / name / "report.txt").read_text().startswith("Submission:")
        for name in expected:
            assert json.loads((out / name / "batch.json").read_text())["row"]["outcome"] == expected[name]

        # Nothing left: the killed run was cleaned by the surviving worker, and every other run
        # tore itself down; no attempt folder stays in the work dir.
        watching.set()
        watcher.join()
        assert killed_run in seen_runs and len(seen_runs) >= 5
        left = {run: found for run in sorted(seen_runs) if (found := labelled_leftovers(run))}
        assert not left, f"left behind: {left}"
        assert not list(work.iterdir()), list(work.iterdir())
        assert "removed what dead gradings left" in (tmp_path / "w2.log").read_text()
        # Each task was handed out once, but the killed one twice: the live workers kept their
        # claims although every grading outlasted the visibility timeout.
        receipts = [re.findall(r"grade\[([0-9a-f-]+)\] received", (tmp_path / f"{n}.log").read_text())
                    for n in ("w1", "w2")]
        counts = Counter(receipts[0] + receipts[1])
        assert counts.pop(receipts[0][-1]) == 2 and set(counts.values()) == {1} and len(counts) == 5, counts

        # Resumable like the local batch: nothing changed, so nothing is sent again (errors are
        # always retried).
        received = (tmp_path / "w2.log").read_text().count("] received")
        stamps = {n: (out / n / "batch.json").stat().st_mtime_ns for n in expected}
        again = subprocess.run([sys.executable, str(ROOT / "runner.py"), "batch", str(classroom), "--queue", broker,
                                "--out", str(out), "--lang", "en"], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        assert [n for n in expected if (out / n / "batch.json").stat().st_mtime_ns != stamps[n]] == ["broken"]
        assert (tmp_path / "w2.log").read_text().count("] received") == received + 1
    finally:
        watching.set()
        if batch and batch.poll() is None:
            batch.kill()
            batch.wait()
        for proc in workers.values():
            kill_tree(proc)
        print(f"wall time {time.monotonic() - started:.0f} s")


@pytest.mark.docker
def test_rows_that_no_worker_returns_are_reported_lost_not_waited_for_forever(tmp_path, broker, monkeypatch):
    from graders.batch.distributed import grade_all_on_queue

    monkeypatch.setenv("GRADER_VISIBILITY_TIMEOUT", "5")
    (tmp_path / "class" / "a").mkdir(parents=True)
    (tmp_path / "class" / "a" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    queue_db = broker.rsplit("/", 1)[0] + "/7"  # a database no worker listens on
    seen = []
    started = time.monotonic()
    rows = grade_all_on_queue([Submission("a", tmp_path / "class" / "a")], tmp_path / "out", ROOT / "specs" /
                              "lab4.yaml", [], broker=queue_db, timeout_s=60, on_row=seen.append, deadline_s=3,
                              poll_s=0.2)
    assert time.monotonic() - started < 30
    assert [r.outcome for r in rows] == ["error"] and rows[0].message.startswith("lost: no worker returned it")
    assert seen == rows
    assert json.loads((tmp_path / "out" / "a" / "batch.json").read_text())["row"]["outcome"] == "error"
    redis.Redis.from_url(queue_db).flushdb()


def test_a_submission_over_the_cap_is_refused_with_a_clear_message(tmp_path, monkeypatch):
    from graders.batch.distributed import TooBig, pack

    monkeypatch.setenv("GRADER_MAX_TASK_MIB", "0.01")  # about 10 KiB
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "data.bin").write_bytes(os.urandom(64 * 1024))
    with pytest.raises(TooBig, match=r"too big to send to the grader workers: .* MiB zipped, more than"):
        pack(Submission("big", tmp_path / "big"))


def test_a_folder_travels_whole_with_its_file_modes(tmp_path):
    from graders.batch.distributed import _unpack_folder, pack

    source = tmp_path / "alice"
    (source / "app").mkdir(parents=True)
    (source / "app" / "main.py").write_text("print('hi')\n")
    (source / "start.sh").write_text("#!/bin/sh\n")
    (source / "start.sh").chmod(0o755)
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref")
    (source / "link.py").symlink_to("/etc/hostname")
    archive = tmp_path / "sent.zip"
    archive.write_bytes(pack(Submission("alice", source)))
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["alice/", "alice/app/main.py", "alice/start.sh"]
    folder = _unpack_folder(archive, tmp_path / "worker")
    assert folder.name == "alice" and (folder / "app" / "main.py").read_text() == "print('hi')\n"
    assert os.access(folder / "start.sh", os.X_OK)
