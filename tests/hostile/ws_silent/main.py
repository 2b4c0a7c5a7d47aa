"""/ws accepts the connection, then never reads and never sends."""

import asyncio

from app import background, celery_routes, chat, task_queue
from fastapi import FastAPI, WebSocket

app = FastAPI(title="Lab 4: a silent chat")


@app.websocket("/ws")
async def silent_chat(websocket: WebSocket) -> None:
    await websocket.accept()
    await asyncio.Event().wait()  # never set


for part in (background, celery_routes, task_queue, chat):  # chat's own /ws comes after this one
    app.include_router(part.router)
