"""Part 3: a hand-made task queue on a Redis list.

The API RPUSHes tasks onto the list and worker.py BLPOPs them: first in, first out.
The key task:<id> holds the task's current state, which GET /task/{id} reads.
"""

import json
import uuid
from typing import Any

import redis.asyncio as redis
from fastapi import APIRouter

from app.config import QUEUE_NAME, REDIS_URL

router = APIRouter(tags=["queue"])

# One connection pool for the whole app; connections open lazily on first use.
redis_client = redis.from_url(REDIS_URL, decode_responses=True)


def task_key(task_id: str) -> str:
    return f"task:{task_id}"


async def enqueue(data: dict[str, Any]) -> str:
    task_id = str(uuid.uuid4())
    payload = json.dumps({"id": task_id, "data": data, "status": "pending"})
    # MULTI/EXEC: the status key and the queue entry appear together, so a worker
    # never picks up a task whose key does not exist yet.
    async with redis_client.pipeline(transaction=True) as pipe:
        pipe.set(task_key(task_id), payload)
        pipe.rpush(QUEUE_NAME, payload)
        await pipe.execute()
    return task_id


@router.post("/add-task/")
async def add_task(data: dict[str, Any]) -> dict[str, str]:
    return {"task_id": await enqueue(data)}


@router.get("/task/{task_id}")
async def get_task(task_id: str) -> dict[str, Any]:
    raw = await redis_client.get(task_key(task_id))
    if raw is None:
        return {"task_id": task_id, "status": "not found"}
    task = json.loads(raw)
    task.pop("id", None)
    return {"task_id": task_id, **task}
