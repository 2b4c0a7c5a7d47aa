"""What an instructor reads after a batch: gradebook.csv, summary.md and two plots."""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from pathlib import Path

from graders.batch.grading import Row


def part_ids(rows: list[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for part in row.parts:
            seen.setdefault(part, None)
    return list(seen)


def write_gradebook(rows: list[Row], path: Path) -> None:
    parts = part_ids(rows)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        # Parts as `part:<id>`: a part named `bonus` (or `total`) must not repeat a column of its own name.
        writer.writerow(["submission", "outcome", "total", "max", "bonus", *(f"part:{p}" for p in parts), "message"])
        for row in rows:
            writer.writerow([row.name, row.outcome, _num(row.score), _num(row.max_score), _num(row.bonus_score),
                             *(_num(row.parts.get(p)) for p in parts), row.message])


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def check_pass_rates(rows: list[Row]) -> dict[str, tuple[int, int]]:
    """check id -> (passed, graded) over the submissions that were graded."""
    rates: dict[str, list[int]] = {}
    for row in rows:
        for check, status in row.checks.items():
            counts = rates.setdefault(check, [0, 0])
            counts[1] += 1
            counts[0] += status == "passed"
    return {check: (passed, total) for check, (passed, total) in rates.items()}


def histogram(scores: list[float], top: float, bins: int = 10) -> list[tuple[str, int]]:
    width = top / bins if top else 1
    counts = Counter(min(int(score // width), bins - 1) for score in scores)
    return [(f"{i * width:g}-{(i + 1) * width:g}", counts.get(i, 0)) for i in range(bins)]


def write_plots(rows: list[Row], out: Path) -> list[str]:
    """PNG plots of the score distribution and the check pass rates; returns file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graded = [r for r in rows if r.outcome == "graded"]
    names = []
    if graded:
        top = max(r.max_score or 0 for r in graded) or 100
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.hist([r.score for r in graded], bins=10, range=(0, top), color="#4c72b0", edgecolor="white")
        ax.set(title="Score distribution", xlabel="score", ylabel="submissions")
        fig.tight_layout()
        fig.savefig(out / "score_distribution.png", dpi=110)
        plt.close(fig)
        names.append("score_distribution.png")
    rates = check_pass_rates(rows)
    if rates:
        checks = sorted(rates, key=lambda c: rates[c][0] / rates[c][1])
        fig, ax = plt.subplots(figsize=(7, 0.28 * len(checks) + 1.2))
        ax.barh(checks, [100 * rates[c][0] / rates[c][1] for c in checks], color="#55a868")
        ax.invert_yaxis()  # hardest on top
        ax.set(title="Check pass rate", xlabel="% of graded submissions", xlim=(0, 100))
        ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout()
        fig.savefig(out / "check_pass_rates.png", dpi=110)
        plt.close(fig)
        names.append("check_pass_rates.png")
    return names


def write_summary(rows: list[Row], out: Path, plots: list[str], pass_mark: float) -> None:
    graded = [r for r in rows if r.outcome == "graded"]
    lines = ["# Batch summary", "",
             f"{len(rows)} submissions: {len(graded)} graded, "
             f"{sum(r.outcome == 'error' for r in rows)} errors, {sum(r.outcome == 'timeout' for r in rows)} timeouts.",
             ""]
    if graded:
        scores = [r.score for r in graded]
        top = max(r.max_score or 0 for r in graded)
        passed = sum(s >= pass_mark for s in scores)
        lines += [f"Scores (out of {top:g}): mean {statistics.mean(scores):.1f}, median {statistics.median(scores):g}, "
                  f"min {min(scores):g}, max {max(scores):g}; {passed} of {len(graded)} at or above the pass mark "
                  f"{pass_mark:g}.", "", "| score | submissions |", "| --- | --- |"]
        lines += [f"| {label} | {count} |" for label, count in histogram(scores, top)]
        lines.append("")
    rates = check_pass_rates(rows)
    if rates:
        lines += ["## Check pass rates (hardest first)", "", "| check | passed | rate |", "| --- | --- | --- |"]
        for check in sorted(rates, key=lambda c: rates[c][0] / rates[c][1]):
            ok, total = rates[check]
            lines.append(f"| {check} | {ok}/{total} | {100 * ok / total:.0f}% |")
        lines.append("")
    failed = [r for r in rows if r.outcome != "graded" or r.message]
    if failed:
        lines += ["## Problems", "", "| submission | outcome | what happened |", "| --- | --- | --- |"]
        lines += [f"| {r.name} | {r.outcome} | {r.message.replace('|', '/')[:200]} |" for r in failed]
        lines.append("")
    lines += [f"![{name}]({name})" for name in plots]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
