"""FastAPI entry point: `uvicorn main:app`. Each lab part lives in its own module in app/."""

from app import background, celery_routes, chat, task_queue
from fastapi import FastAPI

app = FastAPI(title="Lab 4: task queues, WebSockets and Docker")

for part in (background, celery_routes, task_queue, chat):
    app.include_router(part.router)
