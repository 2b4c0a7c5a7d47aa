"""Part 2: HTTP endpoints that hand work to Celery and report on it."""

from typing import Annotated, Any

from celery import states
from celery.result import AsyncResult
from fastapi import APIRouter, Form

from app.celery_app import celery, write_notification

router = APIRouter(prefix="/celery", tags=["celery"])


# Plain `def`: .delay() talks to Redis synchronously, so FastAPI runs it in a thread
# instead of blocking the event loop.
@router.post("/send-notification")
def send_notification(email: Annotated[str, Form()], message: Annotated[str, Form()]) -> dict[str, str]:
    task = write_notification.delay(email, message)
    return {"task_id": task.id}


@router.get("/task/{task_id}")
def task_status(task_id: str) -> dict[str, Any]:
    # One read of the backend: asking twice (ready(), then status) could see the task finish
    # in between and answer SUCCESS with no result.
    meta = AsyncResult(task_id, app=celery)._get_task_meta()
    state, value = meta["status"], meta.get("result")
    if state == states.SUCCESS:
        task_result = value
    elif state in states.EXCEPTION_STATES:
        task_result = repr(value)
    else:
        task_result = None  # while STARTED the backend holds worker info (pid, hostname), not the answer
    return {"task_id": task_id, "task_status": state, "task_result": task_result}
