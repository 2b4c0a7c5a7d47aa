"""Grading many submissions: each in its own `runner.py` process, `jobs` at a time.

A process per submission isolates them: one that hangs is killed at its deadline (and its
stack cleaned by run id), one that crashes the grader costs only its own row.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from graders.backends.process import run_command
from graders.batch.submissions import Submission, content_hash, materialise
from graders.uploads import SubmissionError

ROOT = Path(__file__).resolve().parents[2]
FORMAT_FILES = {"json": "report.json", "text": "report.txt", "markdown": "feedback.md", "junit": "junit.xml",
                "gradescope": "gradescope.json", "prairielearn": "prairielearn.json",
                "github-classroom": "github-classroom.json"}
STATE_FILE = "batch.json"
TEARDOWN_GRACE_S = 60  # a grading past its time gets SIGTERM and this long to tear its stack down


@dataclass
class Row:
    name: str
    outcome: str  # graded | error | timeout
    score: float | None = None
    max_score: float | None = None
    bonus_score: float | None = None
    parts: dict[str, float] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)  # part.check -> status
    message: str = ""
    duration_s: float = 0.0
    content_hash: str = ""
    reused: bool = False  # unchanged since the last batch: not regraded


def spec_hash(spec_path: Path) -> str:
    return hashlib.sha256(spec_path.read_bytes()).hexdigest()[:16]


def row_from_report(name: str, report: dict) -> Row:
    return Row(
        name=name, outcome="graded", score=report["score"], max_score=report["max_score"],
        bonus_score=report["bonus_score"],
        parts={p["id"]: p["score"] for p in report["parts"]},
        checks={f"{p['id']}.{c['id']}": c["status"] for p in report["parts"] for c in p["checks"]},
        message="; ".join(line.splitlines()[0] for line in report.get("problems", []))[:300],
    )


def previous_row(out_dir: Path, digest: str, spec_digest: str) -> Row | None:
    try:
        state = json.loads((out_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if state.get("content_hash") != digest or state.get("spec_hash") != spec_digest:
        return None
    if state.get("row", {}).get("outcome") != "graded":
        return None  # errors and timeouts are always retried
    return Row(**{**state["row"], "reused": True})


def grade_one(submission: Submission, out_dir: Path, spec_path: Path, formats: list[str], timeout_s: float,
              force: bool = False, extra_args: tuple[str, ...] = ()) -> Row:
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        digest = content_hash(submission)
    except OSError as exc:
        return Row(submission.name, "error", message=f"cannot read the submission: {exc}")
    spec_digest = spec_hash(spec_path)
    if not force and (reused := previous_row(out_dir, digest, spec_digest)):
        return reused
    with tempfile.TemporaryDirectory(prefix="batch-") as scratch:
        try:
            folder = materialise(submission, Path(scratch) / "unpacked")
        except SubmissionError as exc:
            row = Row(submission.name, "error", message=str(exc), content_hash=digest)
            return _saved(row, out_dir, digest, spec_digest, started)
        run_id = secrets.token_hex(4)
        # The work folder inside the scratch one: removed with it, even when the grading is killed.
        args = [sys.executable, str(ROOT / "runner.py"), str(folder), "--spec", str(spec_path), "--run-id", run_id,
                "--workdir", str(Path(scratch) / "work"), "--quiet", "--no-color", *extra_args]
        for name in dict.fromkeys(["json", *formats]):
            args += ["--format", name, "--out", str(out_dir / FORMAT_FILES.get(name, f"report.{name}"))]
        result = run_command(args, timeout=timeout_s, grace_s=TEARDOWN_GRACE_S)
    if result.timed_out:
        _clean_run(run_id)
        row = Row(submission.name, "timeout", message=f"grading took longer than {timeout_s:g} s and was stopped")
    elif result.returncode not in (0, 1):
        row = Row(submission.name, "error", message=f"the grader exited with {result.returncode}: "
                                                    f"{result.tail(3)}")
    else:
        try:
            row = row_from_report(submission.name, json.loads((out_dir / "report.json").read_text()))
        except (OSError, ValueError, KeyError) as exc:
            row = Row(submission.name, "error", message=f"no readable report: {exc}")
    row.content_hash = digest
    return _saved(row, out_dir, digest, spec_digest, started)


def _saved(row: Row, out_dir: Path, digest: str, spec_digest: str, started: float) -> Row:
    row.duration_s = round(time.monotonic() - started, 2)
    (out_dir / STATE_FILE).write_text(json.dumps({"content_hash": digest, "spec_hash": spec_digest,
                                                  "row": asdict(row)}, indent=1))
    return row


def _clean_run(run_id: str) -> None:
    """A killed grading cannot tear down: remove its stack by its run label."""
    from graders.backends.docker.cleanup import remove_run

    remove_run(run_id)


def grade_all(submissions: list[Submission], out_root: Path, spec_path: Path, formats: list[str], *, jobs: int,
              timeout_s: float, force: bool = False, extra_args: tuple[str, ...] = (),
              on_row: Callable[[Row], None] | None = None) -> list[Row]:
    rows: dict[str, Row] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_one, s, out_root / s.name, spec_path, formats, timeout_s, force, extra_args): s
                   for s in submissions}
        for future in as_completed(futures):
            submission = futures[future]
            try:
                row = future.result()
            except Exception as exc:  # noqa: BLE001 - one submission never stops the batch
                row = Row(submission.name, "error", message=f"batch error: {type(exc).__name__}: {exc}")
            rows[submission.name] = row
            if on_row:
                on_row(row)
    return [rows[s.name] for s in submissions]
