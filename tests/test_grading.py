"""The whole grader, as users run it: `runner.py SUBMISSION` on the reference and on broken
submissions. Every grading must leave a complete report and nothing running."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REFERENCE, ROOT, labelled_leftovers, run_runner

REPORT_SCHEMA = json.loads((ROOT / "specs" / "report.schema.json").read_text())


def graded(tmp_path: Path, submission: Path, *extra: str) -> tuple[int, dict, str]:
    out = tmp_path / "report.json"
    proc = run_runner(str(submission), "--format", "json", "--out", str(out), "--format", "text", "--no-color",
                      *extra)
    assert out.exists(), f"no report written (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(out.read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    assert labelled_leftovers(report["run_id"]) == [], "the grading left containers, networks or volumes"
    return proc.returncode, report, proc.stdout


def statuses(report: dict) -> dict[str, str]:
    return {f"{p['id']}.{c['id']}": c["status"] for p in report["parts"] for c in p["checks"]}


def graded_statuses(report: dict) -> dict[str, str]:
    """Statuses of the checks that count here (a fallback whose primary runs is listed, not graded)."""
    return {f"{p['id']}.{c['id']}": c["status"] for p in report["parts"] for c in p["checks"] if c["graded"]}


def copy_reference(tmp_path: Path) -> Path:
    target = tmp_path / "submission"
    shutil.copytree(REFERENCE, target, ignore=shutil.ignore_patterns("__pycache__", "log.txt"))
    return target


@pytest.mark.docker
def test_reference_scores_full_marks_with_bonus(tmp_path, docker_engine):
    code, report, text = graded(tmp_path, REFERENCE, "--lang", "en")
    graded_checks = {f"{p['id']}.{c['id']}": c for p in report["parts"] for c in p["checks"] if c["graded"]}
    failed = {k: c["status"] for k, c in graded_checks.items() if c["status"] != "passed"}
    assert code == 0 and failed == {}, json.dumps(report["parts"], indent=1)[:4000]
    # With a browser here, the chat page's fallback is left out, not failed.
    assert statuses(report)["websocket.chat_page"] == "skipped" and "websocket.chat_page" not in graded_checks
    assert (report["score"], report["max_score"], report["bonus_score"]) == (100, 100, 10)
    assert [p["id"] for p in report["parts"]] == ["background", "celery", "queue", "websocket", "docker", "bonus"]
    assert "Score: 110 / 100 (100 + 10 bonus)" in text  # the total a platform records, and how it is made
    assert report["timings"]["total_s"] >= report["timings"]["checks_s"] > 0


@pytest.mark.docker
def test_empty_folder_gets_a_report_naming_the_missing_files(tmp_path, docker_engine):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, report, text = graded(tmp_path, empty)
    assert code == 0 and report["score"] == 0
    assert any("no compose file" in p for p in report["problems"])
    result = statuses(report)
    assert result["background.responds_fast"] == "skipped" and result["docker.image_builds"] == "failed"
    assert result["docker.cmd_exec_form"] == "failed"  # static checks still ran, and said why
    assert "no compose file" in text


@pytest.mark.docker
def test_build_failure_reports_the_failing_step_and_still_grades_static_checks(tmp_path, docker_engine):
    submission = copy_reference(tmp_path)
    requirements = submission / "requirements.txt"
    requirements.write_text(requirements.read_text() + "this-package-does-not-exist-anywhere==0.0.1\n")
    code, report, _ = graded(tmp_path, submission, "--part", "docker", "--part", "background")
    assert code == 0
    (problem,) = [p for p in report["problems"] if p.startswith("build:")]
    assert "this-package-does-not-exist-anywhere" in problem  # the failing step's own last lines
    result = statuses(report)
    assert result["docker.image_builds"] == "failed" and result["background.log_line"] == "skipped"
    assert result["docker.cmd_exec_form"] == result["docker.requirements_first"] == "passed"
    assert set(statuses(report)) == {k for k in result if k.split(".")[0] in ("docker", "background")}


@pytest.mark.docker
def test_a_worker_that_exits_at_start_costs_its_checks_not_the_whole_grade(tmp_path, docker_engine):
    submission = copy_reference(tmp_path)
    compose = submission / "compose.yaml"
    compose.write_text(compose.read_text().replace('command: ["python", "worker.py"]',
                                                   'command: ["python", "-c", "raise SystemExit(3)"]'))
    code, report, _ = graded(tmp_path, submission, "--part", "queue", "--part", "websocket")
    assert code == 0
    assert any("service 'worker' exited at start (exit code 3)" in p for p in report["problems"])
    result = statuses(report)
    assert result["queue.processed"] == "failed" and result["queue.worker_survives_idle"] == "failed"
    assert all(v == "passed" for k, v in graded_statuses(report).items() if k.startswith("websocket.")), result


def test_a_path_that_does_not_exist_is_misuse(tmp_path):
    proc = run_runner(str(tmp_path / "nope"))
    assert proc.returncode == 2 and "no such folder" in proc.stderr


def test_a_bad_spec_is_rejected_with_its_path_and_line(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text((ROOT / "specs" / "lab4.yaml").read_text().replace("status: 200, json_keys: [message]",
                                                                       "status: two-hundred, json_keys: [message]"))
    proc = run_runner(str(REFERENCE), "--spec", str(spec))
    assert proc.returncode == 2
    assert f"{spec}:" in proc.stderr and "parts[0].checks[0].http.expect.status" in proc.stderr


def test_unknown_format_and_part_are_misuse(tmp_path):
    assert run_runner(str(REFERENCE), "--format", "pdf").returncode == 2
    proc = run_runner(str(REFERENCE), "--part", "graphql")
    assert proc.returncode == 2 and "no part graphql" in proc.stderr


@pytest.mark.docker
def test_fail_under_turns_a_low_score_into_exit_1(tmp_path, docker_engine):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_runner(str(empty), "--fail-under", "50", "--quiet")
    assert proc.returncode == 1 and "Score: 0 / 100" in proc.stdout


@pytest.mark.docker
def test_dockerfile_only_submission_is_graded_in_a_generated_stack(tmp_path, docker_engine):
    submission = copy_reference(tmp_path)
    (submission / "compose.yaml").unlink()
    code, report, _ = graded(tmp_path, submission, "--part", "background", "--part", "websocket",
                             "--part", "docker")
    assert code == 0
    assert any("generated stack" in note for note in report["notes"])
    result = statuses(report)
    assert all(v == "passed" for k, v in graded_statuses(report).items()
               if k.split(".")[0] in ("background", "websocket")), result
    assert result["docker.image_builds"] == "passed"


@pytest.mark.docker
def test_fixed_container_names_do_not_clash_and_stay_reachable_by_name(tmp_path, docker_engine):
    submission = copy_reference(tmp_path)
    compose = submission / "compose.yaml"
    text = compose.read_text().replace("  redis:\n    image: redis:7-alpine\n",
                                       "  redis:\n    image: redis:7-alpine\n    container_name: redis\n")
    compose.write_text(text.replace("  web:\n", "  web:\n    container_name: web\n"))
    code, report, _ = graded(tmp_path, submission, "--part", "celery", "--part", "bonus")
    assert code == 0
    result = statuses(report)
    # nginx proxies to the host name `web`, Celery reaches `redis`: both through the aliases.
    assert result["bonus.nginx"] == "passed" and result["celery.result_in_redis"] == "passed", result
    assert result["bonus.scale"] == "passed"  # the worker has no container_name: it still scales


@pytest.mark.docker
def test_hadolint_findings_reach_the_report_as_hints(tmp_path, docker_engine):
    submission = copy_reference(tmp_path)
    dockerfile = submission / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(
        'CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"]',
        "CMD uvicorn main:app --host 0.0.0.0 --port 8000"))
    _, report, text = graded(tmp_path, submission, "--part", "docker")
    assert any("DL3025" in finding for finding in report["lint"]), report["lint"]
    assert statuses(report)["docker.cmd_exec_form"] == "failed" and "hadolint suggests" in text


@pytest.mark.docker
def test_total_time_limit_stops_a_slow_grading_with_a_complete_report(tmp_path, docker_engine):
    code, report, _ = graded(tmp_path, REFERENCE, "--part", "queue", "--total-timeout", "10")
    assert code == 0
    assert any(p.startswith("total time:") for p in report["problems"])
    cut = [c for p in report["parts"] for c in p["checks"] if "total time limit ran out" in c["message"]]
    assert cut and all(c["status"] == "failed" for c in cut)
    assert report["timings"]["total_s"] < 60


@pytest.mark.docker
def test_grading_never_changes_the_submission_folder(tmp_path, docker_engine):
    submission = copy_reference(tmp_path)
    compose = submission / "compose.yaml"
    # A service that writes into a bind mount of the whole project, as root.
    compose.write_text(compose.read_text() + "\n  scribble:\n    image: python:3.11-slim\n"
                       "    command: [\"sh\", \"-c\", \"echo hi > /data/written.txt && sleep 600\"]\n"
                       "    volumes:\n      - .:/data\n")
    before = sorted((p.relative_to(submission), p.stat().st_mtime_ns) for p in submission.rglob("*"))
    code, report, _ = graded(tmp_path, submission, "--part", "docker")
    assert code == 0 and statuses(report)["docker.all_running"] == "passed"
    assert not (submission / "written.txt").exists()
    assert sorted((p.relative_to(submission), p.stat().st_mtime_ns) for p in submission.rglob("*")) == before


@pytest.mark.docker
def test_the_stack_runs_from_a_private_copy(tmp_path, docker_engine):
    from graders.backends.docker import DockerBackend

    backend = DockerBackend(REFERENCE, tmp_path / "work")
    try:
        info = backend.inspect()
        assert backend.submission == tmp_path / "work" / "submission" and backend.submission != REFERENCE
        assert oct((tmp_path / "work").stat().st_mode & 0o777) == "0o700"
        nginx_bind = info.services["nginx"]["volumes"][0]["source"]
        assert nginx_bind.startswith(str(backend.submission)), nginx_bind
        assert info.services["web"]["build"]["context"] == str(backend.submission)
    finally:
        backend.teardown()
