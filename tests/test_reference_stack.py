"""End-to-end tests of reference/: real Docker Compose stack, Redis, HTTP and WebSockets.

The lab's jobs sleep 5 s; every bound below leaves a wide margin for a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

pytestmark = pytest.mark.docker


# ---------- helpers ----------


def random_email() -> str:
    return f"user-{secrets.token_hex(4)}@example.com"


def random_text() -> str:
    return f"hello {secrets.token_hex(3)} world {secrets.token_hex(3)}"


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.3) -> Any:
    """Call `check` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def follow_status(url: str, field: str, final: str, timeout: float) -> tuple[list[str], dict]:
    """Poll a status endpoint; return the distinct states seen, in order, and the final JSON."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        if not seen or seen[-1] != body[field]:
            seen.append(body[field])
        if body[field] == final:
            return seen, body
        assert time.monotonic() < deadline, f"still {seen} after {timeout} s"
        time.sleep(0.2)


def add_task(stack, payload: dict) -> str:
    response = httpx.post(f"{stack.web_url}/add-task/", json=payload, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def running_containers(stack, service: str) -> int:
    return len(stack.compose("ps", "--status", "running", "-q", service).stdout.split())


@pytest.fixture
def redis_client(reference_stack):
    client = redis.Redis.from_url(reference_stack.redis_url, decode_responses=True)
    yield client
    client.close()


# ---------- part 1: BackgroundTasks ----------


def test_background_notification_answers_at_once_and_is_logged_later(reference_stack):
    email, message = random_email(), random_text()
    started = time.monotonic()
    response = httpx.get(
        f"{reference_stack.web_url}/send-notification/{email}", params={"message": message}, timeout=10
    )
    assert time.monotonic() - started < 1.0
    assert response.status_code == 200
    assert "message" in response.json()

    expected = f"notification for {email}: {message}"
    # The job sleeps ~5 s first, so the line must not be there yet.
    assert expected not in reference_stack.read_file("web", "log.txt")
    wait_for(lambda: expected in reference_stack.read_file("web", "log.txt"), timeout=20, interval=1)


# ---------- part 2: Celery ----------


def test_celery_task_goes_pending_to_success_with_result_in_redis(reference_stack, redis_client):
    email, message = random_email(), random_text()
    started = time.monotonic()
    response = httpx.post(
        f"{reference_stack.web_url}/celery/send-notification",
        data={"email": email, "message": message},
        timeout=10,
    )
    assert time.monotonic() - started < 1.0
    assert response.status_code == 200, response.text
    task_id = response.json()["task_id"]

    seen, final = follow_status(
        f"{reference_stack.web_url}/celery/task/{task_id}", "task_status", "SUCCESS", timeout=30
    )
    assert seen[0] in {"PENDING", "STARTED"}, seen
    assert set(seen) <= {"PENDING", "STARTED", "SUCCESS"}, seen
    assert final == {
        "task_id": task_id,
        "task_status": "SUCCESS",
        "task_result": f"Notification sent to {email}",
    }

    meta = json.loads(redis_client.get(f"celery-task-meta-{task_id}"))
    assert meta["status"] == "SUCCESS"
    assert meta["result"] == f"Notification sent to {email}"

    expected = f"notification for {email}: {message}"
    wait_for(
        lambda: expected in reference_stack.read_file("celery_worker", "log.txt"), timeout=10, interval=1
    )


# ---------- part 3: the Redis queue ----------


def test_queued_task_goes_pending_processing_completed(reference_stack, redis_client):
    payload = {"job": secrets.token_hex(4), "n": 7}
    task_id = add_task(reference_stack, payload)
    assert uuid.UUID(task_id).version == 4

    stored = json.loads(redis_client.get(f"task:{task_id}"))
    assert stored["id"] == task_id
    assert stored["data"] == payload

    seen, final = follow_status(
        f"{reference_stack.web_url}/task/{task_id}", "status", "completed", timeout=25
    )
    assert "processing" in seen, seen
    assert set(seen) <= {"pending", "processing", "completed"}, seen
    assert final["task_id"] == task_id

    done = json.loads(redis_client.get(f"task:{task_id}"))
    assert done["status"] == "completed"
    worked = datetime.fromisoformat(done["finished_at"]) - datetime.fromisoformat(done["started_at"])
    assert worked.total_seconds() >= 4


def test_unknown_task_id_answers_not_found(reference_stack):
    task_id = str(uuid.uuid4())
    response = httpx.get(f"{reference_stack.web_url}/task/{task_id}", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"task_id": task_id, "status": "not found"}


def test_task_waits_in_list_without_worker_and_is_drained_later(reference_stack, redis_client):
    started = time.monotonic()
    reference_stack.backend.stop_service("worker")  # through the backend: an exit it expects
    # An idle worker must exit on SIGTERM by itself, long before Docker's 10 s SIGKILL.
    assert time.monotonic() - started < 8
    try:
        payload = {"held": secrets.token_hex(4)}
        task_id = add_task(reference_stack, payload)
        time.sleep(1)
        queued = [json.loads(item) for item in redis_client.lrange("task_queue", 0, -1)]
        assert {"id": task_id, "data": payload, "status": "pending"} in queued
        assert httpx.get(f"{reference_stack.web_url}/task/{task_id}", timeout=5).json()["status"] == "pending"
    finally:
        reference_stack.backend.restore()
    follow_status(f"{reference_stack.web_url}/task/{task_id}", "status", "completed", timeout=30)


def test_worker_skips_malformed_queue_entries(reference_stack, redis_client):
    redis_client.rpush("task_queue", "this is not json", "[1, 2, 3]", '{"no": "id"}')
    task_id = add_task(reference_stack, {"after": "garbage"})
    follow_status(f"{reference_stack.web_url}/task/{task_id}", "status", "completed", timeout=30)
    assert running_containers(reference_stack, "worker") == 1


def test_three_worker_replicas_process_three_tasks_concurrently(reference_stack, redis_client):
    reference_stack.backend.scale("worker", 3)  # through the backend: removing the extras is no death
    try:
        wait_for(lambda: running_containers(reference_stack, "worker") == 3, timeout=60)
        time.sleep(1)  # let the new workers reach their BLPOP
        ids = [add_task(reference_stack, {"replica_job": n}) for n in range(3)]
        for task_id in ids:
            follow_status(f"{reference_stack.web_url}/task/{task_id}", "status", "completed", timeout=60)
        tasks = [json.loads(redis_client.get(f"task:{task_id}")) for task_id in ids]
        starts = [datetime.fromisoformat(task["started_at"]) for task in tasks]
        ends = [datetime.fromisoformat(task["finished_at"]) for task in tasks]
        # Run in parallel: every task started before any finished (serially it takes ~15 s).
        assert max(starts) < min(ends), tasks
    finally:
        reference_stack.backend.restore()


# ---------- part 4: WebSocket chat ----------


async def receive_all(ws: ClientConnection, expected: set[str], timeout: float = 2.0) -> None:
    """Wait until every text in `expected` has arrived on `ws`."""
    missing = set(expected)

    async def collect() -> None:
        while missing:
            missing.discard(await ws.recv())

    try:
        await asyncio.wait_for(collect(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"not received within {timeout} s: {missing}") from None


async def open_clients(url: str, count: int) -> list[ClientConnection]:
    clients = [await connect(url, open_timeout=10) for _ in range(count)]
    await asyncio.sleep(0.2)  # let the server register the last one
    return clients


async def exchange(url: str, count: int) -> None:
    """Each of `count` clients sends a text; every client must get all of them."""
    clients = await open_clients(url, count)
    try:
        texts = {random_text() for _ in clients}
        for ws, text in zip(clients, texts, strict=True):
            await ws.send(text)
        await asyncio.gather(*(receive_all(ws, texts) for ws in clients))
    finally:
        await asyncio.gather(*(ws.close() for ws in clients))


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/ws"


def test_chat_page_opens_websocket_built_from_location(reference_stack):
    response = httpx.get(reference_stack.web_url + "/", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for needle in ("new WebSocket(", "/ws", "location.host", "<form"):
        assert needle in response.text


@pytest.mark.parametrize("count", [2, 5])
def test_chat_message_reaches_every_client_including_sender(reference_stack, count):
    asyncio.run(exchange(ws_url(reference_stack.web_url), count))


def test_chat_works_through_nginx(reference_stack):
    page = httpx.get(reference_stack.nginx_url + "/", timeout=5)
    assert page.status_code == 200
    assert "new WebSocket(" in page.text
    asyncio.run(exchange(ws_url(reference_stack.nginx_url), 2))


def test_vanished_client_does_not_stop_broadcast(reference_stack):
    url = ws_url(reference_stack.web_url)

    async def scenario() -> None:
        alice, bob, ghost, leaver = await open_clients(url, 4)
        ghost.transport.abort()  # vanishes: TCP torn down, no close frame
        await leaver.close()  # leaves politely
        await asyncio.sleep(0.2)
        for _ in range(2):  # the first broadcast may still hit the dead socket
            text = random_text()
            await alice.send(text)
            await asyncio.gather(receive_all(alice, {text}), receive_all(bob, {text}))
        newcomer = await connect(url, open_timeout=10)
        await asyncio.sleep(0.2)
        text = random_text()
        await bob.send(text)
        await asyncio.gather(*(receive_all(ws, {text}) for ws in (alice, bob, newcomer)))
        await asyncio.gather(alice.close(), bob.close(), newcomer.close())

    asyncio.run(asyncio.wait_for(scenario(), 60))


# ---------- part 5: the stack stays up ----------


def test_every_service_keeps_running_after_idling(reference_stack):
    time.sleep(12)  # longer than redis-py 8's default 5 s socket timeout, which kills bare BLPOPs
    states = reference_stack.compose("ps", "-a", "--format", "{{.Service}} {{.State}}").stdout.split("\n")
    services = dict(line.split() for line in states if line.strip())
    assert set(services) == {"web", "redis", "worker", "celery_worker", "nginx"}, services
    assert set(services.values()) == {"running"}, services
