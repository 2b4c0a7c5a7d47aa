"""Benchmark: how close grading the reference comes to its floor.

The floor is what no grader of this spec can beat on one running stack: the stack's start
plus its longest single check. The target is at most 1.5x that. Stages that change the
stack (stop a worker, scale it) cannot overlap each other, so a second figure, the stage
floor (start + the longest check of each stage), shows how much of the gap they explain.

    python bench/grade_reference.py [--runs N] [--submission reference]

The first run warms the image cache and is not counted. Ratios come from the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graders.backends.docker import DockerBackend  # noqa: E402
from graders.engine import GradeOptions, grade  # noqa: E402
from graders.spec.loader import load_spec  # noqa: E402


def one_run(submission: Path, spec) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        report = grade(submission, spec, DockerBackend(submission, Path(workdir)), GradeOptions(lang="en"))
    stage_of = {c.qualified_id: c.stage for c in spec.checks()}
    durations = {f"{p.id}.{c.id}": c.duration_s for p, c in report.all_checks()}
    longest_id = max(durations, key=durations.get)
    stage_longest: dict[int, float] = {}
    for check_id, seconds in durations.items():
        stage = stage_of[check_id]
        stage_longest[stage] = max(stage_longest.get(stage, 0.0), seconds)
    t = report.timings
    return {
        "score": report.score + report.bonus_score,
        "total_s": t.total_s, "build_s": t.build_s, "up_s": t.up_s, "checks_s": t.checks_s,
        "teardown_s": t.teardown_s, "longest_s": durations[longest_id], "longest": longest_id,
        "floor_s": t.up_s + durations[longest_id],
        "stage_floor_s": t.up_s + sum(stage_longest.values()),
        "serial_checks_s": sum(durations.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--submission", default=str(ROOT / "reference"))
    args = parser.parse_args()
    spec = load_spec(ROOT / "specs" / "lab4.yaml")
    submission = Path(args.submission)
    print("warm-up run (fills the image cache; not counted) ...", flush=True)
    one_run(submission, spec)
    rows = []
    for index in range(args.runs):
        row = one_run(submission, spec)
        rows.append(row)
        print(f"run {index + 1}: score {row['score']:g}, total {row['total_s']:.1f} s "
              f"(build {row['build_s']:.1f}, start {row['up_s']:.1f}, checks {row['checks_s']:.1f}, "
              f"teardown {row['teardown_s']:.1f}); longest check {row['longest']} {row['longest_s']:.1f} s; "
              f"ratio to floor {row['total_s'] / row['floor_s']:.2f}x, to stage floor "
              f"{row['total_s'] / row['stage_floor_s']:.2f}x; checks run one by one would take "
              f"{row['serial_checks_s']:.1f} s ({row['serial_checks_s'] / row['checks_s']:.1f}x the concurrent "
              f"{row['checks_s']:.1f} s)", flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in ("total_s", "floor_s", "stage_floor_s")}
    print(f"\nmedian of {len(rows)}: grading {med['total_s']:.1f} s; floor (start + longest check) "
          f"{med['floor_s']:.1f} s -> {med['total_s'] / med['floor_s']:.2f}x (target <= 1.5x); "
          f"stage floor {med['stage_floor_s']:.1f} s -> {med['total_s'] / med['stage_floor_s']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
