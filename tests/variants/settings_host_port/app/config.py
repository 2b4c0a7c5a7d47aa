"""Settings: the Redis host and port come from the environment, like any other service address."""

import os

REDIS_HOST = os.getenv("REDIS_HOST", "localhost")
REDIS_PORT = int(os.getenv("REDIS_PORT", "6379"))
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
QUEUE_NAME = "task_queue"
LOG_FILE = "log.txt"
JOB_SECONDS = 5
