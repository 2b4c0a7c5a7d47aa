"""`python -m graders.batch.worker_main [CELERY WORKER OPTIONS]`: one grader worker.

The grader image's command. It checks what a worker needs (a Docker engine, a work folder
it can write), then runs `celery worker` on the lab4-grader queue with one grading at a time
(GRADER_CONCURRENCY), a node name unique even on `network_mode: host`, and the settings of
graders/batch/distributed.py (broker from GRADER_BROKER_URL). Extra arguments go to Celery.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path

from graders.backends import docker_available
from graders.batch.distributed import app, work_root


def _is_mount_point(path: Path) -> bool:
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return True  # cannot tell: do not refuse
    return any(line.split()[4] == str(path) for line in mounts if len(line.split()) > 4)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not docker_available():
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
