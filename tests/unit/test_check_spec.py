"""`runner.py check-spec SPEC`: a spec checked with no submission; exit 0 when it holds, 2 when not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SPEC = """\
version: 1
inputs:
  name: {kind: words}
  unused: {kind: email}
roles:
  web: {names: [web], port: 8000}
  redis: {names: [redis]}
parts:
  - id: api
    points: 3
    checks:
      - id: create
        points: 1
        http: {method: POST, path: /items, json: {name: "{name}"}, save: {item_id: id}}
      - id: read
        points: 1
        http: {path: "/items/{item_id}"}
      - id: stored
        points: 1
        needs: [create]
        redis: {hash: items, field: "{item_id}"}
"""


def check_spec(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return subprocess.run([sys.executable, str(ROOT / "runner.py"), "check-spec", str(path)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


@pytest.mark.parametrize("spec", ["specs/lab4.yaml", "specs/examples/redis-crud/spec.yaml"])
def test_the_shipped_specs_pass_check_spec(spec):
    proc = subprocess.run([sys.executable, "runner.py", "check-spec", spec], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": OK:" in proc.stdout and "0 error(s), 0 warning(s)" in proc.stdout


def test_a_role_reached_without_a_port_is_an_error_and_exits_2(tmp_path):
    proc = check_spec(tmp_path, SPEC)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "api.stored: error: `redis` talks to the role 'redis', which has no `port`" in proc.stderr
    assert "FAILED" in proc.stdout


def test_a_value_saved_by_an_unordered_check_and_an_unused_input_are_warnings(tmp_path):
    proc = check_spec(tmp_path, SPEC.replace("redis: {names: [redis]}", "redis: {names: [redis], port: 6379}"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ":15: api.read: warning: '{item_id}' is saved by api.create, which may not have run yet" in proc.stderr
    assert "api.stored" not in proc.stderr  # it needs create
    assert "warning: input 'unused' is never used" in proc.stderr
    assert "0 error(s), 2 warning(s)" in proc.stdout


def test_a_schema_error_exits_2_naming_the_line(tmp_path):
    proc = check_spec(tmp_path, SPEC.replace("points: 3", "points: three"))
    assert proc.returncode == 2
    assert "spec.yaml:10: parts[0].points: 'three' is not of type 'number'" in proc.stderr
