"""Part 3: the queue worker. Run it with `python worker.py`; scale it with
`docker compose up --scale worker=3` - BLPOP hands each task to exactly one worker.
"""

import json
import logging
import signal
import time
from datetime import datetime

import redis
from app.config import JOB_SECONDS, QUEUE_NAME, REDIS_URL

# BLPOP waits at most this long, then the loop checks the stop flag again,
# so `docker compose stop` does not have to wait for the 10 s SIGKILL.
BLPOP_TIMEOUT = 2
RECONNECT_DELAY = 2

logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
log = logging.getLogger("worker")

stopping = False


def request_stop(signum: int, _frame: object) -> None:
    global stopping
    stopping = True
    log.info("got signal %s, stopping after the current task", signum)


def save(client: redis.Redis, task: dict, **changes: str) -> None:
    task.update(changes)
    client.set(f"task:{task['id']}", json.dumps(task))


def process(client: redis.Redis, raw: str) -> None:
    try:
        task = json.loads(raw)
        task_id = task["id"]
    except (ValueError, TypeError, KeyError):
        # A malformed entry must not kill the worker: log it and move on.
        log.error("skipping a malformed queue entry: %r", raw[:200])
        return
    log.info("task %s: processing", task_id)
    save(client, task, status="processing", started_at=datetime.now().isoformat())
    time.sleep(JOB_SECONDS)  # the "work"
    save(client, task, status="completed", finished_at=datetime.now().isoformat())
    log.info("task %s: completed", task_id)


def main() -> None:
    signal.signal(signal.SIGTERM, request_stop)  # docker stop
    signal.signal(signal.SIGINT, request_stop)  # Ctrl+C
    # socket_timeout must exceed the BLPOP timeout, or an idle BLPOP reads as a dead socket.
    client = redis.Redis.from_url(
        REDIS_URL, decode_responses=True, socket_timeout=BLPOP_TIMEOUT + 5, socket_connect_timeout=5
    )
    log.info("waiting for tasks on %r", QUEUE_NAME)
    while not stopping:
        try:
            item = client.blpop([QUEUE_NAME], timeout=BLPOP_TIMEOUT)
            if item is not None:
                _queue, raw = item
                process(client, raw)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Redis restarted or is not up yet: wait and try again (redis-py reconnects).
            # A task taken just before the failure is lost: this queue is at-most-once.
            log.warning("redis unavailable (%s), retrying in %s s", exc, RECONNECT_DELAY)
            time.sleep(RECONNECT_DELAY)
    log.info("stopped")


if __name__ == "__main__":
    main()
