"""Each check type against the session's reference stack: it passes where the reference is
right, and fails, with a message a student can act on, where the expectation is not met."""

from __future__ import annotations

import secrets
import time

import docker
import httpx
import pytest

pytestmark = pytest.mark.docker


def token() -> str:
    return secrets.token_hex(4)


# --- http -----------------------------------------------------------------------------------

def test_http_passes_and_saves_a_value(reference_stack):
    variables = {"payload": {"k": token()}}
    ctx = reference_stack.context(variables)
    body = {"method": "POST", "path": "/add-task/", "json": "{payload}",
            "expect": {"status": 200, "json_keys": ["task_id"]}, "save": {"tid": "task_id"}}
    outcome = reference_stack.check("http", body, ctx=ctx)
    assert outcome.passed, outcome.message
    assert len(ctx.variables["tid"]) == 36


def test_http_wrong_status_shows_status_and_body(reference_stack):
    outcome = reference_stack.check("http", {"path": "/no-such-page", "expect": {"status": 200}})
    assert not outcome.passed
    assert "answered 404, expected 200" in outcome.message and "Not Found" in outcome.message


def test_http_json_mismatch_names_the_field(reference_stack):
    outcome = reference_stack.check("http", {"path": f"/task/{token()}",
                                             "expect": {"json": {"status": "completed"}}})
    assert not outcome.passed and 'status: expected "completed", got "not found"' in outcome.message


def test_http_latency_bound_is_enforced(reference_stack):
    outcome = reference_stack.check("http", {"path": "/", "expect": {"max_latency_s": 0.000001}})
    assert not outcome.passed and "expected under" in outcome.message


def test_http_json_schema_is_checked(reference_stack):
    schema = {"type": "object", "required": ["task_id", "status"], "properties": {"status": {"type": "integer"}}}
    outcome = reference_stack.check("http", {"path": f"/task/{token()}", "expect": {"json_schema": schema}})
    assert not outcome.passed and "does not match the schema" in outcome.message


# --- log ------------------------------------------------------------------------------------

def test_log_finds_the_background_line(reference_stack):
    email, message = f"log-{token()}@example.org", f"msg {token()}"
    httpx.get(f"{reference_stack.web_url}/send-notification/{email}", params={"message": message}, timeout=10)
    outcome = reference_stack.check("log", {"role": "web", "file": "log.txt",
                                            "contains": f"notification for {email}: {message}", "within_s": 20})
    assert outcome.passed, outcome.message


def test_log_missing_line_fails_with_the_last_lines(reference_stack):
    outcome = reference_stack.check("log", {"role": "web", "file": "log.txt", "contains": f"never-{token()}",
                                            "within_s": 1})
    assert not outcome.passed and "within 1 s" in outcome.message


def test_log_missing_file_says_where_it_looked(reference_stack):
    outcome = reference_stack.check("log", {"role": "redis", "file": f"{token()}.txt", "contains": "x",
                                            "within_s": 0.5})
    assert not outcome.passed and "never appeared" in outcome.message


# --- redis ----------------------------------------------------------------------------------

def test_redis_key_json_matches_after_add_task(reference_stack):
    payload = {"k": token()}
    task_id = httpx.post(f"{reference_stack.web_url}/add-task/", json=payload, timeout=5).json()["task_id"]
    outcome = reference_stack.check("redis", {"key": f"task:{task_id}", "json": {"id": task_id, "data": payload}})
    assert outcome.passed, outcome.message


def test_redis_missing_key_fails(reference_stack):
    outcome = reference_stack.check("redis", {"key": f"task:{token()}", "json": {"status": "pending"}})
    assert not outcome.passed and "has no key" in outcome.message


def test_redis_list_without_a_matching_element_fails(reference_stack):
    outcome = reference_stack.check("redis", {"list": "task_queue", "contains_json": {"id": token()}})
    assert not outcome.passed and "task_queue" in outcome.message


# --- lifecycle ------------------------------------------------------------------------------

def test_lifecycle_follows_a_queued_task_to_completed(reference_stack):
    task_id = httpx.post(f"{reference_stack.web_url}/add-task/", json={"k": 1}, timeout=5).json()["task_id"]
    outcome = reference_stack.check("lifecycle", {"http": {"path": f"/task/{task_id}"}, "field": "status",
                                                  "states": ["processing", "completed"],
                                                  "allowed": ["pending", "processing", "completed"],
                                                  "within_s": 25})
    assert outcome.passed, outcome.message
    assert "processing -> completed" in outcome.message


def test_lifecycle_fails_at_once_on_a_status_not_allowed(reference_stack):
    outcome = reference_stack.check("lifecycle", {"http": {"path": f"/task/{token()}"}, "field": "status",
                                                  "states": ["completed"], "allowed": ["pending", "completed"],
                                                  "within_s": 20})
    assert not outcome.passed and "'not found'" in outcome.message


def test_lifecycle_fails_when_a_state_is_skipped(reference_stack):
    # A task already completed reaches the final state without the `processing` step seen.
    task_id = httpx.post(f"{reference_stack.web_url}/add-task/", json={"k": 2}, timeout=5).json()["task_id"]
    assert reference_stack.check("lifecycle", {"redis": {"key": f"task:{task_id}"}, "field": "status",
                                               "states": ["completed"], "within_s": 25}).passed
    outcome = reference_stack.check("lifecycle", {"redis": {"key": f"task:{task_id}"}, "field": "status",
                                                  "states": ["processing", "completed"], "within_s": 5})
    assert not outcome.passed and "without passing through" in outcome.message


# --- websocket ------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario,clients", [("broadcast", 3), ("disconnects", 4)])
def test_websocket_scenarios_pass_on_the_reference(reference_stack, scenario, clients):
    outcome = reference_stack.check("websocket", {"path": "/ws", "scenario": scenario, "clients": clients,
                                                  "within_s": 2})
    assert outcome.passed, outcome.message


def test_websocket_refused_handshake_names_the_route_the_app_has(reference_stack):
    outcome = reference_stack.check("websocket", {"path": "/no-ws", "scenario": "broadcast", "clients": 1})
    assert not outcome.passed
    assert outcome.message == "expected a websocket route /no-ws; your app has /ws (web:8000/no-ws answered HTTP 403)"


# --- stack, compose, dockerfile ---------------------------------------------------------------

def test_stack_running_notices_a_stopped_service_and_restore_brings_it_back(reference_stack):
    before = reference_stack.check("stack", {"running": "all"})
    assert before.passed, before.message
    reference_stack.backend.stop_service("worker")
    try:
        outcome = reference_stack.check("stack", {"running": ["worker"]})
        assert not outcome.passed and "'worker' is exited" in outcome.message
    finally:
        reference_stack.backend.restore()
    assert reference_stack.check("stack", {"running": ["worker"]}).passed
    assert not reference_stack.backend.dirty


def test_compose_depends_on_passes_and_fails(reference_stack):
    assert reference_stack.check("compose", {"rule": "depends_on", "role": "web", "target": "redis"}).passed
    outcome = reference_stack.check("compose", {"rule": "depends_on", "role": "web", "target": "celery"})
    assert not outcome.passed and "does not depend_on 'celery_worker'" in outcome.message


@pytest.mark.parametrize("rule", ["cmd_uvicorn_exec_form", "requirements_before_code", "dockerignore",
                                  "from_python"])
def test_dockerfile_rules_pass_on_the_reference(reference_stack, rule):
    outcome = reference_stack.check("dockerfile", {"rule": rule})
    assert outcome.passed, outcome.message


def test_parallel_replicas_share_the_work(reference_stack):
    body = {"role": "worker", "replicas": 3, "tasks": 3,
            "submit": {"method": "POST", "path": "/add-task/", "json": {"k": 3}, "save": {"task_id": "task_id"}},
            "status": {"path": "/task/{task_id}", "field": "status", "done": "completed"},
            "max_ratio": 2.0, "within_s": 60}
    try:
        outcome = reference_stack.check("parallel", body)
    finally:
        reference_stack.backend.restore()
    assert outcome.passed, outcome.message


def test_running_fails_for_a_service_that_died_even_if_it_runs_again(reference_stack):
    """A worker that dies and is started again must not look healthy at the end."""
    backend = reference_stack.backend
    client = docker.from_env()
    labels = [f"com.docker.compose.project={backend.project}", "com.docker.compose.service=worker"]
    (container,) = client.containers.list(filters={"label": labels})
    client.close()
    container.kill()  # not the grader's doing: an unexpected death
    try:
        deadline = time.monotonic() + 10
        while not backend.unexpected_exits(["worker"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        reference_stack.compose("start", "worker")
        outcome = reference_stack.check("stack", {"running": ["worker"]})
        assert not outcome.passed and "service 'worker' exited with code 137" in outcome.message
    finally:
        reference_stack.compose("start", "worker")
        backend.exit_watch.exits.clear()
    assert reference_stack.check("stack", {"running": ["worker"]}).passed


def test_stopping_a_service_through_the_grader_is_not_a_death(reference_stack):
    backend = reference_stack.backend
    backend.stop_service("worker")
    backend.restore()
    assert backend.unexpected_exits(["worker"]) == []
