"""Role discovery finds services however students name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.backends.discovery import discover_roles
from graders.spec.loader import load_spec

ROLES = load_spec(Path(__file__).resolve().parents[2] / "specs" / "lab4.yaml").roles
UVICORN = "uvicorn main:app --host 0.0.0.0 --port 8000"


def stack(web="web", redis="redis", worker="worker", celery="celery_worker", nginx=None) -> dict:
    services = {
        web: {"build": {"context": "."}, "ports": [{"target": 8000, "published": "8000"}]},
        redis: {"image": "redis:7-alpine"},
        worker: {"build": {"context": "."}, "command": ["python", "worker.py"]},
        celery: {"build": {"context": "."}, "command": ["celery", "-A", "tasks.celery", "worker", "-l", "info"]},
    }
    if nginx:
        services[nginx] = {"image": "nginx:alpine", "ports": [{"target": 80}]}
    return services


@pytest.mark.parametrize("web,worker,celery", [
    ("web", "worker", "celery_worker"),
    ("api", "queue-worker", "celery"),
    ("app", "queue_worker", "celery-worker"),
    ("backend", "consumer", "worker-celery"),
    ("fastapi", "task-worker", "beat_and_worker"),
])
def test_usual_names_find_every_role(web, worker, celery):
    roles, missing = discover_roles(ROLES, stack(web=web, worker=worker, celery=celery, nginx="proxy"), UVICORN)
    assert roles == {"web": web, "redis": "redis", "worker": worker, "celery": celery, "nginx": "proxy"}
    assert missing == []


def test_odd_names_are_found_by_image_command_and_port():
    services = {
        "frontdoor": {"build": {"context": "."}, "ports": [{"target": 8000}]},
        "kv": {"image": "redis:7"},
        "jobs": {"build": {"context": "."}, "command": "python my_worker.py"},
        "bg": {"build": {"context": "."}, "command": "celery -A app worker"},
    }
    roles, missing = discover_roles(ROLES, services, UVICORN)
    assert roles == {"web": "frontdoor", "redis": "kv", "worker": "jobs", "celery": "bg"}
    assert missing == []


def test_celery_worker_is_never_taken_for_the_queue_worker():
    services = stack()
    del services["worker"]
    roles, missing = discover_roles(ROLES, services, UVICORN)
    assert "worker" not in roles and missing == ["worker"]
    assert roles["celery"] == "celery_worker"


def test_optional_nginx_missing_is_not_reported():
    _, missing = discover_roles(ROLES, stack(), UVICORN)
    assert "nginx" not in missing


def test_a_pinned_service_wins(tmp_path):
    from dataclasses import replace

    roles = dict(ROLES)
    roles["worker"] = replace(roles["worker"], service="celery_worker")
    found, _ = discover_roles(roles, stack(), UVICORN)
    assert found["worker"] == "celery_worker"


def test_each_built_service_is_known_by_its_own_dockerfiles_command(tmp_path):
    from graders.dockerfile import image_commands

    (tmp_path / "Dockerfile").write_text(f'FROM python:3.11-slim\nCMD {UVICORN.split()}\n'.replace("'", '"'))
    (tmp_path / "Dockerfile.worker").write_text('FROM python:3.11-slim\nCMD ["python", "worker.py"]\n')
    (tmp_path / "Dockerfile.all").write_text('FROM python:3.11-slim AS celery\nCMD ["celery", "-A", "tasks", "worker"]'
                                             '\nFROM python:3.11-slim\nCMD ["python", "other.py"]\n')
    services = {
        "web": {"build": {"context": str(tmp_path)}, "ports": [{"target": 8000}]},
        "redis": {"image": "redis:7"},
        "worker": {"build": {"context": str(tmp_path), "dockerfile": "Dockerfile.worker"}},
        "celery": {"build": {"context": str(tmp_path), "dockerfile": "Dockerfile.all", "target": "celery"}},
        "broken": {"build": {"context": str(tmp_path / "nowhere")}},
    }
    commands = image_commands(services, default="uvicorn main:app")
    assert commands == {"web": UVICORN, "worker": "python worker.py", "celery": "celery -A tasks worker",
                        "broken": "uvicorn main:app"}
    roles, missing = discover_roles(ROLES, services, commands)
    assert (roles["web"], roles["worker"], roles["celery"], missing) == ("web", "worker", "celery", [])
    # One CMD for every built service (the main Dockerfile's) rules the worker out: it "runs uvicorn".
    assert "worker" not in discover_roles(ROLES, services, UVICORN)[0]
