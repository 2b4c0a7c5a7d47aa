"""Part 4: a WebSocket chat. Every text message goes to every client, sender included."""

import itertools

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

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
    """As in the FastAPI docs (Advanced User Guide, WebSockets)."""

    def __init__(self):
        self.active_connections: list[WebSocket] = []

    async def connect(self, websocket: WebSocket):
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket):
        self.active_connections.remove(websocket)

    async def send_personal_message(self, message: str, websocket: WebSocket):
        await websocket.send_text(message)

    async def broadcast(self, message: str):
        for connection in self.active_connections:
            await connection.send_text(message)


manager = ConnectionManager()
client_ids = itertools.count(1)


@router.get("/", response_class=HTMLResponse)
async def chat_page() -> str:
    return CHAT_PAGE


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket):
    client_id = next(client_ids)
    await manager.connect(websocket)
    try:
        while True:
            data = await websocket.receive_text()
            await manager.broadcast(f"Client #{client_id} says: {data}")
    except WebSocketDisconnect:
        manager.disconnect(websocket)
        await manager.broadcast(f"Client #{client_id} left the chat")
