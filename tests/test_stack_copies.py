"""Copies of the stack (`copies:` in a spec): checks that need a service to themselves run on
their own copy, started beside the main stack from the same images, and everything goes down
with the grading. Graded for real on the reference."""

from __future__ import annotations

import textwrap
from pathlib import Path

import docker
import pytest

from graders.backends.docker import DockerBackend
from graders.engine import GradeOptions, grade
from graders.results import Status
from graders.spec.loader import load_spec
from tests.conftest import REFERENCE, labelled_leftovers

SPEC = """\
version: 1
inputs:
  payload: {kind: json_object}
roles:
  web: {names: [web], port: 8000, probe: http}
  redis: {names: [redis], port: 6379}
  worker: {names: [worker], command: ["*worker*"], not_command: ["*celery*", "*uvicorn*"]}
  ghost: {names: [ghost], optional: true}
copies:
  side: {start: [web]}
  nowhere: {start: [ghost]}
parts:
  - id: q
    checks:
      - id: main_worker_idles
        points: 1
        stack: {running: [worker], up_for_s: 4}
      - id: main_add
        points: 1
        http: {method: POST, path: /add-task/, json: "{payload}", save: {task_id: task_id}}
      - id: side_add
        points: 1
        copy: side
        after: [main_worker_idles]
        http: {method: POST, path: /add-task/, json: "{payload}", save: {side_id: task_id}}
      - id: side_waits_without_worker
        points: 1
        copy: side
        needs: [side_add]
        redis: {list: task_queue, contains_json: {id: "{side_id}", status: pending}}
      - id: side_has_no_main_task
        points: 1
        copy: side
        needs: [main_add]
        redis: {key: "task:{task_id}", json: {id: "{task_id}"}}
      - id: side_worker_not_started
        points: 1
        copy: side
        after: [side_has_no_main_task]
        stack: {running: [worker]}
      - id: on_nowhere
        points: 1
        copy: nowhere
        http: {path: /}
      - id: all_running
        points: 1
        stage: 1
        stack: {running: all}
      - id: main_web_running
        points: 1
        stage: 1
        stack: {running: [web]}
"""


def spec_at(tmp_path: Path):
    path = tmp_path / "copies.yaml"
    path.write_text(textwrap.dedent(SPEC))
    return load_spec(path)


@pytest.mark.docker
def test_checks_on_a_copy_see_their_own_stack_with_only_what_it_starts(tmp_path, docker_engine):
    spec = spec_at(tmp_path)
    seen: list[str] = []
    backend = DockerBackend(REFERENCE, tmp_path / "work")
    report = grade(REFERENCE, spec, backend, GradeOptions(lang="en"),
                   on_event=lambda kind, payload: seen.append(payload.id) if kind == "check" else None)
    results = {c.id: c for _, c in report.all_checks()}
    status = {k: v.status for k, v in results.items()}
    assert status["main_worker_idles"] is Status.PASSED and status["main_add"] is Status.PASSED
    # No worker on the copy: the copy's task waits in its own queue ...
    assert status["side_add"] is Status.PASSED and status["side_waits_without_worker"] is Status.PASSED
    # ... and the copy has its own Redis: the main stack's task is not in it.
    assert status["side_has_no_main_task"] is Status.FAILED, results["side_has_no_main_task"].message
    assert status["side_worker_not_started"] is Status.FAILED
    assert "worker" in results["side_worker_not_started"].message
    # `after` between two stacks orders nothing: the copy did not wait for the 4 s idle check.
    assert seen.index("side_add") < seen.index("main_worker_idles")
    assert status["all_running"] is Status.PASSED, results["all_running"].message
    assert "worker (side copy)" not in report.service_logs and "web (side copy)" in report.service_logs
    assert labelled_leftovers(backend.run_id) == []


@pytest.mark.docker
def test_a_copy_that_cannot_start_skips_its_checks_and_says_why(tmp_path, docker_engine):
    backend = DockerBackend(REFERENCE, tmp_path / "work")
    report = grade(REFERENCE, spec_at(tmp_path), backend, GradeOptions(lang="en", parts=("q",)))
    results = {c.id: c for _, c in report.all_checks()}
    assert results["on_nowhere"].status is Status.SKIPPED
    assert "the grader's 'nowhere' copy of the stack" in results["on_nowhere"].message
    assert "ghost" in results["on_nowhere"].message
    assert any("'nowhere' copy" in p for p in report.problems), report.problems
    assert results["main_add"].status is Status.PASSED  # the main stack graded on regardless
    assert labelled_leftovers(backend.run_id) == []


@pytest.mark.docker
def test_a_service_dying_in_a_copy_fails_running_all_and_names_the_copy(tmp_path, docker_engine):
    backend = DockerBackend(REFERENCE, tmp_path / "work")
    client = docker.from_env()

    def kill_the_copys_web(kind, payload):
        if kind == "check" and payload.id == "side_waits_without_worker":
            labels = [f"com.docker.compose.project={backend.project}-side", "com.docker.compose.service=web"]
            for container in client.containers.list(filters={"label": labels}):
                container.kill()

    try:
        report = grade(REFERENCE, spec_at(tmp_path), backend, GradeOptions(lang="en"), on_event=kill_the_copys_web)
    finally:
        client.close()
    results = {c.id: c for _, c in report.all_checks()}
    assert results["all_running"].status is Status.FAILED
    assert "service 'web' (in the grader's 'side' copy of the stack) exited" in results["all_running"].message
    # A named role is about its own stack: the main web kept running.
    assert results["main_web_running"].status is Status.PASSED, results["main_web_running"].message
    assert labelled_leftovers(backend.run_id) == []


@pytest.mark.docker
def test_without_copies_every_check_runs_on_the_main_stack_in_after_order(tmp_path, docker_engine):
    seen: list[str] = []
    backend = DockerBackend(REFERENCE, tmp_path / "work")
    report = grade(REFERENCE, spec_at(tmp_path), backend, GradeOptions(lang="en", copies=False),
                   on_event=lambda kind, payload: seen.append(payload.id) if kind == "check" else None)
    status = {c.id: c.status for _, c in report.all_checks()}
    # One stack: one Redis, where the main task is, and a running worker.
    assert status["side_has_no_main_task"] is Status.PASSED and status["side_worker_not_started"] is Status.PASSED
    assert status["on_nowhere"] is Status.PASSED
    assert seen.index("side_add") > seen.index("main_worker_idles")  # `after` holds on one stack
    assert not any("copy" in key for key in report.service_logs) and not report.problems
    assert labelled_leftovers(backend.run_id) == []
