"""Walls the Docker backend puts around a grading beyond the compose rewrite (docs/policy.md):

- `compose config` runs in a throwaway container that sees only the submission, so no
  `include`, `env_file` or `extends` spelling can make it read a host file;
- writable folder binds become volumes filled with a copy (compose_rewrite.bind_volumes);
- Dockerfiles get their cache mounts made private to the build step, and no custom frontend;
- a host firewall keeps student bridges (compose_rewrite.BRIDGE_PREFIX) off the host's addresses;
- one cgroup parent caps all containers of a grading together;
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import docker
import docker.errors

from graders.backends.base import Limits
from graders.backends.docker.compose_rewrite import BRIDGE_PREFIX, LABEL_RUN, LABEL_TOOL
from graders.backends.process import CommandResult, run_command, scrubbed_env
from graders.dockerfile_syntax import directives, instructions, mount_options

SCRATCH_IMAGE = "lab4-grader/scratch:1"  # an empty image: containers that only hold a volume or a binary
PLUGIN_DIRS = ("~/.docker/cli-plugins", "/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
               "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")
VOLUME_OWNER = 1000  # the first user of a Linux desktop: binds there are the student's own files


# --- an empty image ------------------------------------------------------------------------

def scratch_image(client: docker.DockerClient) -> str:
    try:
        client.images.get(SCRATCH_IMAGE)
    except docker.errors.ImageNotFound:
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            for folder in ("tmp", "v"):
                info = tarfile.TarInfo(folder)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777
                tar.addfile(info)
        repository, tag = SCRATCH_IMAGE.split(":")
        client.api.import_image_from_data(data.getvalue(), repository=repository, tag=tag,
                                          changes=[f"LABEL {LABEL_TOOL}=lab4-grader"])
    return SCRATCH_IMAGE


# --- compose config, sandboxed ---------------------------------------------------------------

def compose_binary() -> Path | None:
    """The Compose v2 plugin's binary, when it is one static file a container can run."""
    folders = [os.path.join(os.environ["DOCKER_CONFIG"], "cli-plugins")] if os.environ.get("DOCKER_CONFIG") else []
    for folder in [*folders, *PLUGIN_DIRS]:
        path = Path(os.path.expanduser(folder)) / "docker-compose"
        if path.is_file():
            real = path.resolve()
            with open(real, "rb") as binary:
                head = binary.read(4096)
            if head.startswith(b"\x7fELF") and b"/lib64/ld-linux" not in head and b"/lib/ld-" not in head:
                return real
    return None


def sandboxed_config(client: docker.DockerClient, submission: Path, compose_file: Path, project: str,
                     run_id: str, timeout_s: float = 60) -> CommandResult | None:
    """`docker compose config --format json` inside a container with no network, no
    capabilities and only the submission (read-only, at its own path, so the paths in the
    output are the host's). None when no static compose binary is found (then the caller runs
    it on the host, behind the policy's pre-scan alone)."""
    binary = compose_binary()
    if binary is None:
        return None
    image = scratch_image(client)
    args = ["docker", "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--memory", "256m", "--pids-limit", "64", "--label",
            f"{LABEL_RUN}={run_id}", "-e", "HOME=/tmp", "-v", f"{binary}:/compose:ro",
            "-v", f"{submission}:{submission}:ro", "-w", str(submission), image,
            "/compose", "-f", str(compose_file), "--project-directory", str(submission), "-p", project,
            "config", "--format", "json"]
    return run_command(args, timeout=timeout_s, keep_stdout=True, env=scrubbed_env())


# --- folder binds as volumes ----------------------------------------------------------------

def fill_bind_volumes(client: docker.DockerClient, binds: dict[str, dict[str, str]], labels: dict[str, str]) -> None:
    """Create each volume and copy its folder in (owned by VOLUME_OWNER, writable by everyone,
    as a student's own files are on their machine)."""
    if not binds:
        return
    image = scratch_image(client)
    for bind in {b["volume"]: b for b in binds.values()}.values():
        client.volumes.create(name=bind["volume"], labels=labels)
        holder = client.containers.create(image, command=["/none"], labels=labels,
                                          volumes={bind["volume"]: {"bind": "/v", "mode": "rw"}})
        try:
            with tempfile.SpooledTemporaryFile(max_size=16 * 2**20) as archive:
                _tar_folder(Path(bind["source"]), archive)
                archive.seek(0)
                holder.put_archive("/v", archive)
        finally:
            holder.remove(force=True)


def _tar_folder(folder: Path, out) -> None:
    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = VOLUME_OWNER
        info.uname = info.gname = ""
        if not info.issym():
            info.mode |= 0o777 if info.isdir() else 0o666
        return info

    with tarfile.open(fileobj=out, mode="w") as tar:
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                tar.add(child, arcname=child.name, filter=owned)


# --- Dockerfiles ------------------------------------------------------------------------------

def contain_dockerfile(text: str) -> str:
    """A `# syntax=` directive would run a frontend image of the student's choosing inside the
    builder; a cache mount is shared by every build on the engine and outlives the grading.
    Both go: the builder's own frontend reads the file, and a cache mount becomes a tmpfs that
    lives as long as its RUN step (a cache is an optimisation, never the build's input). An
    instruction with a cache mount is written again on one line, as BuildKit would read it."""
    lines = text.splitlines()
    if "syntax" in directives(text):
        lines = ["#" if re.match(r"^\s*#\s*syntax\s*=", line, re.IGNORECASE) else line for line in lines]
    for step in reversed(instructions("\n".join(lines))):
        mounts = [mount_options(f[8:]) for f in step.flags if f.startswith("--mount=")]
        if step.keyword != "RUN" or not any(m["type"] == "cache" for m in mounts):
            continue
        flags = []
        for flag in step.flags:
            options = mount_options(flag[8:]) if flag.startswith("--mount=") else {}
            if options.get("type") == "cache":
                target = options.get("target") or options.get("dst") or options.get("destination", "")
                flag = f"--mount=type=tmpfs,target={target}"
            flags.append(shlex.quote(flag))
        lines[step.line - 1:step.end_line] = [f"RUN {' '.join(flags)} {step.rest}"]
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def contain_dockerfiles(model: dict[str, Any]) -> None:
    """Rewrite, in the private copy, every Dockerfile the stack builds (and inline ones in `model`)."""
    done: set[Path] = set()
    for service in (model.get("services") or {}).values():
        build = service.get("build")
        if not isinstance(build, dict):
            continue
        if build.get("dockerfile_inline"):
            build["dockerfile_inline"] = contain_dockerfile(str(build["dockerfile_inline"]))
            continue
        path = Path(str(build.get("context") or ".")) / str(build.get("dockerfile") or "Dockerfile")
        if path in done or not path.is_file() or path.is_symlink():
            continue
        done.add(path)
        text = path.read_text(encoding="utf-8", errors="replace")
        contained = contain_dockerfile(text)
        if contained != text:
            path.write_text(contained, encoding="utf-8")


# --- the host firewall ---------------------------------------------------------------------

_FIREWALL_READY = False


def ensure_host_firewall() -> str | None:
    """Student bridges may not open connections to the host itself (INPUT): a service that
    listens on 0.0.0.0, the bridge gateway, host-gateway. Replies to the grader's own probes
    still pass (conntrack), and traffic routed onwards (FORWARD: registries) is untouched.
    Returns a note when the rules cannot be put in place."""
    global _FIREWALL_READY
    if _FIREWALL_READY:
        return None
    if os.geteuid() != 0:
        return ("student containers can reach services listening on this host: the grader needs root to add its "
                "firewall rules (run it as root, or `python -m graders.testbed`)")
    notes = []
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            if tool == "iptables":
                return "student containers can reach services listening on this host: iptables is not installed"
            continue
        rules = [["-i", f"{BRIDGE_PREFIX}+", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
                 ["-i", f"{BRIDGE_PREFIX}+", "-j", "DROP"]]
        for position, rule in enumerate(rules, start=1):
            present = subprocess.run([tool, "-w", "-C", "INPUT", *rule], capture_output=True)
            if present.returncode != 0:
                added = subprocess.run([tool, "-w", "-I", "INPUT", str(position), *rule], capture_output=True,
                                       text=True)
                if added.returncode != 0 and tool == "iptables":
                    notes.append(f"student containers can reach services listening on this host: {tool} "
                                 f"refused the grader's rule ({added.stderr.strip()[:200]})")
    _FIREWALL_READY = not notes
    return notes[0] if notes else None


# --- one cgroup for a grading --------------------------------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _bytes(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    text = str(text).strip().lower().rstrip("b")
    return int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units else int(float(text))


def cgroup_name(run_id: str) -> str:
    return f"grader-{run_id}"


class GradingCgroup:
    """`cgroup_parent` for every container of a grading (its copies too), capped as a whole:
    twelve containers at 768 MB each may not add up to 9 GB. cgroupfs driver only (v1 or v2);
    elsewhere `note` says the per-container limits alone hold."""

    def __init__(self, run_id: str, limits: Limits, driver: str):
        self.name = cgroup_name(run_id)
        self.limits = limits
        self.note = ""
        self.made: list[Path] = []
        if driver != "cgroupfs":
            self.note = (f"no cap on the grading as a whole (Docker's cgroup driver is {driver}); each container "
                         f"is still capped")
        elif os.geteuid() != 0 or not os.access(CGROUP_ROOT, os.W_OK):
            self.note = "no cap on the grading as a whole (the grader cannot write cgroups); each container is capped"

    @property
    def parent(self) -> str | None:
        return None if self.note else f"/{self.name}"

    def create(self) -> None:
        if self.note:
            return
        memory, pids = _bytes(self.limits.total_memory), self.limits.total_pids
        quota = int(self.limits.total_cpus * 100_000)
        try:
            if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2: one tree
                (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                self._write(CGROUP_ROOT / self.name, {"memory.max": memory, "memory.swap.max": 0,
                                                      "pids.max": pids, "cpu.max": f"{quota} 100000"})
            else:
                self._write(CGROUP_ROOT / "memory" / self.name, {"memory.limit_in_bytes": memory})
                self._write(CGROUP_ROOT / "pids" / self.name, {"pids.max": pids})
                self._write(CGROUP_ROOT / "cpu" / self.name, {"cpu.cfs_period_us": 100_000,
                                                              "cpu.cfs_quota_us": quota})
        except OSError as exc:
            self.note = f"no cap on the grading as a whole ({exc.strerror or exc}); each container is capped"
            self.remove()

    def _write(self, folder: Path, values: dict[str, object]) -> None:
        folder.mkdir(exist_ok=True)
        self.made.append(folder)
        for key, value in values.items():
            path = folder / key
            if path.exists():
                path.write_text(str(value))

    def remove(self) -> None:
        """After the containers are gone."""
        remove_cgroups(self.name)
        self.made = []


def remove_cgroups(name: str) -> None:
    """Docker leaves a parent cgroup behind in every controller (v1), with its containers'
    empty ones inside: remove them, deepest first (a cgroup with processes stays)."""
    parents = [CGROUP_ROOT / name] if (CGROUP_ROOT / "cgroup.controllers").exists() else \
        [controller / name for controller in CGROUP_ROOT.iterdir() if controller.is_dir()]
    for folder in parents:
        if not folder.is_dir() or folder.is_symlink():
            continue
        for child in [c for c in folder.iterdir() if c.is_dir()]:
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            folder.rmdir()
