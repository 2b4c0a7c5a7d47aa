"""The platform report formats: github-classroom, gradescope, prairielearn, junit, markdown.

Reports are built by hand (plain dataclasses). JSON formats are validated against the schemas
in specs/formats/ (written from each platform's documented fields), and every test asserts a
property the platform relies on: points that add up to our total, hidden checks hidden, the
size caps, well-formed XML whatever the messages hold.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from graders.reports import ReportOptions, formats
from graders.results import CheckResult, GradingReport, PartResult, Status, Timings

# Scan the whole registry first: `formats()` only scans while it is empty, so importing one
# format module before it would leave the others (json, text, ...) unregistered.
REGISTRY = formats()

from graders.reports import github_classroom as ghc  # noqa: E402
from graders.reports import gradescope as gs  # noqa: E402
from graders.reports import prairielearn as pl  # noqa: E402
from graders.reports.markdown import clean_text, problem_step, truncate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "specs" / "formats"
INSTRUCTOR = ReportOptions()
STUDENT = ReportOptions(audience="student")
NASTY = "\x00\x01\x08ok\x0b\x0c\x1b[31mred\x1b[0m\x7f | `tick` <tag> & \"q\" \ud800 \ufffe end"
RUSSIAN = "Ожидался ключ «task_id», получено: {}"
HUGE = "строка журнала " * 200_000  # ~3 MB of UTF-8


# --- building reports ---------------------------------------------------------------------

def chk(id: str, status: Status, points: float, message: str = "", hint: str = "", details: str = "",
        visibility: str = "visible", duration: float = 0.25, check_type: str = "http") -> CheckResult:
    return CheckResult(id=id, title=f"title of {id}", status=status,
                       score=points if status is Status.PASSED else 0.0, max_score=points,
                       message=message or f"{id}: {status.value}", hint=hint, details=details,
                       duration_s=duration, visibility=visibility, check_type=check_type)


def make_report(parts: list[PartResult], problems: list[str] | None = None,
                logs: dict[str, str] | None = None) -> GradingReport:
    return GradingReport(submission="subs/ivanov", spec="specs/lab4.yaml", grader_version="0.1.0", backend="docker",
                         run_id="r1", parts=parts, timings=Timings(build_s=30, up_s=5, checks_s=40, total_s=80.4),
                         problems=problems or [], service_logs=logs or {"web": "INFO: started\nsecret-log-line"},
                         notes=["roles: web=web, redis=redis"])


def all_passed() -> GradingReport:
    return make_report([
        PartResult("background", "Фоновые задачи", False,
                   [chk("responds_fast", Status.PASSED, 5), chk("log_line", Status.PASSED, 10)]),
        PartResult("docker", "Docker", False, [chk("image_builds", Status.PASSED, 3, check_type="stack")]),
        PartResult("bonus", "Бонус", True, [chk("nginx", Status.PASSED, 5)]),
    ])


def some_failed() -> GradingReport:
    """Failed checks with hints, an error, a skip, a hidden and an after_due_date check, a bonus part."""
    return make_report([
        PartResult("background", "Фоновые задачи", False, [
            chk("responds_fast", Status.PASSED, 5),
            chk("log_line", Status.FAILED, 10, message=RUSSIAN, hint="Допишите строку в log.txt",
                details="instructor-only-details"),
        ]),
        PartResult("celery", "Celery", False, [
            chk("submit", Status.ERROR, 4, message="read: service 'web' has no container"),
            chk("status_lifecycle", Status.SKIPPED, 6, message="not run: it needs 'submit', which error"),
            chk("secret_probe", Status.PASSED, 3, visibility="hidden"),
            chk("late_probe", Status.FAILED, 2, visibility="after_due_date", hint="late hint"),
        ]),
        PartResult("bonus", "Бонус", True, [
            chk("scale", Status.PASSED, 5),
            chk("nginx", Status.FAILED, 5, hint="proxy_http_version 1.1"),
        ]),
    ])


def bonus_failed_only() -> GradingReport:
    return make_report([
        PartResult("docker", "Docker", False, [chk("image_builds", Status.PASSED, 3)]),
        PartResult("bonus", "Бонус", True, [chk("nginx", Status.FAILED, 5)]),
    ])


def error_only() -> GradingReport:
    return make_report([
        PartResult("docker", "Docker", False, [chk("image_builds", Status.PASSED, 3),
                                               chk("all_running", Status.ERROR, 4, message="stack: could not ps")]),
    ])


BUILD_LOG = "build: the image build failed (exit 1)\n" + "\n".join(f"#{i} step {i}" for i in range(100)) + \
    "\nERROR: failed to solve: pip install -r requirements.txt: exit code 1"


def build_failed() -> GradingReport:
    skipped = "not run: build failed: the image build failed (exit 1)"
    return make_report([
        PartResult("background", "Фоновые задачи", False, [
            chk("responds_fast", Status.SKIPPED, 5, message=skipped),
            chk("log_line", Status.SKIPPED, 10, message=skipped),
        ]),
        PartResult("docker", "Docker", False, [
            chk("image_builds", Status.FAILED, 3, message="the image build failed", check_type="stack"),
            chk("cmd_exec_form", Status.PASSED, 3, check_type="dockerfile"),
            chk("dockerignore", Status.FAILED, 1, hint="Добавьте .dockerignore", check_type="dockerfile"),
        ]),
    ], problems=[BUILD_LOG])


def not_found() -> GradingReport:
    skipped = "not run: find failed: no compose file (compose.yaml, docker-compose.yml, ...) and no Dockerfile"
    return make_report([
        PartResult("background", "Фоновые задачи", False, [chk("responds_fast", Status.SKIPPED, 5, message=skipped)]),
        PartResult("docker", "Docker", False, [chk("cmd_exec_form", Status.FAILED, 3, message="no Dockerfile")]),
    ], problems=["find: no compose file (compose.yaml, docker-compose.yml, ...) and no Dockerfile"], logs={})


def nasty() -> GradingReport:
    """Control characters, Russian, megabytes of text, many checks."""
    checks = [chk(f"c{i}", Status.FAILED if i % 3 else Status.PASSED, 1, message=NASTY + RUSSIAN + HUGE,
                  hint=NASTY + " подсказка", details=HUGE) for i in range(12)]
    return make_report([PartResult("noisy", "Шумная часть " + NASTY, False, checks),
                        PartResult("bonus", "Бонус", True, [chk("b", Status.PASSED, 2, message=HUGE)])],
                       problems=["build: " + NASTY + "\n" + HUGE], logs={"web": HUGE})


REPORTS = {"all_passed": all_passed, "some_failed": some_failed, "bonus_failed_only": bonus_failed_only,
           "error_only": error_only, "build_failed": build_failed, "not_found": not_found, "nasty": nasty}
AUDIENCES = {"instructor": INSTRUCTOR, "student": STUDENT}


def schema(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8")))


def total(report: GradingReport) -> float:
    return report.score + report.bonus_score


@pytest.fixture(autouse=True)
def outside_actions(monkeypatch):
    """Every test starts outside GitHub Actions, whatever machine runs it."""
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


def test_every_format_is_registered():
    assert {"github-classroom", "gradescope", "prairielearn", "junit", "markdown", "json", "text"} <= set(REGISTRY)


def test_the_fixtures_differ_in_what_they_test():
    assert some_failed().score < some_failed().max_score and some_failed().bonus_score == 5
    assert all_passed().score == all_passed().max_score == 18


# --- shared text helpers ------------------------------------------------------------------

def test_clean_text_strips_controls_and_ansi_but_keeps_newlines_tabs_and_unicode():
    cleaned = clean_text(NASTY + "\tтаб\nстрока")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe]", cleaned)
    assert "red" in cleaned and "[31m" not in cleaned
    assert "\tтаб\nстрока" in cleaned


@pytest.mark.parametrize("where", ["end", "start"])
def test_truncate_keeps_the_limit_and_says_so(where):
    text = "a" * 500 + "MIDDLE" + "z" * 500
    cut = truncate(text, 200, where=where)
    assert len(cut) <= 200 and "truncated" in cut
    assert cut.startswith("a") if where == "end" else cut.endswith("z")
    assert truncate("short", 200) == "short"


def test_problem_step_names_the_step_only():
    assert problem_step("build: the image build failed\nlog") == "build"
    assert problem_step("compose-config: `docker compose config` rejects compose.yaml") == "compose-config"
    assert problem_step("no service found for the role(s): worker (services: web)") == ""


# --- github-classroom ---------------------------------------------------------------------

@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("name", REPORTS)
def test_github_classroom_result_matches_the_schema_and_sums_to_our_total(name, audience):
    report = REPORTS[name]()
    result = json.loads(formats()["github-classroom"](report, AUDIENCES[audience]))
    schema("github-classroom").validate(result)
    # The reporter adds the tests' scores and compares them with max_score.
    assert math.isclose(sum(t["score"] for t in result["tests"]), total(report), abs_tol=1e-6)
    assert result["max_score"] == report.max_score
    assert all(t["line_no"] == 0 for t in result["tests"])


def test_github_classroom_test_statuses_follow_the_checks():
    result = ghc.result_dict(some_failed(), INSTRUCTOR)
    by_name = {t["name"].split(":")[0]: t for t in result["tests"]}
    assert by_name["[background] responds_fast"]["status"] == "pass"
    assert by_name["[background] log_line"]["status"] == "fail"
    assert by_name["[celery] submit"]["status"] == "error"
    assert by_name["[celery] status_lifecycle"]["status"] == "fail"  # skipped earns nothing
    failed = by_name["[background] log_line"]
    assert RUSSIAN in failed["test_code"] and "Допишите строку" in failed["test_code"]
    assert by_name["[background] responds_fast"]["test_code"] == ""
    assert by_name["[bonus] scale"]["name"].endswith("(bonus)")


@pytest.mark.parametrize(("name", "status"), [("all_passed", "pass"), ("bonus_failed_only", "pass"),
                                              ("some_failed", "fail"), ("build_failed", "fail"),
                                              ("error_only", "error")])
def test_github_classroom_overall_status(name, status):
    assert ghc.result_dict(REPORTS[name](), INSTRUCTOR)["status"] == status


def test_github_classroom_bonus_lifts_the_sum_above_max_score():
    report = all_passed()
    result = ghc.result_dict(report, INSTRUCTOR)
    assert sum(t["score"] for t in result["tests"]) == 23 and result["max_score"] == 18


def test_github_classroom_student_audience_merges_hidden_checks():
    report = some_failed()
    result = ghc.result_dict(report, STUDENT)
    text = json.dumps(result, ensure_ascii=False)
    assert "secret_probe" not in text and "late_probe" not in text and "late hint" not in text
    hidden = [t for t in result["tests"] if t["name"].startswith("hidden checks")]
    assert len(hidden) == 1 and hidden[0]["score"] == 3 and hidden[0]["status"] == "fail"
    assert math.isclose(sum(t["score"] for t in result["tests"]), total(report))
    assert "secret_probe" in json.dumps(ghc.result_dict(report, INSTRUCTOR))


def test_github_classroom_render_is_the_json_and_touches_nothing_outside_actions(tmp_path, capsys):
    report = some_failed()
    text = formats()["github-classroom"](report, STUDENT)
    assert json.loads(text) == ghc.result_dict(report, STUDENT)
    assert capsys.readouterr().err == ""
    assert list(tmp_path.iterdir()) == []


def test_github_classroom_publishes_output_summary_and_annotations(tmp_path, monkeypatch, capsys):
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    report = some_failed()
    text = formats()["github-classroom"](report, STUDENT)

    lines = output.read_text().splitlines()
    assert lines[0] == "earlier=1" and lines[1].startswith("result=")
    decoded = json.loads(base64.b64decode(lines[1].removeprefix("result=")).decode("utf-8"))
    assert decoded == json.loads(text)
    outputs = dict(line.split("=", 1) for line in lines[1:])
    assert (outputs["total"], outputs["score"], outputs["bonus"], outputs["max-score"]) == ("13", "8", "5", "30")
    assert outputs["gradable"] == "true" and outputs["status"] == "fail"

    page = summary.read_text(encoding="utf-8")
    assert "Grade: 13 / 30 (8 + 5 bonus)" in page and "Допишите строку" in page
    assert "secret-log-line" not in page and "secret_probe" not in page

    err = capsys.readouterr().err.splitlines()
    errors = [line for line in err if line.startswith("::error ")]
    assert 1 <= len(errors) <= 10
    assert all(line.startswith("::") for line in err)  # every newline of a message was escaped
    assert any("background.log_line" in line and "%0AHint%3A" not in line and "%0AHint: " in line for line in errors)
    assert not any("late_probe" in line for line in err)
    assert "::notice title=Score::13 / 30 (8 + 5 bonus)" in err
    assert "::notice title=Autograding complete::Points 13/30" in err  # Classroom's record, the same number


def test_github_classroom_annotations_are_capped_at_ten_per_step():
    report = make_report([PartResult("p", "P", False,
                                     [chk(f"c{i}", Status.FAILED, 1, message=NASTY + "\n" + HUGE) for i in range(15)])],
                         problems=["build: failed\nline 1\r\nline 2"])
    lines = ghc.annotations(report, INSTRUCTOR)
    assert len(lines) == 10 and "more problems and failed checks" in lines[-1]
    assert all("\n" not in line and "\r" not in line for line in lines)


def many_long_checks(count: int = 80) -> GradingReport:
    return make_report([PartResult("p", "P", False, [chk(f"c{i}", Status.FAILED, 1, message="ошибка " * 1_000,
                                                         hint="подсказка " * 300) for i in range(count)]),
                        PartResult("bonus", "Бонус", True, [chk("b", Status.PASSED, 2)])])


@pytest.mark.parametrize("make", [nasty, many_long_checks])
def test_github_classroom_result_fits_an_environment_variable(make):
    report = make()
    result = ghc.result_dict(report, INSTRUCTOR)
    encoded = ghc.encode(result)
    assert len(encoded) < 128 * 1024 - len("GRADER_RESULTS=") - 1  # Linux caps one env string at 128 KiB
    assert "\n" not in encoded
    assert len(result["tests"]) == len(list(report.all_checks()))  # shortened, not dropped
    assert math.isclose(sum(t["score"] for t in result["tests"]), total(report))


# --- gradescope ---------------------------------------------------------------------------

@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("name", REPORTS)
def test_gradescope_results_match_the_schema_and_sum_to_our_total(name, audience):
    report = REPORTS[name]()
    result = json.loads(formats()["gradescope"](report, AUDIENCES[audience]))
    schema("gradescope").validate(result)
    assert "max_score" not in result  # Gradescope takes it from the assignment
    assert math.isclose(result["score"], total(report))
    assert math.isclose(sum(t["score"] for t in result["tests"]), result["score"])
    assert sum(t["max_score"] for t in result["tests"]) == sum(c.max_score for _, c in report.all_checks())


def test_gradescope_numbers_statuses_tags_and_visibility():
    result = gs.results_dict(some_failed(), STUDENT)
    tests = {t["number"]: t for t in result["tests"]}
    assert list(tests) == ["1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2"]
    assert tests["1.1"]["status"] == "passed" and tests["1.2"]["status"] == "failed"
    assert tests["2.1"]["status"] == "failed" and tests["2.2"]["status"] == "failed"  # error, skipped
    assert tests["2.3"]["visibility"] == "hidden" and tests["2.3"]["name"].startswith("celery.secret_probe")
    assert tests["2.4"]["visibility"] == "after_due_date"
    assert tests["1.1"]["visibility"] == "visible"
    assert "bonus" in tests["3.1"]["tags"] and "bonus" not in tests["1.1"]["tags"]
    assert all(t["output_format"] == "md" for t in tests.values())
    assert "Допишите строку" in tests["1.2"]["output"] and RUSSIAN in tests["1.2"]["output"]
    assert "Hint" not in tests["1.1"]["output"]


def test_gradescope_details_only_for_instructors():
    assert "instructor-only-details" not in json.dumps(gs.results_dict(some_failed(), STUDENT))
    assert "instructor-only-details" in json.dumps(gs.results_dict(some_failed(), INSTRUCTOR))


def test_gradescope_puts_the_build_problem_in_the_overall_output():
    result = gs.results_dict(build_failed(), STUDENT)
    assert result["output"].index("build: the image build failed") < result["output"].index("failed to solve")
    assert "```" in result["output"] and result["execution_time"] == 80


# --- prairielearn -------------------------------------------------------------------------

@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("name", REPORTS)
def test_prairielearn_results_match_the_schema_and_stay_under_1_mb(name, audience):
    report = REPORTS[name]()
    text = formats()["prairielearn"](report, AUDIENCES[audience])
    assert len(text.encode("utf-8")) < 1_000_000
    result = json.loads(text)
    schema("prairielearn").validate(result)
    if result["gradable"] and result["tests"]:
        assert math.isclose(sum(t["points"] for t in result["tests"]), total(report))
        assert math.isclose(result["score"], min(1.0, total(report) / report.max_score), abs_tol=1e-4)


def test_prairielearn_missing_files_make_the_submission_ungradable():
    result = pl.results_dict(not_found(), STUDENT)
    assert result["gradable"] is False and "score" not in result
    assert result["format_errors"] and "no compose file" in result["format_errors"][0]


@pytest.mark.parametrize("problem", ["policy: the submission was refused (a privileged service)",
                                     "compose-config: `docker compose config` rejects compose.yaml\nline 3"])
def test_prairielearn_refused_or_malformed_submissions_are_ungradable(problem):
    report = build_failed()
    report.problems = [problem]
    assert pl.results_dict(report, STUDENT)["gradable"] is False


def test_prairielearn_a_failed_build_is_graded():
    report = build_failed()
    result = pl.results_dict(report, STUDENT)
    assert result["gradable"] is True and result["score"] == pytest.approx(3 / 22, abs=1e-4)
    assert "build: the image build failed" in result["message"]


def test_prairielearn_bonus_is_capped_at_full_marks():
    assert pl.results_dict(all_passed(), STUDENT)["score"] == 1.0


def test_prairielearn_student_audience_hides_hidden_checks_and_logs():
    report = some_failed()
    text = json.dumps(pl.results_dict(report, STUDENT), ensure_ascii=False)
    assert "secret_probe" not in text and "secret-log-line" not in text and "instructor-only-details" not in text
    assert RUSSIAN in text  # kept as text, not \u escapes
    result = pl.results_dict(report, STUDENT)
    hidden = [t for t in result["tests"] if t["name"].startswith("hidden checks")]
    assert hidden and hidden[0]["points"] == 3 and hidden[0]["max_points"] == 5
    assert "secret-log-line" in json.dumps(pl.results_dict(report, INSTRUCTOR))


def test_prairielearn_says_when_it_shortened_texts():
    report = nasty()
    result = pl.results_dict(report, INSTRUCTOR)
    assert pl.TRUNCATED_NOTE in result["message"]
    assert len(result["tests"]) == len(list(report.all_checks()))  # texts shortened, no test dropped
    assert math.isclose(sum(t["points"] for t in result["tests"]), total(report))
    assert all(t["message"] for t in result["tests"])  # each keeps the start of its message
    assert "TRUNCATED" not in json.dumps(pl.results_dict(all_passed(), INSTRUCTOR)).upper()


# --- junit --------------------------------------------------------------------------------

def parse_junit(report: GradingReport, options: ReportOptions = INSTRUCTOR) -> ET.Element:
    return ET.fromstring(formats()["junit"](report, options).encode("utf-8"))


@pytest.mark.parametrize("name", REPORTS)
def test_junit_is_well_formed_and_counts_match_the_checks(name):
    report = REPORTS[name]()
    root = parse_junit(report)
    assert root.tag == "testsuites"
    statuses = [c.status for _, c in report.all_checks()]
    assert int(root.get("tests")) == len(statuses) == len(root.findall("./testsuite/testcase"))
    assert int(root.get("failures")) == statuses.count(Status.FAILED) == len(root.findall(".//failure"))
    assert int(root.get("errors")) == statuses.count(Status.ERROR) == len(root.findall(".//error"))
    skipped = sum(int(suite.get("skipped")) for suite in root.findall("testsuite"))
    assert skipped == statuses.count(Status.SKIPPED) == len(root.findall(".//skipped"))
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))


def test_junit_cases_name_part_and_check_and_carry_messages_and_hints():
    root = parse_junit(some_failed())
    case = root.find("./testsuite[@name='background']/testcase[@name='log_line']")
    assert case.get("classname") == "background" and case.get("time") == "0.250"
    assert case.find("failure").get("message") == RUSSIAN
    assert "hint: Допишите строку в log.txt" in case.find("system-out").text
    skipped = root.find(".//testcase[@name='status_lifecycle']/skipped")
    assert skipped.get("message").startswith("not run: it needs 'submit'")
    assert root.find(".//testcase[@name='submit']/error").get("message").startswith("read:")


def test_junit_survives_control_characters_and_huge_texts():
    text = formats()["junit"](nasty(), INSTRUCTOR)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe]", text)
    root = ET.fromstring(text.encode("utf-8"))
    message = root.find(".//failure").get("message")
    assert "ok" in message and "red" in message and "<tag> & \"q\"" in message and "truncated" in message
    assert root.find("./testsuite[@name='grading']/system-err") is not None


def test_junit_student_audience_leaves_hidden_checks_out():
    root = parse_junit(some_failed(), STUDENT)
    names = {c.get("name") for c in root.iter("testcase")}
    assert "secret_probe" not in names and "late_probe" not in names and "log_line" in names
    assert int(root.get("tests")) == len(names)


# --- markdown -----------------------------------------------------------------------------

def test_markdown_shows_problems_first_in_a_code_block():
    page = formats()["markdown"](build_failed(), STUDENT)
    assert page.index("## Fix these first") < page.index("| Part | Points |") < page.index("## Docker")
    block = page[page.index("## Fix these first"):page.index("| Part | Points |")]
    assert "**The build: the image build failed (exit 1)**" in block
    assert "```text" in block and "failed to solve" in block
    assert "#0 step 0" not in block and "earlier lines left out" in block  # only the tail


def test_markdown_explains_each_failed_check_as_expected_seen_what_to_do():
    page = formats()["markdown"](some_failed(), STUDENT)
    assert page.startswith("# Grade: 13 / 30 (8 + 5 bonus)")
    failed = page[:page.index("`background.log_line`")]
    section = failed[failed.rindex("### "):]
    assert "**Seen:**" in section and RUSSIAN in section and "**What to do:** Допишите строку в log.txt" in section
    assert "| Фоновые задачи | 5 / 15 |" in page


def test_markdown_collapses_passed_checks_and_says_nothing_twice():
    page = formats()["markdown"](some_failed(), STUDENT)
    assert "`background.responds_fast`" not in page  # a passed check gets no section
    assert "<details><summary>✅ 1 check passed</summary>" in page and "- title of responds_fast (5 / 5)" in page
    assert page.count(RUSSIAN) == 1  # the message of the failed check, once


def test_markdown_in_russian_speaks_russian_around_the_messages():
    page = formats()["markdown"](some_failed(), ReportOptions(audience="student", lang="ru"))
    assert page.startswith("# Оценка: 13 / 30 (8 + бонус 5)") and "**Что увидели:**" in page
    assert "**Что сделать:**" in page and "| Часть | Баллы |" in page


def test_markdown_for_students_has_no_logs_details_or_hidden_checks():
    page = formats()["markdown"](some_failed(), STUDENT)
    for secret in ("secret-log-line", "instructor-only-details", "secret_probe", "late_probe", "late hint",
                   "roles: web=web"):
        assert secret not in page
    assert "2 hidden checks count toward the score" in page
    instructor = formats()["markdown"](some_failed(), INSTRUCTOR)
    assert "secret-log-line" in instructor and "instructor-only-details" in instructor and "secret_probe" in instructor


def test_markdown_table_cells_survive_pipes_newlines_and_backticks():
    report = some_failed()
    report.parts[0].title = "a | b\nc ``` d"
    page = formats()["markdown"](report, STUDENT)
    row = next(line for line in page.splitlines() if line.startswith("| a "))
    cells = re.split(r"(?<!\\)\|", row)[1:-1]
    assert len(cells) == 2 and cells[0].strip() == "a \\| b c ``` d"  # one line, the pipe escaped


def test_markdown_code_fences_cannot_be_closed_by_the_message():
    report = some_failed()
    report.parts[0].checks[1].message = "before\n```\n# injected heading\n```"
    page = formats()["markdown"](report, STUDENT)
    assert "````text\nbefore\n```\n# injected heading\n```\n````" in page


def partial_with_lint() -> GradingReport:
    report = make_report([PartResult("docker", "Docker", False, [chk("cmd_exec_form", Status.PASSED, 3)])])
    report.backend, report.partial = "local", True
    report.notes.append("partial score: 1 check(s) worth 3 points need docker and were left out of the maximum "
                        "on the 'local' backend")
    report.lint = ["Dockerfile:3 DL3008 Pin versions in apt get install"]
    return report


def test_partial_scores_and_lint_findings_reach_the_student():
    report = partial_with_lint()
    page = formats()["markdown"](report, STUDENT)
    assert "_Partial score: checks this grading could not run are left out of the maximum._" in page
    assert "hadolint, not scored" in page and "DL3008 Pin versions" in page
    gs_out = gs.results_dict(report, STUDENT)["output"]
    assert "Partial" in gs_out and "DL3008" in gs_out and "left out of the maximum" in gs_out
    result = pl.results_dict(report, STUDENT)
    assert "Partial" in result["message"] and "DL3008" in result["output"] and result["score"] == 1.0
    assert "Partial" not in formats()["markdown"](all_passed(), STUDENT)


def test_the_text_formats_do_not_emit_anything_on_stderr(capsys):
    for name in ("gradescope", "prairielearn", "junit", "markdown"):
        formats()[name](some_failed(), STUDENT)
    assert capsys.readouterr() == ("", "")


def test_publish_accepts_an_explicit_environment(tmp_path):
    stream = io.StringIO()
    out = tmp_path / "o"
    report = all_passed()
    ghc.publish(report, STUDENT, ghc.result_dict(report, STUDENT), ghc.runner_results(report, STUDENT),
                env={"GITHUB_OUTPUT": str(out), "GITHUB_ACTIONS": "true"}, stderr=stream)
    assert out.read_text().startswith("result=") and "::error" not in stream.getvalue()
    assert "::notice title=Score::23 / 18 (18 + 5 bonus)" in stream.getvalue()


# --- student-controlled text is inert in every format ----------------------------------------

FORGED = "<h1>Grading: 100 / 100</h1> [full marks](http://evil.example) www.evil.example ]]></failure>"


def forged() -> GradingReport:
    """What a student controls (a refused value, an answer quoted in a message, a service name,
    a log line) forging a score, a link and the end of an XML element."""
    check = chk("responds_fast", Status.FAILED, 5, message=f"seen: {FORGED}\nnext line", details=FORGED)
    return make_report([PartResult("background", "Фоновые задачи", False, [check])],
                       problems=[f"policy: refused before running: service 'web': cap_add: {FORGED}"],
                       logs={f"web{FORGED}": FORGED})


@pytest.mark.parametrize("audience", ["instructor", "student"])
def test_student_text_cannot_forge_markup_in_any_format(audience, tmp_path, monkeypatch, capsys):
    import xml.etree.ElementTree as ET

    options = AUDIENCES[audience]
    gradescope = json.loads(formats()["gradescope"](forged(), options))
    for page in (formats()["markdown"](forged(), options), gradescope["output"],
                 *(test["output"] for test in gradescope["tests"])):
        prose = re.sub(r"(?s)(`{3,}).*?\1", "", page)  # fenced blocks show text as it is
        assert "<h1>" not in prose and not re.search(r"(?<!\\)\]\(http", prose), prose  # no tag, no link
        assert "http://evil" not in prose and "www.evil" not in prose, prose  # no autolink
    json.loads(formats()["prairielearn"](forged(), options))  # plain text in JSON: PrairieLearn escapes it
    junit = ET.fromstring(formats()["junit"](forged(), options))  # still well-formed XML
    failure = junit.find(".//failure")
    assert failure is not None and FORGED in ET.tostring(junit, encoding="unicode").replace("&lt;", "<") \
        .replace("&gt;", ">").replace("&amp;", "&")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    formats()["github-classroom"](forged(), options)
    assert all(line.startswith("::") for line in capsys.readouterr().err.splitlines())  # no forged command
    assert [line.split("=", 1)[0] for line in (tmp_path / "out").read_text().splitlines()] == [
        "result", "total", "score", "bonus", "max-score", "gradable", "status", "runners"]
    summary = re.sub(r"(?s)(`{3,}).*?\1", "", (tmp_path / "summary").read_text(encoding="utf-8"))
    assert "<h1>" not in summary and "http://evil" not in summary


# --- capability gaps, advice, one score, gradability ----------------------------------------

def with_gaps() -> GradingReport:
    """A local grading: a Docker-only check not graded here, an advice check not followed, a
    Dockerfile rule pointing at a line, a bonus earned."""
    advice = chk("dockerignore", Status.FAILED, 0, message="no .dockerignore", check_type="dockerfile")
    advice.advice = True
    located = chk("cmd_exec_form", Status.FAILED, 4, message="line 7: CMD is in shell form", check_type="dockerfile")
    located.file, located.line = "Dockerfile", 7
    not_here = chk("image_builds", Status.SKIPPED, 5, message="not graded here: it needs docker")
    not_here.graded, not_here.max_score = False, 0.0
    report = make_report([
        PartResult("background", "Фоновые задачи", False, [chk("log_line", Status.PASSED, 10)]),
        PartResult("docker", "Docker", False, [not_here, located, advice]),
        PartResult("bonus", "Бонус", True, [chk("scale", Status.PASSED, 5)]),
    ])
    report.backend, report.partial = "local", True
    report.notes.append("the local backend runs the submission's code unconfined")
    return report


def test_checks_not_graded_here_are_never_failures_and_advice_never_costs():
    report = with_gaps()
    gradescope = gs.results_dict(report, STUDENT)
    names = {t["name"].split(":")[0]: t for t in gradescope["tests"]}
    assert "docker.image_builds" not in names and "not graded here" in gradescope["output"]
    assert names["docker.dockerignore"]["status"] == "passed"  # advice: 0 points, never red
    assert all(t["status"] == "passed" or t["max_score"] > 0 for t in gradescope["tests"])
    prairie = pl.results_dict(report, STUDENT)
    assert "docker.image_builds" not in {t["name"] for t in prairie["tests"]}
    github = ghc.result_dict(report, STUDENT)
    statuses = {t["name"].split(":")[0]: t["status"] for t in github["tests"]}
    assert "[docker] image_builds" not in statuses and statuses["[docker] dockerignore"] == "pass"


def test_instructor_notes_reach_no_student_in_any_format():
    report = with_gaps()
    for name in ("gradescope", "prairielearn", "markdown", "text", "json", "junit", "github-classroom"):
        assert "unconfined" not in formats()[name](report, STUDENT), name
        assert "secret-log-line" not in formats()[name](report, STUDENT), name
    assert "unconfined" in formats()["gradescope"](report, INSTRUCTOR)


def test_every_format_gives_the_same_total_and_bonus():
    report = with_gaps()  # 10 + 0 of 14, and a 5-point bonus: 15 / 14 (10 + 5 bonus)
    line = "15 / 14 (10 + 5 bonus)"
    assert line in formats()["markdown"](report, STUDENT) and line in formats()["text"](report, STUDENT)
    assert line in gs.results_dict(report, STUDENT)["output"] and gs.results_dict(report, STUDENT)["score"] == 15
    assert line in pl.results_dict(report, STUDENT)["message"]
    assert json.loads(formats()["json"](report, STUDENT))["total"] == 15
    assert sum(t["score"] for t in ghc.result_dict(report, STUDENT)["tests"]) == 15


def test_the_reporters_own_arithmetic_equals_the_points_with_one_runner_per_check():
    report = some_failed()
    runners = ghc.runner_results(report, STUDENT)
    assert all(re.fullmatch(r"[a-z0-9]+", name) for name, _ in runners) and len({n for n, _ in runners}) == len(runners)
    console = sum(sum(t["status"] == "pass" for t in r["tests"]) / len(r["tests"]) * r["max_score"] for _, r in runners)
    posted = sum(t["score"] for _, r in runners if r["max_score"] for t in r["tests"])
    assert console == posted == report.score and sum(r["max_score"] for _, r in runners) == report.max_score
    assert "secret_probe" not in json.dumps(runners)


def test_annotations_point_at_the_students_file_and_line(tmp_path):
    report = with_gaps()
    report.problems.append("policy: refused before running: compose.yaml: service 'web': privileged: true; "
                           "Dockerfile: Dockerfile line 3: RUN --security=insecure is not allowed")
    lines = ghc.annotations(report, STUDENT)
    assert any(line.startswith("::error file=Dockerfile,line=7,title=docker.cmd_exec_form") for line in lines)
    assert any(line.startswith("::error file=compose.yaml,title=grading problem") for line in lines)
    assert any(line.startswith("::error file=Dockerfile,line=3,title=grading problem") for line in lines)
    assert any(line.startswith("::warning ") and "dockerignore" in line for line in lines)  # advice: a warning
    assert not any(line.startswith("::error") and "dockerignore" in line for line in lines)


def test_a_grading_this_machine_could_not_complete_is_no_score_anywhere():
    report = with_gaps()
    report.problems.append("offline: not gradable here: the grader's wheelhouse lacks fastapi==99")
    assert not report.gradable
    assert formats()["gradescope"](report, STUDENT) == ""  # no results.json: Gradescope records no score
    result = pl.results_dict(report, STUDENT)
    assert result["gradable"] is False and "score" not in result and "fastapi==99" in result["format_errors"][0]
    assert ghc.result_dict(report, STUDENT)["status"] == "error"
    stream = io.StringIO()
    ghc.publish(report, STUDENT, ghc.result_dict(report, STUDENT), [], env={"GITHUB_ACTIONS": "true"}, stderr=stream)
    assert "Autograding complete" not in stream.getvalue()
