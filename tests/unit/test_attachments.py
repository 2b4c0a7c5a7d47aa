"""Attachments (a browser check's screenshots): saved beside the report, linked from the
Markdown page and listed in the JSON report relative to where each report is written."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from graders.reports import ReportOptions, formats, save_attachments
from graders.results import Attachment, CheckResult, GradingReport, PartResult, Status

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def report_with_screenshots(visibility: str = "visible") -> GradingReport:
    shots = [Attachment("tab 1", "image/png", PNG), Attachment("tab 2", "image/png", PNG + b"2")]
    browser = CheckResult(id="chat_in_browser", title="the chat works in a browser", status=Status.PASSED,
                          score=6, max_score=6, message="2 tabs chatted", check_type="browser",
                          visibility=visibility, attachments=shots)
    stand_in = CheckResult(id="chat_page", title="the page text", status=Status.SKIPPED, score=0, max_score=0,
                           message="not graded: 'chat_in_browser' grades this here", graded=False)
    return GradingReport(submission="s", spec="specs/lab4.yaml", grader_version="0", backend="docker",
                         parts=[PartResult("websocket", "Chat", False, [browser, stand_in])])


def test_saved_screenshots_are_named_after_their_check_and_tab(tmp_path):
    report = report_with_screenshots()
    assert save_attachments(report, tmp_path / "attachments") == 2
    names = sorted(p.name for p in (tmp_path / "attachments").iterdir())
    assert names == ["websocket.chat_in_browser-tab-1.png", "websocket.chat_in_browser-tab-2.png"]
    assert (tmp_path / "attachments" / names[1]).read_bytes() == PNG + b"2"
    assert all(a.path and not a.data for _, c in report.all_checks() for a in c.attachments)


def test_markdown_shows_the_screenshots_relative_to_the_report(tmp_path):
    report = report_with_screenshots()
    save_attachments(report, tmp_path / "attachments")
    page = formats()["markdown"](report, ReportOptions(link_base=str(tmp_path)))
    assert "## Screenshots" in page
    assert "![tab 1](<attachments/websocket.chat_in_browser-tab-1.png>)" in page
    elsewhere = formats()["markdown"](report, ReportOptions(link_base=str(tmp_path / "deeper")))
    assert "(<../attachments/websocket.chat_in_browser-tab-2.png>)" in elsewhere


def test_json_lists_attachments_and_what_was_not_graded_and_matches_its_schema(tmp_path):
    report = report_with_screenshots()
    save_attachments(report, tmp_path / "attachments")
    data = json.loads(formats()["json"](report, ReportOptions(link_base=str(tmp_path))))
    schema = json.loads((ROOT / "specs" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    browser, stand_in = data["parts"][0]["checks"]
    assert [a["path"] for a in browser["attachments"]] == ["attachments/websocket.chat_in_browser-tab-1.png",
                                                           "attachments/websocket.chat_in_browser-tab-2.png"]
    assert browser["graded"] and not stand_in["graded"] and stand_in["max_score"] == 0


def test_a_hidden_checks_screenshots_stay_out_of_the_students_page(tmp_path):
    report = report_with_screenshots(visibility="hidden")
    save_attachments(report, tmp_path)
    page = formats()["markdown"](report, ReportOptions(audience="student", link_base=str(tmp_path)))
    assert "Screenshots" not in page and ".png" not in page
