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
import tarfile
import threading
from pathlib import Path

import docker
import pytest

from tests.conftest import REFERENCE
from tests.test_hostile import check, engine, grade, materialise, no_grader_fault, statuses  # noqa: F401

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
    proc, report, _ = grade(tmp_path, submission, "docker")
    no_grader_fault(proc, report)
    assert statuses(report)["docker.image_builds"] == statuses(report)["docker.all_running"] == "passed", \
        report["problems"]
    assert "sidecar sees web on localhost:8000" in logs(report, "sidecar"), logs(report, "sidecar")
