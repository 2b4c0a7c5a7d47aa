"""Part 3: a hand-made task queue on a Redis list, with plain `def` endpoints and sync redis-py
(FastAPI runs them in its thread pool)."""

import json
import uuid

import redis
from fastapi import APIRouter, Body

from app.config import QUEUE_NAME, REDIS_URL

router = APIRouter(tags=["queue"])
r = redis.Redis.from_url(REDIS_URL, decode_responses=True)


@router.post("/add-task/")
def add_task(data: dict = Body(...)):
    task_id = str(uuid.uuid4())
    task = {"id": task_id, "data": data, "status": "pending"}
    r.set(f"task:{task_id}", json.dumps(task))
    r.rpush(QUEUE_NAME, json.dumps(task))
    return {"task_id": task_id}


@router.get("/task/{task_id}")
def get_task(task_id: str):
    value = r.get(f"task:{task_id}")
    if not value:
        return {"task_id": task_id, "status": "not found"}
    task = json.loads(value)
    return {"task_id": task_id, "status": task["status"], "task": task}
