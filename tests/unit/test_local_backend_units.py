"""The local backend's pure parts, no processes: compose shapes, Dockerfile layout, command and
environment rewriting, hosts files, capped logs, restart policies, loopback blocks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from graders.backends.local.compose import ComposeError, host_names, interpolate, normalise_compose
from graders.backends.local.env import Venv, reserve_loopback
from graders.backends.local.image import DockerIgnore, build_image, parse_env
from graders.backends.local.launch import launch_built, plan_built, plan_redis, redis_env
from graders.backends.local.proc import CappedLog, Replica, restart_due
from graders.backends.local.rewrite import bind_argv, hosts_text, map_path_arg, rewrite_env_value

OUT, IN = "127.9.8.10", "127.9.8.1"


def compose(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> dict:
    model, _ = normalise_compose(yaml.safe_load(textwrap.dedent(text)), tmp_path, environ or {})
    return model["services"]


# --- compose shapes -------------------------------------------------------------------------

def test_build_command_environment_depends_on_and_ports_are_normalised(tmp_path):
    services = compose("""
        x-app: &app
          build: .
          environment: [REDIS_URL=redis://redis:6379/0, FROM_SHELL, MISSING]
          x-note: ignored
        services:
          web:
            <<: *app
            command: uvicorn main:app --host 0.0.0.0 --port "8000"
            depends_on: [redis]
            ports: ["8000:8000", "127.0.0.1:9000-9001:9000-9001/udp", 7000, {target: 80, published: 8080}]
          worker:
            <<: *app
            build: {context: sub, dockerfile: Worker.Dockerfile}
            entrypoint: ["python"]
            command: ["worker.py"]
            environment: {DEBUG: true, N: 3, EMPTY: null}
            depends_on: {redis: {condition: service_healthy}}
          redis: {image: "redis:7-alpine"}
    """, tmp_path, {"FROM_SHELL": "yes"})
    web, worker = services["web"], services["worker"]
    assert web["build"] == {"context": str(tmp_path), "dockerfile": "Dockerfile"}
    assert web["command"] == ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"]
    assert web["environment"] == {"REDIS_URL": "redis://redis:6379/0", "FROM_SHELL": "yes"}
    assert web["depends_on"] == {"redis": {"condition": "service_started", "required": True}}
    assert [(p["target"], p.get("published"), p["protocol"]) for p in web["ports"]] == [
        (8000, "8000", "tcp"), (9000, "9000", "udp"), (9001, "9001", "udp"), (7000, None, "tcp"), (80, "8080", "tcp")]
    assert "x-note" not in web
    assert worker["build"] == {"context": str(tmp_path / "sub"), "dockerfile": "Worker.Dockerfile"}
    assert worker["entrypoint"] == ["python"] and worker["command"] == ["worker.py"]
    assert worker["environment"] == {"DEBUG": "true", "N": "3"}
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"


def test_interpolation_env_file_and_profiles(tmp_path):
    (tmp_path / "web.env").write_text("# comment\nexport A=1\nB='two words'\n")
    model, notes = normalise_compose(yaml.safe_load(textwrap.dedent("""
        services:
          web:
            image: "app:${TAG:-latest}"
            env_file: web.env
            environment: {B: override, PRICE: "$$5", HOST: "${HOST}"}
          debug: {image: busybox, profiles: [debug]}
    """)), tmp_path, {"HOST": "example"})
    web = model["services"]["web"]
    assert web["image"] == "app:latest"
    assert web["environment"] == {"A": "1", "B": "override", "PRICE": "$5", "HOST": "example"}
    assert "debug" not in model["services"] and "profile" in notes[0]
    assert interpolate("${X:-a}-${X-b}-${Y:+set}", {"X": "", "Y": "1"}) == "a--set"
    with pytest.raises(ComposeError, match="required"):
        interpolate("${NEED:?set it}", {})


@pytest.mark.parametrize("text, error", [
    ("[1, 2]", "not a mapping"),
    ("services: {}", "no services"),
    ("services: {web: {command: x}}", "neither an image nor a build"),
    ("services: {web: {image: x, depends_on: [db]}}", "undefined service 'db'"),
    ("services: {web: {image: x, env_file: nope.env}}", "not found"),
])
def test_malformed_compose_files_are_refused(tmp_path, text, error):
    with pytest.raises(ComposeError, match=error):
        normalise_compose(yaml.safe_load(text), tmp_path, {})


def test_host_names_include_container_name_hostname_and_aliases():
    service = {"container_name": "my-redis", "hostname": "cache", "networks": {"default": {"aliases": ["kv"]}}}
    assert host_names("redis", service) == ["redis", "my-redis", "cache", "kv"]


# --- commands -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, expected, ports", [
    (["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"],
     ["uvicorn", "main:app", "--host", OUT, "--port", "8000"], [8000]),
    (["uvicorn", "main:app", "--host=0.0.0.0", "--port=9000"], ["uvicorn", "main:app", f"--host={OUT}", "--port=9000"],
     [9000]),
    (["uvicorn", "main:app"], ["uvicorn", "main:app", "--host", IN], [8000]),  # 127.0.0.1: unreachable, as in Docker
    (["uvicorn", "main:app", "--host", "127.0.0.1"], ["uvicorn", "main:app", "--host", IN], [8000]),
    (["uvicorn", "main:app", "--host", "10.1.2.3"], ["uvicorn", "main:app", "--host", "10.1.2.3"], [8000]),
    (["python", "-m", "uvicorn", "main:app", "--host", "::"], ["python", "-m", "uvicorn", "main:app", "--host", OUT],
     [8000]),
    (["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-b", "0.0.0.0:8000", "main:app"],
     ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-b", f"{OUT}:8000", "main:app"], [8000]),
    (["gunicorn", "--bind=:5000", "main:app"], ["gunicorn", f"--bind={OUT}:5000", "main:app"], [5000]),
    (["gunicorn", "main:app"], ["gunicorn", "main:app", "--bind", f"{IN}:8000"], [8000]),
    (["fastapi", "run", "main.py"], ["fastapi", "run", "main.py", "--host", OUT], [8000]),
    (["flask", "run", "-h", "0.0.0.0", "-p", "5001"], ["flask", "run", "-h", OUT, "-p", "5001"], [5001]),
    (["python", "worker.py"], ["python", "worker.py"], []),
    (["celery", "-A", "app.celery_app.celery", "worker"], ["celery", "-A", "app.celery_app.celery", "worker"], []),
    (["sh", "-c", "python migrate.py && exec uvicorn main:app --host 0.0.0.0 --port 8000"],
     ["sh", "-c", f"python migrate.py && exec uvicorn main:app --host {OUT} --port 8000"], [8000]),
])
def test_servers_are_bound_to_the_service_address(argv, expected, ports):
    assert bind_argv(argv, OUT, IN) == (expected, ports)


@pytest.mark.parametrize("value, expected", [
    ("redis://redis:6379/0", f"redis://{OUT}:6379/0"),
    ("redis://:secret@Redis:6379/1", f"redis://:secret@{OUT}:6379/1"),
    ("redis", OUT),
    ("redis:6379", f"{OUT}:6379"),
    ("redis:6379,web:8000", f"{OUT}:6379,{IN}:8000"),
    ("http://web:8000/api", f"http://{IN}:8000/api"),
    ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    ("myredis", "myredis"),
    ("use redis for the queue", "use redis for the queue"),
    ("/app/log.txt", "/app/log.txt"),
])
def test_service_host_names_in_settings_become_addresses(value, expected):
    assert rewrite_env_value(value, {"redis": OUT, "web": IN}) == expected


def test_hosts_file_maps_names_and_keeps_unshadowed_entries():
    text = hosts_text({"redis": OUT, "cache": OUT, "web": "127.9.8.11"}, IN,
                      "127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.0.0.5 box redis # old\n")
    lines = [line.split() for line in text.splitlines() if not line.startswith("#")]
    assert [IN, "localhost"] in lines and [OUT, "cache", "redis"] in lines and ["127.9.8.11", "web"] in lines
    assert ["10.0.0.5", "box"] in lines and not any(line[0] == "127.0.0.1" for line in lines)


def test_container_paths_map_to_the_replica_files(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "worker.py").write_text("")
    assert map_path_arg("/app/worker.py", tmp_path) == str(tmp_path / "app" / "worker.py")
    assert map_path_arg("/app/log.txt", tmp_path) == str(tmp_path / "app" / "log.txt")  # its folder exists
    assert map_path_arg("--app-dir=/app", tmp_path) == f"--app-dir={tmp_path / 'app'}"
    assert map_path_arg("/tmp/x.txt", tmp_path) == "/tmp/x.txt"
    assert map_path_arg("main:app", tmp_path) == "main:app"


def test_redis_command_options_pass_through_except_the_grader_s():
    notes: list[str] = []
    argv, ports = plan_redis("redis", {"command": ["redis-server", "--appendonly", "yes", "--port", "6380",
                                                   "--bind", "0.0.0.0"]}, "/bin/redis-server", notes)
    assert argv == ["/bin/redis-server", "--appendonly", "yes"] and ports == [6380]
    argv, ports = plan_redis("redis", {"command": ["--save", "60", "1"]}, "rs", notes)
    assert argv == ["rs", "--save", "60", "1"] and ports == [6379]
    assert plan_redis("redis", {"command": ["sh", "-c", "x"]}, "rs", notes)[0] == ["rs"] and notes
    assert redis_env(OUT, 6379)["CELERY_BROKER_URL"] == f"redis://{OUT}:6379/0"


# --- images ---------------------------------------------------------------------------------

def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


def test_dockerfile_copies_workdir_env_and_requirements(tmp_path):
    ctx = tmp_path / "ctx"
    write(ctx, {
        "Dockerfile": """
            ARG BASE=3.11
            FROM python:${BASE}-slim AS deps
            WORKDIR /build
            COPY reqs/ ./reqs/
            RUN pip install --no-cache-dir -r reqs/main.txt && pip install -U pip "httpx>=0.27"
            FROM deps
            ENV APP_HOME=/srv/app LOG_FILE="/srv/app/log.txt"
            ENV LEGACY some value
            WORKDIR $APP_HOME
            COPY src/ .
            COPY top.py extra.cfg ./conf/
            COPY --from=deps /build/reqs/main.txt /opt/
            RUN mkdir -p /srv/app/data
            ENTRYPOINT ["python"]
            CMD exec ./server.py
        """,
        "reqs/main.txt": "fastapi==1.0  # pinned\n-r more.txt\n-e ./local\n",
        "reqs/more.txt": "redis\n",
        "src/server.py": "", "src/pkg/__init__.py": "", "src/secret.env": "", "src/keep.env": "",
        "src/__pycache__/x.pyc": "", "top.py": "", "extra.cfg": "",
        ".dockerignore": "**/*.env\n!src/keep.env\n",
    })
    image = build_image(ctx, ctx / "Dockerfile", tmp_path / "out")
    files = sorted(p.relative_to(image.root).as_posix() for p in image.root.rglob("*") if p.is_file())
    assert files == ["build/reqs/main.txt", "build/reqs/more.txt", "opt/main.txt", "srv/app/conf/extra.cfg",
                     "srv/app/conf/top.py", "srv/app/keep.env", "srv/app/pkg/__init__.py", "srv/app/server.py"]
    assert (image.root / "srv/app/data").is_dir()
    assert image.workdir == "/srv/app" and image.base == "python:3.11-slim"
    assert image.env == {"APP_HOME": "/srv/app", "LOG_FILE": "/srv/app/log.txt", "LEGACY": "some value"}
    assert image.entrypoint == ["python"] and image.cmd == ["/bin/sh", "-c", "exec ./server.py"]
    assert image.requirements == ["fastapi==1.0", "redis", "httpx>=0.27"]
    assert any("./local" in n for n in image.notes)


def test_a_file_copy_to_a_name_and_no_pip_falls_back_to_requirements_txt(tmp_path):
    write(tmp_path, {"Dockerfile": "FROM python:3.12\nCOPY app.py /code/main.py\nCOPY --from=nginx:alpine /x /y\n",
                     "app.py": "", "requirements.txt": "celery\n"})
    image = build_image(tmp_path, tmp_path / "Dockerfile", tmp_path / "out")
    assert (image.root / "code" / "main.py").is_file() and image.workdir == "/"
    assert image.requirements == ["celery"] and image.cmd is None
    assert any("--from=nginx:alpine" in n for n in image.notes) and any("requirements.txt" in n for n in image.notes)


def test_dockerignore_semantics():
    ignore = DockerIgnore(["*.md", "!README.md", "docs", "**/secret*", "/log.txt"])
    assert ignore.excluded("notes.md") and not ignore.excluded("README.md")
    assert ignore.excluded("docs/a/b.txt") and ignore.excluded("a/b/secret.key") and ignore.excluded("log.txt")
    assert not ignore.excluded("sub/log.txt") and ignore.excluded(".git/config") and not ignore.excluded("main.py")
    assert parse_env('A=1 B="x y"') == {"A": "1", "B": "x y"} and parse_env("K v w") == {"K": "v w"}


def test_compose_command_and_entrypoint_override_the_image(tmp_path):
    write(tmp_path, {"Dockerfile": 'FROM python:3.11\nENTRYPOINT ["tini", "--"]\nCMD ["uvicorn", "main:app"]\n'})
    image = build_image(tmp_path, tmp_path / "Dockerfile", tmp_path / "out")
    notes: list[str] = []
    assert plan_built("w", {}, image, notes)[0] == ["tini", "--", "uvicorn", "main:app"]
    assert plan_built("w", {"command": ["python", "w.py"]}, image, notes)[0] == ["tini", "--", "python", "w.py"]
    assert plan_built("w", {"entrypoint": ["sh"]}, image, notes)[0] == ["sh"]  # compose entrypoint drops CMD
    argv, ports = plan_built("w", {"ports": [{"target": 8001}]}, image, notes)
    assert ports == [8000, 8001]


def test_environment_precedence_and_path(tmp_path):
    write(tmp_path, {"Dockerfile": "FROM python:3.11\nENV REDIS_HOST=redis MODE=image PATH=/opt/bin:$PATH\n"})
    image = build_image(tmp_path, tmp_path / "Dockerfile", tmp_path / "out")
    venv = Venv(tmp_path / "venv", reused=True, seconds=0)
    launch = launch_built("web", {"environment": {"MODE": "compose", "REDIS_URL": "redis://redis:6379/2"},
                                  "working_dir": "sub"}, ["uvicorn", "m:app", "--host", "0.0.0.0"], [8000],
                          image=image, venv=venv, address=OUT, inner=IN, addresses={"redis": "127.9.8.12"},
                          redis=redis_env("127.9.8.12", 6379), run_id="abc")
    env = launch.env
    assert env["MODE"] == "compose" and env["REDIS_HOST"] == "127.9.8.12"
    assert env["REDIS_URL"] == "redis://127.9.8.12:6379/2" and env["CELERY_BROKER_URL"].endswith(":6379/0")
    assert env["PATH"].split(":")[:2] == [str(venv.bin), "/opt/bin"] and env["LAB4_GRADER_RUN"] == "abc"
    assert launch.argv == ["uvicorn", "m:app", "--host", OUT] and launch.workdir == "/sub"


# --- processes, without processes ------------------------------------------------------------

def test_the_log_keeps_only_the_last_bytes(tmp_path):
    log = CappedLog(tmp_path / "x.log", cap=1000)
    for n in range(2000):
        log.write(f"line {n}\n".encode())
        assert log.path.stat().st_size <= 2000 + 20
    assert log.tail(2) == "line 1998\nline 1999"
    assert log.path.read_text().startswith("[... earlier output cut")


class FakeProc:
    def __init__(self, code: int | None):
        self.code = code

    def poll(self) -> int | None:
        return self.code


@pytest.mark.parametrize("policy, code, restarts", [("always", 0, True), ("unless-stopped", 0, True),
                                                     ("on-failure", 0, False), ("on-failure", 3, True),
                                                     ("on-failure:1", 3, False), ("no", 1, False)])
def test_restart_policies(tmp_path, policy, code, restarts):
    replica = Replica("w", 0, tmp_path, tmp_path, CappedLog(tmp_path / "l", 100), policy=policy,
                      proc=FakeProc(code), restarts=1 if policy.endswith(":1") else 0, started_at=100.0)
    assert replica.state() == ("restarting" if restarts else "exited")
    assert restart_due(replica, 101.0) is False  # the first look only schedules it
    assert restart_due(replica, 101.05) is False
    assert restart_due(replica, 200.0) is restarts
    replica.stopped, replica.restart_at = True, 0.0
    assert replica.state() == "exited" and not restart_due(replica, 300.0)


def test_loopback_blocks_are_distinct_and_released():
    first, second = reserve_loopback([(0, 8000), (1, 6379)]), reserve_loopback([(0, 8000)])
    try:
        assert first.prefix != second.prefix and not first.prefix.startswith("127.0.")
        assert first.address(0).endswith(".10") and first.inner.endswith(".1") and first.lock.exists()
    finally:
        first.release()
        second.release()
    assert not first.lock.exists()


def test_services_start_after_what_they_depend_on_with_redis_first():
    from graders.backends.local.compose import start_order

    services = {"web": {"depends_on": {"redis": {}}}, "worker": {"depends_on": ["web"]}, "redis": {},
                "nginx": {"depends_on": {"web": {}}}}
    order = start_order(services, {"web": "built", "worker": "built", "redis": "redis", "nginx": "built"})
    assert order[0] == "redis" and order.index("web") < order.index("worker")
    assert order.index("web") < order.index("nginx") and sorted(order) == sorted(services)


def test_a_dependency_cycle_does_not_hang_the_start_order():
    from graders.backends.local.compose import start_order

    services = {"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}}
    assert sorted(start_order(services, {"a": "built", "b": "built"})) == ["a", "b"]
