"""`github-classroom`: the result a GitHub Classroom grader step hands to the reporter.

The reporter (classroom-resources/autograding-grading-reporter) reads, for every runner id
in its `runners` input, the environment variable `<ID>_RESULTS`: base64 of
`{"version": 1, "status", "max_score", "tests": [{"name", "status", "score", "message",
"test_code", "filename", "line_no", "duration"}]}` (the shape the command grader emits with
`core.setOutput('result', btoa(JSON.stringify(result)))`). It adds `max_score` of every runner
for the maximum and the `score` of every test for the points, posts `Points X/Y` to Classroom,
and fails the job when a runner's `status` is "fail" or "error".

What this format does:

- The rendered string (stdout / `--out`) is that JSON itself, readable; not base64.
- When `GITHUB_OUTPUT` is set it appends `result=<base64 JSON>` there, so the step's
  `outputs.result` is what the reporter expects; when `GITHUB_STEP_SUMMARY` is set it appends
  the Markdown feedback page; when `GITHUB_ACTIONS=true` it prints `::error` annotations for
  the problems and the failed checks (at most 10: GitHub shows no more per step) to stderr,
  where they cannot mix with a report written to stdout. Outside Actions it is pure.
- Points: every check is a test whose `score` is the points it earned, bonus checks included,
  so the reporter's sum equals our score + bonus; `max_score` is our non-bonus maximum. A
  bonus lifts the Classroom total above the maximum (e.g. 105/100), as a bonus should.
- `status` per test: passed -> "pass", failed and skipped -> "fail", error -> "error".
  Overall: "pass" when every non-bonus check passed; else "fail" when one failed or was
  skipped; else "error" (only grader-side errors kept it from a verdict).
- With `--audience student` hidden checks are merged into one test "hidden checks (N)" with
  their summed points, so the sum still equals the total and their names stay unseen.
- The base64 output travels to the reporter as an environment variable, and Linux caps one
  environment string at 128 KiB, so the JSON is kept under 64 KiB (long messages shortened).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from typing import Any, TextIO

from graders.reports import ReportOptions, for_audience, report_format
from graders.reports.markdown import clean_text, hidden_checks, number, points, render_markdown, total_line, truncate
from graders.results import CheckResult, GradingReport, PartResult, Status

RESULT_LIMIT = 64 * 1024  # bytes of JSON; base64 makes it 4/3 of that, under the 128 KiB env cap
MESSAGE_LIMIT = 2_000
SUMMARY_LIMIT = 1_000_000  # GitHub refuses a step summary over 1024 KiB
ANNOTATION_LIMIT = 10  # error annotations GitHub shows per step
STATUS = {Status.PASSED: "pass", Status.FAILED: "fail", Status.SKIPPED: "fail", Status.ERROR: "error"}


def overall_status(report: GradingReport) -> str:
    required = [c for p in report.parts if not p.bonus for c in p.checks]
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
        "filename": "",
        "line_no": 0,  # 0: the reporter prints no "- line N"
        "duration": int(round(check.duration_s * 1000)),  # milliseconds, as the command grader
    }


def _hidden_test(hidden: list[tuple[PartResult, CheckResult]]) -> dict[str, Any]:
    earned = sum(c.score for _, c in hidden)
    most = sum(c.max_score for _, c in hidden)
    passed = all(c.status is Status.PASSED for _, c in hidden)
    message = (f"{len(hidden)} hidden check(s): {points(round(earned, 2))} / {points(round(most, 2))} points; "
               "they count toward the score and are shown after grading")
    return {"name": f"hidden checks ({len(hidden)})", "status": "pass" if passed else "fail",
            "score": number(earned), "message": message, "test_code": "" if passed else message,
            "filename": "", "line_no": 0, "duration": int(round(sum(c.duration_s for _, c in hidden) * 1000))}


def result_dict(report: GradingReport, options: ReportOptions, limit: int = RESULT_LIMIT) -> dict[str, Any]:
    """The reporter's result object, under `limit` bytes of compact JSON."""
    shown = for_audience(report, options)
    hidden = hidden_checks(report, options)
    message_limit = MESSAGE_LIMIT
    while True:
        tests = [_test(p, c, message_limit) for p, c in shown.all_checks()]
        if hidden:
            tests.append(_hidden_test(hidden))
        result = {"version": 1, "status": overall_status(report), "max_score": number(report.max_score),
                  "tests": tests}
        if len(encode_json(result)) <= limit or message_limit == 0:
            return result
        message_limit = message_limit // 2 if message_limit > 40 else 0


def encode_json(result: dict[str, Any]) -> bytes:
    return json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode(result: dict[str, Any]) -> str:
    """The value of the step output `result`: base64 of the compact JSON, one line."""
    return base64.b64encode(encode_json(result)).decode("ascii")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotations(report: GradingReport, options: ReportOptions, limit: int = ANNOTATION_LIMIT) -> list[str]:
    """`::error` workflow commands: problems first, then the checks that did not pass."""
    items: list[tuple[str, str]] = []
    for problem in report.problems:
        first, *rest = clean_text(problem).splitlines() or [""]
        items.append(("grading problem", "\n".join([first, *rest[-5:]])))
    for part, check in for_audience(report, options).all_checks():
        if check.status is Status.PASSED:
            continue
        text = clean_text(check.message) + (f"\nhint: {clean_text(check.hint)}" if check.hint else "")
        items.append((f"{part.id}.{check.id}: {points(check.score)}/{points(check.max_score)} ({check.status.value})",
                      text))
    if len(items) > limit:
        more = len(items) - (limit - 1)
        items = items[:limit - 1] + [("more", f"{more} more problem(s) and failed check(s): see the job summary")]
    return [f"::error title={_escape_property(truncate(title, 200))}::{_escape_data(truncate(text, 2_000))}"
            for title, text in items]


def summary(report: GradingReport, options: ReportOptions) -> str:
    return truncate(render_markdown(report, options, heading="##"), SUMMARY_LIMIT)


def publish(result: dict[str, Any], report: GradingReport, options: ReportOptions,
            env: dict[str, str] | None = None, stderr: TextIO | None = None) -> None:
    """Hand the result to GitHub Actions; nothing happens outside a workflow run."""
    env = os.environ if env is None else env
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            out.write(f"result={encode(result)}\n")
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as out:
            out.write(summary(report, options))
    if env.get("GITHUB_ACTIONS") == "true":
        stream = stderr or sys.stderr
        for line in annotations(report, options):
            stream.write(line + "\n")
        stream.write(f"::notice title=Score::{_escape_data(total_line(report))}\n")
        stream.flush()


@report_format("github-classroom")
def render(report: GradingReport, options: ReportOptions) -> str:
    result = result_dict(report, options)
    publish(result, report, options)
    return json.dumps(result, ensure_ascii=False, indent=2) + "\n"
