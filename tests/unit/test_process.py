"""run_command: deadlines kill the whole process group; output is capped, stdout kept whole on request."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from graders.backends.process import OUTPUT_CAP_LINES, run_command


def test_a_long_single_line_of_stdout_is_kept_whole():
    code = "import json; print(json.dumps({'k': 'x' * 50000}))"
    result = run_command([sys.executable, "-c", code], timeout=30, keep_stdout=True)
    assert result.ok and len(result.stdout) > 50000 and result.stdout.endswith("}\n")


def test_timeout_kills_the_children_too(tmp_path):
    pidfile = tmp_path / "child.pid"
    code = (f"import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            f"open({str(pidfile)!r}, 'w').write(str(p.pid)); p.wait()")
    started = time.monotonic()
    result = run_command([sys.executable, "-c", code], timeout=2)
    assert result.timed_out and not result.ok and time.monotonic() - started < 15
    child = int(pidfile.read_text())
    time.sleep(0.5)
    stat = Path(f"/proc/{child}/stat")
    alive = stat.exists() and stat.read_text().split()[2] != "Z"  # a zombie is dead, only not reaped
    assert not alive, "the grandchild survived the timeout"


def test_log_spam_is_capped_to_the_last_lines():
    result = run_command([sys.executable, "-c", "for i in range(20000): print(i)"], timeout=30)
    lines = result.output.splitlines()
    assert result.truncated and len(lines) == OUTPUT_CAP_LINES and lines[-1] == "19999"
