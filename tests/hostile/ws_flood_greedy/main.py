"""/ws sends frames to every client in a loop that never yields while the socket takes them: the
flood hogs the server's event loop, so new clients and GET / wait."""

import asyncio
import contextlib

from app import background, celery_routes, chat, task_queue
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI(title="Lab 4: a flooding chat")


async def flood(websocket: WebSocket) -> None:
    n = 0
    with contextlib.suppress(Exception):
        while True:
            n += 1
            await websocket.send_text(f"flood {n} " + "x" * 200)


@app.websocket("/ws")
async def flooding_chat(websocket: WebSocket) -> None:
    await chat.manager.connect(websocket)
    flooder = asyncio.create_task(flood(websocket))
    try:
        while True:
            await chat.manager.broadcast(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
    finally:
        flooder.cancel()
        chat.manager.disconnect(websocket)


for part in (background, celery_routes, task_queue, chat):  # chat's own /ws comes after this one
    app.include_router(part.router)
