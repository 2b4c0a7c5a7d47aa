"""`runner.py batch SUBMISSIONS/ [-j N] [--out DIR]`: a class at once, with a live progress bar."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from graders.batch.gradebook import write_gradebook, write_plots, write_summary
from graders.batch.grading import FORMAT_FILES, Row, grade_all
from graders.batch.submissions import find_submissions

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "specs" / "lab4.yaml"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("submissions", help="folder holding one subfolder or .zip per submission")
    p.add_argument("-j", "--jobs", type=int, default=2, help="gradings at once (default 2)")
    p.add_argument("--out", default="batch-results", help="output folder (default ./batch-results)")
    p.add_argument("--spec", default=str(DEFAULT_SPEC))
    p.add_argument("--format", action="append", default=[], choices=sorted(FORMAT_FILES),
                   help="extra report formats per submission (json is always written)")
    p.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per submission (default 1800)")
    p.add_argument("--pass-mark", type=float, help="score that counts as passed (default: half the maximum)")
    p.add_argument("--queue", metavar="REDIS_URL", help="send the gradings to Celery grader workers at this broker "
                   "(-j is then ignored: the workers set the parallelism)")
    p.add_argument("--lang", choices=["ru", "en"], default="ru")
    p.add_argument("--no-copies", action="store_true", help="each grading on one stack (see `runner.py --help`)")
    p.add_argument("--audience", choices=["instructor", "student"], default="instructor",
                   help="student: each submission's reports, a feedback page (feedback.md) among them, are the "
                        "ones to hand back: no hidden checks, instructor notes or service logs")


class LiveCounts:
    """The progress bar with a running count of passed / failed / errored."""

    def __init__(self, total: int, pass_mark: float | None, console: Console):
        self.counts = {"passed": 0, "failed": 0, "errored": 0, "reused": 0}
        self.pass_mark = pass_mark
        self.progress = Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=console, transient=False)
        self.task = self.progress.add_task("grading", total=total, counts=self._text())

    def _text(self) -> str:
        c = self.counts
        return (f"[green]{c['passed']} passed[/] [red]{c['failed']} failed[/] [magenta]{c['errored']} errored[/]"
                + (f" [dim]{c['reused']} unchanged[/]" if c["reused"] else ""))

    def add(self, row: Row) -> None:
        if row.outcome != "graded":
            self.counts["errored"] += 1
        else:
            mark = self.pass_mark if self.pass_mark is not None else (row.max_score or 0) / 2
            self.counts["passed" if (row.score or 0) >= mark else "failed"] += 1
        self.counts["reused"] += row.reused
        self.progress.update(self.task, advance=1, counts=self._text())


def final_table(rows: list[Row]) -> Table:
    table = Table(title="Batch results", title_justify="left")
    for column in ("submission", "outcome", "score", "bonus", "time", "note"):
        table.add_column(column, justify="right" if column in ("score", "bonus", "time") else "left")
    for row in rows:
        colour = {"graded": "green", "error": "magenta", "timeout": "red"}[row.outcome]
        table.add_row(row.name, f"[{colour}]{row.outcome}[/]",
                      "" if row.score is None else f"{row.score:g}/{row.max_score:g}",
                      "" if row.bonus_score is None else f"+{row.bonus_score:g}",
                      "unchanged" if row.reused else f"{row.duration_s:.0f} s", row.message[:60])
    return table


def run_batch(args: argparse.Namespace) -> int:
    root, out, spec = Path(args.submissions), Path(args.out), Path(args.spec).resolve()
    if not root.is_dir():
        print(f"runner.py batch: {root}: no such folder", file=sys.stderr)
        return 2
    from graders.spec.loader import SpecError, load_spec

    try:
        load_spec(spec)
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    submissions = find_submissions(root)
    if not submissions:
        print(f"runner.py batch: {root} holds no subfolder or .zip", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    live = LiveCounts(len(submissions), args.pass_mark, console)
    started = time.monotonic()
    extra = ("--lang", args.lang, "--audience", args.audience, *(["--no-copies"] if args.no_copies else []))
    formats = list(dict.fromkeys([*args.format, *(["markdown"] if args.audience == "student" else [])]))
    with live.progress:
        if args.queue:
            from graders.batch.distributed import grade_all_on_queue

            rows = grade_all_on_queue(submissions, out, spec, formats, broker=args.queue,
                                      timeout_s=args.timeout, force=args.force, extra_args=extra, on_row=live.add)
        else:
            rows = grade_all(submissions, out, spec, formats, jobs=args.jobs, timeout_s=args.timeout,
                             force=args.force, extra_args=extra, on_row=live.add)
    write_gradebook(rows, out / "gradebook.csv")
    plots = write_plots(rows, out)
    graded = [r for r in rows if r.outcome == "graded"]
    mark = args.pass_mark if args.pass_mark is not None else (max((r.max_score or 0) for r in graded) / 2
                                                               if graded else 0)
    write_summary(rows, out, plots, mark)
    console.print(final_table(rows))
    elapsed = time.monotonic() - started
    console.print(f"{len(rows)} submissions in {elapsed:.0f} s; gradebook: {out / 'gradebook.csv'}, "
                  f"summary: {out / 'summary.md'}")
    return 0
