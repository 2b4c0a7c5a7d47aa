"""`runner.py describe` (the assignment as a checklist) and the command line's manners: the
commands listed in --help, an unknown word named as such, report files checked before grading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graders.describe import describe
from graders.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "specs" / "lab4.yaml"


def runner(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "runner.py"), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_describe_lists_every_part_and_check_with_points_and_the_contract_in_russian():
    text = describe(load_spec(LAB), "ru")
    assert text.startswith("# ЛР 4: очереди задач, вебсокеты и Docker\n\nМаксимум: 100 баллов (+10 баллов бонусом)")
    assert "## Своя очередь на Redis (RPUSH / BLPOP) — 25 баллов" in text
    assert "- [ ] **POST /add-task/ возвращает id задачи** (3 балла) `queue.add_task`" in text
    assert "  - Требование: POST /add-task/ принимает JSON" in text
    assert "**есть .dockerignore** (совет, не оценивается)" in text
    assert text.count("- [ ] ") == len(list(load_spec(LAB).checks()))


def test_describe_counts_hidden_checks_without_showing_them(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(LAB.read_text(encoding="utf-8").replace("      - id: unknown_id\n",
                                                              "      - id: unknown_id\n        visibility: hidden\n"),
                    encoding="utf-8")
    text = describe(load_spec(spec), "en")
    assert "queue.unknown_id" not in text and "1 more check is hidden until grading; its points count." in text


def test_help_lists_the_commands_and_an_unknown_word_is_named_with_the_nearest_one():
    helped = runner("--help")
    assert all(f"    {name}" in helped.stdout for name in ("grade", "batch", "validate", "describe", "check-spec",
                                                            "schema", "clean"))
    misspelt = runner("descibe")
    assert misspelt.returncode == 2 and "unknown command 'descibe'; did you mean 'describe'?" in misspelt.stderr
    assert runner("no/such/folder").stderr.strip().endswith("no/such/folder: no such folder")


def test_report_files_are_checked_before_any_grading(tmp_path):
    (tmp_path / "taken").mkdir()
    proc = runner("grade", str(ROOT / "reference"), "--format", "json", "--out", str(tmp_path / "taken"))
    assert proc.returncode == 2 and "a folder, not a file" in proc.stderr
    blocked = tmp_path / "file"
    blocked.write_text("x")
    proc = runner(str(ROOT / "reference"), "--format", "json", "--out", str(blocked / "report.json"))
    assert proc.returncode == 2 and "cannot create" in proc.stderr
