"""GET / answers random bytes as application/octet-stream instead of the chat page."""

import os

from app import background, celery_routes, chat, task_queue
from fastapi import FastAPI, Response

app = FastAPI(title="Lab 4: a binary page")


@app.get("/")
def binary_page() -> Response:
    return Response(os.urandom(256 * 1024), media_type="application/octet-stream")


for part in (background, celery_routes, task_queue, chat):  # chat's own `/` comes after this one
    app.include_router(part.router)
