"""The command line: `runner.py COMMAND ...` with the commands grade (the default when the
first word is a folder), batch, validate, describe, check-spec, schema and clean.

Exit codes: 0 grading ran (whatever the score); 1 the score is under --fail-under;
2 misuse (bad path, bad flags, bad spec); 3 the grader itself failed.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from graders import __version__
from graders.engine import GradeOptions, grade, grading_limits
from graders.i18n import use_language
from graders.reports import ReportOptions, formats, save_attachments
from graders.results import CheckResult, Status
from graders.spec.loader import SpecError, load_spec
from graders.uploads import SubmissionError, opened_upload
from graders.validate import configure_validate, run_validate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "specs" / "lab4.yaml"
EXIT_OK, EXIT_UNDER, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3
ATTACHMENTS = "attachments"  # the folder screenshots are saved in


class Usage(Exception):
    """Misuse of the command: exit 2 with this message."""


def configure_grade(p: argparse.ArgumentParser) -> None:
    p.add_argument("submission", help="the submission: its folder, a folder wrapping it, or a .zip of it")
    p.add_argument("--spec", default=str(DEFAULT_SPEC), help="spec file (default: specs/lab4.yaml)")
    p.add_argument("--part", action="append", default=[], metavar="ID", help="grade only this part (repeatable)")
    p.add_argument("--format", action="append", default=[], metavar="NAME",
                   help=f"report format, repeatable: {', '.join(sorted(formats()))} (default: text)")
    p.add_argument("--out", action="append", default=[], metavar="FILE",
                   help="where each --format goes, in the same order ('-' = stdout; default stdout)")
    p.add_argument("--fail-under", type=float, metavar="N", help="exit 1 when the score is under N")
    p.add_argument("--keep-up", action="store_true", help="leave the stack running after grading")
    p.add_argument("--no-copies", action="store_true",
                   help="run every check on the one main stack, ignoring the spec's `copies` (slower: the "
                        "checks that need a service to themselves then wait for each other)")
    p.add_argument("--no-browser", action="store_true",
                   help="grade without a browser even where one could run: checks that require one are "
                        "left out, their fallbacks (text search of the page) graded instead")
    p.add_argument("--lang", choices=["ru", "en"], default="ru", help="language of hints (default: ru)")
    p.add_argument("--audience", choices=["instructor", "student"], default="instructor",
                   help="student: leave hidden checks and service logs out of the report")
    p.add_argument("--seed", type=int, help="seed for the random inputs (default: fresh each run)")
    p.add_argument("--check-timeout", type=float, metavar="S", help="seconds per check (overrides the spec)")
    p.add_argument("--build-timeout", type=float, metavar="S", help="seconds for the build (overrides the spec)")
    p.add_argument("--start-timeout", type=float, metavar="S", help="seconds for the start (overrides the spec)")
    p.add_argument("--total-timeout", type=float, metavar="S",
                   help="seconds for the whole grading (overrides the spec)")
    p.add_argument("--backend", choices=["auto", "docker", "local"], default="auto",
                   help="docker: build and run the stack in Docker; local: run its services as processes "
                        "(no Docker; Docker-only checks are left out); auto (default): docker when an engine "
                        "answers, else local")
    p.add_argument("--pull", choices=["missing", "never"], default="missing",
                   help="missing (default): pull the service images this machine lacks, as `docker compose up` "
                        "does; never: grade only with images already here")
    p.add_argument("--runtime", metavar="NAME",
                   help="container runtime for the student's services, one the engine has (e.g. runsc: gVisor "
                        "adds a kernel between the code and the host); default: the engine's")
    p.add_argument("--workdir", help="where artefacts go (default: a temporary folder). Screenshots go to "
                   "attachments/ beside the first --out file, or under the workdir when reports go to stdout")
    p.add_argument("--run-id", help=argparse.SUPPRESS)  # set by `batch`, which cleans a killed run by it
    p.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")


def progress_printer(console: Console):
    marks = {Status.PASSED: "[green]✔", Status.FAILED: "[red]✘", Status.ERROR: "[magenta]!",
             Status.SKIPPED: "[yellow]–"}

    def on_event(kind: str, payload) -> None:
        if kind == "step":
            console.print(f"[bold]» {payload}[/]")
        elif kind == "check" and isinstance(payload, CheckResult):
            console.print(f"  {marks[payload.status]} {payload.id}[/] ({payload.duration_s:.1f} s)")
        elif kind == "teardown":
            console.print("[bold]» teardown[/]")

    return on_event


def writable_outputs(outs: list[str]) -> None:
    """Every report file can be written, checked before a grading spends minutes on the stack."""
    for out in outs:
        if out == "-":
            continue
        path = Path(out)
        if path.is_dir():
            raise Usage(f"--out {out}: a folder, not a file")
        parent = path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Usage(f"--out {out}: cannot create {parent}: {exc.strerror or exc}") from None
        if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise Usage(f"--out {out}: not writable")


def run_grade(args: argparse.Namespace) -> int:
    upload = Path(args.submission)
    if not upload.exists():
        raise Usage(f"{upload}: no such folder")
    if not upload.is_dir() and upload.suffix.lower() != ".zip":
        raise Usage(f"{upload}: neither a folder nor a .zip")
    names = args.format or ["text"]
    unknown = [n for n in names if n not in formats()]
    if unknown:
        raise Usage(f"unknown --format {', '.join(unknown)}; known: {', '.join(sorted(formats()))}")
    if len(args.out) > len(names):
        raise Usage("more --out than --format")
    writable_outputs(args.out)
    spec = load_spec(args.spec)
    if args.part and (missing := set(args.part) - {p.id for p in spec.parts}):
        raise Usage(f"no part {', '.join(sorted(missing))} in {args.spec}; parts: "
                    f"{', '.join(p.id for p in spec.parts)}")
    from dataclasses import replace

    overrides = {key: value for key, value in (("build_s", args.build_timeout), ("start_s", args.start_timeout),
                                               ("total_s", args.total_timeout)) if value}
    spec = replace(spec, timeouts=replace(spec.timeouts, **overrides))
    stderr = Console(stderr=True, no_color=args.no_color, highlight=False)
    try:
        with use_language(args.lang), opened_upload(upload) as submission:  # a zip, or a folder wrapping it
            report = _grade_in_workdir(submission, spec, args, stderr)
    except SubmissionError as exc:
        # A zip that cannot be unpacked is the student's to fix: a complete report says so.
        with tempfile.TemporaryDirectory(prefix="grader-unreadable-") as empty:
            report = _grade_in_workdir(Path(empty), spec, args, stderr, unreadable=str(exc))
    if args.fail_under is not None and report.score + report.bonus_score < args.fail_under:
        return EXIT_UNDER
    return EXIT_OK


def _clear_workdir(workdir: Path, keep: str) -> None:
    if not (workdir / keep).is_dir():
        shutil.rmtree(workdir, ignore_errors=True)
        return
    for item in workdir.iterdir():
        if item.name != keep:
            shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)


def _grade_in_workdir(submission: Path, spec, args, stderr: Console, unreadable: str = ""):
    backend = make_backend(submission, spec, args)
    try:
        return _grade_and_report(submission, spec, backend, args, stderr, unreadable)
    finally:
        if not args.workdir and not args.keep_up:  # our own temporary folder: leave only attachments
            _clear_workdir(Path(backend.workdir), keep=ATTACHMENTS)


def _grade_and_report(submission: Path, spec, backend, args, stderr: Console, unreadable: str = ""):
    names = args.format or ["text"]
    outs = args.out + ["-"] * (len(names) - len(args.out))
    options = GradeOptions(parts=tuple(args.part), lang=args.lang, seed=args.seed, keep_up=args.keep_up,
                           limits=backend.limits, check_timeout_s=args.check_timeout, copies=not args.no_copies,
                           browser=not args.no_browser, unreadable=unreadable)
    if not args.quiet:
        stderr.print(f"[bold]» grading {submission} as run {backend.run_id}[/]")
    report = grade(submission, spec, backend, options, on_event=None if args.quiet else progress_printer(stderr))
    # Screenshots go beside the report (a folder named attachments/ next to the first --out
    # file), or into the workdir when every report goes to stdout.
    files = [Path(out) for out in outs if out != "-"]
    folder = (files[0].resolve().parent if files else Path(backend.workdir).resolve()) / ATTACHMENTS
    if save_attachments(report, folder) and not args.quiet:
        stderr.print(f"[bold]» screenshots and other attachments: {folder}[/]")
    color = not args.no_color and sys.stdout.isatty()
    for name, out in zip(names, outs, strict=True):
        link_base = None if out == "-" else str(Path(out).resolve().parent)
        text = formats()[name](report, ReportOptions(audience=args.audience, color=color and out == "-",
                                                     link_base=link_base, lang=args.lang))
        if out == "-":
            sys.stdout.write(text)
        elif not text:  # the format has nothing to say (gradescope: not gradable here, so no score at all)
            Path(out).unlink(missing_ok=True)
            stderr.print(f"[bold]» {name}: no report written: this grading is not gradable here[/]")
        else:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(text, encoding="utf-8")
    return report


def make_backend(submission: Path, spec, args):
    from graders.backends import BackendUnavailable, open_backend

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="grader-"))
    try:
        return open_backend(args.backend, submission, workdir, build_timeout_s=spec.timeouts.build_s,
                            run_id=args.run_id, limits=grading_limits(spec, args.runtime), pull=args.pull)
    except BackendUnavailable as exc:
        raise Usage(str(exc)) from None


def configure_schema(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="write to this file instead of stdout")
    p.add_argument("--docs", metavar="FILE", help="write the spec language reference (Markdown) to FILE instead")


def run_schema(args: argparse.Namespace) -> int:
    from graders.checks import registry
    from graders.spec.schema import spec_schema

    if args.docs:
        from graders.spec.docs import render_docs

        Path(args.docs).write_text(render_docs(registry()), encoding="utf-8")
        return EXIT_OK
    text = json.dumps(spec_schema(registry()), indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def configure_clean(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", help="only this run id (the report's run_id)")
    p.add_argument("--all", action="store_true", help="also runs whose grader is still alive")
    p.add_argument("--dry-run", action="store_true", help="list, remove nothing")


def run_clean(args: argparse.Namespace) -> int:
    import docker

    from graders.backends.docker.cleanup import find_leftovers, remove
    from graders.backends.docker.containment import cgroup_name, remove_cgroups
    from graders.backends.runs import run_alive

    client = docker.from_env()
    failed: list[str] = []
    found = find_leftovers(client, args.run)
    for run_id, leftovers in sorted(found.items()):
        if run_alive(run_id) and not (args.all or args.run):
            print(f"run {run_id}: a grading is still running; left alone (use --all)")
            continue
        print(f"run {run_id}: {'would remove' if args.dry_run else 'removing'} {', '.join(leftovers.names())}")
        if not args.dry_run:
            failed += remove(leftovers)
            remove_cgroups(cgroup_name(run_id))
    if not found:
        print("nothing to clean")
    for line in failed:
        print(f"could not remove {line}", file=sys.stderr)
    return EXIT_GRADER if failed else EXIT_OK


def configure_check_spec(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="the spec file, e.g. specs/lab4.yaml")


def run_check_spec(args: argparse.Namespace) -> int:
    from graders.spec.lint import lint_spec

    spec = load_spec(args.spec)  # a SpecError exits 2 through main()
    findings = lint_spec(spec)
    for finding in findings:
        print(finding, file=sys.stderr)
    errors = [f for f in findings if f.level == "error"]
    checks = list(spec.checks())
    base = sum(p.points for p in spec.parts if not p.bonus)
    bonus = sum(p.points for p in spec.parts if p.bonus)
    print(f"{args.spec}: {'FAILED' if errors else 'OK'}: {len(spec.parts)} parts, {len(checks)} checks, "
          f"{base:g} points" + (f" (+{bonus:g} bonus)" if bonus else "")
          + f", {len(spec.inputs)} inputs, roles: {', '.join(spec.roles) or 'none'}; "
          f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)")
    return EXIT_USAGE if errors else EXIT_OK


@dataclass(frozen=True)
class Command:
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    summary: str


def _lazy(module: str, name: str) -> Callable:
    """A command's function, imported when the command runs (batch pulls in Celery, for one)."""
    def call(*args):
        return getattr(importlib.import_module(module), name)(*args)
    return call


COMMANDS = {
    "grade": Command(configure_grade, run_grade, "grade one submission folder (the default: `runner.py FOLDER`)"),
    "batch": Command(_lazy("graders.batch.command", "configure"), _lazy("graders.batch.command", "run_batch"),
                     "grade a whole class: every subfolder or .zip, a gradebook and a summary"),
    "validate": Command(configure_validate, run_validate,
                        "prove a spec: the reference gets full marks, every mutant loses its checks, every "
                        "correct variant loses nothing"),
    "describe": Command(_lazy("graders.describe", "configure"), _lazy("graders.describe", "run_describe"),
                        "print the assignment as a checklist: parts, checks, points, what each expects and why"),
    "check-spec": Command(configure_check_spec, run_check_spec,
                          "check a spec without a submission (schema, meaning, roles); exit 0 or 2"),
    "schema": Command(configure_schema, run_schema, "print the spec JSON Schema, or the spec reference (--docs)"),
    "clean": Command(configure_clean, run_clean, "remove what killed gradings left behind"),
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="runner.py", description="Grade lab submissions against a YAML spec. "
                                  "`runner.py FOLDER` grades one submission (the `grade` command).")
    top.add_argument("--version", action="version", version=f"lab4-grader {__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.summary, description=command.summary[0].upper()
                                  + command.summary[1:] + ".")
        command.configure(sub)
    return top


def with_command(argv: list[str]) -> list[str]:
    """`runner.py FOLDER ...` means `runner.py grade FOLDER ...`; a word that is neither a command nor
    a folder is a misspelt command, said so (with the nearest one), not a missing folder."""
    if not argv or argv[0] in COMMANDS or argv[0].startswith("-"):
        return argv
    word = argv[0]
    if Path(word).exists() or "/" in word or "." in word or "\\" in word:
        return ["grade", *argv]
    near = difflib.get_close_matches(word, COMMANDS, n=1)
    raise Usage(f"unknown command '{word}'" + (f"; did you mean '{near[0]}'?" if near else "")
                + f" (commands: {', '.join(COMMANDS)}; or give a submission folder)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # SIGTERM takes the same road as Ctrl-C, so teardown runs in the engine's `finally`.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        args = parser().parse_args(with_command(argv))
        if args.command is None:
            parser().print_help(sys.stderr)
            return EXIT_USAGE
        return COMMANDS[args.command].run(args)
    except Usage as exc:
        print(f"runner.py: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("runner.py: interrupted; the stack was torn down", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception:  # noqa: BLE001 - the grader's own fault: say so, exit 3
        print("runner.py: the grader itself failed (a bug; please report it):", file=sys.stderr)
        traceback.print_exc()
        return EXIT_GRADER
