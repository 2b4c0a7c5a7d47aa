"""Part 2: endpoints that hand work to the Celery app in tasks.py."""

from celery.result import AsyncResult
from fastapi import APIRouter, Form

from tasks import celery_app, send_email_notification

router = APIRouter(prefix="/celery")


@router.post("/send-notification")
async def send_notification(email: str = Form(...), message: str = Form(...)):
    task = send_email_notification.delay(email, message)
    return {"task_id": task.id, "status": "queued"}


@router.get("/task/{task_id}")
async def get_status(task_id: str):
    result = AsyncResult(task_id, app=celery_app)
    return {
        "task_id": task_id,
        "task_status": result.status,
        "task_result": result.result if result.successful() else None,
    }
