"""/ws never completes the handshake: it sleeps before accept()."""

import asyncio

from app import background, celery_routes, chat, task_queue
from fastapi import FastAPI, WebSocket

app = FastAPI(title="Lab 4: a chat that never accepts")


@app.websocket("/ws")
async def sleepy_chat(websocket: WebSocket) -> None:
    await asyncio.sleep(600)
    await websocket.accept()


for part in (background, celery_routes, task_queue, chat):  # chat's own /ws comes after this one
    app.include_router(part.router)
