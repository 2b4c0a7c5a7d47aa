#!/bin/sh
# Start the API once Redis answers; `exec` makes uvicorn PID 1, so it gets docker's SIGTERM.
set -e
until python -c "import redis, os; redis.Redis.from_url(os.environ['REDIS_URL']).ping()" 2>/dev/null; do
    echo "waiting for redis..."
    sleep 1
done
exec uvicorn main:app --host 0.0.0.0 --port 8000
