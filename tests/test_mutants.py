"""The mutants of tests/mutants/ and `runner.py validate`: verdict logic (pure), mutant files, and
(with Docker) the full run: every check killed by some mutant, every mutant killing exactly what it says,
every correct variant of tests/variants/ losing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from graders.spec.loader import load_spec
from graders.validate import Mutant, MutantError, Run, decide, load_mutant, load_mutants, load_variants, materialize
from tests.conftest import REFERENCE, ROOT, run_runner

SPEC = ROOT / "specs" / "lab4.yaml"
MUTANTS = ROOT / "tests" / "mutants"
CHECKS = ["a.one", "a.two", "b.three", "b.four"]


def mutant(name: str, *kills: str) -> Mutant:
    return Mutant(name, Path(name), f"{name} mistake", tuple(kills))


def run(name: str, **lost: str) -> Run:
    """A grading where the checks named (dots as `__`) have the given status, all others passed."""
    statuses = {check: "passed" for check in CHECKS}
    statuses.update({key.replace("__", "."): status for key, status in lost.items()})
    return Run(name, statuses)


REFERENCE_RUN = run("reference")


# --- (a) the verdict, without Docker ----------------------------------------------------


def test_clean_when_each_mutant_kills_exactly_its_checks_and_every_check_dies():
    mutants = [mutant("m1", "a.one", "a.two"), mutant("m2", "b.three"), mutant("m3", "b.four")]
    runs = {"m1": run("m1", a__one="failed", a__two="skipped"), "m2": run("m2", b__three="failed"),
            "m3": run("m3", b__four="error")}
    verdict = decide(CHECKS, REFERENCE_RUN, mutants, runs)
    assert verdict.ok
    assert (verdict.dead, verdict.collateral, verdict.survived, verdict.reference_lost) == ([], {}, {}, [])
    assert verdict.indirect == ["a.two"]  # only ever skipped: a warning, not a failure


def test_a_check_no_mutant_kills_is_dead():
    verdict = decide(CHECKS, REFERENCE_RUN, [mutant("m1", "a.one")], {"m1": run("m1", a__one="failed")})
    assert verdict.dead == ["a.two", "b.three", "b.four"]
    assert not verdict.ok


def test_extra_losses_are_collateral_and_missing_ones_survived():
    mutants = [mutant("m1", "a.one"), mutant("m2", "a.two", "b.three")]
    runs = {"m1": run("m1", a__one="failed", b__four="skipped"), "m2": run("m2", a__two="failed")}
    verdict = decide(CHECKS, REFERENCE_RUN, mutants, runs)
    assert verdict.collateral == {"m1": ["b.four"]}
    assert verdict.survived == {"m2": ["b.three"]}
    assert verdict.dead == ["b.three"]
    assert not verdict.ok


def test_a_collateral_loss_still_counts_as_a_kill_for_dead_checks():
    verdict = decide(CHECKS, REFERENCE_RUN, [mutant("m1", "a.one")],
                     {"m1": run("m1", a__one="failed", a__two="failed", b__three="failed", b__four="failed")})
    assert verdict.dead == []
    assert verdict.collateral == {"m1": ["a.two", "b.three", "b.four"]}


def test_the_reference_must_pass_everything():
    reference = run("reference", b__four="failed")
    del reference.statuses["a.two"]  # a check the grading did not report at all
    verdict = decide(CHECKS, reference, [], {})
    assert verdict.reference_lost == ["a.two", "b.four"]
    assert not verdict.ok


def test_a_crashed_grading_is_an_error_not_a_kill():
    mutants = [mutant("m1", "a.one")]
    verdict = decide(CHECKS, REFERENCE_RUN, mutants, {"m1": Run("m1", {}, error="RuntimeError: boom")})
    assert verdict.errors == {"m1": "RuntimeError: boom"}
    assert "a.one" in verdict.dead
    assert verdict.survived == {}  # not judged: it did not run
    assert not verdict.ok


def test_checks_not_graded_here_are_neither_kills_nor_survivals_nor_dead():
    # With a browser, the text-search fallbacks are left out; a mutant may still name them for
    # the gradings without one. Without a browser it is the other way round.
    left = {"a.two"}
    reference = Run("reference", {c: "passed" for c in CHECKS if c not in left}, left_out=tuple(left))
    m1 = Run("m1", {"a.one": "failed", "b.three": "failed", "b.four": "failed"}, left_out=tuple(left))
    verdict = decide(CHECKS, reference, [mutant("m1", "a.one", "a.two", "b.three", "b.four")], {"m1": m1})
    assert verdict.ok, verdict
    assert verdict.not_graded == ["a.two"] and verdict.dead == [] and verdict.reference_lost == []


def test_run_killed_is_every_status_but_passed():
    assert run("x", a__one="failed", a__two="skipped", b__three="error").killed() == {"a.one", "a.two", "b.three"}


# --- mutant folders -------------------------------------------------------------------------


def write_mutant(folder: Path, text: str, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "mutant.yaml").write_text(text)
    for rel, content in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(content)
    return folder


@pytest.mark.parametrize("text, problem", [
    ("description: x\nkills: [a.nine]\n", "does not have: a.nine"),
    ("description: x\nkills: []\n", "non-empty list"),
    ("kills: [a.one]\n", "one non-empty line"),
    ("description: x\nkills: [a.one]\nextra: 1\n", "a mapping"),
    ("description: x\nkills: [a.one, a.one]\n", "twice"),
    ("description: x\nkills: [a.one]\ndelete: [../outside]\n", "relative paths inside"),
    ("description: x\nkills: [a.one]\ndelete: [.]\n", "relative paths inside"),
    ("description: x\nkills: [a.one]\n", "changes nothing"),
])
def test_malformed_mutants_are_refused(tmp_path, text, problem):
    folder = write_mutant(tmp_path / "bad", text)
    with pytest.raises(MutantError, match=problem):
        load_mutant(folder, CHECKS)


def test_materialize_overlays_and_deletes(tmp_path):
    reference = tmp_path / "ref"
    (reference / "app").mkdir(parents=True)
    (reference / "app" / "x.py").write_text("good\n")
    (reference / ".dockerignore").write_text("*.pyc\n")
    (reference / "keep.txt").write_text("same\n")
    folder = write_mutant(tmp_path / "muts" / "m1", "description: x\nkills: [a.one]\ndelete: [.dockerignore]\n",
                          {"app/x.py": "bad\n", "new.txt": "added\n"})
    copy = materialize(reference, load_mutant(folder, CHECKS), tmp_path / "out")
    assert (copy / "app" / "x.py").read_text() == "bad\n"
    assert (copy / "new.txt").read_text() == "added\n"
    assert (copy / "keep.txt").read_text() == "same\n"
    assert not (copy / ".dockerignore").exists() and not (copy / "mutant.yaml").exists()
    assert (reference / "app" / "x.py").read_text() == "good\n"


# --- (c) the real mutants name real checks ---------------------------------------------------


def test_every_mutant_folder_is_valid_and_names_real_checks():
    checks = [c.qualified_id for c in load_spec(SPEC).checks()]
    folders = sorted(p for p in MUTANTS.iterdir() if p.is_dir())
    assert len(folders) >= 20
    mutants = load_mutants(MUTANTS, checks)
    assert [m.name for m in mutants] == [f.name for f in folders]  # no folder without mutant.yaml
    for m in mutants:
        assert set(m.kills) <= set(checks), m.name
        raw = yaml.safe_load((m.path / "mutant.yaml").read_text(encoding="utf-8"))
        assert isinstance(raw["description"], str) and raw["description"].strip(), m.name
        for rel in m.overlay():  # an overlay replaces a reference file or adds one, beside them
            assert not Path(rel).is_absolute() and ".." not in Path(rel).parts, (m.name, rel)
        for rel in m.delete:
            assert (REFERENCE / rel).exists(), (m.name, rel)


# --- (b) the whole run on Docker --------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.timeout(3600)
def test_validate_on_docker_kills_every_check_without_collateral_and_every_variant_keeps_full_marks(docker_engine):
    # The variants of tests/variants are graded by default next to tests/mutants.
    proc = run_runner("validate", "specs/lab4.yaml", "--reference", "reference", "--mutants", "tests/mutants",
                      "-j", "2", timeout=3500)
    assert "dead: none" in proc.stdout, proc.stdout
    assert "collateral: none" in proc.stdout, proc.stdout
    variants = len(load_variants(ROOT / "tests" / "variants"))
    assert f"each must lose nothing): {variants}" in proc.stdout, proc.stdout
    assert "variant losses: none" in proc.stdout, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]


def test_a_patch_that_no_longer_applies_is_refused(tmp_path):
    from graders.validate import PATCH_FILE, Mutant, MutantError, materialize

    folder = tmp_path / "drifted"
    folder.mkdir()
    (folder / PATCH_FILE).write_text("--- a/main.py\n+++ b/main.py\n@@ -1,1 +1,1 @@\n-no such line here\n+x = 1\n")
    mutant = Mutant("drifted", folder, "a drifted patch", ("queue.add_task",))
    with pytest.raises(MutantError, match="does not apply"):
        materialize(REFERENCE, mutant, tmp_path / "copy")
