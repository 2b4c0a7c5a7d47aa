"""`github-classroom`: the result a GitHub Classroom grader step hands to the reporter, and
everything the grading step gives GitHub Actions (graders/reports/_github_actions.py).

The reporter (classroom-resources/autograding-grading-reporter) reads, for every runner id
in its `runners` input, the environment variable `<ID>_RESULTS`: base64 of
`{"version": 1, "status", "max_score", "tests": [{"name", "status", "score", "message",
"test_code", "filename", "line_no", "duration"}]}` (the shape the command grader emits with
`core.setOutput('result', btoa(JSON.stringify(result)))`). It adds `max_score` of every runner
with a non-zero maximum and the `score` of each of its tests, posts `Points X/Y`, and fails the
job when a runner's `status` is "fail" or "error". Its console prints, per runner, (passed
tests / all tests) × `max_score`.

What this format does:

- The rendered string (stdout / `--out`) is the whole grading as one runner's JSON, readable;
  the step output `result` is its base64. With `GRADER_CLASSROOM_REPORTER=true` the grading
  also goes to the reporter as one runner per check (`runners`, `runner_results`): a check's
  points are all or nothing, so the reporter's console arithmetic equals the points.
- Points: one test per graded check, `score` the points it earned; `max_score` the non-bonus
  maximum. Checks this grading could not run (`graded` false) are not tests: they are neither
  passed nor failed here. Advice checks (0 points) are "pass" with the advice in `test_code`.
- The one score: score + bonus over the maximum, as every format shows it
  (`80 / 100 (75 + 5 bonus)`). Posted without the reporter: Points 80/100. Through the reporter
  a bonus check is a runner with `max_score` 0, which the reporter leaves out of its sum (it
  cannot add points above a maximum it also prints per runner), so there Classroom records 75/100
  and the summary, outputs and notice give the bonus (docs/platforms.md).
- `status` per test: passed -> "pass", failed and skipped -> "fail", error -> "error".
  Overall: "pass" when every non-bonus check passed; else "fail" when one failed or was
  skipped; else "error" (only grader-side errors kept it from a verdict, or the grading was
  not gradable here).
- With `--audience student` hidden checks are merged into one test "hidden checks (N)" with
  their summed points (per check, as "hidden check N", for the reporter's runners).
- `filename` / `line_no`: the student's file and line a check points at (a Dockerfile rule).
- The base64 output travels to the reporter as an environment variable, and Linux caps one
  environment string at 128 KiB, so the JSON is kept under 64 KiB (long messages shortened).
"""

from __future__ import annotations

import json
import re
from typing import Any

from graders.reports import ReportOptions, for_audience, report_format
from graders.reports._github_actions import annotations, encode, encode_json, publish  # noqa: F401 - the API
from graders.reports.markdown import clean_text, hidden_checks, number, points, truncate
from graders.results import CheckResult, GradingReport, PartResult, Status

RESULT_LIMIT = 64 * 1024  # bytes of JSON; base64 makes it 4/3 of that, under the 128 KiB env cap
MESSAGE_LIMIT = 2_000
STATUS = {Status.PASSED: "pass", Status.FAILED: "fail", Status.SKIPPED: "fail", Status.ERROR: "error"}


def overall_status(report: GradingReport) -> str:
    if not report.gradable:
        return "error"
    required = [c for p in report.parts if not p.bonus for c in p.checks if c.graded]
    if all(c.graded_status is Status.PASSED for c in required):
        return "pass"
    if any(c.graded_status in (Status.FAILED, Status.SKIPPED) for c in required):
        return "fail"
    return "error"


def _test_name(part: PartResult, check: CheckResult) -> str:
    return f"[{part.id}] {check.id}: {clean_text(check.title)}" + (" (bonus)" if part.bonus else "")


def _test(part: PartResult, check: CheckResult, limit: int) -> dict[str, Any]:
    message = clean_text(check.message)
    # The reporter prints `test_code` under every test and `message` only for errors, so the
    # evidence and the hint of a check that did not pass go there too.
    code = ""
    if check.status is not Status.PASSED:
        code = ("advice (not scored): " if check.advice else "") + f"seen: {message}" + (
            f"\nhint: {clean_text(check.hint)}" if check.hint else "")
    return {
        "name": _test_name(part, check),
        "status": STATUS[check.graded_status],
        "score": number(check.score),
        "message": truncate(message, limit),
        "test_code": truncate(code, limit),
        "filename": check.file,
        "line_no": check.line if check.file else 0,  # 0: the reporter prints no "- line N"
        "duration": int(round(check.duration_s * 1000)),  # milliseconds, as the command grader
    }


def _hidden_test(hidden: list[tuple[PartResult, CheckResult]], name: str = "") -> dict[str, Any]:
    earned = sum(c.score for _, c in hidden)
    most = sum(c.max_score for _, c in hidden)
    passed = all(c.status is Status.PASSED for _, c in hidden)
    message = (f"{len(hidden)} hidden check(s): {points(round(earned, 2))} / {points(round(most, 2))} points; "
               "they count toward the score and are shown after grading")
    return {"name": name or f"hidden checks ({len(hidden)})", "status": "pass" if passed else "fail",
            "score": number(earned), "message": message, "test_code": "" if passed else message,
            "filename": "", "line_no": 0, "duration": int(round(sum(c.duration_s for _, c in hidden) * 1000))}


def _graded(report: GradingReport, options: ReportOptions) -> tuple[list[tuple[PartResult, CheckResult]],
                                                                       list[tuple[PartResult, CheckResult]]]:
    """(the checks this audience sees, the hidden ones), both without the checks not graded here."""
    shown = [(p, c) for p, c in for_audience(report, options).all_checks() if c.graded]
    return shown, [(p, c) for p, c in hidden_checks(report, options) if c.graded]


def result_dict(report: GradingReport, options: ReportOptions, limit: int = RESULT_LIMIT) -> dict[str, Any]:
    """The reporter's result object for the whole grading, under `limit` bytes of compact JSON."""
    shown, hidden = _graded(report, options)
    message_limit = MESSAGE_LIMIT
    while True:
        tests = [_test(p, c, message_limit) for p, c in shown]
        if hidden:
            tests.append(_hidden_test(hidden))
        result = {"version": 1, "status": overall_status(report), "max_score": number(report.max_score),
                  "tests": tests}
        if len(encode_json(result)) <= limit or message_limit == 0:
            return result
        message_limit = message_limit // 2 if message_limit > 40 else 0


def runner_results(report: GradingReport, options: ReportOptions) -> list[tuple[str, dict[str, Any]]]:
    """One reporter runner per graded check: (a name of letters and digits, its result). A bonus
    check's runner has max_score 0 (shown, not added to Classroom's maximum)."""
    shown, hidden = _graded(report, options)
    runners: list[tuple[str, dict[str, Any]]] = []
    for part, check in shown:
        test = _test(part, check, MESSAGE_LIMIT)
        name = "p" + re.sub(r"[^a-z0-9]", "", part.id.lower()) + str(part.checks.index(check) + 1)
        runners.append((name, {"version": 1, "status": test["status"], "tests": [test],
                               "max_score": 0 if part.bonus else number(check.max_score)}))
    for n, (part, check) in enumerate(hidden, 1):
        test = _hidden_test([(part, check)], name=f"hidden check {n}")
        runners.append((f"hidden{n}", {"version": 1, "status": test["status"], "tests": [test],
                                       "max_score": 0 if part.bonus else number(check.max_score)}))
    return runners


@report_format("github-classroom")
def render(report: GradingReport, options: ReportOptions) -> str:
    result = result_dict(report, options)
    publish(report, options, result, runner_results(report, options))
    return json.dumps(result, ensure_ascii=False, indent=2) + "\n"
