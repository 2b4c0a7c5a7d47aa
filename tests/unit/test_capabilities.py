"""What a grading can do: the backend's capabilities, plus `browser` where a Chromium can be put
into the stack's network. Where there is none, the notes say why."""

from __future__ import annotations

from pathlib import Path

from graders.backends.local import LocalBackend
from graders.engine import GradeOptions, grading_capabilities
from graders.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]
LAB = load_spec(ROOT / "specs" / "lab4.yaml")


def test_the_local_backend_cannot_host_a_browser_and_the_notes_say_why(tmp_path):
    notes: list[str] = []
    found = grading_capabilities(list(LAB.checks()), LocalBackend(ROOT / "reference", tmp_path), GradeOptions(),
                                 notes)
    assert "browser" not in found
    assert notes == ["no browser here: the 'local' backend cannot put a browser into the stack's network"]


def test_no_browser_is_asked_for_when_no_selected_check_requires_one(tmp_path):
    notes: list[str] = []
    queue_only = [c for c in LAB.checks() if c.part == "queue"]
    assert grading_capabilities(queue_only, LocalBackend(ROOT / "reference", tmp_path), GradeOptions(),
                                notes) == frozenset()
    assert notes == []


def test_the_no_browser_option_is_named_as_the_reason(tmp_path):
    notes: list[str] = []
    grading_capabilities(list(LAB.checks()), LocalBackend(ROOT / "reference", tmp_path),
                         GradeOptions(browser=False), notes)
    assert notes == ["no browser here: --no-browser"]
