"""The `compose` rule `file_present`: the student wrote a compose file (a stack generated around a
lone Dockerfile does not count), also when the file could not be read into a model."""

from __future__ import annotations

import asyncio
from pathlib import Path

from graders.backends.base import StackInfo
from graders.checks import CheckContext, registry


def judge(folder: Path, info: StackInfo | None):
    ctx = CheckContext(backend=None, submission=folder, roles={}, role_ports={}, variables={}, timeout_s=5,
                       stack_info=info)
    return asyncio.run(registry()["compose"].run(ctx, {"rule": "file_present"}))


def test_a_compose_file_read_by_the_backend_passes(tmp_path):
    outcome = judge(tmp_path, StackInfo(compose_file="docker-compose.yml", services={}))
    assert outcome.passed and "docker-compose.yml" in outcome.message


def test_a_generated_stack_fails_and_says_to_write_one(tmp_path):
    outcome = judge(tmp_path, StackInfo(compose_file=None, services={"web": {}}, dockerfile="Dockerfile"))
    assert not outcome.passed and "no compose file" in outcome.message


def test_a_compose_file_the_backend_could_not_read_is_still_present(tmp_path):
    (tmp_path / "compose.yaml").write_text("services: [broken\n")
    assert judge(tmp_path, None).passed
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not judge(empty, None).passed
