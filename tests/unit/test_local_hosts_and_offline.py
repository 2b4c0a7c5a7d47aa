"""The local backend on machines without a mount namespace or without network: service names
written to a (here: temporary) hosts file and removed again, two live gradings never sharing a
name; a requirement the wheelhouse lacks, with no network, makes the grading not gradable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from graders.backends.base import StackError
from graders.backends.local.env import PipSources, ensure_venv
from graders.backends.local.hosts import claim_names, release_names
from graders.results import GradingReport

ORIGINAL = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n172.17.0.2\tabc123\n"


@pytest.fixture
def hosts(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # the lock beside it, not the machine's
    path = tmp_path / "hosts"
    path.write_text(ORIGINAL)
    return path


def test_names_are_added_for_one_grading_and_removed_after_it(hosts):
    assert claim_names("run1", {"redis": "127.9.9.10", "web": "127.9.9.11", "cache": "127.9.9.10"}, hosts)
    text = hosts.read_text()
    assert text.startswith(ORIGINAL) and "127.9.9.10\tcache redis" in text and "127.9.9.11\tweb" in text
    release_names("run1", hosts)
    assert hosts.read_text() == ORIGINAL


def test_a_live_grading_keeps_its_names_and_a_dead_ones_are_cleared(hosts):
    assert claim_names("run1", {"redis": "127.9.9.10"}, hosts)
    assert not claim_names("run2", {"redis": "127.8.8.10"}, hosts)  # this process is alive: run1 holds redis
    assert "127.8.8.10" not in hosts.read_text()
    assert claim_names("run3", {"db": "127.7.7.10"}, hosts)  # other names may be added beside it
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    hosts.write_text(re.sub(r"run run1 pid \d+", f"run run1 pid {dead.stdout.strip()}",
                            hosts.read_text()))  # run1's grader has died
    assert claim_names("run2", {"redis": "127.8.8.10"}, hosts)
    assert "run1" not in hosts.read_text() and "127.8.8.10\tredis" in hosts.read_text()


@pytest.fixture
def no_index(tmp_path, monkeypatch) -> Path:
    """pip sees no configured index or links but an empty local one: nothing leaves this machine."""
    index = tmp_path / "index"
    index.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", index.as_uri())
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    return index


def test_a_requirement_missing_from_an_offline_wheelhouse_is_not_gradable(tmp_path, no_index):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    with pytest.raises(StackError) as caught:
        ensure_venv(["lab4-no-such-package==1.0"], tmp_path / "cache", 120, PipSources(wheelhouse, offline=True))
    assert caught.value.step == "offline" and "lab4-no-such-package==1.0" in caught.value.message
    report = GradingReport("s", "spec", "0", "local", problems=[f"offline: {caught.value.message}"])
    assert not report.gradable and GradingReport("s", "spec", "0", "local", problems=["build: x"]).gradable


def test_online_a_missing_requirement_stays_the_submissions_build_problem(tmp_path, no_index):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    with pytest.raises(StackError) as caught:  # an index that lacks it, as PyPI lacks a misspelt package
        ensure_venv(["lab4-no-such-package==1.0"], tmp_path / "cache", 120, PipSources(wheelhouse, offline=False))
    assert caught.value.step == "build"


def test_pip_sources_come_from_the_environment():
    assert PipSources.from_env({"LAB4_GRADER_WHEELHOUSE": "/opt/w", "LAB4_GRADER_OFFLINE": "1"}).args() == [
        "--find-links", "/opt/w", "--no-index"]
    assert PipSources.from_env({}).args() == []
