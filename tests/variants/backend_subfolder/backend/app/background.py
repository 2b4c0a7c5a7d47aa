"""Part 1: FastAPI BackgroundTasks.

The job runs in the web process after the response is sent, so the client does not wait.
It is lost if the web container stops: fine for a notification, not for real work.
"""

import asyncio

from fastapi import APIRouter, BackgroundTasks

from app.config import JOB_SECONDS
from app.notify import save_notification

router = APIRouter(tags=["background"])


async def write_notification(email: str, message: str) -> None:
    # asyncio.sleep, not time.sleep: the event loop keeps serving other requests.
    await asyncio.sleep(JOB_SECONDS)
    save_notification(email, message)


@router.get("/send-notification/{email}")
async def send_notification(
    email: str, background_tasks: BackgroundTasks, message: str = "some notification"
) -> dict[str, str]:
    background_tasks.add_task(write_notification, email, message)
    return {"message": "Notification sent in the background"}
