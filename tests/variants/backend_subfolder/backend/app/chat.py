"""Part 4: a WebSocket chat. Every text message goes to every client, sender included."""

import asyncio
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

logger = logging.getLogger(__name__)
router = APIRouter(tags=["chat"])

# Inline page for the demo; the script builds the URL from location, so it works on any
# host and port, and behind nginx (ws:// on http, wss:// on https).
CHAT_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <title>Lab 4 chat</title>
</head>
<body>
    <h1>WebSocket chat</h1>
    <form id="form">
        <input id="text" type="text" autocomplete="off" placeholder="Message" required>
        <button>Send</button>
    </form>
    <ul id="messages"></ul>
    <script>
        const ws = new WebSocket(
            (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws"
        );
        const messages = document.getElementById("messages");
        const input = document.getElementById("text");
        ws.onmessage = (event) => {
            const item = document.createElement("li");
            item.textContent = event.data;  // textContent, not innerHTML: no HTML injection
            messages.appendChild(item);
        };
        document.getElementById("form").onsubmit = (event) => {
            event.preventDefault();
            ws.send(input.value);
            input.value = "";
        };
    </script>
</body>
</html>
"""


class ConnectionManager:
    """Keeps the open connections of this process and broadcasts to them."""

    def __init__(self, send_timeout: float = 5.0) -> None:
        self.active_connections: set[WebSocket] = set()
        self.send_timeout = send_timeout

    async def connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.active_connections.add(websocket)

    def disconnect(self, websocket: WebSocket) -> None:
        self.active_connections.discard(websocket)

    async def _send(self, websocket: WebSocket, text: str) -> None:
        try:
            # A timeout, so one stuck client cannot hold up the sender's loop for long.
            await asyncio.wait_for(websocket.send_text(text), self.send_timeout)
        except Exception as exc:  # any failure means this client is gone
            logger.info("dropping a dead connection: %r", exc)
            self.disconnect(websocket)

    async def broadcast(self, text: str) -> None:
        # Send to all clients concurrently; iterate over a copy because _send may remove.
        await asyncio.gather(*(self._send(ws, text) for ws in list(self.active_connections)))


manager = ConnectionManager()


@router.get("/", response_class=HTMLResponse)
async def chat_page() -> str:
    return CHAT_PAGE


@router.websocket("/ws")
async def chat(websocket: WebSocket) -> None:
    await manager.connect(websocket)
    try:
        while True:
            text = await websocket.receive_text()
            await manager.broadcast(text)
    except WebSocketDisconnect:
        pass
    finally:
        # Also runs on unexpected errors, so the set never keeps a dead socket.
        manager.disconnect(websocket)
