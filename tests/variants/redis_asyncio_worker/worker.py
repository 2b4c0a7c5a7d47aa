"""Part 3: the queue worker, on redis.asyncio like the API. Run it with `python worker.py`."""

import asyncio
import json
from datetime import datetime

import redis.asyncio as redis
from app.config import JOB_SECONDS, QUEUE_NAME, REDIS_URL


async def set_task(client: redis.Redis, task: dict) -> None:
    await client.set(f"task:{task['id']}", json.dumps(task))


async def handle(client: redis.Redis, raw: str) -> None:
    task = json.loads(raw)
    task["status"] = "processing"
    task["started_at"] = datetime.now().isoformat()
    await set_task(client, task)
    await asyncio.sleep(JOB_SECONDS)
    task["status"] = "completed"
    task["finished_at"] = datetime.now().isoformat()
    await set_task(client, task)
    print(f"task {task['id']} completed", flush=True)


async def main() -> None:
    client = redis.from_url(REDIS_URL, decode_responses=True)
    print("worker started", flush=True)
    while True:
        item = await client.blpop([QUEUE_NAME], timeout=1)
        if item is None:
            continue
        _, raw = item
        await handle(client, raw)


if __name__ == "__main__":
    asyncio.run(main())
