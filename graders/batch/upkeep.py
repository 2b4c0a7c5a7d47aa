"""What a grader worker's machine needs while tasks run, shared by the Celery task
(distributed.py) and the worker command (worker_main.py): `sweep_dead_runs` removes what
gradings whose worker was killed left behind, and `Claim` keeps a running task from being
handed out again."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
from pathlib import Path

from graders.backends.process import pid_alive
from graders.backends.runs import run_alive, runs_dir

log = logging.getLogger("graders.batch.worker")


def _run_dead(run_id: str) -> bool:
    if not run_alive(run_id):
        return True
    with contextlib.suppress(OSError, ValueError):
        return not pid_alive(int((runs_dir() / run_id).read_text()))
    return False


def sweep_dead_runs(work_root: Path) -> list[str]:
    """`runner.py clean` for the runs registered on this host whose grader process is gone
    (a worker killed mid-grading), and the work folders of dead attempts. A live grading,
    and labelled resources not registered here, are never touched."""
    from graders.backends.docker.cleanup import remove_run

    removed: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        for run_id in [p.name for p in runs_dir().iterdir() if _run_dead(p.name)]:
            removed += remove_run(run_id)
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
