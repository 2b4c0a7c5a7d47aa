"""`prairielearn`: /grade/results/results.json of a PrairieLearn external grading job.

Fields follow PrairieLearn's docs/externalGrading.md ("Grading results"): `gradable`,
`score` in [0, 1], `message`, `output`, `format_errors` (when not gradable) and `tests[]` with
`name`, `description`, `points`, `max_points`, `message`, `output`, which the
`<pl-external-grader-results>` element renders. The file "should be limited to 1 MB".

- Not gradable (`gradable: false`, `format_errors`, no score; PrairieLearn then awards and
  takes no points and does not count the attempt) when nothing of the stack could be
  evaluated because of the submission's files: a problem of the step `find` (no compose file
  and no Dockerfile), `compose-config` (the compose file is malformed) or `policy` (the
  submission was refused); and when this machine could not grade it (`offline`: a requirement
  the image's wheelhouse lacks, with networking off). A failed build stays gradable: the spec grades it
  (`docker.image_builds`) and the static checks still earn their points.
- `score` = (score + bonus) / max, capped at 1: a bonus makes up for lost points but cannot
  pass 100 %. Each test's `points` is what the check earned; their sum is score + bonus.
- Checks this grading could not run (Docker-only ones on PrairieLearn) are left out of `tests`
  and named, with the reason, in `output`; the grader's notes reach `output` only for
  instructors.
- With `--audience student` hidden checks are merged into one test "hidden checks (N)", so
  the points still add up and their names stay unseen; instructors' `details` and service
  logs are left out.
- The JSON is kept under 1 MB (UTF-8): long messages and outputs are shortened, and the
  message says so.
"""

from __future__ import annotations

import json
from typing import Any

from graders.i18n import N_, _
from graders.reports import ReportOptions, for_audience, report_format
from graders.reports.markdown import clean_text, hidden_checks, number, points, problem_step, total_line, truncate
from graders.results import UNGRADABLE_STEPS as RESULTS_UNGRADABLE
from graders.results import CheckResult, GradingReport, PartResult, Status

SIZE_LIMIT = 1_000_000  # bytes of JSON
UNGRADABLE_STEPS = ("find", "unpack", "compose-config", "policy", *RESULTS_UNGRADABLE)
TRUNCATED_NOTE = N_("Some long texts were shortened to keep results.json under PrairieLearn's 1 MB limit.")


def is_gradable(report: GradingReport) -> bool:
    return not any(problem_step(p) in UNGRADABLE_STEPS for p in report.problems)


def format_errors(report: GradingReport) -> list[str]:
    return [clean_text(p).split("\n", 1)[0] for p in report.problems if problem_step(p) in UNGRADABLE_STEPS]


def _test(part: PartResult, check: CheckResult, options: ReportOptions, limit: int) -> dict[str, Any]:
    message = clean_text(check.message)
    if check.status is not Status.PASSED and check.hint:
        message += "\n" + _("Hint:") + " " + clean_text(check.hint)
    output = "" if options.audience == "student" else clean_text(check.details)
    return {
        "name": f"{part.id}.{check.id}" + (" (bonus)" if part.bonus else ""),
        "description": clean_text(check.title),
        "points": number(check.score),
        "max_points": number(check.max_score),
        "message": truncate(message, limit),
        "output": truncate(output, limit * 4, where="start"),
    }


def _hidden_test(hidden: list[tuple[PartResult, CheckResult]]) -> dict[str, Any]:
    earned = sum(c.score for _, c in hidden)
    most = sum(c.max_score for _, c in hidden)
    return {"name": _("hidden checks ({count})", count=len(hidden)), "description": _("checks shown after grading"),
            "points": number(earned), "max_points": number(most),
            "message": _("{earned} / {most} points", earned=points(round(earned, 2)), most=points(round(most, 2))),
            "output": ""}


def _output(report: GradingReport, options: ReportOptions, limit: int) -> str:
    lines = []
    for problem in report.problems:
        lines += [clean_text(problem), ""]
    left_out = [c for _p, c in for_audience(report, options).all_checks() if not c.graded]
    lines += [_("not graded here: {title}: {message}", title=clean_text(c.title), message=clean_text(c.message))
              for c in left_out]
    if options.audience != "student":  # how the grader ran: the instructor's business
        lines += [f"note: {clean_text(n)}" for n in report.notes]
    lines += [_("suggestion (hadolint, not scored): {finding}", finding=clean_text(f)) for f in report.lint]
    if options.audience != "student":
        for service, log in sorted(report.service_logs.items()):
            lines += ["", f"--- logs of {service} ---", clean_text(log)]
    return truncate("\n".join(lines).strip(), limit, where="start")


def _build(report: GradingReport, options: ReportOptions, limit: int) -> dict[str, Any]:
    if not is_gradable(report):
        errors = [truncate(e, max(limit, 500)) for e in format_errors(report)]
        return {"gradable": False, "format_errors": errors,
                "message": truncate(_("The submission could not be graded: {errors}", errors="; ".join(errors)),
                                    max(limit, 500)),
                "output": _output(report, options, limit * 10)}
    shown = for_audience(report, options)
    tests = [_test(p, c, options, limit) for p, c in shown.all_checks() if c.graded]
    hidden = hidden_checks(report, options)
    if hidden:
        tests.append(_hidden_test(hidden))
    total = report.total
    score = min(1.0, total / report.max_score) if report.max_score else (1.0 if total else 0.0)
    message = _("Score") + f": {total_line(report)}."
    if report.partial:
        message += " " + _("Partial: checks the `{backend}` backend cannot run are left out of the maximum.",
                           backend=report.backend)
    if report.problems:
        message += " " + _("Problems") + ": " + "; ".join(clean_text(p).split("\n", 1)[0] for p in report.problems)
    return {"gradable": True, "score": round(score, 4), "message": truncate(message, max(limit, 500)),
            "output": _output(report, options, limit * 10), "tests": tests}


def _dump(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2) + "\n"


def results_dict(report: GradingReport, options: ReportOptions, size_limit: int = SIZE_LIMIT) -> dict[str, Any]:
    budget = size_limit - 4 * len(_(TRUNCATED_NOTE))  # room for the note, in UTF-8 bytes at worst
    limit = 10_000
    result = _build(report, options, limit)
    while len(_dump(result).encode("utf-8")) > budget and limit > 0:
        limit = limit // 2 if limit > 20 else 0
        result = _build(report, options, limit)
    if "… [truncated:" in _dump(result):
        result["message"] = truncate(result["message"], 2_000) + " " + _(TRUNCATED_NOTE)
    if len(_dump(result).encode("utf-8")) > size_limit:  # thousands of checks: keep the score, drop the rest
        result["tests"] = []
        result["output"] = ""
        result["message"] = truncate(result["message"], 2_000)
    return result


@report_format("prairielearn")
def render(report: GradingReport, options: ReportOptions) -> str:
    return _dump(results_dict(report, options))
