"""Known gaps in validate: a mutant no check can catch is recorded (`kills: []` + `known_gap`),
listed, and never fails validate, nor counts as the kill of a check."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from graders.validate import Mutant, MutantError, Run, decide, load_mutant, render

CHECKS = ["a.one", "a.two"]


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "mutant.yaml").write_text(text)
    (folder / "app.py").write_text("changed\n")
    return folder


def run(name: str, **statuses: str) -> Run:
    return Run(name, {c: statuses.get(c.replace(".", "__"), "passed") for c in CHECKS})


def test_kills_empty_with_a_known_gap_loads(tmp_path):
    folder = write(tmp_path / "lifo", "description: LIFO queue\nkills: []\nknown_gap: no check sees the order\n")
    mutant = load_mutant(folder, CHECKS)
    assert mutant.kills == () and mutant.known_gap == "no check sees the order"


@pytest.mark.parametrize("text, problem", [
    ("description: x\nkills: []\n", "known_gap"),
    ("description: x\nkills: [a.one]\nknown_gap: why\n", "a known_gap kills nothing"),
    ("description: x\nkills: []\nknown_gap: ''\n", "in words"),
])
def test_a_known_gap_must_say_why_and_kill_nothing(tmp_path, text, problem):
    with pytest.raises(MutantError, match=problem):
        load_mutant(write(tmp_path / "m", text), CHECKS)


def test_a_known_gap_never_fails_validate_nor_kills_a_check():
    mutants = [Mutant("m1", Path("m1"), "d", ("a.one", "a.two")),
               Mutant("gap", Path("gap"), "d", (), known_gap="invisible")]
    runs = {"m1": run("m1", a__one="failed", a__two="failed"), "gap": run("gap")}
    verdict = decide(CHECKS, run("reference"), mutants, runs)
    assert verdict.ok and verdict.known_gaps == {"gap": []}
    # A known gap that does lose a check is told so, but neither fails validate nor saves a dead check.
    runs["gap"] = run("gap", a__two="failed")
    runs["m1"] = run("m1", a__one="failed")
    verdict = decide(CHECKS, run("reference"), [Mutant("m1", Path("m1"), "d", ("a.one",)), mutants[1]], runs)
    assert verdict.known_gaps == {"gap": ["a.two"]} and verdict.dead == ["a.two"]


def test_the_report_lists_known_gaps_with_their_reason():
    mutants = [Mutant("m1", Path("m1"), "d", ("a.one", "a.two")),
               Mutant("gap", Path("gap"), "lifo", (), known_gap="no check sees the order")]
    runs = {"m1": run("m1", a__one="failed", a__two="failed"), "gap": run("gap", a__one="failed")}
    verdict = decide(CHECKS, run("reference"), mutants, runs)
    console = Console(record=True, width=160)
    render(console, verdict, run("reference"), mutants, runs, 1.0, 2)
    text = console.export_text()
    assert "known gap: gap: no check sees the order (now loses a.one: name them in its kills)" in text
    assert "validate: OK" in text and "(known gap): lifo" in text
