"""Correct variants (tests/variants/): their format, how validate judges them (pure), and the
corpus itself: every variant loads and applies to today's reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.validate import VARIANTS, Mutant, MutantError, Run, decide, load_variant, load_variants, materialize
from tests.conftest import REFERENCE, ROOT

CHECKS = ["a.one", "a.two", "b.advice"]


def run(name: str, **statuses: str) -> Run:
    return Run(name, {c: statuses.get(c.replace(".", "__"), "passed") for c in CHECKS})


def variant(name: str) -> Mutant:
    return Mutant(name, Path(name), "correct, another style", (), variant=True)


def test_a_variant_that_loses_a_scored_check_fails_validate():
    verdict = decide(CHECKS, run("reference"), [], {"v": run("v", a__two="failed")}, [variant("v")], ["b.advice"])
    assert verdict.variant_losses == {"v": ["a.two"]} and not verdict.ok


def test_advice_a_variant_does_not_follow_costs_nothing():
    verdict = decide(CHECKS, run("reference"), [], {"v": run("v", b__advice="failed")}, [variant("v")], ["b.advice"])
    assert verdict.variant_losses == {}
    assert verdict.dead == CHECKS  # a variant's losses never prove a check can fail: only mutants do


def test_a_skipped_check_is_a_loss_for_a_variant_too():
    verdict = decide(CHECKS, run("reference"), [], {"v": run("v", a__one="skipped")}, [variant("v")])
    assert verdict.variant_losses == {"v": ["a.one"]}


def write(folder: Path, yaml_text: str, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    (folder / "variant.yaml").write_text(yaml_text)
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


@pytest.mark.parametrize("text, files, problem", [
    ("base: none\n", {"a.py": "x"}, "description"),
    ("description: x\nbase: elsewhere\n", {"a.py": "x"}, "base is reference or none"),
    ("description: x\nkills: [a.one]\n", {"a.py": "x"}, "a mapping"),
    ("description: x\n", {}, "no files and no patch"),
])
def test_malformed_variants_are_refused(tmp_path, text, files, problem):
    with pytest.raises(MutantError, match=problem):
        load_variant(write(tmp_path / "bad", text, files))


def test_a_variant_of_base_none_is_its_own_files_alone(tmp_path):
    reference = write(tmp_path / "ref", "description: unused\n", {"main.py": "ref\n", "Dockerfile": "FROM x\n"})
    folder = write(tmp_path / "own", "description: mine\nbase: none\n", {"main.py": "mine\n", "pkg/a.py": "a\n"})
    copy = materialize(reference, load_variant(folder), tmp_path / "out")
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()) == ["main.py", "pkg/a.py"]


def test_a_variant_patches_overlays_and_deletes_folders(tmp_path):
    reference = write(tmp_path / "ref", "description: unused\n", {"main.py": "one\ntwo\n", "app/x.py": "x\n"})
    (reference / "variant.yaml").unlink()
    folder = write(tmp_path / "v", "description: moved\ndelete: [app]\n", {"backend/x.py": "x\n"})
    (folder / "variant.patch").write_text("--- a/main.py\n+++ b/main.py\n@@ -1,2 +1,2 @@\n one\n-two\n+three\n")
    copy = materialize(reference, load_variant(folder), tmp_path / "out")
    assert (copy / "main.py").read_text() == "one\nthree\n" and (copy / "backend" / "x.py").is_file()
    assert not (copy / "app").exists()


# --- the corpus -------------------------------------------------------------------------------


def test_the_corpus_has_at_least_fifteen_variants_and_each_applies_to_the_reference(tmp_path):
    variants = load_variants(VARIANTS)
    assert len(variants) >= 15
    for v in variants:
        copy = materialize(REFERENCE, v, tmp_path / v.name)  # a drifted patch raises here
        assert (copy / "Dockerfile").is_file() or any(copy.glob("*/Dockerfile")), v.name
        assert any(copy.glob("*compose*.y*ml")), v.name


def test_every_variant_is_listed_in_the_readme():
    readme = (ROOT / "tests" / "variants" / "README.md").read_text(encoding="utf-8")
    for v in load_variants(VARIANTS):
        assert f"`{v.name}`" in readme, v.name
