"""Service images are pulled as `docker compose up` pulls them, from a real registry: Debian's
`docker-registry` on loopback (the test bed installs it), holding a stand-in redis image that
this machine no longer has under that name. A registry on the grader's own network is refused
unless the spec allows it, and `--pull never` fails at the pull step, naming the image."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import yaml

from tests.conftest import REFERENCE, ROOT, labelled_leftovers, run_runner

SOURCE_IMAGE = "redis:7"  # a stand-in from the test bed, or the real one


def free_port(preferred: int = 5000) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free port on loopback")


def registry_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/v2/", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def local_registry(docker_engine, tmp_path_factory) -> Iterator[str]:
    """`host:port` of a docker-registry on loopback holding HOST:PORT/library/redis:7 (and no
    local tag of that name); stopped, and everything it tagged removed, at the end."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: run `python -m graders.testbed` first (README)")
    folder = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    config = folder / "config.yml"
    config.write_text(yaml.safe_dump({"version": 0.1, "log": {"level": "warn"},
                                      "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
                                      "http": {"addr": address}}))
    with open(folder / "registry.log", "wb") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    image = f"{address}/library/redis:7"
    client = docker.from_env()
    try:
        deadline = time.monotonic() + 30
        while not registry_answers(f"http://{address}"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not start: {(folder / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.2)
        client.images.get(SOURCE_IMAGE).tag(image)
        pushed = subprocess.run(["docker", "push", image], capture_output=True, text=True, timeout=300)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        client.images.remove(image)  # the name only: redis:7 keeps the layers
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        untag(image)
        client.close()


def untag(image: str) -> None:
    """Remove this name (never the layers another name holds)."""
    client = docker.from_env()
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(image)
    client.close()


@pytest.fixture
def registry_image(local_registry) -> Iterator[str]:
    """The registry's redis, absent from this machine before and after the test."""
    image = f"{local_registry}/library/redis:7"
    untag(image)
    yield image
    untag(image)


def submission_using(tmp_path: Path, image: str) -> Path:
    """The reference, its redis service running `image`."""
    target = tmp_path / "submission"
    shutil.copytree(REFERENCE, target, ignore=shutil.ignore_patterns("__pycache__", "log.txt"))
    compose = target / "compose.yaml"
    text = compose.read_text()
    assert "image: redis:7-alpine" in text
    compose.write_text(text.replace("image: redis:7-alpine", f"image: {image}"))
    return target


def spec_allowing(tmp_path: Path, registries: list[str] | None) -> Path:
    spec = yaml.safe_load((ROOT / "specs" / "lab4.yaml").read_text(encoding="utf-8"))
    if registries is not None:
        spec["policy"] = {**(spec.get("policy") or {}), "registries": registries}
    path = tmp_path / "lab4-registry.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def grade(tmp_path: Path, submission: Path, spec: Path, *extra: str) -> dict:
    out = tmp_path / "report.json"
    proc = run_runner(str(submission), "--spec", str(spec), "--lang", "en", "--format", "json", "--out", str(out),
                      *extra, timeout=1200)
    assert out.exists(), f"no report (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(out.read_text())
    assert labelled_leftovers(report["run_id"]) == []
    return report


def local_tag(image: str) -> dict | None:
    client = docker.from_env()
    try:
        return client.images.get(image).attrs
    except docker.errors.ImageNotFound:
        return None
    finally:
        client.close()


@pytest.mark.docker
@pytest.mark.timeout(1500)
def test_an_image_from_an_allowed_registry_is_pulled_and_the_stack_gets_full_marks(tmp_path, local_registry,
                                                                                    registry_image):
    image = registry_image
    assert local_tag(image) is None
    report = grade(tmp_path, submission_using(tmp_path, image), spec_allowing(tmp_path, [local_registry]))
    lost = {f"{p['id']}.{c['id']}": c["message"] for p in report["parts"] for c in p["checks"]
            if c["status"] != "passed" and c.get("graded", True)}  # a fallback whose primary ran is not graded
    assert lost == {} and (report["score"], report["bonus_score"]) == (100, 10), (lost, report["problems"])
    pulled = local_tag(image)
    assert pulled is not None, "the grading ran the stack without pulling the image"
    assert any(d.startswith(f"{local_registry}/library/redis@sha256:") for d in pulled["RepoDigests"])


@pytest.mark.docker
def test_a_registry_on_the_graders_network_is_refused_unless_the_spec_allows_it(tmp_path, local_registry,
                                                                                registry_image):
    image = registry_image
    report = grade(tmp_path, submission_using(tmp_path, image), spec_allowing(tmp_path, None))
    said = " ".join(report["problems"])
    assert report["score"] == 0 and f"its registry {local_registry} is on the grading machine's own network" in said
    assert local_tag(image) is None  # refused before anything was pulled


@pytest.mark.docker
def test_pull_never_fails_at_the_pull_step_naming_the_image(tmp_path, local_registry, registry_image):
    image = registry_image
    report = grade(tmp_path, submission_using(tmp_path, image), spec_allowing(tmp_path, [local_registry]),
                   "--pull", "never")
    said = " ".join(report["problems"])
    assert f"image '{image}' is not on this machine, and pulling is off (--pull never)" in said, said
    assert report["score"] < 20 and local_tag(image) is None
