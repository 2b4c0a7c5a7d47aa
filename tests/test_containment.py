"""A determined student against the walls around the stack (issue 11; docs/policy.md): each attack
runs for real, with a harmless canary planted by the test (a file on the host, a server on the
host's 0.0.0.0, a variable in the grader's environment, a file read through `include`, an image
that exists only on this machine), and the canary must stay where it is."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import docker
import psutil
import pytest

from tests.conftest import LAB_SPEC, REFERENCE, ROOT, run_runner
from tests.test_hostile import (  # noqa: F401 - engine is a fixture
    check,
    engine,
    grade,
    materialise,
    no_grader_fault,
    statuses,
)

pytestmark = pytest.mark.docker
ESCAPE_CANARY = Path("/tmp/grader-escape-canary")


class CanaryServer:
    """A TCP server on the host's 0.0.0.0 that counts who connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.peers: list[str] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            with contextlib.suppress(OSError):
                conn, peer = self.sock.accept()
                self.peers.append(peer[0])
                conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


@pytest.fixture(scope="module")
def escape_report(tmp_path_factory, engine):  # noqa: F811 - test_hostile's engine fixture
    """`cache_writer` fills a cache mount, then `escape_attempts` is graded with a canary server
    on the host, a token in the grader's environment and the escape canary's path watched."""
    tmp = tmp_path_factory.mktemp("escape")
    token = f"canary-{secrets.token_hex(8)}"
    ESCAPE_CANARY.unlink(missing_ok=True)
    writer = materialise("cache_writer", tmp)
    (writer / "compose.yaml").write_text((writer / "compose.yaml").read_text().replace("CANARY_VALUE", token))
    server = CanaryServer()
    os.environ["GRADER_CANARY_TOKEN"] = token  # the runner inherits it, as it would a CI secret
    try:
        grade(tmp, writer, "docker")
        submission = materialise("escape_attempts", tmp)
        compose = submission / "compose.yaml"
        compose.write_text(compose.read_text().replace("CANARY_PORT_VALUE", str(server.port)))
        proc, report, _ = grade(tmp, submission, "docker")
        yield {"report": report, "text": json.dumps(report), "token": token, "server": server, "proc": proc}
    finally:
        del os.environ["GRADER_CANARY_TOKEN"]
        server.close()
        ESCAPE_CANARY.unlink(missing_ok=True)


def logs(report: dict, service: str) -> str:
    return report["service_logs"].get(service, "")


def test_a_swapped_bind_never_mounts_the_host(escape_report):
    report = escape_report["report"]
    assert "swapped ./mnt for a symlink to /" in logs(report, "swapper"), logs(report, "swapper")
    assert "escaped" not in logs(report, "swapper")
    assert not ESCAPE_CANARY.exists(), "a container wrote into the host's /tmp"


def test_the_graders_environment_reaches_no_build_and_no_container(escape_report):
    leak = logs(escape_report["report"], "web")
    assert "env token: <unset>" in leak and re.search(r"^build arg=$", leak, re.MULTILINE), leak
    assert escape_report["token"] not in escape_report["text"]


def test_a_cache_mount_is_not_shared_between_gradings(escape_report):
    leak = logs(escape_report["report"], "web")
    assert "cache: none" in leak, leak


def test_services_on_the_host_are_out_of_reach(escape_report):
    leak = logs(escape_report["report"], "web")
    assert leak.count("blocked at") == 2 and "reached the host" not in leak, leak
    assert escape_report["server"].peers == []


@pytest.fixture
def private_image():
    """An image that exists only on this engine, with a canary file inside."""
    client = docker.from_env()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = b"private canary\n"
        info = tarfile.TarInfo("canary.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    client.api.import_image_from_data(data.getvalue(), repository="grader-canary-private", tag="1")
    image = client.images.get("grader-canary-private:1")
    yield image
    client.images.remove(image.id, force=True)
    client.close()


@pytest.mark.parametrize(("case", "line"), [("copy_from_local", 12), ("mount_from_local", 13)])
def test_a_build_may_not_read_an_image_that_exists_only_on_this_machine(tmp_path, engine, private_image,  # noqa: F811
                                                                         case, line):
    proc, report, elapsed = grade(tmp_path, materialise(case, tmp_path), "docker")
    no_grader_fault(proc, report)
    (problem,) = [p for p in report["problems"] if p.startswith("policy: ")]
    assert f"service 'web': Dockerfile line {line}: image 'grader-canary-private:1' is not allowed" in problem
    assert report["timings"]["build_s"] == 0 and "private canary" not in json.dumps(report)


@pytest.mark.parametrize("spelling", ['RUN --network="host" {fetch}', "RUN --net\\\nwork=host {fetch}",
                                      "RUN '--network'=host {fetch}"])
def test_a_build_step_never_joins_the_hosts_network_however_it_is_spelled(tmp_path, engine, spelling):  # noqa: F811
    server = CanaryServer()
    try:
        submission = materialise("run_network_spelled", tmp_path)
        fetch = f"python -c \"import socket; socket.create_connection(('127.0.0.1', {server.port}), 3)\" || true"
        dockerfile = submission / "Dockerfile"
        dockerfile.write_text(dockerfile.read_text().replace("COPY . .", spelling.format(fetch=fetch) + "\nCOPY . .",
                                                             1))
        proc, report, _ = grade(tmp_path, submission, "docker")
        no_grader_fault(proc, report)
        assert server.peers == []
        if "'--network'" in spelling:  # BuildKit reads this one as no flag at all: the shell gets it
            assert check(report, "docker.image_builds")["status"] == "passed", report["problems"]
        else:
            (problem,) = [p for p in report["problems"] if p.startswith("policy: ")]
            assert "RUN --network=host is not allowed" in problem
    finally:
        server.close()


def test_include_cannot_read_a_host_file_through_its_project_directory(tmp_path, engine):  # noqa: F811
    canary = tmp_path / "host-secret.env"
    value = f"canary-{secrets.token_hex(6)}"
    canary.write_text(f"LEAKED={value}\n")
    submission = materialise("include_outside", tmp_path)
    # From the included file's own folder this stays inside the submission; from the project
    # directory, where compose resolves it, it is the canary beside the submission.
    (submission / "a/b/c/d/e/f/g").mkdir(parents=True, exist_ok=True)
    (submission / "a/b/c/d/e/f/g/inc.yaml").write_text(
        "services:\n  leak:\n    image: python:3.11-slim\n    env_file: ../host-secret.env\n")
    proc, report, _ = grade(tmp_path, submission, "docker")
    no_grader_fault(proc, report)
    assert value not in json.dumps(report)
    assert report["timings"]["build_s"] == 0, "a stack that reads a host file must not be built"


def test_a_stack_with_more_services_than_allowed_is_refused(tmp_path, engine):  # noqa: F811
    proc, report, elapsed = grade(tmp_path, materialise("too_many_services", tmp_path), "docker")
    no_grader_fault(proc, report)
    (problem,) = [p for p in report["problems"] if p.startswith("policy: ")]
    assert "the stack has 19 services, more than the 12 allowed" in problem
    assert report["timings"]["build_s"] == 0 and elapsed < 60


def test_a_cyrillic_folder_name_grades_like_its_latin_twin(tmp_path, engine):  # noqa: F811
    submission = tmp_path / "студент_иванов"
    shutil.copytree(REFERENCE, submission, ignore=shutil.ignore_patterns("__pycache__", "log.txt"))
    proc, report, _ = grade(tmp_path, submission, "docker")
    no_grader_fault(proc, report)
    assert report["score"] == report["max_score"] == 15, report["problems"]


def test_a_sidecar_in_another_services_network_keeps_working(tmp_path, engine):  # noqa: F811
    submission = materialise("sidecar_network_mode", tmp_path)
    # `background` keeps the stack up past its log line's 5 s: the sidecar, retrying each second, has spoken
    proc, report, _ = grade(tmp_path, submission, "docker", "background")
    no_grader_fault(proc, report)
    assert statuses(report)["docker.image_builds"] == statuses(report)["docker.all_running"] == "passed", \
        report["problems"]
    assert "sidecar sees web on localhost:8000" in logs(report, "sidecar"), logs(report, "sidecar")


def test_a_forged_score_in_a_refused_value_stays_text(tmp_path, engine):  # noqa: F811
    submission = materialise("cap_add_forged", tmp_path)
    page_path = tmp_path / "feedback.md"
    proc = run_runner(str(submission), "--part", "docker", "--format", "markdown", "--out", str(page_path), "-q",
                      "--lang", "en")
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = page_path.read_text(encoding="utf-8")
    assert "cap_add" in page and "&lt;h1&gt;Grading: 100 / 100&lt;/h1&gt;" in page
    prose = re.sub(r"(?s)(`{3,}).*?\1", "", page)  # fenced blocks show text as it is: inert
    assert "<h1>" not in prose and "](http://evil" not in prose and "http://evil" not in prose


def test_the_grading_as_a_whole_is_capped_in_memory(tmp_path, engine):  # noqa: F811
    spec = tmp_path / "spec.yaml"
    spec.write_text(LAB_SPEC.read_text(encoding="utf-8") + "\nlimits: {memory: 1g}\n", encoding="utf-8")
    submission = materialise("aggregate_memory", tmp_path)
    proc, report, _ = grade(tmp_path, submission, "docker", flags=("--spec", str(spec)))
    no_grader_fault(proc, report)
    running = check(report, "docker.all_running")
    # Each hog is under its own 768 MB limit: the grading's shared cap made the kernel kill one.
    assert running["status"] == "failed" and re.search(r"'hog\d' is exited", running["message"]), running


def test_image_builds_get_the_cpu_cap_of_a_container(tmp_path, engine):  # noqa: F811
    stat = Path("/sys/fs/cgroup/cpu/docker/buildkit/cpu.stat")
    if not stat.exists():
        pytest.skip("no cgroup v1 cpu controller for BuildKit here (the test bed caps cgroup v2 through cpu.max)")

    def throttled() -> int:
        return int(dict(line.split() for line in stat.read_text().splitlines())["nr_throttled"])

    submission = materialise("build_busy", tmp_path)
    dockerfile = submission / "Dockerfile"  # a step no cache holds: it must run here
    dockerfile.write_text(dockerfile.read_text().replace("RUN (", f"RUN echo {secrets.token_hex(6)} && (", 1))
    before = throttled()
    proc, report, _ = grade(tmp_path, submission, "docker")
    no_grader_fault(proc, report)
    assert check(report, "docker.image_builds")["status"] == "passed", report["problems"]
    assert throttled() > before, "two busy processes in a RUN step were never held to one CPU"


GIANT_SPEC = """\
version: 1
roles:
  redis: {names: [redis], port: 6379}
parts:
  - id: bounded
    checks:
      - {id: poll, points: 1, lifecycle: {redis: {key: "task:1"}, field: status, states: [done], within_s: 8}}
      - {id: key, points: 1, after: [poll], redis: {key: "task:1", json: {status: done}}}
      - {id: list, points: 1, after: [poll], redis: {list: task_queue, contains_json: {id: 1}}}
"""


def max_rss_mb_of(*args: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess, int]:
    """Run `runner.py ARGS` under a fresh parent, so the peak memory is this grading's alone."""
    probe = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", probe, sys.executable, str(ROOT / "runner.py"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return proc, int(proc.stdout.strip().splitlines()[-1])


def test_a_redis_that_answers_with_giants_neither_fills_the_grader_nor_its_report(tmp_path, engine):  # noqa: F811
    spec = tmp_path / "giant.yaml"
    spec.write_text(GIANT_SPEC)
    out = tmp_path / "report.json"
    proc, rss_mb = max_rss_mb_of(str(materialise("redis_giant_answers", tmp_path)), "--spec", str(spec),
                                 "--format", "json", "--out", str(out), "-q", "--lang", "en")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert all(status == "failed" for status in statuses(report).values()), statuses(report)
    assert "the grader reads" in check(report, "bounded.key")["message"]
    assert rss_mb < 300, f"the grader grew to {rss_mb} MB"
    assert out.stat().st_size < 256 * 1024, f"a report of {out.stat().st_size} bytes"


def test_a_huge_sparse_file_is_refused_by_its_size_without_being_read(tmp_path, engine):  # noqa: F811
    classroom = tmp_path / "class"
    student = classroom / "student"
    shutil.copytree(REFERENCE, student, ignore=shutil.ignore_patterns("__pycache__", "log.txt"))
    with open(student / "dataset.bin", "wb") as sparse:
        sparse.truncate(2 * 2**30)
    proc, rss_mb = max_rss_mb_of("batch", str(classroom), "--out", str(tmp_path / "out"), "--format", "json",
                                 "--lang", "en")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "student" / "report.json").read_text())
    assert any("add up to 2048 MB" in p for p in report["problems"]), report["problems"]
    assert rss_mb < 300, f"the batch grew to {rss_mb} MB"


def test_a_batch_timeout_ends_the_build_too_and_leaves_no_work_folder(tmp_path, engine):  # noqa: F811
    classroom = tmp_path / "class"
    shutil.copytree(materialise("slow_build", tmp_path), classroom / "slow_build")
    folders_before = set(Path(tempfile.gettempdir()).glob("grader-*"))
    proc = run_runner("batch", str(classroom), "--out", str(tmp_path / "out"), "--timeout", "20", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads((tmp_path / "out" / "slow_build" / "batch.json").read_text())["row"]
    assert row["outcome"] == "timeout", row
    time.sleep(2)
    builds = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
              if any("grader-slow-build-" in part for part in p.info["cmdline"] or [])]
    assert builds == [], builds
    client = docker.from_env()
    assert [c.name for c in client.containers.list(all=True) if c.name.startswith("grader-slow-build-")] == []
    client.close()
    assert set(Path(tempfile.gettempdir()).glob("grader-*")) - folders_before == set()
