"""Grading on many machines: a Celery app whose workers grade submissions sent through Redis.

`runner.py batch SUBMISSIONS/ --queue redis://HOST:6379/0` calls `grade_all_on_queue`: each
submission travels zipped inside its task message, a worker (`python -m
graders.batch.worker_main`) unpacks it, grades it with the local batch's `grade_one` and
returns the Row and the report files, which the dispatcher writes exactly as the local batch
does (DIR/<name>/report.json ..., batch.json). See docs/distributed.md.

Nothing is lost: a task is acknowledged only after its grading (`task_acks_late`), so the
message of a worker that dies stays in Redis' "unacked" set and comes back to the queue
`GRADER_VISIBILITY_TIMEOUT` seconds after it was last claimed. A live worker re-claims its
task every third of that, so a long grading is never handed out twice; a dead one stops.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready

from graders.batch.grading import STATE_FILE, Row, grade_one, previous_row, spec_hash
from graders.batch.submissions import SKIP_DIRS, Submission, content_hash
from graders.batch.upkeep import Claim, sweep_dead_runs
from graders.uploads import SubmissionError, unpack_zip

QUEUE = "lab4-grader"
MAX_ATTEMPTS = 3  # a submission whose workers keep dying is not handed out forever


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def visibility_timeout() -> float:
    """Seconds after its last claim that an unacknowledged task goes back to the queue."""
    return max(5.0, _env_float("GRADER_VISIBILITY_TIMEOUT", 7200))


def max_task_bytes() -> int:
    return int(_env_float("GRADER_MAX_TASK_MIB", 20) * 1024 * 1024)


def work_root() -> Path:
    """Where workers unpack submissions: on a containerised worker, a folder bind-mounted at
    the same path on the host, since student compose files' bind mounts resolve there."""
    return Path(os.environ.get("GRADER_WORK_DIR") or Path(tempfile.gettempdir()) / "lab4-grader-work")


def _transport_options() -> dict:
    vis = visibility_timeout()
    return {"visibility_timeout": vis, "unacked_restore_interval": max(1, min(10, int(vis / 4))),
            "unacked_restore_throttle": 1}


def configure(broker: str) -> None:
    """Point the app at a broker (and the same Redis as result backend), dropping what was
    connected to the previous one."""
    with contextlib.suppress(AttributeError):
        del app._local.backend
    if getattr(app, "_pool", None) is not None:
        app._pool.force_close_all()
        app._pool = None
    app.conf.update(broker_url=broker, result_backend=os.environ.get("GRADER_RESULT_BACKEND") or broker,
                    broker_transport_options=_transport_options(),
                    result_backend_transport_options=_transport_options())


app = Celery("lab4-grader")
app.conf.update(
    task_default_queue=QUEUE, task_serializer="json", result_serializer="json", accept_content=["json"],
    task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
    worker_cancel_long_running_tasks_on_connection_loss=False, broker_connection_retry_on_startup=True,
    task_track_started=True, worker_send_task_events=True, task_send_sent_event=True,
    result_expires=7 * 24 * 3600,
)
configure(os.environ.get("GRADER_BROKER_URL") or "redis://127.0.0.1:6379/0")


# --- the worker side -------------------------------------------------------------------------

@worker_ready.connect
def _on_worker_ready(**_: object) -> None:
    sweep_dead_runs(work_root())


def _attempts(task_id: str) -> int:
    import redis

    try:
        client = redis.Redis.from_url(app.conf.broker_url)
        count = client.incr(f"lab4-grader:attempts:{task_id}")
        client.expire(f"lab4-grader:attempts:{task_id}", 7 * 24 * 3600)
        return int(count)
    except Exception:  # noqa: BLE001
        return 1


def _unpack_folder(archive: Path, target: Path) -> Path:
    """Our own zip of a folder: unpacked with the usual limits, file modes restored."""
    target.mkdir(parents=True)
    folder = unpack_zip(archive, target)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                (target / info.filename).chmod(mode | 0o600)
    return folder


@app.task(bind=True, name="lab4_grader.grade")
def grade_task(self, job: dict) -> dict:
    """Grade one submission from scratch (a redelivered task starts over in a new folder,
    with a new run id) and return its Row and report files."""
    sweep_dead_runs(work_root())
    root = work_root()
    attempt = root / f"{self.request.id}-{secrets.token_hex(3)}"
    attempt.mkdir(parents=True)
    (attempt / "owner").write_text(str(os.getpid()))
    os.environ["TMPDIR"] = tempfile.tempdir = str(attempt)  # zips unpack here, on the shared path
    claim = Claim(app.conf.broker_url, self.request.id, visibility_timeout() / 3)
    claim.start()
    try:
        if (tries := _attempts(self.request.id)) > MAX_ATTEMPTS:
            row = Row(job["name"], "error", message=f"gave up after {tries - 1} attempts: the workers grading "
                                                    "it died each time")
            return {"row": asdict(row), "files": {}, "worker": self.request.hostname}
        spec_path = attempt / "spec" / job["spec_name"]
        spec_path.parent.mkdir()
        spec_path.write_text(job["spec_text"], encoding="utf-8")
        archive = attempt / "in" / (f"{job['name']}.zip" if Path(job["name"]).name == job["name"] else "sub.zip")
        archive.parent.mkdir()
        archive.write_bytes(base64.b64decode(job["archive"]))
        if job["is_zip"]:
            submission = Submission(job["name"], archive)
        else:
            try:
                submission = Submission(job["name"], _unpack_folder(archive, attempt / "src"))
            except SubmissionError as exc:
                row = Row(job["name"], "error", message=str(exc))
                return {"row": asdict(row), "files": {}, "worker": self.request.hostname}
        out = attempt / "out"
        row = grade_one(submission, out, spec_path, job["formats"], job["timeout_s"], force=True,
                        extra_args=tuple(job["extra_args"]))
        files = {p.name: p.read_text(encoding="utf-8", errors="replace") for p in sorted(out.iterdir())
                 if p.is_file() and p.name != STATE_FILE}
        return {"row": asdict(row), "files": files, "worker": self.request.hostname}
    finally:
        claim.stopped.set()
        shutil.rmtree(attempt, ignore_errors=True)


# --- the dispatcher side ---------------------------------------------------------------------

class TooBig(Exception):
    pass


def pack(submission: Submission) -> bytes:
    """The submission as zip bytes: a .zip as it is, a folder zipped under its own name
    (without SKIP_DIRS and symbolic links, which the content hash ignores too)."""
    if submission.is_zip:
        data = submission.path.read_bytes()
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as zf:
            zf.writestr(f"{submission.name}/", "")
            for dirpath, dirnames, filenames in os.walk(submission.path):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
                for name in sorted(filenames):
                    path = Path(dirpath, name)
                    if not path.is_symlink() and path.is_file():
                        zf.write(path, f"{submission.name}/{path.relative_to(submission.path).as_posix()}")
                        _refuse_if_too_big(buffer.tell())
        data = buffer.getvalue()
    _refuse_if_too_big(len(data))
    return data


def _refuse_if_too_big(size: int) -> None:
    if size > max_task_bytes():
        raise TooBig(f"too big to send to the grader workers: {size / 2**20:.1f} MiB zipped, more than "
                     f"{max_task_bytes() / 2**20:g} MiB (GRADER_MAX_TASK_MIB); grade it locally")


def _save(out_dir: Path, row: Row, digest: str, spec_digest: str, files: dict[str, str] | None = None) -> Row:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        if Path(name).name == name and name not in ("", ".", "..", STATE_FILE):
            (out_dir / name).write_text(text, encoding="utf-8")
    row.content_hash = digest
    (out_dir / STATE_FILE).write_text(json.dumps({"content_hash": digest, "spec_hash": spec_digest,
                                                  "row": asdict(row)}, indent=1))
    return row


def grade_all_on_queue(submissions: list[Submission], out_root: Path, spec_path: Path, formats: list[str], *,
                       broker: str, timeout_s: float, force: bool = False, extra_args: tuple[str, ...] = (),
                       on_row: Callable[[Row], None] | None = None, deadline_s: float | None = None,
                       poll_s: float = 1.0) -> list[Row]:
    """Send every changed submission to the workers, collect the rows as they come back (in
    any order, each once), and give up on the rest at the deadline: by default when nothing
    has come back for one visibility timeout plus one grading; `deadline_s` (or
    GRADER_QUEUE_DEADLINE) caps the whole batch."""
    configure(broker)
    spec_digest = spec_hash(spec_path)
    spec_text = spec_path.read_text(encoding="utf-8")
    rows: dict[str, Row] = {}

    def done(row: Row) -> None:
        rows[row.name] = row
        if on_row:
            on_row(row)

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=2, interval_start=0.5, timeout=5)
    except Exception as exc:  # noqa: BLE001
        print(f"runner.py batch: cannot reach the broker at {broker}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    with contextlib.suppress(Exception):
        if not app.control.ping(timeout=2.0):
            print(f"runner.py batch: no grader worker answers at {broker} yet; the gradings wait in the queue "
                  "until one joins", file=sys.stderr)
    pending: dict[str, tuple[Submission, str, object]] = {}
    for submission in submissions:
        out_dir = out_root / submission.name
        try:
            digest = content_hash(submission)
        except OSError as exc:
            done(Row(submission.name, "error", message=f"cannot read the submission: {exc}"))
            continue
        if not force and (reused := previous_row(out_dir, digest, spec_digest)):
            done(reused)
            continue
        try:
            archive = pack(submission)
        except (OSError, TooBig) as exc:
            done(_save(out_dir, Row(submission.name, "error", message=str(exc)), digest, spec_digest))
            continue
        job = {"name": submission.name, "archive": base64.b64encode(archive).decode(), "is_zip": submission.is_zip,
               "spec_name": spec_path.name, "spec_text": spec_text, "formats": list(formats),
               "timeout_s": timeout_s, "extra_args": list(extra_args)}
        result = grade_task.apply_async(args=[job])
        pending[result.id] = (submission, digest, result)

    idle_s = visibility_timeout() + timeout_s + 120
    cap = deadline_s if deadline_s is not None else _env_float("GRADER_QUEUE_DEADLINE", 0) or None
    started = last_progress = time.monotonic()
    try:
        while pending:
            for task_id, (submission, digest, result) in list(pending.items()):
                if not result.ready():
                    continue
                del pending[task_id]
                last_progress = time.monotonic()
                if result.successful() and isinstance(answer := result.result, dict):
                    row = Row(**{k: v for k, v in answer["row"].items() if k in Row.__dataclass_fields__})
                    row.reused = False
                    files = answer.get("files", {})
                else:
                    row, files = Row(submission.name, "error", message=f"worker error: {result.result!r}"[:300]), {}
                done(_save(out_root / submission.name, row, digest, spec_digest, files))
                with contextlib.suppress(Exception):
                    result.forget()
            now = time.monotonic()
            if pending and (now - last_progress > idle_s or (cap and now - started > cap)):
                break
            if pending:
                time.sleep(poll_s)
    except KeyboardInterrupt:  # the tasks not started yet are dropped, not graded for nobody
        with contextlib.suppress(Exception):
            app.control.revoke(list(pending))
        raise
    if pending:
        waited = time.monotonic() - started
        with contextlib.suppress(Exception):
            app.control.revoke(list(pending))
        for submission, digest, _ in pending.values():
            row = Row(submission.name, "error", message=f"lost: no worker returned it within {waited:.0f} s")
            done(_save(out_root / submission.name, row, digest, spec_digest))
    return [rows[s.name] for s in submissions]
