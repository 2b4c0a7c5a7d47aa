"""What a student reads (issue 13), graded for real in Russian for the student audience: two
broken copies of the reference, one with its websocket route renamed from /ws to /chat, one whose
worker never writes `completed`. Their Markdown and text reports speak Russian around code,
paths and identifiers, never show the grader's own ports or project names, and name the cause."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from graders.validate import load_mutant, materialize
from tests.conftest import REFERENCE, ROOT, labelled_leftovers, run_runner

pytestmark = pytest.mark.docker

# Words a Russian page keeps in Latin letters: names of tools and protocols, and the status
# values and field names the assignment itself defines.
TERMS = {"Redis", "Celery", "Docker", "Compose", "WebSocket", "WebSockets", "websocket", "HTTP", "JSON", "FastAPI",
         "nginx", "uvicorn", "gunicorn", "Dockerfile", "YAML", "API", "id", "Python", "pip", "hadolint", "Chromium",
         "localhost", "BackgroundTasks", "pending", "processing", "completed", "message", "delay", "depends_on",
         "broker_url", "result_backend", "task_id", "task_status", "task_result", "data", "status", "started_at",
         "finished_at", "active_connections", "location", "host", "log", "txt", "email", "html", "exec", "CMD"}


def latin_prose(page: str) -> list[str]:
    """Latin-script words left once code, paths, identifiers, quoted values and terms are taken out."""
    text = re.sub(r"(?s)(`{3,}).*?\1", " ", page)  # fenced blocks
    text = re.sub(r"`[^`]*`", " ", text)  # code spans (a terminal table may wrap one over lines)
    text = re.sub(r"<[^>\n]*>", " ", text)  # the page's own HTML (details, summary, sub)
    text = re.sub(r"«[^»\n]*»|'[^'\n]*'|\"[^\"\n]*\"", " ", text)  # quoted values
    text = re.sub(r"(?<![\w])[/.][\w./{}\-]*", " ", text)  # paths and file names: /ws, .dockerignore
    words = re.findall(r"[A-Za-z][\w./:{}\-]*", text)
    return [w for w in words if not re.search(r"[\d_./:{}\-]", w) and not w.isupper() and w not in TERMS]


def grade_for_student(tmp_path: Path, submission: Path) -> tuple[str, str, dict]:
    md, txt, js = tmp_path / "feedback.md", tmp_path / "report.txt", tmp_path / "report.json"
    proc = run_runner(str(submission), "--lang", "ru", "--audience", "student", "-q", "--format", "markdown",
                      "--out", str(md), "--format", "text", "--out", str(txt), "--format", "json", "--out", str(js))
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    report = json.loads(js.read_text(encoding="utf-8"))
    assert labelled_leftovers(report["run_id"]) == []
    return md.read_text(encoding="utf-8"), txt.read_text(encoding="utf-8"), report


def assert_student_pages(markdown: str, text: str, report: dict) -> None:
    for name, page in (("markdown", markdown), ("text", text)):
        assert latin_prose(page) == [], (name, sorted(set(latin_prose(page))))
        assert "127.0.0.1" not in page and "grader-" not in page, name  # no address or project of the grader
        assert not re.search(r":(3[2-9]|[4-6]\d)\d{3}\b", page), name  # no ephemeral host port


@pytest.fixture(scope="module")
def renamed_route(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("renamed")
    submission = tmp / "student"
    shutil.copytree(REFERENCE, submission, ignore=shutil.ignore_patterns("__pycache__", "log.txt"))
    chat = submission / "app" / "chat.py"
    chat.write_text(chat.read_text().replace('@router.websocket("/ws")', '@router.websocket("/chat")')
                    .replace('location.host + "/ws"', 'location.host + "/chat"'), encoding="utf-8")
    assert '"/chat"' in chat.read_text()
    return grade_for_student(tmp, submission)


@pytest.fixture(scope="module")
def never_completed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("never")
    mutant = load_mutant(ROOT / "tests" / "mutants" / "worker_never_completed", _checks())
    return grade_for_student(tmp, materialize(REFERENCE, mutant, tmp / "student"))


def _checks() -> list[str]:
    from graders.spec.loader import load_spec

    return [c.qualified_id for c in load_spec(ROOT / "specs" / "lab4.yaml").checks()]


def test_a_renamed_websocket_route_is_named_as_the_cause_in_russian(renamed_route):
    markdown, text, report = renamed_route
    broadcast = next(c for p in report["parts"] for c in p["checks"] if c["id"] == "broadcast")
    assert broadcast["status"] == "failed"
    assert "/ws" in broadcast["message"] and "/chat" in broadcast["message"], broadcast["message"]
    assert "web:8000/ws" in broadcast["message"] and "ожидался websocket-маршрут" in broadcast["message"]
    assert "маршрут" in broadcast["hint"]  # the hint is about the route, not about broadcasting
    assert "/chat" in markdown and "**Что увидели:**" in markdown
    assert_student_pages(markdown, text, report)


def test_a_worker_that_never_completes_reads_as_russian_feedback(never_completed):
    markdown, text, report = never_completed
    processed = next(c for p in report["parts"] for c in p["checks"] if c["id"] == "processed")
    assert processed["status"] == "failed" and "completed" in processed["message"]
    assert "не дошло до completed" in processed["message"]
    # the times are judged on a finished task: the hint sends the student to the worker, not to add them
    timestamps = next(c for p in report["parts"] for c in p["checks"] if c["id"] == "timestamps")
    assert timestamps["status"] == "failed" and "сначала исправьте воркер" in timestamps["hint"], timestamps
    assert "сначала исправьте воркер" in markdown
    assert "## Своя очередь на Redis" in markdown
    assert_student_pages(markdown, text, report)

