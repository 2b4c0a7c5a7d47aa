"""The one direction of imports (ARCHITECTURE.md): the contracts in pyproject.toml's
[tool.importlinter] hold for the package, and they do bite when an import runs the wrong way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(no_logo=True, no_cache=True))"]


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first, so the linter sees `tree`'s graders/, not the installed one.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(LINT, cwd=tree, capture_output=True, text=True, timeout=120, env=env)


def test_imports_run_one_way_and_never_in_a_cycle():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "graders", tmp_path / "graders", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def add_import(tree: Path, module: str, statement: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{statement}\n")


@pytest.mark.parametrize(("module", "statement", "broken"), [
    ("graders/results.py", "import graders.engine  # noqa", "layers"),  # the floor reaches up
    ("graders/checks/http.py", "import graders.backends.docker  # noqa", "layers"),  # siblings of one layer
    ("graders/policy/model.py", "import graders.backends.process  # noqa", "layers"),  # backends never see policy
    ("graders/batch/upkeep.py", "import graders.batch.worker_main  # noqa", "cycles"),  # the old batch loop
])
def test_an_import_against_the_direction_breaks_a_contract(tree, module, statement, broken):
    add_import(tree, module, statement)
    result = lint(tree)
    assert result.returncode != 0 and "Broken contracts" in result.stdout
    broken_section = result.stdout.split("Broken contracts", 1)[1]
    assert ("\nlayers: commands" if broken == "layers" else "\nno import cycles") in broken_section
