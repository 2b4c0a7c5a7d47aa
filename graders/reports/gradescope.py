"""`gradescope`: /autograder/results/results.json for a Gradescope programming assignment.

Fields follow Gradescope's autograder specification (gradescope-autograders.readthedocs.io,
"Autograder Specifications"; gradescope/autograder_samples docs/specs.md): top-level `score`,
`execution_time` (seconds), `output` + `output_format`, `visibility`, `stdout_visibility`, and
`tests[]` with `name`, `number`, `score`, `max_score`, `status` ("passed"/"failed"),
`output` + `output_format`, `tags`, `visibility`. There is no top-level `max_score`: Gradescope
takes the maximum from the assignment's settings (set it to the non-bonus maximum).

- Every check is a test numbered "part.check" (1-based, "3.2"). Bonus checks carry the tag
  `bonus` and their own `max_score`; the top-level `score` is score + bonus (Gradescope lets a
  score exceed the assignment's points).
- Gradescope enforces visibility itself and instructors always see every test, so all checks
  are listed whatever the audience: spec `visibility: hidden` -> "hidden" (never shown to
  students; the total still counts it), `after_due_date` -> "after_due_date". The student
  audience only leaves the instructors' `details` (body excerpts, log tails) out of outputs.
- Skipped and errored checks are "failed" with their reason in the output; `status` is always
  given, so a 0-point check is never shown as passed. Advice checks (0 points) are "passed" with
  the advice in their output: never a red test.
- Checks this grading could not run (a capability the platform lacks: Docker on Gradescope) are
  left out of `tests` and listed with the reason in the overall output: Gradescope has no
  "skipped" status, and a red 0/0 test would read as a failure.
- `stdout_visibility` is "hidden": stdout carries the grader's progress and text report for
  instructors; the grader's notes (how it ran) reach the output only for instructors.
- A grading this machine could not complete (`report.gradable` false: a requirement its
  wheelhouse lacks, with no network) renders as nothing: Gradescope then records no score and
  says the autograder failed, and the instructor regrades once the wheelhouse has it.
"""

from __future__ import annotations

import json
from typing import Any

from graders.i18n import N_, _
from graders.reports import ReportOptions, for_audience, report_format
from graders.reports.markdown import (
    DETAILS_LIMIT,
    MESSAGE_LIMIT,
    clean_text,
    fence,
    number,
    safe_md,
    total_line,
    truncate,
)
from graders.results import CheckResult, GradingReport, PartResult, Status

STATUS_HEADS = {Status.PASSED: N_("Passed."), Status.FAILED: N_("Failed."), Status.ERROR: N_("Error."),
                Status.SKIPPED: N_("Skipped.")}
VISIBILITY = {"visible": "visible", "hidden": "hidden", "after_due_date": "after_due_date"}
PROBLEM_LIMIT = 20_000


def _output(check: CheckResult, options: ReportOptions) -> str:
    head = _("Advice (not scored): not followed.") if check.advice_unmet else _(STATUS_HEADS[check.status])
    parts = ["**" + head + "**", "", fence(truncate(clean_text(check.message), MESSAGE_LIMIT)
                                           or _("(no message)"))]
    if check.status is not Status.PASSED and check.hint:
        parts += ["", "**" + _("Hint:") + "** " + clean_text(check.hint)]
    if check.details and options.audience != "student":
        parts += ["", _("Details (instructors):"), "",
                  fence(truncate(clean_text(check.details), DETAILS_LIMIT, where="start"))]
    return "\n".join(parts)


def _test(number_: str, part: PartResult, check: CheckResult, options: ReportOptions) -> dict[str, Any]:
    tags = [part.id] + ([check.check_type] if check.check_type else []) + (["bonus"] if part.bonus else [])
    return {
        "name": f"{part.id}.{check.id}: {clean_text(check.title)}" + (" (bonus)" if part.bonus else ""),
        "number": number_,
        "score": number(check.score),
        "max_score": number(check.max_score),
        "status": "passed" if check.graded_status is Status.PASSED else "failed",
        "output": _output(check, options),
        "output_format": "md",
        "tags": tags,
        "visibility": VISIBILITY.get(check.visibility, "hidden"),
    }


def _overall_output(report: GradingReport, options: ReportOptions) -> str:
    lines = ["**" + _("Score") + f": {total_line(report)}**", ""]
    if report.partial:
        lines += [_("Partial: checks the `{backend}` backend cannot run are left out of the maximum (listed below).",
                    backend=report.backend), ""]
    if report.problems:
        lines += ["**" + _("Problems") + "** " + _("(fix these first; the checks below depend on them):"), ""]
        for problem in report.problems:
            first, *rest = clean_text(problem).splitlines() or [""]
            lines.append(f"- {safe_md(first)}")
            if rest:
                lines += ["", fence(truncate("\n".join(rest), PROBLEM_LIMIT, where="start")), ""]
        lines.append("")
    left_out = [c for _p, c in for_audience(report, options).all_checks() if not c.graded]
    if left_out:
        lines += [_("Not graded here (not part of this score):"), ""]
        lines += [f"- {safe_md(clean_text(c.title))}: {safe_md(clean_text(c.message))}" for c in left_out] + [""]
    hidden = [c for _p, c in report.all_checks() if c.visibility != "visible" and c.graded]
    if hidden and options.audience != "student":
        lines.append(f"{len(hidden)} check(s) are hidden from students for now; their points count.")
    if options.audience != "student":  # how the grader ran (backends, caches): the instructor's business
        lines += [f"- {safe_md(note)}" for note in report.notes]
    if report.lint:
        lines += ["", "**Dockerfile suggestions** (hadolint, not scored):", ""]
        lines += [f"- {safe_md(finding)}" for finding in report.lint]
    return "\n".join(lines).strip() + "\n"


def results_dict(report: GradingReport, options: ReportOptions) -> dict[str, Any]:
    tests = [_test(f"{pi}.{ci}", part, check, options)
             for pi, part in enumerate(report.parts, 1) for ci, check in enumerate(part.checks, 1) if check.graded]
    return {
        "score": number(report.total),
        "execution_time": int(round(report.timings.total_s)),
        "output": _overall_output(report, options),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


@report_format("gradescope")
def render(report: GradingReport, options: ReportOptions) -> str:
    if not report.gradable:
        return ""  # no results.json: Gradescope records no score (see the module's docstring)
    return json.dumps(results_dict(report, options), ensure_ascii=False, indent=2) + "\n"
