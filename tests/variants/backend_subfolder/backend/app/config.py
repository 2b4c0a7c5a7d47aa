"""Settings read from environment variables, with defaults that fit compose.yaml."""

import os

# "redis" is the service name in compose.yaml; Docker's DNS resolves it.
REDIS_URL = os.getenv("REDIS_URL", "redis://redis:6379/0")
# Redis list used by our hand-made queue (RPUSH in the API, BLPOP in worker.py).
QUEUE_NAME = os.getenv("QUEUE_NAME", "task_queue")
# Relative path: the file lands in the container's working directory (/app).
LOG_FILE = os.getenv("LOG_FILE", "log.txt")
# How long every demo job pretends to work, in seconds.
JOB_SECONDS = float(os.getenv("JOB_SECONDS", "5"))
