"""The Docker backend: a submission's Compose stack, built and run on a real engine.

All Docker plumbing lives here: compose CLI calls (with deadlines, via `run_command`)
and the engine API (docker SDK) for inspecting containers and reading their files.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors

from graders.backends.base import Limits, StackError, StackInfo
from graders.backends.docker import containment, netns
from graders.backends.docker.actions import StackActions
from graders.backends.docker.compose_rewrite import LABEL_RUN, LABEL_TOOL, bind_volumes, private_image, rewrite_model
from graders.backends.docker.events import watch_container_events
from graders.backends.docker.images import image_origin, pull_missing
from graders.backends.docker.support import (
    build_limit_notes,
    container_number,
    extra_labels,
    parse_docker_time,
    project_slug,
    quietly,
    read_container_file,
)
from graders.backends.exits import Exit, ExitWatch
from graders.backends.process import CommandResult, run_command, scrubbed_env
from graders.backends.readiness import port_answers, wait_answering
from graders.backends.runs import register_run, unregister_run
from graders.backends.stack_files import find_stack_files
from graders.i18n import _


def engine_available(timeout_s: float = 5) -> bool:
    try:
        client = docker.from_env(timeout=timeout_s)
        client.ping()
        client.close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no engine we can use"
        return False


class DockerBackend(StackActions):
    name = "docker"
    capabilities = frozenset({"docker"})

    def __init__(self, submission: Path, workdir: Path, *, limits: Limits | None = None,
                 build_timeout_s: float = 900, run_id: str | None = None, pull: str = "missing"):
        self.original = submission.resolve()
        # The stack runs from a private copy: bind mounts are writable, and grading must never
        # change the student's folder (inspect() makes the copy once the policy allows it).
        self.submission = self.original
        self.workdir = workdir
        self.limits = limits or Limits()
        self.build_timeout_s = build_timeout_s
        self.pull = pull  # "missing": pull the service images this engine lacks; "never"
        self.run_id = run_id or secrets.token_hex(4)
        self.project = f"grader-{project_slug(self.original.name)}-{self.run_id}"
        self.client = docker.from_env(timeout=60)
        self.notes: list[str] = []  # what the report should say about how this grading was contained
        self.cgroup: containment.GradingCgroup | None = None
        self.info: StackInfo | None = None
        self.model: dict[str, Any] = {}
        self.compose_path = self.workdir / "compose.grader.json"
        # (service, container port) -> published (host, port). A container started again gets a new
        # ephemeral port: every start, stop, scale and restore (and any start or death the engine
        # reports) drops the service's entries, so the next address() reads the port again.
        self._ports: dict[tuple[str, int], tuple[str, int]] = {}
        self._handed_out: dict[str, str] = {}  # "127.0.0.1:49153" -> "web:8000", for redact()
        self._ready: dict[str, tuple[int, bool]] = {}  # service -> (port, http): the probes start() got
        self.dirty = False  # a check stopped, started or scaled a service since the last restore
        self._stopped: set[str] = set()  # services a check stopped: restore() starts them again
        self._scaled: dict[str, int] = {}  # services a check scaled -> their replicas before
        self.exit_watch = ExitWatch()
        self._events = None  # the engine's event stream, read by a thread while the stack runs
        self.copy_of: DockerBackend | None = None  # set on a copy of the stack (make_copy)
        self.copy_name = ""
        self.start_only: list[str] = []  # services `up` starts (with their dependencies); [] = all
        self.copies: list[DockerBackend] = []  # torn down with this stack
        self.abandoned = False  # set from another thread: stop waiting for the start

    def abandon(self) -> None:
        self.abandoned = True

    def make_copy(self, name: str, services: list[str]) -> DockerBackend:
        """A second stack from the same built images and private folder, as its own compose
        project: only `services` start. Its exits go on the main stack's record."""
        twin = DockerBackend(self.original, self.workdir / f"copy-{name}", limits=self.limits,
                             build_timeout_s=self.build_timeout_s, run_id=self.run_id, pull="never")
        twin.project, twin.copy_of, twin.copy_name = f"{self.project}-{name}", self, name
        twin.submission, twin.info, twin.model = self.submission, self.info, self.model
        twin.compose_path = twin.workdir / "compose.grader.json"
        twin.exit_watch, twin.start_only, twin.cgroup = self.exit_watch, list(services), self.cgroup
        self.copies.append(twin)
        return twin

    # --- compose CLI ----------------------------------------------------------------------
    def _compose(self, *args: str, timeout: float = 120) -> CommandResult:
        # The scrubbed environment: compose fills `${VAR}`, valueless `environment` entries and
        # build args from its own, and the grader's (tokens, CI variables) must not reach them.
        return run_command(["docker", "compose", "-p", self.project, "-f", str(self.compose_path),
                            "--project-directory", str(self.submission), *args],
                           timeout=timeout, cwd=str(self.submission), env=scrubbed_env())

    def inspect(self) -> StackInfo:
        """The normalised model of the private copy. The policy (graders.policy) has passed the
        files before this runs, and judges the model this returns before anything is built."""
        if not self.submission.is_dir():
            raise StackError("find", _("{submission} is not a folder", submission=self.submission))
        self.submission = self._private_copy()
        found = find_stack_files(self.submission)
        compose_file, notes = found.compose_file, [*build_limit_notes(), *found.notes]
        if found.generated is not None:
            self.model = found.generated
        else:
            result = containment.sandboxed_config(self.client, self.submission, compose_file, self.project,
                                                  self.run_id)
            if result is None:
                notes.append("`docker compose config` ran on the host (no static compose binary to sandbox it): "
                             "the policy's pre-scan alone kept it from reading host files")
                result = run_command(["docker", "compose", "-f", str(compose_file), "--project-directory",
                                      str(self.submission), "-p", self.project, "config", "--format", "json"],
                                     timeout=60, cwd=str(self.submission), keep_stdout=True, env=scrubbed_env())
            if not result.ok:
                said = result.tail(15).replace(f"{self.submission}/", "").replace(str(self.submission), ".")
                last = next((line for line in reversed(said.splitlines()) if line.strip()), "")
                if "UTF-8" in last:
                    last += " (save the file as UTF-8)"
                raise StackError("compose-config", _("`docker compose config` rejects {name}: {last}",
                                                     name=compose_file.name, last=last),
                                 said)
            try:
                self.model = json.loads(result.stdout)
            except ValueError as exc:
                raise StackError("compose-config",
                                 _("could not read the normalised compose model: {exc}", exc=exc)) from None
        self.info = StackInfo(compose_file=compose_file.name if compose_file else None,
                              services=self.model.get("services") or {}, dockerfile=found.dockerfile, notes=notes,
                              model=self.model, root=self.submission)
        return self.info

    def image_origin(self, ref: str) -> str:
        """Where an image on this engine came from, for the policy's image rule."""
        return image_origin(self.client, ref)

    def prepare(self, probe_ports: dict[str, list[int]]) -> None:
        assert self.info is not None, "inspect() first"
        self.workdir.mkdir(parents=True, exist_ok=True)
        register_run(self.run_id)  # so `runner.py clean` knows this run is alive
        if self.copy_of is None:  # the copies share the private folder, the images and the cgroup
            containment.contain_dockerfiles(self.model)
            driver = self.client.info().get("CgroupDriver", "")
            self.cgroup = containment.GradingCgroup(self.run_id, self.limits, driver)
            self.cgroup.create()
            self.notes += [note for note in (self.cgroup.note, containment.ensure_host_firewall()) if note]
        labels = {**extra_labels(), LABEL_RUN: self.run_id, LABEL_TOOL: "lab4-grader"}
        rewritten = rewrite_model(self.model, project=self.project, run_id=self.run_id,
                                  probe_ports=probe_ports, limits=self.limits, submission=self.submission,
                                  extra_labels=extra_labels(), images_of=self.copy_of and self.copy_of.project,
                                  cgroup_parent=self.cgroup.parent if self.cgroup else None)
        containment.fill_bind_volumes(self.client, bind_volumes(self.model, self.submission, self.project), labels)
        self.compose_path.write_text(json.dumps(rewritten, indent=2))
        if self.copy_of is None and any(s.get("build") for s in rewritten["services"].values()):
            started = time.monotonic()
            result = self._compose("build", timeout=self.build_timeout_s)
            if not result.ok:
                why = "timed out" if result.timed_out else "failed"
                raise StackError("build", _("the image build {why}", why=why), result.tail(30))
            self._pull_missing(rewritten, self.build_timeout_s - (time.monotonic() - started))
        elif self.copy_of is None:
            self._pull_missing(rewritten, self.build_timeout_s)

    def _pull_missing(self, model: dict[str, Any], timeout_s: float) -> None:
        pull_missing(self.client, [s.get("image") for s in model["services"].values() if not s.get("build")],
                     timeout_s, never=self.pull == "never")

    def start(self, ready: dict[str, tuple[int, bool]], timeout_s: float) -> list[str]:
        """`up`, then wait until every port in `ready` answers (`ready` maps a service to its
        port and whether HTTP must answer there). A service in `ready` that exits fails the
        start; any other that exits is returned as a warning, and grading goes on."""
        self._ready = dict(ready)
        self._watch_exits()
        result = self._compose("up", "-d", "--no-build", "--pull", "never", *self.start_only, timeout=timeout_s)
        if not result.ok:
            raise StackError("start", _("`docker compose up` failed"), result.tail(20))
        deadline = time.monotonic() + timeout_s
        pending = dict(ready)
        while pending:
            if self.abandoned:
                raise StackError("start", _("given up: the grading ended before this stack was ready"))
            if exited := self._exited(set(pending)):
                service, message = exited[0]
                raise StackError("start", message, self.logs(service, 20))
            for service, (port, http) in list(pending.items()):
                try:
                    host, host_port = self.address(service, port)
                except StackError:  # no running container publishes it yet
                    continue
                if port_answers(host, host_port, http):
                    del pending[service]
            if pending and time.monotonic() > deadline:
                names = ", ".join(f"{s} (port {p})" for s, (p, _http) in pending.items())
                raise StackError("ready", _("no answer from {names} within {timeout_s} s", names=names,
                                            timeout_s=format(timeout_s, ".0f")),
                                 "\n\n".join(f"--- {s} ---\n{self.logs(s, 15)}" for s in pending))
            if pending:
                time.sleep(0.3)
        return [_("{message}; last log lines:\n{log}", message=message, log=self.logs(service, 10))
                for service, message in self._exited()]

    def _watch_exits(self) -> None:
        """Record every `die` of this project's containers; a start or a death also makes the
        service's published ports be read again."""
        def on_event(action: str, container_id: str, service: str, code: int | None) -> None:
            self._forget_ports(service)
            if action == "die":
                self.exit_watch.record(container_id, service, code, where=self.copy_name)

        self._events = watch_container_events(self.project, on_event, name=f"exits-{self.run_id}")

    def unexpected_exits(self, services: list[str] | None = None, everywhere: bool = False) -> list[Exit]:
        exits = self.exit_watch.unexpected(services)  # one record for the stack and its copies
        return exits if everywhere else [e for e in exits if e.where == self.copy_name]

    def _expect_exits(self, service: str | None = None) -> None:
        self.exit_watch.expect([c.id for c in self._containers(service, all_=False)])

    def _exited(self, among: set[str] | None = None) -> list[tuple[str, str]]:
        found = []
        # First to die first: a web that crashed is the cause of the nginx that followed it.
        for container in sorted(self._containers(), key=lambda c: c.attrs.get("State", {}).get("FinishedAt", "")):
            service = container.labels.get("com.docker.compose.service", container.name)
            if container.status in ("exited", "dead") and (among is None or service in among):
                code = container.attrs.get("State", {}).get("ExitCode")
                found.append((service, _("service '{service}' exited at start (exit code {code})", service=service,
                                         code=code)))
        return found

    def _private_copy(self) -> Path:
        target = self.workdir / "submission"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.original, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        return target

    # --- the running stack ----------------------------------------------------------------
    def _containers(self, service: str | None = None, all_: bool = True) -> list:
        labels = [f"com.docker.compose.project={self.project}"]
        if service:
            labels.append(f"com.docker.compose.service={service}")
        return self.client.containers.list(all=all_, filters={"label": labels})

    def address(self, service: str, port: int) -> tuple[str, int]:
        found = self._ports.get((service, port))  # one read: the event thread may drop the entry meanwhile
        if found is None:
            published = self._published(service, port)
            if not published:
                raise StackError("address", _("service '{service}' has no running container publishing port {port}",
                                              service=service, port=port))
            found = self._ports[(service, port)] = published[0]
        self._handed_out[f"{found[0]}:{found[1]}"] = f"{service}:{port}"
        return found

    def redact(self, text: str) -> str:
        """`text` as a student may read it: the service and its own port for every loopback
        address the grader picked, no grader project names in container names."""
        for address, name in list((self.copy_of or self)._handed_out.items()):
            text = text.replace(address, name)
        return re.sub(rf"{re.escape(self.project)}[-_]([\w.-]+?)[-_]\d+\b", r"\1",
                      text).replace(self.project, "")

    def _forget_ports(self, service: str) -> None:
        for key in [k for k in list(self._ports) if k[0] == service]:
            self._ports.pop(key, None)

    def _published(self, service: str, port: int) -> list[tuple[str, int]]:
        """Where each running container of the service publishes `port`, read now."""
        found = []
        for container in self._containers(service, all_=False):
            bindings = (container.attrs["NetworkSettings"].get("Ports") or {}).get(f"{port}/tcp") or []
            found += [("127.0.0.1", int(b["HostPort"])) for b in bindings[:1] if b.get("HostPort")]
        return found

    def wait_ready(self, service: str, timeout_s: float) -> str:
        probe = self._ready.get(service) or (self.copy_of._ready.get(service) if self.copy_of else None)
        if probe is None:
            return ""
        problem = wait_answering(service, probe[0], probe[1], lambda: self._published(service, probe[0]), timeout_s)
        self._forget_ports(service)
        return problem

    def read_file(self, service: str, path: str) -> bytes:
        """The file from every container of the service, joined (scaled workers each log)."""
        chunks = []
        containers = self._containers(service)
        if not containers:
            raise StackError("read", _("service '{service}' has no container", service=service))
        for container in containers:
            if (content := read_container_file(container, path, self.limits.file_cap_bytes)) is not None:
                chunks.append(content)
        if not chunks:
            raise FileNotFoundError(f"{path} does not exist in service '{service}'")
        return b"".join(chunks)

    def exec(self, service: str, command: list[str], timeout_s: float = 30) -> tuple[int, str]:
        result = self._compose("exec", "-T", service, *command, timeout=timeout_s)
        return result.returncode, result.output

    def logs(self, service: str, tail: int = 200) -> str:
        texts = []
        for container in self._containers(service):
            raw = container.logs(tail=tail, timestamps=False)[-self.limits.log_cap_bytes:]
            texts.append(raw.decode("utf-8", errors="replace"))
        return "\n".join(texts).rstrip()

    def service_states(self) -> dict[str, list[str]]:
        states: dict[str, list[str]] = {name: [] for name in self.model.get("services", {})}
        for container in self._containers():
            service = container.labels.get("com.docker.compose.service", "?")
            states.setdefault(service, []).append(container.status)
        return states

    def uptime_s(self, service: str) -> float | None:
        """Seconds the service's youngest running container has been up; None if none runs."""
        ages = []
        for container in self._containers(service, all_=False):
            started = container.attrs.get("State", {}).get("StartedAt", "")
            with contextlib.suppress(ValueError):
                ages.append(time.time() - parse_docker_time(started))
        return min(ages) if ages else None

    def can_enter_networks(self) -> bool:
        return netns.can_enter_networks()

    def network_entry(self, service: str) -> list[str]:
        """nsenter into the network namespace of the service's first running container."""
        if not self.can_enter_networks():
            raise StackError("browser", "this grader cannot enter the containers' network namespaces "
                                        "(it needs root, nsenter and the engine's PIDs)")
        for container in sorted(self._containers(service, all_=False), key=container_number):
            container.reload()
            if pid := netns.network_pid(container):
                return netns.entry_argv(pid)
        raise StackError("browser", _("service '{service}' has no running container to open a browser beside",
                                      service=service))

    def teardown(self) -> None:
        """Remove everything of this grading, even what compose lost track of."""
        self.exit_watch.close()
        if self._events is not None:
            with contextlib.suppress(Exception):
                self._events.close()
        with ThreadPoolExecutor(max_workers=len(self.copies) + 1) as pool:  # copies go down alongside
            copies_down = [pool.submit(twin.teardown) for twin in self.copies]
            if self.compose_path.exists():
                self._compose("down", "-v", "--remove-orphans", "-t", "0", timeout=120)  # graded: no grace needed
            for job in copies_down:
                with contextlib.suppress(Exception):  # the label sweep below gets what a copy left
                    job.result()
        if self.copy_of is not None:  # the images, the private folder and the run are the main's
            for container in self._containers():
                quietly(container.remove, force=True, v=True)
            self.client.close()
            return
        label = {"label": f"{LABEL_RUN}={self.run_id}"}
        for container in self.client.containers.list(all=True, filters=label):
            quietly(container.remove, force=True, v=True)
        for network in self.client.networks.list(filters=label):
            quietly(network.remove)
        for volume in self.client.volumes.list(filters=label):
            quietly(volume.remove, force=True)
        for name in (self.model.get("services") or {}):
            quietly(self.client.images.remove, private_image(self.project, name), force=True)
        if self.cgroup is not None:
            self.cgroup.remove()
        self.client.close()
        shutil.rmtree(self.workdir / "submission", ignore_errors=True)  # the private copy
        unregister_run(self.run_id)
