"""`markdown`: the feedback page a student reads.

The score, then the problems before anything else (a build failure's log tail in a code
block), a table per part, and for every check that did not pass what was seen and the hint. With the student
audience, hidden checks and service logs are left out (their points still count).

Notes (a partial score among them) and hadolint's suggestions (not scored) come last.

This module also holds the small text helpers the platform formats share: `clean_text`
(control characters out), `truncate` (a cap that says what it cut) and `points`.
"""

from __future__ import annotations

import re

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
    line = f"{points(report.score)} / {points(report.max_score)}"
    if any(p.bonus for p in report.parts):
        line += f" (+{points(report.bonus_score)} bonus)"
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
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    flat = " ".join(clean_text(text).split())
    return truncate(flat, limit).replace("\n", " ").replace("\\", "\\\\").replace("|", "\\|")


def _problem_block(problem: str) -> list[str]:
    first, *rest = clean_text(problem).splitlines() or [""]
    lines = [f"- **{first.strip()}**"]
    if rest:
        tail = rest[-PROBLEM_LINES:]
        if len(rest) > PROBLEM_LINES:
            tail.insert(0, f"… ({len(rest) - PROBLEM_LINES} earlier lines left out)")
        lines += ["", fence("\n".join(tail)), ""]
    return lines


def render_markdown(report: GradingReport, options: ReportOptions, heading: str = "#") -> str:
    shown = for_audience(report, options)
    h2, h3 = heading + "#", heading + "##"
    out: list[str] = [f"{heading} Grading: {total_line(report)}", ""]
    if report.partial:
        out += [f"_Partial score: checks the `{report.backend}` backend cannot run are left out of the "
                "maximum (see the notes)._", ""]
    if report.problems:
        out += [f"{h2} Problems", "",
                "These stopped part of the grading; fix them first, the checks below depend on them.", ""]
        for problem in report.problems:
            out += _problem_block(problem)
        out.append("")

    out += [f"{h2} Parts", "", "| Part | Points |", "| --- | ---: |"]
    for part in report.parts:
        title = f"{part.title} (`{part.id}`)" + (" — bonus" if part.bonus else "")
        out.append(f"| {_cell(title)} | {points(part.score)} / {points(part.max_score)} |")
    out.append("")

    whole = {p.id: p for p in report.parts}
    for part in shown.parts:
        full = whole[part.id]
        out += [f"{h2} {clean_text(part.title)} (`{part.id}`){' — bonus' if part.bonus else ''}: "
                f"{points(full.score)} / {points(full.max_score)}", ""]
        if not part.checks:
            out += ["_No checks of this part are shown._", ""]
            continue
        out += ["| | Check | Points | What was seen |", "| --- | --- | ---: | --- |"]
        for check in part.checks:
            out.append(f"| {ICONS[check.status]} | `{check.id}` {_cell(check.title, 120)} | "
                       f"{points(check.score)} / {points(check.max_score)} | {_cell(check.message, 200)} |")
        out.append("")
        for check in part.checks:
            if check.status is Status.PASSED:
                continue
            out += [f"{h3} {ICONS[check.status]} `{part.id}.{check.id}`: {_cell(check.title, 200)} "
                    f"({points(check.score)} / {points(check.max_score)}, {check.status.value})", ""]
            message = truncate(clean_text(check.message), MESSAGE_LIMIT)
            out += ["What was seen:", "", fence(message or "(no message)"), ""]
            if check.hint:
                out += [f"**Hint:** {clean_text(check.hint)}", ""]
            if check.details and options.audience != "student":
                details = truncate(clean_text(check.details), DETAILS_LIMIT, where="start")
                out += ["<details><summary>Details (instructors)</summary>", "", fence(details), "",
                        "</details>", ""]

    out += _screenshots(shown, options, h2)
    hidden = hidden_checks(report, options)
    notes = [clean_text(n) for n in report.notes]
    if hidden:
        notes.insert(0, f"{len(hidden)} hidden check(s) count toward the score but are not shown.")
    if notes:
        out += [f"{h2} Notes", ""] + [f"- {_cell(n, 500)}" for n in notes] + [""]

    if report.lint:
        out += [f"{h2} Dockerfile suggestions (hadolint, not scored)", ""]
        out += [f"- {_cell(finding, 500)}" for finding in report.lint] + [""]

    if options.audience != "student" and report.service_logs:
        out += [f"{h2} Service logs (instructors)", ""]
        for service, log in sorted(report.service_logs.items()):
            lines = clean_text(log).splitlines()[-LOG_LINES:]
            out += [f"<details><summary><code>{_cell(service, 80)}</code> (last {len(lines)} lines)</summary>", "",
                    fence("\n".join(lines)), "", "</details>", ""]

    t = report.timings
    out.append(f"_Grader {report.grader_version}, backend {report.backend}; build {t.build_s:.0f} s, "
               f"start {t.up_s:.0f} s, checks {t.checks_s:.0f} s, total {t.total_s:.0f} s._")
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
                            else f"[{name}](<{link}>)" if link else f"{name} (not saved)")
        out += [f"{ICONS[check.status]} `{part.id}.{check.id}`: {_cell(check.title, 200)}", "", " ".join(pictures), ""]
    return [f"{h2} Screenshots", "", *out] if out else []


@report_format("markdown")
def render(report: GradingReport, options: ReportOptions) -> str:
    return render_markdown(report, options)
