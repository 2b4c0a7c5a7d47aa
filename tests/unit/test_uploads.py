"""What a student uploads becomes the project folder: flat, one folder, zipped with or without a
top folder, with macOS and git debris; the platforms' own layouts (PrairieLearn's submission.zip)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from graders.uploads import SubmissionError, opened_upload, project_folder

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference"


def zip_folder(folder: Path, archive: Path, top: str = "", debris: bool = False) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, f"{top}/{path.relative_to(folder)}" if top else str(path.relative_to(folder)))
        if debris:  # what macOS's Finder and a zipped repository add beside the project
            zf.writestr("__MACOSX/lab4/._Dockerfile", b"\x00\x05\x16\x07")
            zf.writestr(".git/HEAD", "ref: refs/heads/main\n")
            zf.writestr(".DS_Store", b"\x00")
    return archive


def files_of(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize(("top", "debris"), [("", False), ("lab4", False), ("lab4", True), ("", True)])
def test_a_zip_of_the_project_opens_as_the_flat_project(tmp_path, top, debris):
    archive = zip_folder(REFERENCE, tmp_path / "submission.zip", top, debris)
    with opened_upload(archive) as project:
        assert files_of(project) >= files_of(REFERENCE)
        assert not (project / "__MACOSX").exists() and (project / "Dockerfile").is_file()
        unpacked = project
    assert not unpacked.exists()  # the temporary copy is gone after the grading


def test_a_folder_holding_only_the_zip_is_opened_like_prairielearn_uploads_it(tmp_path):
    student = tmp_path / "grade" / "student"
    student.mkdir(parents=True)
    zip_folder(REFERENCE, student / "submission.zip", "my-lab4", debris=True)
    with opened_upload(student) as project:
        assert project.name == "my-lab4" and (project / "compose.yaml").is_file()


def test_a_folder_wrapping_the_project_is_descended_and_a_flat_one_is_kept(tmp_path):
    shutil.copytree(REFERENCE, tmp_path / "upload" / "lab4", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "upload" / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "upload" / "__MACOSX").mkdir()
    with opened_upload(tmp_path / "upload") as project:
        assert project == tmp_path / "upload" / "lab4"
    with opened_upload(REFERENCE) as project:
        assert project == REFERENCE


def test_a_folder_beside_files_is_a_wrapper_only_when_a_project_is_below(tmp_path):
    (tmp_path / "readme" / "lab4").mkdir(parents=True)
    (tmp_path / "readme" / "README.md").write_text("my lab\n")
    (tmp_path / "readme" / "lab4" / "compose.yaml").write_text("services: {}\n")
    assert project_folder(tmp_path / "readme") == tmp_path / "readme" / "lab4"
    (tmp_path / "flat" / "app").mkdir(parents=True)  # app/ beside start.sh: one project, no markers yet
    (tmp_path / "flat" / "start.sh").write_text("#!/bin/sh\n")
    (tmp_path / "flat" / "app" / "main.py").write_text("print('hi')\n")
    assert project_folder(tmp_path / "flat") == tmp_path / "flat"


def test_two_folders_are_not_guessed_between(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    assert project_folder(tmp_path) == tmp_path  # the grading then says what is missing there


def test_a_hostile_or_broken_zip_is_refused(tmp_path):
    escape = tmp_path / "escape.zip"
    with zipfile.ZipFile(escape, "w") as zf:
        zf.writestr("../outside.txt", "x")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    for archive in (escape, broken):
        with pytest.raises(SubmissionError), opened_upload(archive):
            pass
    assert not (tmp_path.parent / "outside.txt").exists()


def test_an_unpackable_zip_still_gets_a_complete_report_in_russian(tmp_path):
    """runner.py grade on a broken zip: not a usage error but a report naming the zip, every check
    skipped for that reason, score 0 (the local backend: nothing here needs Docker)."""
    broken = tmp_path / "lab4.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(ROOT / "runner.py"), str(broken), "--backend", "local", "--quiet",
                           "--format", "json", "--out", str(out), "--format", "markdown", "--out",
                           str(tmp_path / "feedback.md")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["score"] == 0 and report["problems"][0].startswith("unpack: lab4.zip")
    checks = [c for p in report["parts"] for c in p["checks"] if c["graded"]]
    assert checks and all(c["status"] != "passed" and ("распаковать" in c["message"] or "lab4.zip" in c["message"])
                          for c in checks)
    assert "lab4.zip" in (tmp_path / "feedback.md").read_text(encoding="utf-8")
