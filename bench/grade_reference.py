"""Benchmark: how close grading the reference comes to its floor.

The floor is what no grader of this spec can beat: the stack's start plus its longest single
check. The target is at most 1.5x that. A second figure, the stage floor (start + the longest
check of each stage), shows how much of the gap the stages explain.

Each round grades twice, in turn: as the spec says (checks that need the queue worker to
themselves run on copies of the stack, beside the main one) and with the copies switched off
(everything on the main stack, one worker-exclusive phase after the other), so the gain of
the copies is a ratio measured in the same run. `--against browser` makes the second grading
one without the browser (the text-search fallbacks instead): what the browser check costs.

    python bench/grade_reference.py [--runs N] [--submission reference] [--against copies|browser]

The first run warms the image cache and is not counted.
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


def one_run(submission: Path, spec, copies: bool = True, browser: bool = True) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        report = grade(submission, spec, DockerBackend(submission, Path(workdir)),
                       GradeOptions(lang="en", copies=copies, browser=browser))
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
        "browser_s": sum(c.duration_s for _, c in report.all_checks() if c.check_type == "browser" and c.graded),
    }


def describe(row: dict) -> str:
    return (f"score {row['score']:g}, total {row['total_s']:.1f} s (build {row['build_s']:.1f}, start "
            f"{row['up_s']:.1f}, checks {row['checks_s']:.1f}, teardown {row['teardown_s']:.1f}); longest check "
            f"{row['longest']} {row['longest_s']:.1f} s; ratio to floor {row['total_s'] / row['floor_s']:.2f}x, "
            f"to stage floor {row['total_s'] / row['stage_floor_s']:.2f}x; checks one by one would take "
            f"{row['serial_checks_s']:.1f} s ({row['serial_checks_s'] / row['checks_s']:.1f}x the concurrent "
            f"{row['checks_s']:.1f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--submission", default=str(ROOT / "reference"))
    parser.add_argument("--against", choices=["copies", "browser"], default="copies",
                        help="the second grading of each round: without copies (default) or without the browser")
    args = parser.parse_args()
    other = {"copies": {"copies": False}, "browser": {"browser": False}}[args.against]
    label = f"without {args.against}:"
    spec = load_spec(ROOT / "specs" / "lab4.yaml")
    submission = Path(args.submission)
    print("warm-up run (fills the image cache; not counted) ...", flush=True)
    one_run(submission, spec)
    rows, plain_rows = [], []
    for index in range(args.runs):
        row, plain_row = one_run(submission, spec), one_run(submission, spec, **other)
        rows.append(row)
        plain_rows.append(plain_row)
        print(f"run {index + 1} as the spec says: {describe(row)}; browser check {row['browser_s']:.1f} s", flush=True)
        print(f"run {index + 1} {label} {describe(plain_row)}", flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in ("total_s", "floor_s", "stage_floor_s", "up_s")}
    plain_total = statistics.median(r["total_s"] for r in plain_rows)
    plain_floor = statistics.median(r["floor_s"] for r in plain_rows)
    print(f"\nmedian of {len(rows)}: grading {med['total_s']:.1f} s; floor (start {med['up_s']:.1f} + longest check) "
          f"{med['floor_s']:.1f} s -> {med['total_s'] / med['floor_s']:.2f}x (target <= 1.5x); "
          f"stage floor {med['stage_floor_s']:.1f} s -> {med['total_s'] / med['stage_floor_s']:.2f}x")
    if args.against == "copies":
        print(f"without copies: grading {plain_total:.1f} s, floor {plain_floor:.1f} s -> "
              f"{plain_total / plain_floor:.2f}x; the copies make grading {plain_total / med['total_s']:.2f}x faster")
    else:
        # Paired by round, and the checks phase apart: the stack's start varies most under load.
        checks = statistics.median(r["checks_s"] - p["checks_s"] for r, p in zip(rows, plain_rows, strict=True))
        total = statistics.median(r["total_s"] - p["total_s"] for r, p in zip(rows, plain_rows, strict=True))
        print(f"without the browser: grading {plain_total:.1f} s; with it {med['total_s']:.1f} s. The browser "
              f"check takes {statistics.median(r['browser_s'] for r in rows):.1f} s, concurrent with the others; "
              f"per round it adds {checks:+.1f} s to the checks phase and {total:+.1f} s to the grading (medians)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
