import json
import time
import uuid
from asyncio import sleep
from datetime import datetime
from typing import Any, Dict

import redis
from celery import Celery
from celery.result import AsyncResult
from fastapi import BackgroundTasks, FastAPI, Form, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

app = FastAPI()

# ---------- 1. Фоновые задачи ----------


async def write_notification(email: str, message=""):
    await sleep(5)
    with open("log.txt", mode="a+") as email_file:
        content = f"notification for {email}: {message} saved. Timestamp: {datetime.now()}\n"
        email_file.write(content)


@app.get("/send-notification/{email}")
async def send_notification(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(write_notification, email, message="some notification")
    return {"message": "Notification sent in the background"}


# ---------- 2. Celery ----------

# Initialize Celery
celery = Celery(__name__)
celery.conf.broker_url = "redis://redis:6379/0"
celery.conf.result_backend = "redis://redis:6379/0"


@celery.task(name="write_notification")
def write_notification_task(email: str, message: str = ""):
    time.sleep(5)
    with open("log.txt", mode="a+") as email_file:
        content = f"notification for {email}: {message} saved. Timestamp: {datetime.now()}\n"
        email_file.write(content)
    return f"Notification sent to {email}"


@app.post("/celery/send-notification")
async def celery_send_notification(email: str = Form(), message: str = Form()):
    task = write_notification_task.delay(email, message=message)
    return {"task_id": task.id, "message": "Notification sent in the background"}


@app.get("/celery/task/{task_id}")
async def celery_task_status(task_id: str):
    task_result = AsyncResult(task_id)
    return {"task_id": task_id, "task_status": task_result.status, "task_result": task_result.result}


# ---------- 3. Своя очередь ----------

redis_client = redis.Redis(host="redis", port=6379, db=0)
Queue_NAME = "task_queue"


# Функция для добавления задачи в очередь
def enqueue_task(task_data: Dict[str, Any]):
    task_id = str(uuid.uuid4())
    task = {
        "id": task_id,
        "data": task_data,
        "status": "pending"
    }

    redis_client.rpush(Queue_NAME, json.dumps(task))
    redis_client.set(f"task:{task_id}", json.dumps(task))
    return task_id


@app.post("/add-task/")
async def add_task(task_data: Dict[str, Any]):
    task_id = enqueue_task(task_data)
    return {"task_id": task_id}


@app.get("/task/{task_id}")
async def get_task(task_id: str):
    task = redis_client.get(f"task:{task_id}")
    if task is None:
        return {"task_id": task_id, "status": "not found"}
    return json.loads(task)


# ---------- 4. Чат ----------

html = """
<!DOCTYPE html>
<html>
    <head>
        <title>Chat</title>
    </head>
    <body>
        <h1>WebSocket Chat</h1>
        <form action="" id="form">
            <input type="text" id="messageText" autocomplete="off"/>
            <button>Send</button>
        </form>
        <div id='messages'></div>
        <script>
            var ws = new WebSocket("ws://localhost:8000/ws");
            var form = document.getElementById('form');
            var input = document.getElementById('messageText');
            var messages = document.getElementById('messages');

            ws.onmessage = function (event) {
                var messageItem = document.createElement('div');
                messageItem.textContent = event.data;
                messages.appendChild(messageItem);
            };

            form.onsubmit = function (event) {
                event.preventDefault();
                ws.send(input.value);
                input.value = '';
            };
        </script>
    </body>
</html>
"""


@app.get("/")
async def get():
    return HTMLResponse(html)


active_connections = []


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket):
    await websocket.accept()
    active_connections.append(websocket)
    try:
        while True:
            data = await websocket.receive_text()
            for connection in active_connections:
                await connection.send_text(data)
    except WebSocketDisconnect:
        active_connections.remove(websocket)
