"""The platform templates: the GitHub Classroom workflow, the Gradescope zip, PrairieLearn's files.

No Docker and no platform here: the files are parsed and checked for what each platform
requires, and the Gradescope zip is built into a temporary folder. The templates run as each
platform runs them in tests/test_platform_templates.py.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from graders.gradescope_bundle import BundleError, build_bundle, maxima
from graders.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
LAB_SPEC = ROOT / "specs" / "lab4.yaml"


def mode_of(info: zipfile.ZipInfo) -> int:
    return info.external_attr >> 16


# --- Gradescope ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_bundle(LAB_SPEC, tmp_path_factory.mktemp("gs") / "autograder.zip")


def test_bundle_has_the_scripts_at_its_root_and_the_grader_beside_them(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
    assert {"setup.sh", "run_autograder"} <= names
    assert {"grader/pyproject.toml", "grader/README.md", "grader/runner.py", "grader/graders/__init__.py",
            "grader/graders/cli.py", "grader/graders/reports/gradescope.py", "grader/specs/lab4.yaml"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert not any(n.startswith(("grader/tests/", "grader/reference/", "grader/templates/")) for n in names)


def test_bundle_scripts_are_executable_regular_files(bundle):
    with zipfile.ZipFile(bundle) as archive:
        for name in ("run_autograder", "setup.sh"):
            mode = mode_of(archive.getinfo(name))
            assert stat.S_ISREG(mode) and mode & 0o111 == 0o111, f"{name}: mode {oct(mode)}"
        assert mode_of(archive.getinfo("grader/graders/cli.py")) & 0o111 == 0


def test_run_autograder_grades_the_submission_with_the_bundled_spec(bundle):
    with zipfile.ZipFile(bundle) as archive:
        script = archive.read("run_autograder").decode("utf-8")
        spec = archive.read("grader/specs/lab4.yaml")
    assert script.startswith("#!/usr/bin/env bash\n")
    assert 'SPEC="$SOURCE/grader/specs/lab4.yaml"' in script and "@SPEC@" not in script
    assert 'grade "$ROOT/submission"' in script  # runner.py finds the project in the upload itself
    assert "shopt" not in script and "nullglob" not in script  # no folder finding in shell
    for flag in ("--format gradescope --out \"$RESULTS/results.json\"", "--backend local", "--spec \"$SPEC\"",
                 "--lang ru", "--audience student", "LAB4_GRADER_WHEELHOUSE"):
        assert flag in script
    assert 'RESULTS="$ROOT/results"' in script and 'ROOT="${AUTOGRADER_ROOT:-/autograder}"' in script
    assert spec == LAB_SPEC.read_bytes()


def test_the_bundled_spec_loads_and_the_bundle_is_reproducible(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as archive:
        archive.extract("grader/specs/lab4.yaml", tmp_path)
    assert load_spec(str(tmp_path / "grader/specs/lab4.yaml")).parts
    again = build_bundle(LAB_SPEC, tmp_path / "again.zip")
    assert again.read_bytes() == bundle.read_bytes()


def test_bundle_names_a_custom_spec_by_its_file_name(tmp_path):
    spec = tmp_path / "lab4-spring.yaml"
    shutil.copy(LAB_SPEC, spec)
    with zipfile.ZipFile(build_bundle(spec, tmp_path / "a.zip")) as archive:
        assert "grader/specs/lab4-spring.yaml" in archive.namelist()
        assert "grader/specs/lab4-spring.yaml" in archive.read("run_autograder").decode()


def test_bundle_refuses_a_missing_spec(tmp_path):
    with pytest.raises(BundleError):
        build_bundle(tmp_path / "nope.yaml", tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()


def test_bundle_cli_writes_the_zip_and_exits_2_on_misuse(tmp_path):
    out = tmp_path / "dist" / "autograder.zip"
    ok = subprocess.run([sys.executable, "-m", "graders.gradescope_bundle", "--spec", "specs/lab4.yaml",
                         "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert zipfile.is_zipfile(out) and "wrote" in ok.stdout
    assert f"set the assignment's points to {maxima(LAB_SPEC)[1]:g}" in ok.stdout
    bad_spec = tmp_path / "bad.yaml"
    bad_spec.write_text("version: 1\nparts: 7\n")
    for spec in (str(tmp_path / "missing.yaml"), str(bad_spec)):
        bad = subprocess.run([sys.executable, "-m", "graders.gradescope_bundle", "--spec", spec,
                              "--out", str(tmp_path / "x.zip")], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert bad.returncode == 2 and "gradescope_bundle:" in bad.stderr


def test_bundle_reports_the_maximum_gradescope_should_use():
    full, local = maxima(LAB_SPEC)
    spec = load_spec(str(LAB_SPEC))
    # A fallback counts only where its primary cannot run, so the full maximum leaves it out.
    assert full == sum(c.points for c in spec.checks() if not c.bonus and not c.fallback_for) == 100
    needing_nothing = sum(c.points for c in spec.checks() if not c.bonus and not c.requires)
    assert local == needing_nothing < full
    # Without a browser the chat page's fallback stands in for the browser check: same maximum.
    assert maxima(LAB_SPEC, frozenset({"docker"})) == maxima(LAB_SPEC, frozenset({"docker", "browser"})) == (full, full)


def test_gradescope_setup_installs_the_bundled_grader():
    script = (TEMPLATES / "gradescope" / "setup.sh").read_text()
    assert "/autograder/source/grader" in script and "venv" in script
    run_autograder = (TEMPLATES / "gradescope" / "run_autograder").read_text()
    assert 'PYTHON="${GRADER_PYTHON:-$ROOT/venv/bin/python}"' in run_autograder


# --- GitHub Classroom ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load((TEMPLATES / "github-classroom" / "classroom.yml").read_text(encoding="utf-8"))


def test_workflow_has_the_names_classroom_requires(workflow):
    assert workflow["name"] == "Autograding Tests"
    assert list(workflow["jobs"]) == ["run-autograding-tests"]
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in triggers
    assert workflow["permissions"]["contents"] == "read"


def test_workflow_wires_the_grader_output_into_the_reporter(workflow):
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    grader = next(s for s in steps if "runner.py" in s.get("run", ""))
    reporter = next(s for s in steps
                    if s.get("uses", "").startswith("classroom-resources/autograding-grading-reporter@"))
    assert steps.index(grader) < steps.index(reporter)
    step_id = grader["id"]
    assert step_id.isalnum()  # the reporter upper-cases it into <ID>_RESULTS
    assert "--format github-classroom" in grader["run"] and "--audience student" in grader["run"]
    # One runner per check, named in the grading step's output; their <RUNNER>_RESULTS come through
    # GITHUB_ENV. The reporter is optional: without it the grading step posts Classroom's notices.
    assert reporter["with"]["runners"] == f"${{{{ steps.{step_id}.outputs.runners }}}}"
    assert "env.GRADER_CLASSROOM_REPORTER == 'true'" in reporter["if"]
    assert workflow["env"]["GRADER_CLASSROOM_REPORTER"] == "false"
    assert "--format json" in grader["run"] and "GRADER_FAIL_UNDER" in grader["run"]
    artifact = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert artifact["if"] == "always()" and "grading" in artifact["with"]["path"]


def test_workflow_installs_the_grader_outside_the_submission(workflow):
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert any(s.get("uses", "").startswith("actions/setup-python@") for s in steps)
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert "$RUNNER_TEMP/grader" in install["run"] and "$GRADER_REPO" in install["run"]
    assert "YOUR-ORG" in workflow["env"]["GRADER_REPO"]  # the placeholder the instructor replaces
    assert "--backend" not in json.dumps(steps)  # GitHub runners have Docker: the default backend


# --- PrairieLearn -------------------------------------------------------------------------

def test_prairielearn_info_json_enables_external_grading_within_limits():
    info = json.loads((TEMPLATES / "prairielearn" / "info.json").read_text(encoding="utf-8"))
    options = info["externalGradingOptions"]
    assert info["gradingMethod"] == "External" and options["enabled"] is True
    assert 0 < options["timeout"] <= 600  # PrairieLearn's maximum
    dockerfile = (TEMPLATES / "prairielearn" / "Dockerfile").read_text()
    assert f"COPY templates/prairielearn/run.sh {options['entrypoint']}" in dockerfile


def test_prairielearn_entrypoint_grades_the_student_into_results_json():
    script = (TEMPLATES / "prairielearn" / "run.sh").read_text()
    assert "mkdir -p \"$RESULTS\"" in script and 'RESULTS="$GRADE_ROOT/results"' in script
    assert 'grade "$GRADE_ROOT/student"' in script and 'GRADE_ROOT="${GRADE_ROOT:-/grade}"' in script
    assert "zipfile" not in script and "shopt" not in script  # the upload is unpacked in Python, by runner.py
    for flag in ("--format prairielearn --out \"$RESULTS/results.json\"", "--backend local", "--lang ru"):
        assert flag in script
    dockerfile = (TEMPLATES / "prairielearn" / "Dockerfile").read_text()
    assert "LAB4_GRADER_OFFLINE=1" in dockerfile and "graders.wheelhouse" in dockerfile


@pytest.mark.parametrize("script", ["gradescope/setup.sh", "gradescope/run_autograder", "prairielearn/run.sh"])
def test_shell_templates_are_executable_and_parse(script):
    path = TEMPLATES / script
    assert os.stat(path).st_mode & 0o111 == 0o111
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def test_prairielearn_fallback_writes_an_ungradable_result(tmp_path):
    """The entrypoint's fallback, run as the script runs it, gives schema-valid JSON."""
    script = (TEMPLATES / "prairielearn" / "run.sh").read_text()
    fallback = script[script.index('  "$PYTHON" - "$status"'):]
    code = fallback[fallback.index("<<'PY'\n") + len("<<'PY'\n"):fallback.index("\nPY\n")]
    out = tmp_path / "results.json"
    subprocess.run([sys.executable, "-", "3", str(out)], input=code, text=True, check=True)
    result = json.loads(out.read_text())
    assert result["gradable"] is False and "exit status 3" in result["format_errors"][0]
    import jsonschema

    jsonschema.validate(result, json.loads((ROOT / "specs/formats/prairielearn.schema.json").read_text()))
