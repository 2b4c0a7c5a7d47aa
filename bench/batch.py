"""Batch grading throughput: serial, -j 2, two Celery workers, and a fresh stack per check.

    python bench/batch.py [--mutants 3] [--per-check 3]

The class is the reference plus the first N mutants of tests/mutants/ (materialised copies).
It is graded with `runner.py batch -j 1`, with `-j 2`, and with `--queue` through two Celery
workers started on this machine (a Redis container as broker). Serial and -j 2 run twice:
with the spec as it is, and with its copies of the stack switched off (every check on the
main stack), which shows what the copies cost or save when gradings share the CPUs. The naive approach of
command-per-test autograders, one fresh stack for every check, is measured on a few checks of
the reference (each graded alone, with the checks it `needs`, from a new stack) and
extrapolated to every check of every submission: the output says so. Figures only: nothing is
asserted, and on a machine shared with other work they move by tens of percent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graders.spec.loader import load_spec  # noqa: E402
from graders.validate import load_mutant, materialize  # noqa: E402

SPEC = ROOT / "specs" / "lab4.yaml"
MUTANTS = ["bg_inline", "chat_echo_sender_only", "no_dockerignore", "uvicorn_localhost", "worker_no_loop"]
PER_CHECK = ["docker.dockerignore", "background.log_line", "websocket.broadcast", "celery.result_in_redis"]


def make_class(root: Path, mutants: int) -> list[str]:
    known = [c.qualified_id for c in load_spec(SPEC).checks()]
    materialize(ROOT / "reference", None, root / "reference")
    for name in MUTANTS[:mutants]:
        materialize(ROOT / "reference", load_mutant(ROOT / "tests" / "mutants" / name, known), root / name)
    return sorted(p.name for p in root.iterdir())


def timed(args: list[str], env: dict[str, str] | None = None, timeout: float = 3600) -> float:
    started = time.monotonic()
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode not in (0, 1):
        raise SystemExit(f"bench: {' '.join(args[:4])} ... failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return time.monotonic() - started


def batch(classroom: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    return timed([sys.executable, "runner.py", "batch", str(classroom), "--out", str(out), "--force", "--lang", "en",
                  *extra], env=env)


@contextlib.contextmanager
def redis_broker():
    client = docker.from_env()
    container = client.containers.run("redis:7-alpine", detach=True, ports={"6379/tcp": ("127.0.0.1", None)},
                                      labels={"org.graders.bench": "batch"})
    try:
        for _ in range(100):
            container.reload()
            ports = (container.attrs["NetworkSettings"]["Ports"] or {}).get("6379/tcp")
            if ports:
                url = f"redis://127.0.0.1:{ports[0]['HostPort']}/0"
                with contextlib.suppress(redis.RedisError):
                    if redis.Redis.from_url(url, socket_timeout=2).ping():
                        break
            time.sleep(0.3)
        yield url
    finally:
        container.remove(force=True, v=True)
        client.close()


def celery_batch(classroom: Path, out: Path, workers: int, scratch: Path) -> float:
    with redis_broker() as url:
        env = {**os.environ, "GRADER_BROKER_URL": url, "GRADER_WORK_DIR": str(scratch / "work"),
               "XDG_STATE_HOME": str(scratch / "state"), "GRADER_VISIBILITY_TIMEOUT": "600"}
        procs = []
        try:
            for i in range(workers):
                log = (scratch / f"worker{i}.log").open("w")
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "graders.batch.distributed", "worker", "--concurrency", "1",
                     "-n", f"bench{i}@%h", "--loglevel", "WARNING"], cwd=ROOT, env=env, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True))
            from celery import Celery

            probe = Celery(broker=url)
            for _ in range(120):
                if len(probe.control.ping(timeout=1.0) or []) >= workers:
                    break
            return batch(classroom, out, "--queue", url, env=env)
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def one_check_spec(check_id: str, target: Path) -> Path:
    """The spec cut down to one check (and those it needs), in its part, points made to add up."""
    data = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    part_id, wanted = check_id.split(".")
    part = next(p for p in data["parts"] if p["id"] == part_id)
    keep, todo = set(), [wanted]
    while todo:
        check_id_now = todo.pop()
        check = next(c for c in part["checks"] if c["id"] == check_id_now)
        keep.add(check["id"])
        todo += [n.split(".")[-1] for n in check.get("needs", []) if n.split(".")[-1] not in keep]
    part["checks"] = [c for c in part["checks"] if c["id"] in keep]
    part["points"] = sum(c["points"] for c in part["checks"])
    data["parts"] = [part]
    target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mutants", type=int, default=3, help="mutants besides the reference (default 3)")
    p.add_argument("--per-check", type=int, default=3, help="checks measured one stack each (default 3)")
    args = p.parse_args()
    total_checks = len(list(load_spec(SPEC).checks()))
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        scratch = Path(tmp)
        classroom = scratch / "class"
        classroom.mkdir()
        names = make_class(classroom, args.mutants)
        n = len(names)
        print(f"class: {n} submissions ({', '.join(names)}); {total_checks} checks in {SPEC.name}; "
              f"{os.cpu_count()} CPUs", flush=True)
        times: dict[str, float] = {}
        times["serial (-j 1)"] = batch(classroom, scratch / "out1", "-j", "1")
        print(f"  serial done in {times['serial (-j 1)']:.0f} s", flush=True)
        times["-j 2"] = batch(classroom, scratch / "out2", "-j", "2")
        print(f"  -j 2 done in {times['-j 2']:.0f} s", flush=True)
        for label, jobs in (("serial, no copies", "1"), ("-j 2, no copies", "2")):
            times[label] = batch(classroom, scratch / f"outplain{jobs}", "-j", jobs, "--no-copies")
            print(f"  {label} done in {times[label]:.0f} s", flush=True)
        times["celery, 2 workers"] = celery_batch(classroom, scratch / "outq", 2, scratch)
        print(f"  celery done in {times['celery, 2 workers']:.0f} s", flush=True)
        measured = []
        for check_id in PER_CHECK[:args.per_check]:
            spec = one_check_spec(check_id, scratch / f"one-{check_id}.yaml")
            took = timed([sys.executable, "runner.py", str(classroom / "reference"), "--spec", str(spec), "--quiet",
                          "--format", "json", "--out", str(scratch / "one.json")])
            measured.append((check_id, took))
            print(f"  one stack for {check_id}: {took:.0f} s", flush=True)
        per_check = sum(t for _, t in measured) / len(measured)
        times["fresh stack per check (extrapolated)"] = per_check * total_checks * n

    serial = times["serial (-j 1)"]
    print()
    print(f"{'mode':40} {'wall s':>9} {'subs/min':>9} {'vs serial':>10}")
    for mode, seconds in times.items():
        print(f"{mode:40} {seconds:9.0f} {60 * n / seconds:9.2f} {serial / seconds:9.2f}x")
    print()
    print(f"fresh stack per check: measured {len(measured)} checks of the reference alone in a new stack "
          f"({', '.join(f'{c} {t:.0f} s' for c, t in measured)}), mean {per_check:.0f} s, extrapolated to "
          f"{total_checks} checks x {n} submissions, run serially; the grader brings one stack up per submission "
          f"and runs its checks in stages, concurrently within a stage.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
