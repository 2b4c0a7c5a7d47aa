"""What the `github-classroom` format hands to GitHub Actions while a workflow runs: step
outputs, the job summary, annotations on the student's files, and the points GitHub Classroom
records. Outside a workflow run (none of GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ACTIONS
set) nothing here has an effect.

Classroom records the points of the notice titled "Autograding complete" ("Points X/Y"), which
the autograding-grading-reporter action posts (src/notify-classroom.js). Without that action
(the template's default) this step posts the same two notices itself. With it
(GRADER_CLASSROOM_REPORTER=true), the result goes to the action as one runner per check, so the
action's own arithmetic (passed tests / all tests × max_score per runner, in its bundled
dist/main.js) equals each check's points and no second number appears in the log.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from graders.i18n import _, n_
from graders.reports import ReportOptions, for_audience
from graders.reports.markdown import clean_text, number, points, render_markdown, total_line, truncate
from graders.results import GradingReport, Status

SUMMARY_LIMIT = 1_000_000  # GitHub refuses a step summary over 1024 KiB
ANNOTATION_LIMIT = 10  # error annotations GitHub shows per step
REPORTER_ENV = "GRADER_CLASSROOM_REPORTER"
FILE_STEPS = ("policy", "compose-config")  # problems about the student's own files
_LINE = re.compile(r"(?:line|строка|строке) (\d+)")
_FILE = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*(?:Dockerfile[\w.-]*|[\w.-]+\."
                   r"(?:ya?ml|txt|py|toml|cfg|conf|json|env)))\b")


def encode_json(result: dict[str, Any]) -> bytes:
    return json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode(result: dict[str, Any]) -> str:
    """The value of a `<RUNNER>_RESULTS` variable or the step output `result`: base64 of the compact JSON."""
    return base64.b64encode(encode_json(result)).decode("ascii")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, title: str, text: str, file: str = "", line: int = 0) -> str:
    props = ([f"file={_escape_property(file)}"] if file else []) + ([f"line={line}"] if file and line else [])
    props.append(f"title={_escape_property(truncate(title, 200))}")
    return f"::{kind} {','.join(props)}::{_escape_data(truncate(text, 2_000))}"


def problem_files(problem: str) -> list[tuple[str, int, str]]:
    """(file, line, text) for each part of a problem that names a file of the submission (a
    policy refusal lists its violations joined by '; ', each starting with where it is)."""
    found: list[tuple[str, int, str]] = []
    step, _sep, head = clean_text(problem).split("\n", 1)[0].partition(": ")
    if step not in FILE_STEPS:  # other steps name files that may not exist ("no compose.yaml")
        return found
    for piece in head.split("; "):
        named = _FILE.search(piece)
        if named:
            line = _LINE.search(piece)
            found.append((named[1], int(line[1]) if line else 0, piece.strip()))
    return found


def annotations(report: GradingReport, options: ReportOptions, limit: int = ANNOTATION_LIMIT) -> list[str]:
    """Workflow commands: `::error` for the problems and the checks that did not pass, on the
    student's file and line where one is known; `::warning` for advice not followed (it costs
    nothing, so it is never an error); at most `limit` errors, the last saying how many more."""
    errors: list[tuple[str, str, str, int]] = []
    warnings: list[str] = []
    for problem in report.problems:
        first, *rest = clean_text(problem).splitlines() or [""]
        located = problem_files(problem)
        if located:
            errors += [(_("grading problem"), text, file, line) for file, line, text in located]
        else:
            errors.append((_("grading problem"), "\n".join([first, *rest[-5:]]), "", 0))
    for part, check in for_audience(report, options).all_checks():
        if check.status is Status.PASSED or not check.graded:
            continue
        text = clean_text(check.message) + ("\n" + _("Hint:") + " " + clean_text(check.hint) if check.hint else "")
        title = f"{part.id}.{check.id}: {points(check.score)}/{points(check.max_score)} ({check.status.value})"
        if check.advice:
            warnings.append(_command("warning", _("{check}: advice (not scored)", check=f"{part.id}.{check.id}"), text,
                                     check.file, check.line))
        else:
            errors.append((title, text, check.file, check.line))
    if len(errors) > limit:
        more = len(errors) - (limit - 1)
        text = n_("{count} more problem or failed check: see the job summary",
                  "{count} more problems and failed checks: see the job summary", more)
        errors = errors[:limit - 1] + [(_("more"), text, "", 0)]
    return [_command("error", title, text, file, line) for title, text, file, line in errors] + warnings


def summary(report: GradingReport, options: ReportOptions) -> str:
    return truncate(render_markdown(report, options, heading="##"), SUMMARY_LIMIT)


def step_outputs(report: GradingReport, result: dict[str, Any], runners: list[tuple[str, dict]]) -> dict[str, str]:
    """The grading step's outputs: the reporter's `result`, the one score, and the runner names."""
    return {"result": encode(result), "total": str(number(report.total)), "score": str(number(report.score)),
            "bonus": str(number(report.bonus_score)), "max-score": str(number(report.max_score)),
            "gradable": str(report.gradable).lower(), "status": result["status"],
            "runners": ",".join(name for name, _result in runners)}


def publish(report: GradingReport, options: ReportOptions, result: dict[str, Any], runners: list[tuple[str, dict]],
            env: Mapping[str, str] | None = None, stderr: TextIO | None = None) -> None:
    """Hand the grading to GitHub Actions; nothing happens outside a workflow run."""
    env = os.environ if env is None else env
    reporter = env.get(REPORTER_ENV, "").lower() == "true"
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            out.writelines(f"{key}={value}\n" for key, value in step_outputs(report, result, runners).items())
    if reporter and env.get("GITHUB_ENV"):  # the reporter reads <RUNNER>_RESULTS from the environment
        with open(env["GITHUB_ENV"], "a", encoding="utf-8") as out:
            out.writelines(f"{name.upper()}_RESULTS={encode(each)}\n" for name, each in runners)
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as out:
            out.write(summary(report, options))
    if env.get("GITHUB_ACTIONS") == "true":
        stream = stderr or sys.stderr
        for line in annotations(report, options):
            stream.write(line + "\n")
        stream.write(f"::notice title=Score::{_escape_data(total_line(report))}\n")
        if report.gradable and not reporter:  # what the reporter would post, for Classroom to record
            total, most = number(report.total), number(report.max_score)
            stream.write(f"::notice title=Autograding complete::Points {total}/{most}\n")
            report_json = json.dumps({"totalPoints": total, "maxPoints": most}, separators=(",", ":"))
            stream.write(f"::notice title=Autograding report::{_escape_data(report_json)}\n")
        stream.flush()
