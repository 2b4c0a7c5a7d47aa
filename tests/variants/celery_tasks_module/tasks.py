"""Celery tasks in a module of their own. Worker: celery -A tasks worker --loglevel=info"""

import os
import time
from datetime import datetime

from celery import Celery

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")

celery_app = Celery("tasks", broker=REDIS_URL, backend=REDIS_URL)
celery_app.conf.task_track_started = True


@celery_app.task
def send_email_notification(email: str, message: str) -> str:
    time.sleep(5)
    with open("log.txt", "a") as f:
        f.write(f"notification for {email}: {message} (celery, {datetime.now()})\n")
    return f"Notification sent to {email}"
