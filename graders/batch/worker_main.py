"""`python -m graders.batch.worker_main [CELERY WORKER OPTIONS]`: one grader worker.

The grader image's command. It checks what a worker needs (a Docker engine, a work folder
it can write), then runs `celery worker` on the lab4-grader queue with one grading at a time
(GRADER_CONCURRENCY), a node name unique even on `network_mode: host`, and the settings of
graders/batch/distributed.py (broker from GRADER_BROKER_URL). Extra arguments go to Celery.

Also what the task needs on a worker's machine: `sweep_dead_runs` (the leftovers of gradings
whose worker was killed) and `Claim` (keeps a running task from being handed out again).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

from graders.backends.process import pid_alive

log = logging.getLogger("graders.batch.worker")


def _run_dead(run_id: str) -> bool:
    from graders.cleanup import run_alive, runs_dir

    if not run_alive(run_id):
        return True
    with contextlib.suppress(OSError, ValueError):
        return not pid_alive(int((runs_dir() / run_id).read_text()))
    return False


def sweep_dead_runs(work_root: Path) -> list[str]:
    """`runner.py clean` for the runs registered on this host whose grader process is gone
    (a worker killed mid-grading), and the work folders of dead attempts. A live grading,
    and labelled resources not registered here, are never touched."""
    from graders.cleanup import find_leftovers, remove, runs_dir, unregister_run

    removed: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        dead = [p.name for p in runs_dir().iterdir() if _run_dead(p.name)]
        if dead:
            import docker

            client = docker.from_env(timeout=60)
            for run_id in dead:
                for leftovers in find_leftovers(client, run_id).values():
                    removed += leftovers.names()
                    remove(leftovers)
                unregister_run(run_id)
            client.close()
    with contextlib.suppress(FileNotFoundError):
        for attempt in work_root.iterdir():
            with contextlib.suppress(OSError, ValueError):
                if not pid_alive(int((attempt / "owner").read_text())):
                    shutil.rmtree(attempt, ignore_errors=True)
    if removed:
        log.warning("removed what dead gradings left: %s", ", ".join(removed))
    return removed


class Claim(threading.Thread):
    """Keeps this task's entry in the Redis transport's unacked index fresh while it runs, so
    the message is redelivered only once its worker has stopped claiming it (died)."""

    def __init__(self, broker: str, task_id: str, every_s: float):
        super().__init__(daemon=True, name="claim")
        self.broker, self.task_id, self.every_s, self.stopped = broker, task_id, every_s, threading.Event()

    def run(self) -> None:
        import redis

        try:
            client = redis.Redis.from_url(self.broker)
        except Exception:  # noqa: BLE001 - not Redis: plain visibility semantics
            return
        while not self.stopped.wait(self.every_s):
            try:
                for tag, raw in client.hscan_iter("unacked"):
                    if json.loads(raw)[0].get("headers", {}).get("id") == self.task_id:
                        client.zadd("unacked_index", {tag: time.time()}, xx=True)
            except Exception as exc:  # noqa: BLE001 - a missed refresh risks a duplicate, no more
                log.warning("could not refresh the claim on %s: %s", self.task_id, exc)




def _is_mount_point(path: Path) -> bool:
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return True  # cannot tell: do not refuse
    return any(line.split()[4] == str(path) for line in mounts if len(line.split()) > 4)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from graders.backends.docker import engine_available
    from graders.batch.distributed import app, work_root

    if not engine_available():
        print("grader worker: no Docker engine answers; mount the host's /var/run/docker.sock "
              "(see docs/distributed.md)", file=sys.stderr)
        return 2
    work = work_root().resolve()
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"grader worker: cannot create the work folder {work}: {exc}", file=sys.stderr)
        return 2
    if Path("/.dockerenv").exists() and not _is_mount_point(work):
        print(f"grader worker: {work} is not a mount: in a container, bind-mount the host folder of the SAME "
              f"path there ({work}:{work}), or student bind mounts will point at nothing", file=sys.stderr)
        return 2
    name = os.environ.get("GRADER_WORKER_NAME") or f"grader-{secrets.token_hex(3)}@{socket.gethostname()}"
    app.worker_main(["worker", "--loglevel", os.environ.get("GRADER_LOG_LEVEL", "INFO"),
                     "--concurrency", os.environ.get("GRADER_CONCURRENCY", "1"), "-n", name, *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
