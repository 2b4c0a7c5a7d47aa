"""The same submission graded again and again gets the same verdict on every check, every time.

Inputs are drawn fresh each run (emails, messages, payloads), so this also shows that no
check depends on a lucky input. The four gradings run two at a time, as a class is graded
(`batch -j 2`): the spec's timing margins must hold with a neighbour on the machine too.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from graders.backends.docker import DockerBackend
from graders.engine import GradeOptions, grade
from graders.spec.loader import load_spec
from tests.conftest import LAB_SPEC, REFERENCE

pytestmark = pytest.mark.docker
RUNS = 4


def graded_verdicts(spec) -> tuple[float, float, dict[str, tuple[str, float]]]:
    with tempfile.TemporaryDirectory(prefix="repeat-") as workdir:
        report = grade(REFERENCE, spec, DockerBackend(REFERENCE, Path(workdir)), GradeOptions(lang="en"))
    verdicts = {f"{p.id}.{c.id}": (c.status.value, c.score) for p, c in report.all_checks()}
    return report.score, report.bonus_score, verdicts


def test_reference_graded_four_times_two_at_a_time_gets_identical_results(docker_engine):
    spec = load_spec(LAB_SPEC)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda _: graded_verdicts(spec), range(RUNS)))
    first = outcomes[0]
    assert first[0] == 100 and first[1] == 10, {k: v for k, v in first[2].items() if v[0] != "passed"}
    for run, other in enumerate(outcomes[1:], start=2):
        differing = {k: (first[2][k], other[2][k]) for k in first[2] if first[2][k] != other[2][k]}
        assert other[:2] == first[:2] and not differing, f"run {run} differs: {differing}"
