"""`markdown`: the feedback page a student reads.

The score, then the problems before anything else (a build failure's log tail in a code
block), the points per part, and per part each check that did not pass as expected (the
assignment's line) / seen / what to do, the passed ones collapsed; nothing twice. In the
student's language (ReportOptions.lang). With the student audience, hidden checks, notes and
service logs are left out (their points still count).

Notes (a partial score among them) and hadolint's suggestions (not scored) come last.

This module also holds the small text helpers the platform formats share: `clean_text`
(control characters out), `truncate` (a cap that says what it cut) and `points`.
"""

from __future__ import annotations

import re

from graders.i18n import N_, _, n_
from graders.reports import ReportOptions, attachment_link, for_audience, report_format
from graders.results import CheckResult, GradingReport, PartResult, Status

# ANSI escape sequences (coloured build logs), then the C0/C1 controls XML 1.0 and most
# viewers cannot carry; \t \n \r stay. Lone surrogates and U+FFFE/U+FFFF are not characters.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

ICONS = {Status.PASSED: "✅", Status.FAILED: "❌", Status.ERROR: "⚠️", Status.SKIPPED: "⏭️"}
MESSAGE_LIMIT = 4_000  # characters of one check's message on the page
DETAILS_LIMIT = 8_000
PROBLEM_LINES = 40  # last lines of a problem's log shown
LOG_LINES = 60  # last lines of each service log (instructors only)


def clean_text(text: str | None) -> str:
    """`text` without ANSI colour codes and control characters (tab and newlines stay)."""
    if not text:
        return ""
    return _CONTROL.sub("", _ANSI.sub("", str(text)))


_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML_INERT = {**_HTML, ":": "&#58;", "[": "&#91;", "]": "&#93;", ".": "&#46;"}  # nothing to autolink either


def safe_md(text: str | None) -> str:
    """Student-controlled text made inert in Markdown: no HTML (a fake `<h1>` score), no links
    or images (`[`/`]` escaped), no autolinks (`http\\://`, `www\\.`), no table cell breaks."""
    escaped = re.sub(r"([\[\]|])", r"\\\1", clean_text(text))
    escaped = re.sub(r"(?i)(\w)://", r"\1\\://", escaped)
    escaped = re.sub(r"(?i)\b(www)\.", r"\1\\.", escaped)
    return "".join(_HTML.get(ch, ch) for ch in escaped)


def truncate(text: str, limit: int, where: str = "end") -> str:
    """`text` cut to at most `limit` characters, saying how much was cut.

    `where="end"` keeps the beginning (messages); `where="start"` keeps the end (log tails).
    """
    if len(text) <= limit:
        return text
    # The note names at most len(text) cut characters, so this bounds its length.
    keep = max(limit - len(f"… [truncated: {len(text)} more characters]") - 1, 0)
    note = f"… [truncated: {len(text) - keep} more characters]"
    if not keep:
        return note[:max(limit, 0)]
    return note + "\n" + text[len(text) - keep:] if where == "start" else text[:keep] + "\n" + note


def points(value: float) -> str:
    return f"{value:g}"


def number(value: float) -> int | float:
    """A JSON number: 5 rather than 5.0, at most two decimals."""
    value = round(float(value), 2)
    return int(value) if value.is_integer() else value


def total_line(report: GradingReport) -> str:
    """The one score every format shows: the total a platform records (score + bonus) out of the
    maximum, and how it is made when a bonus was earned, e.g. `80 / 100 (75 + 5 bonus)`."""
    line = f"{points(report.total)} / {points(report.max_score)}"
    if report.bonus_score:
        line += _(" ({score} + {bonus} bonus)", score=points(report.score), bonus=points(report.bonus_score))
    return line


def hidden_checks(report: GradingReport, options: ReportOptions) -> list[tuple[PartResult, CheckResult]]:
    """The checks this audience does not see (their points still count)."""
    shown = {(p.id, c.id) for p, c in for_audience(report, options).all_checks()}
    return [(p, c) for p, c in report.all_checks() if (p.id, c.id) not in shown]


def problem_step(problem: str) -> str:
    """The step a problem line names: `build: the image build failed` -> `build`."""
    head = problem.split("\n", 1)[0]
    step, sep, _ = head.partition(":")
    return step.strip() if sep and " " not in step.strip() else ""


def fence(text: str, lang: str = "text") -> str:
    """A fenced code block that `text` cannot close early, whatever backticks it holds."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def _cell(text: str, limit: int = 300) -> str:
    """Text safe inside a Markdown table cell: one line, inert (safe_md escapes the pipes too)."""
    flat = " ".join(clean_text(text).replace("\\", "\\\\").split())
    return safe_md(truncate(flat, limit).replace("\n", " "))


# The steps a problem can name (`step: message`), in the student's words.
STEPS = {"policy": N_("Refused"), "compose-config": N_("The compose file"), "find": N_("The files"),
         "build": N_("The build"), "pull": N_("Images"), "start": N_("The start"), "ready": N_("Readiness"),
         "stack": N_("The stack"), "address": N_("The ports"), "teardown": N_("Teardown"),
         "total time": N_("Time"), "offline": N_("Not gradable here"), "unpack": N_("The upload")}
STATUS_WORDS = {Status.FAILED: N_("failed"), Status.ERROR: N_("could not be checked"), Status.SKIPPED: N_("skipped"),
                Status.PASSED: N_("passed")}


def problem_line(problem: str) -> tuple[str, list[str]]:
    """A problem's first line with its step in words, and the lines after it (a log tail)."""
    first, *rest = clean_text(problem).splitlines() or [""]
    step = problem_step(first)
    if step in STEPS:
        first = _(STEPS[step]) + ": " + first.split(":", 1)[1].strip()
    return first, rest


def _problem_block(problem: str) -> list[str]:
    first, rest = problem_line(problem)
    lines = [f"- **{safe_md(first.strip())}**"]
    if rest:
        tail = rest[-PROBLEM_LINES:]
        if len(rest) > PROBLEM_LINES:
            tail.insert(0, _("… ({count} earlier lines left out)", count=len(rest) - PROBLEM_LINES))
        lines += ["", fence("\n".join(tail)), ""]
    return lines


def _check_section(part: PartResult, check: CheckResult, options: ReportOptions, h3: str) -> list[str]:
    """One check that did not pass: what the assignment asks, what was seen, what to do."""
    status = _(STATUS_WORDS[check.status])
    out = [f"{h3} {ICONS[check.status]} {safe_md(clean_text(check.title))} "
           f"({points(check.score)} / {points(check.max_score)}, {status})", ""]
    if check.contract:
        out += ["**" + _("Expected") + f":** {safe_md(check.contract)}", ""]
    out += ["**" + _("Seen") + ":**", "", fence(truncate(clean_text(check.message), MESSAGE_LIMIT) or "—"), ""]
    if check.hint:
        out += ["**" + _("What to do") + f":** {clean_text(check.hint)}", ""]
    if check.details and options.audience != "student":
        details = truncate(clean_text(check.details), DETAILS_LIMIT, where="start")
        out += ["<details><summary>" + _("Details (instructors)") + "</summary>", "", fence(details), "",
                "</details>", ""]
    out.append(f"<sub>`{part.id}.{check.id}`</sub>")
    return [*out, ""]


def render_markdown(report: GradingReport, options: ReportOptions, heading: str = "#") -> str:
    shown = for_audience(report, options)
    h2, h3 = heading + "#", heading + "##"
    out: list[str] = [f"{heading} " + _("Grade") + f": {total_line(report)}", ""]
    if not report.gradable:
        out += ["_" + _("Not graded: this machine could not grade the submission (see below); these points are no "
                        "verdict on your work.") + "_", ""]
    if report.partial:
        out += ["_" + _("Partial score: checks this grading could not run are left out of the maximum.") + "_", ""]
    if report.problems:
        out += [f"{h2} " + _("Fix these first"), "",
                _("These stopped part of the grading; the checks below depend on them."), ""]
        for problem in report.problems:
            out += _problem_block(problem)
        out.append("")

    out += ["| " + _("Part") + " | " + _("Points") + " |", "| --- | ---: |"]
    for part in report.parts:
        title = clean_text(part.title) + (_(" (bonus)") if part.bonus else "")
        out.append(f"| {_cell(title)} | {points(part.score)} / {points(part.max_score)} |")
    out.append("")

    whole = {p.id: p for p in report.parts}
    for part in shown.parts:
        full = whole[part.id]
        bonus = _(" (bonus)") if part.bonus else ""
        out += [f"{h2} {safe_md(clean_text(part.title))}{bonus}: {points(full.score)} / {points(full.max_score)}", ""]
        for check in part.checks:
            if check.status is not Status.PASSED and not check.advice and check.graded:
                out += _check_section(part, check, options, h3)
        passed = [c for c in part.checks if c.status is Status.PASSED]
        if passed:
            summary = n_("{count} check passed", "{count} checks passed", len(passed))
            out += [f"<details><summary>{ICONS[Status.PASSED]} {summary}</summary>", ""]
            out += [f"- {safe_md(clean_text(c.title))} ({points(c.score)} / {points(c.max_score)})" for c in passed]
            out += ["", "</details>", ""]

    advice = [(p, c) for p in shown.parts for c in p.checks if c.advice_unmet]
    if advice:
        out += [f"{h2} " + _("Advice (not scored)"), ""]
        for _part, check in advice:
            out.append(f"- 💡 **{safe_md(clean_text(check.title))}**: {_cell(check.message, 300)}"
                       + (f" — {clean_text(check.hint)}" if check.hint else ""))
        out.append("")
    out += _screenshots(shown, options, h2)
    hidden = hidden_checks(report, options)
    notes = [clean_text(n) for n in shown.notes]
    if hidden:
        notes.insert(0, n_("{count} hidden check counts toward the score but is not shown.",
                           "{count} hidden checks count toward the score but are not shown.", len(hidden)))
    if notes:
        out += [f"{h2} " + _("Notes"), ""] + [f"- {_cell(n, 500)}" for n in notes] + [""]

    if report.lint:
        out += [f"{h2} " + _("Dockerfile suggestions (hadolint, not scored)"), "",
                fence("\n".join(clean_text(finding) for finding in report.lint)), ""]

    if options.audience != "student" and report.service_logs:
        out += [f"{h2} " + _("Service logs (instructors)"), ""]
        for service, log in sorted(report.service_logs.items()):
            lines = clean_text(log).splitlines()[-LOG_LINES:]
            name = "".join(_HTML_INERT.get(ch, ch) for ch in clean_text(service)[:80])  # HTML here, not Markdown
            last = n_("last {count} line", "last {count} lines", len(lines))
            out += [f"<details><summary><code>{name}</code> ({last})</summary>", "",
                    fence("\n".join(lines)), "", "</details>", ""]

    t = report.timings
    out.append("_" + _("Grader {version}; build {build} s, start {start} s, checks {checks} s, total {total} s.",
                       version=report.grader_version, build=f"{t.build_s:.0f}", start=f"{t.up_s:.0f}",
                       checks=f"{t.checks_s:.0f}", total=f"{t.total_s:.0f}") + "_")
    return "\n".join(out) + "\n"


def _screenshots(shown: GradingReport, options: ReportOptions, h2: str) -> list[str]:
    """What the checks attached (a browser check's tabs), as images linked beside the report."""
    out: list[str] = []
    for part, check in shown.all_checks():
        if not check.attachments:
            continue
        pictures = []
        for attachment in check.attachments:
            link, name = attachment_link(attachment, options), _cell(attachment.name, 60)
            pictures.append(f"![{name}](<{link}>)" if link and attachment.media_type.startswith("image/")
                            else f"[{name}](<{link}>)" if link else name + _(" (not saved)"))
        out += [f"{ICONS[check.status]} `{part.id}.{check.id}`: {_cell(check.title, 200)}", "", " ".join(pictures), ""]
    return [f"{h2} " + _("Screenshots"), "", *out] if out else []


@report_format("markdown")
def render(report: GradingReport, options: ReportOptions) -> str:
    return render_markdown(report, options)
