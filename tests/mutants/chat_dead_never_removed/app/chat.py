"""Part 4: a WebSocket chat. Every text message goes to every client, sender included."""

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

    def __init__(self) -> None:
        self.active_connections: list[WebSocket] = []

    async def connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket) -> None:
        self.active_connections.remove(websocket)

    async def broadcast(self, text: str) -> None:
        # Mistake: one try around the whole loop, and dead connections stay in the list: the
        # first dead one ends every broadcast, so everyone who joined after it gets nothing.
        try:
            for connection in self.active_connections:
                await connection.send_text(text)
        except Exception as exc:
            logger.info("broadcast failed: %r", exc)


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
        logger.info("client left")  # mistake: never removed from active_connections
