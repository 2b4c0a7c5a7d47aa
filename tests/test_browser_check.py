"""The `browser` check type in a real headless Chromium, against real stacks.

The reference's page builds its socket address from location.host; the variant in
tests/variants/chat_external_js/ loads an external /static/chat.js that hard-codes
ws://localhost:8000/ws, as the lecture does: both must chat, because the browser runs inside the
web container's network. Broken pages fail with their cause named; without a browser the
text-search checks stand in and the report says so.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from graders.backends.docker import DockerBackend
from graders.backends.docker.netns import can_enter_networks
from graders.checks.browser import browser_missing
from graders.engine import GradeOptions, grade
from graders.results import Status
from graders.spec.loader import load_spec
from graders.validate import apply_patch, load_mutant, materialize
from tests.conftest import LAB_SPEC, REFERENCE, ROOT, labelled_leftovers, run_runner
from tests.test_hostile import materialise

pytestmark = pytest.mark.docker

VARIANT = ROOT / "tests" / "variants" / "chat_external_js"
MUTANTS = ROOT / "tests" / "mutants"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True, scope="module")
def browser_here(docker_engine):
    """Chromium, Playwright and nsenter as root: what `python -m graders.testbed` sets up."""
    why = browser_missing() or ("" if can_enter_networks() else "cannot nsenter into containers (not root?)")
    if why:
        pytest.fail(f"no browser here: {why}; run `python -m graders.testbed` first (README)")


def chat_body(first: str, second: str) -> dict:
    """The lab's own browser check, with these two messages."""
    body = load_spec(LAB_SPEC).check("websocket.chat_in_browser").body
    return json.loads(json.dumps(body).replace("{chat_text}", first).replace("{chat_text_after}", second))


def words() -> str:
    return f"hello {secrets.token_hex(4)}"


def variant_copy(dest: Path) -> Path:
    assert yaml.safe_load((VARIANT / "variant.yaml").read_text(encoding="utf-8"))["description"]
    shutil.copytree(REFERENCE, dest, ignore=shutil.ignore_patterns("__pycache__", "log.txt"))
    assert apply_patch(VARIANT / "variant.patch", dest) == ""
    return dest


def grade_websocket_part(folder: Path, browser: bool = True):
    workdir = Path(tempfile.mkdtemp(prefix="browsertest-"))
    try:
        backend = DockerBackend(folder, workdir)
        report = grade(folder, load_spec(LAB_SPEC), backend,
                       GradeOptions(parts=("websocket",), lang="en", browser=browser))
        assert not labelled_leftovers(backend.run_id)
        return report, {c.id: c for _, c in report.all_checks()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- on the session's reference stack ---------------------------------------------------------

def test_two_tabs_chat_on_the_reference_page_and_each_tab_is_pictured(reference_stack):
    first, second = words(), words()
    outcome = reference_stack.check("browser", chat_body(first, second))
    assert outcome.passed, f"{outcome.message}\n{outcome.details}"
    assert f"{first!r} appeared in tabs 1, 2" in outcome.message and f"{second!r} appeared in tab 2" in outcome.message
    assert "ws://localhost:8000/ws: open" in outcome.details and "as nobody" in outcome.details
    assert [a.name for a in outcome.attachments] == ["tab 1", "tab 2"]
    assert all(a.media_type == "image/png" and a.data.startswith(PNG_SIGNATURE) for a in outcome.attachments)


def test_the_browser_runs_as_nobody_even_when_the_graders_temp_folder_is_private(reference_stack, tmp_path,
                                                                                 monkeypatch):
    private = tmp_path / "private" / "tmp"  # as a distributed worker's attempt folder under its work dir
    private.mkdir(parents=True)
    private.parent.chmod(0o700)
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    first, second = words(), words()
    outcome = reference_stack.check("browser", chat_body(first, second))
    assert outcome.passed, f"{outcome.message}\n{outcome.details}"
    assert list(private.iterdir()) == []  # the browser's folder went to /tmp, and was removed


def test_a_message_typed_but_never_sent_is_explained(reference_stack):
    text = words()
    body = {"tabs": 2, "steps": [{"tab": 1, "type": text, "press": "Shift"}, {"wait_text": text, "within_s": 1}]}
    outcome = reference_stack.check("browser", body)
    assert not outcome.passed
    assert outcome.message.startswith(f"tab 1: {text!r} did not appear within 1 s (nor in tab(s) 2)")
    assert "tab 1 sent nothing over its WebSocket after pressing Shift" in outcome.message


def test_a_button_that_is_not_there_is_named(reference_stack):
    outcome = reference_stack.check("browser", {"steps": [{"type": "x", "click": "#send-button"}]})
    assert not outcome.passed and outcome.message == "tab 1: nothing to click matches '#send-button'"
    assert len(outcome.attachments) == 1  # the tab is pictured as it was when the check failed


# --- other pages, each its own stack ---------------------------------------------------------

def test_an_external_script_that_hard_codes_localhost_8000_chats_and_its_screenshots_are_linked(tmp_path):
    folder = variant_copy(tmp_path / "chat_external_js")
    out = tmp_path / "out"
    result = run_runner(str(folder), "--part", "websocket", "--lang", "en", "--quiet",
                        "--format", "markdown", "--out", str(out / "report.md"),
                        "--format", "json", "--out", str(out / "report.json"))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    checks = {c["id"]: c for c in report["parts"][0]["checks"]}
    browser = checks["chat_in_browser"]
    assert browser["status"] == "passed", f"{browser['message']}\n{browser.get('details')}"
    assert report["score"] == report["max_score"] == 25
    assert not checks["chat_page"]["graded"] and checks["chat_page"]["max_score"] == 0
    links = [a["path"] for a in browser["attachments"]]
    assert links == ["attachments/websocket.chat_in_browser-tab-1.png",
                     "attachments/websocket.chat_in_browser-tab-2.png"]
    assert all((out / link).read_bytes().startswith(PNG_SIGNATURE) for link in links)
    assert f"![tab 2](<{links[1]}>)" in (out / "report.md").read_text(encoding="utf-8")


def browser_points() -> float:
    return load_spec(LAB_SPEC).check("websocket.chat_in_browser").points


def test_without_a_browser_the_text_search_stands_in_and_the_report_says_so(tmp_path):
    report, checks = grade_websocket_part(variant_copy(tmp_path / "chat_external_js"), browser=False)
    browser = checks["chat_in_browser"]
    assert browser.status is Status.SKIPPED and not browser.graded and browser.max_score == 0
    assert "(graded instead by chat_page)" in browser.message
    # The text search follows the page's own scripts: the websocket code in chat.js is found.
    page = checks["chat_page"]
    assert page.graded and page.status is Status.PASSED and page.max_score == browser_points() == 6
    assert page.message.startswith("[in place of 'chat_in_browser': no browser here] ")
    assert "no browser here: --no-browser" in report.notes
    assert any("graded instead by chat_page" in n for n in report.notes)
    assert report.max_score == 25 and not report.partial


@pytest.mark.parametrize("name, cause", [
    ("page_script_throws", "the page's script failed in tab 1: Uncaught TypeError: Cannot read properties of null"),
    ("page_wrong_ws_path", "tab 1's WebSocket to ws://localhost:8000/ws/ failed: "),
    ("page_send_does_nothing", "tab 1 sent nothing over its WebSocket after the click on the send button"),
])
def test_a_broken_page_fails_the_browser_check_with_its_cause_and_nothing_else(tmp_path, name, cause):
    mutant = load_mutant(MUTANTS / name, [c.qualified_id for c in load_spec(LAB_SPEC).checks()])
    _, checks = grade_websocket_part(materialize(REFERENCE, mutant, tmp_path / name))
    browser = checks["chat_in_browser"]
    assert browser.status is Status.FAILED and cause in browser.message, f"{browser.message}\n{browser.details}"
    assert browser.message.startswith("tab 1: ") and "did not appear within 2 s" in browser.message
    assert {c.id for c in checks.values() if c.graded and c.status is not Status.PASSED} == {"chat_in_browser"}


@pytest.mark.parametrize("case, cause", [
    ("huge_response", "GET / is over 4 MB: far too big for a chat page (it was not opened in the browser)"),
    ("binary_response", "tab 1: could not load http://localhost:8000/"),
])
def test_a_hostile_page_fails_the_browser_check_quickly_without_reaching_the_browser(tmp_path, case, cause):
    # 200 MB of HTML would cost the host's browser gigabytes; a binary answer would be downloaded.
    _, checks = grade_websocket_part(materialise(case, tmp_path))
    browser = checks["chat_in_browser"]
    assert browser.status is Status.FAILED and cause in browser.message, f"{browser.message}\n{browser.details}"
    assert browser.duration_s < 20 and len(browser.message) < 500
