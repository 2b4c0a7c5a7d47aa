"""`text`: a readable per-part table with totals, coloured on a terminal (rich)."""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from graders.i18n import _
from graders.reports import ReportOptions, for_audience, report_format
from graders.reports.markdown import problem_line, total_line
from graders.results import GradingReport, Status

MARKS = {Status.PASSED: ("✔", "green"), Status.FAILED: ("✘", "red"), Status.ERROR: ("!", "magenta"),
         Status.SKIPPED: ("–", "yellow")}


def _points(value: float) -> str:
    return f"{value:g}"


@report_format("text")
def render(report: GradingReport, options: ReportOptions) -> str:
    shown = for_audience(report, options)
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=options.color, no_color=not options.color, width=options.width,
                      highlight=False, soft_wrap=False)
    console.print(Text(_("Submission: {path}", path=report.submission), style="bold"))
    if options.audience != "student":  # how it was graded: the instructor's business
        console.print(_("Spec: {spec}   backend: {backend}   grader {version}", spec=report.spec,
                        backend=report.backend, version=report.grader_version))
    for problem in report.problems:
        first, rest = problem_line(problem)
        console.print(Text(_("Problem: {problem}", problem=first), style="bold red"))
        for line in rest[-12:]:
            console.print(Text(f"    {line}", style="red"))
    for part in shown.parts:
        table = Table(title=f"{part.title}  [{part.id}]" + (_(" (bonus)") if part.bonus else ""),
                      title_justify="left", show_header=True, expand=True, header_style="bold")
        table.add_column("", width=1)
        table.add_column(_("check"), ratio=2)
        table.add_column(_("points"), justify="right", width=9)
        table.add_column(_("what was seen"), ratio=5)
        for check in part.checks:
            if not check.graded and options.audience == "student":
                continue  # left out of this grading (a fallback whose primary ran, say)
            mark, colour = ("💡", "yellow") if check.advice_unmet else MARKS[check.status]
            # A passed check says no more than its title: the evidence is for the ones to fix.
            seen = Text("" if check.status is Status.PASSED else check.message)
            if check.status is not Status.PASSED and check.hint:
                seen.append("\n" + _("what to do: {hint}", hint=check.hint), style="cyan")
            table.add_row(Text(mark, style=colour), Text(check.title, style=colour),
                          f"{_points(check.score)}/{_points(check.max_score)}", seen)
        total = [p for p in report.parts if p.id == part.id][0]
        table.caption = f"{_points(total.score)} / {_points(total.max_score)}"
        table.caption_justify = "right"
        console.print(table)
    console.print(Text(_("Score: {total}", total=total_line(report)), style="bold"))
    if report.partial:
        console.print(_("Partial score: checks this grading could not run are left out of the maximum."))
    for note in shown.notes:
        console.print(_("note: {note}", note=note))
    if report.lint and options.audience != "student":  # hadolint speaks English: the Markdown page quotes it
        console.print(Text(_("hadolint suggests (not scored):"), style="cyan"))
        for finding in report.lint:
            console.print(Text(f"  {finding}", style="cyan"))
    t = report.timings
    console.print(_("time: build {build} s, start {start} s, checks {checks} s, teardown {teardown} s, total {total} s",
                    build=f"{t.build_s:.1f}", start=f"{t.up_s:.1f}", checks=f"{t.checks_s:.1f}",
                    teardown=f"{t.teardown_s:.1f}", total=f"{t.total_s:.1f}"))
    return buffer.getvalue()
