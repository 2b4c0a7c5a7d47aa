"""Part 2: HTTP endpoints that hand work to Celery and report on it."""

from typing import Annotated, Any

from celery.result import AsyncResult
from fastapi import APIRouter, Form

from app.celery_app import celery, write_notification

router = APIRouter(prefix="/celery", tags=["celery"])


# Plain `def`: .delay() talks to Redis synchronously, so FastAPI runs it in a thread
# instead of blocking the event loop.
@router.post("/send-notification")
def send_notification(email: Annotated[str, Form()], message: Annotated[str, Form()]) -> dict[str, str]:
    task = write_notification.delay(email, message)
    task.get(timeout=30)  # mistake: waits for the worker, so the request takes the whole job
    return {"task_id": task.id}


@router.get("/task/{task_id}")
def task_status(task_id: str) -> dict[str, Any]:
    result = AsyncResult(task_id, app=celery)
    # While STARTED, .result holds worker info (pid, hostname), not the answer.
    if not result.ready():
        task_result = None
    elif result.successful():
        task_result = result.result
    else:
        task_result = repr(result.result)
    return {"task_id": task_id, "task_status": result.status, "task_result": task_result}
