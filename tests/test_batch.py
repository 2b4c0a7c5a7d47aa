"""`runner.py batch`: a class graded with -j 2, a complete gradebook, resumable, nothing left."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from graders.batch.gradebook import check_pass_rates, histogram
from graders.batch.grading import Row
from graders.batch.submissions import find_submissions
from graders.spec.loader import load_spec
from graders.uploads import SubmissionError, unpack_zip
from graders.validate import load_mutant, materialize
from tests.conftest import LAB_SPEC, REFERENCE, ROOT, grader_containers, run_runner

MUTANTS = ["bg_inline", "chat_echo_sender_only", "no_dockerignore"]


def make_class(root: Path) -> dict[str, str]:
    """Six submissions: the reference, three mutants (one as a zip), an empty folder, a broken zip."""
    known = [c.qualified_id for c in load_spec(LAB_SPEC).checks()]
    materialize(REFERENCE, None, root / "ref_student")
    for name in MUTANTS[:2]:
        materialize(REFERENCE, load_mutant(ROOT / "tests" / "mutants" / name, known), root / name)
    zipped = materialize(REFERENCE, load_mutant(ROOT / "tests" / "mutants" / MUTANTS[2], known), root / "tmpzip")
    with zipfile.ZipFile(root / f"{MUTANTS[2]}.zip", "w") as zf:
        for path in zipped.rglob("*"):
            zf.write(path, Path("project") / path.relative_to(zipped))
    shutil.rmtree(zipped)
    (root / "empty_student").mkdir()
    (root / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    return {"ref_student": "graded", "bg_inline": "graded", "chat_echo_sender_only": "graded",
            "no_dockerignore": "graded", "empty_student": "graded", "broken": "error"}


@pytest.mark.docker
def test_a_class_graded_with_two_jobs_gets_a_complete_gradebook(tmp_path, docker_engine):
    classroom, out = tmp_path / "class", tmp_path / "out"
    classroom.mkdir()
    expected = make_class(classroom)
    before = grader_containers()
    proc = run_runner("batch", str(classroom), "-j", "2", "--out", str(out), "--format", "text", "--lang", "en",
                      timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with (out / "gradebook.csv").open() as handle:
        rows = {r["submission"]: r for r in csv.DictReader(handle)}
    assert {name: r["outcome"] for name, r in rows.items()} == expected
    assert rows["ref_student"]["total"] == "100" and rows["ref_student"]["bonus"] == "10"
    assert float(rows["bg_inline"]["total"]) < 100 and float(rows["chat_echo_sender_only"]["total"]) < 100
    assert rows["no_dockerignore"]["total"] == "100"  # .dockerignore is advice: reported, never scored
    assert rows["empty_student"]["total"] == "0" and "no compose file" in rows["empty_student"]["message"]
    assert "not a valid zip" in rows["broken"]["message"]
    for name in ("ref_student", "no_dockerignore"):
        assert json.loads((out / name / "report.json").read_text())["score"] == float(rows[name]["total"])
        assert (out / name / "report.txt").read_text().startswith("Submission:")
    summary = (out / "summary.md").read_text()
    assert "6 submissions: 5 graded, 1 errors" in summary and "| websocket.broadcast | 3/5 | 60% |" in summary
    assert (out / "score_distribution.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "check_pass_rates.png").read_bytes()[:4] == b"\x89PNG"
    assert grader_containers() <= before, "the batch left containers"

    # Resumable: nothing changed, so nothing is regraded; a changed submission is, and so are
    # errors. A regraded submission's state file is written anew.
    stamps = {name: (out / name / "batch.json").stat().st_mtime_ns for name in expected}
    (classroom / "empty_student" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    again = run_runner("batch", str(classroom), "-j", "2", "--out", str(out), "--lang", "en", timeout=900)
    assert again.returncode == 0
    regraded = sorted(n for n in expected if (out / n / "batch.json").stat().st_mtime_ns != stamps[n])
    assert regraded == ["broken", "empty_student"]
    assert "unchanged" in again.stderr


def test_find_submissions_takes_folders_and_zips(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b.zip").write_bytes(b"")
    (tmp_path / "a.zip").write_bytes(b"")  # a folder and a zip of one name: the folder wins
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert [(s.name, s.is_zip) for s in find_submissions(tmp_path)] == [("a", False), ("b", True)]


def test_zip_that_escapes_its_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../outside.txt", "boom")
    (tmp_path / "target").mkdir()
    with pytest.raises(SubmissionError, match="points outside"):
        unpack_zip(archive, tmp_path / "target")
    assert not (tmp_path / "outside.txt").exists()


def test_pass_rates_and_histogram_count_what_they_should():
    rows = [Row("a", "graded", 100, 100, checks={"p.x": "passed", "p.y": "failed"}),
            Row("b", "graded", 40, 100, checks={"p.x": "passed", "p.y": "skipped"}),
            Row("c", "error")]
    assert check_pass_rates(rows) == {"p.x": (2, 2), "p.y": (0, 2)}
    assert histogram([100, 40, 0], 100, bins=5) == [("0-20", 1), ("20-40", 0), ("40-60", 1), ("60-80", 0),
                                                    ("80-100", 1)]


def test_the_gradebook_has_no_two_columns_of_one_name(tmp_path):
    from graders.batch.gradebook import write_gradebook

    rows = [Row("ivanov", "graded", 90, 100, 5, parts={"background": 15, "bonus": 5, "total": 3})]
    write_gradebook(rows, tmp_path / "gradebook.csv")
    header = (tmp_path / "gradebook.csv").read_text().splitlines()[0].split(",")
    assert len(header) == len(set(header)), header
    assert {"bonus", "part:bonus", "part:total"} <= set(header)


@pytest.mark.docker
def test_a_batch_for_students_writes_a_feedback_page_without_the_instructors_notes(tmp_path, docker_engine):
    from tests.test_hostile import materialise

    classroom = tmp_path / "class"
    shutil.copytree(materialise("privileged", tmp_path), classroom / "petrov")  # refused at once: nothing to build
    out = tmp_path / "out"
    proc = run_runner("batch", str(classroom), "--out", str(out), "--audience", "student", "--lang", "ru",
                      timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (out / "petrov" / "feedback.md").read_text(encoding="utf-8")
    assert page.startswith("# Оценка: 0 / 100") and "## Исправьте сначала это" in page
    assert "privileged: true" in page and "## Примечания" not in page and "roles:" not in page
