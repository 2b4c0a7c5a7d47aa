"""Part 2: the Celery application and its task.

Start a worker with: celery -A app.celery_app.celery worker --loglevel=info
"""

import time

from celery import Celery

from app.config import JOB_SECONDS, REDIS_URL
from app.notify import save_notification

# Redis is both the broker (the task queue) and the result backend
# (results are stored under the keys celery-task-meta-<id>).
celery = Celery("lab4", broker=REDIS_URL, backend=REDIS_URL)
celery.conf.update(
    # Report STARTED while the task runs, not just PENDING until it is done.
    task_track_started=True,
    # Keep retrying if Redis is not up yet when the worker starts.
    broker_connection_retry_on_startup=True,
    # Drop stored results after a day so Redis does not grow forever.
    result_expires=24 * 3600,
)


@celery.task
def write_notification(email: str, message: str) -> str:
    # A worker process is busy anyway, so a plain blocking sleep is fine here.
    time.sleep(JOB_SECONDS)
    save_notification(email, message)
    return f"Notification sent to {email}"
