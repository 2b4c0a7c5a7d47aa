"""Rewrite a normalised compose model before the grader starts it.

Pure: model in, model out. What it guarantees:
- every published port binds 127.0.0.1 on an ephemeral host port (no clash with the host
  or another grading), and the ports the grader probes are published even where the
  student did not publish them;
- a fixed `container_name` becomes unique per grading, the original name stays reachable
  as a network alias (nginx configs use it as a host name);
- built images get private per-grading tags, so `image: python:3.11-slim` beside `build:`
  never overwrites a base image on the host;
- labels on every service, network and volume, so leftovers can always be found; networks
  and volumes lose fixed names, so two stacks never share one;
- the grader's resource limits replace the student's, and every container of the grading
  shares one cgroup parent that caps them together;
- a writable bind of a folder becomes a volume holding a copy of it, so no container can
  change the submission's files and, with them, where later mounts point;
- valueless `environment` entries and build args (which compose fills from its own
  environment) are dropped;
- every bridge gets a name the host's firewall knows (`BRIDGE_PREFIX`), so student
  containers cannot reach services that listen on the host;
- containment (docs/policy.md), whatever the policy already refused: all capabilities
  dropped but a small fixed set, no privileged mode, devices, host namespaces or confinement
  switched off, bounded logs, no core dumps, crash loops capped, replicas capped, healthchecks
  no more often than once a second, the Docker socket never mounted, build tags that could
  overwrite a host image dropped.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from graders.backends.base import Limits

LABEL_RUN = "org.graders.run"
LABEL_TOOL = "org.graders.tool"

# What the official/stand-in images need: redis and nginx start as root and switch user,
# nginx binds port 80, entrypoints chown their data folders, apps signal their children.
# Docker's default set also has FSETID, MKNOD, NET_RAW, SETFCAP, SETPCAP, SYS_CHROOT, AUDIT_WRITE.
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID"]
LOGGING = {"driver": "json-file", "options": {"max-size": "1m", "max-file": "1"}}
MAX_RESTARTS = 3  # `restart: always` becomes on-failure:3 - a crash loop ends, a startup race still heals
MAX_REPLICAS = 3  # per service as the student wrote it; the grader's own `--scale` is not capped
MIN_HEALTHCHECK_INTERVAL_S = 1.0
# Removed from every service: the policy refuses them, and nothing of the lab needs them.
DROPPED_KEYS = ("privileged", "cap_add", "cap_drop", "devices", "device_cgroup_rules", "gpus", "cgroup_parent",
                "runtime", "oom_kill_disable", "oom_score_adj", "external_links", "cpu_count", "cpu_percent",
                "cpu_shares", "cpu_period", "cpu_quota", "cpu_rt_runtime", "cpu_rt_period", "cpuset",
                "blkio_config", "mem_reservation", "mem_swappiness", "storage_opt")
HOST_NAMESPACE_KEYS = ("pid", "ipc", "uts", "userns_mode", "cgroup")
BUILD_DROPPED_KEYS = ("tags", "ssh", "privileged", "entitlements", "cache_to")
BRIDGE_PREFIX = "grd"  # grd + 10 hex: under Linux's 15-character interface names
BIND_VOLUME_PREFIX = "grader-bind-"


def _rewrite_ports(service: dict[str, Any], probe: list[int]) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    for port in service.get("ports") or []:
        target = int(port["target"]) if isinstance(port, dict) else int(str(port).rsplit(":", 1)[-1].split("/")[0])
        protocol = port.get("protocol", "tcp") if isinstance(port, dict) else "tcp"
        if (target, protocol) not in seen:
            seen.add((target, protocol))
            ports.append({"target": target, "host_ip": "127.0.0.1", "protocol": protocol})
    for target in probe:
        if (target, "tcp") not in seen:
            seen.add((target, "tcp"))
            ports.append({"target": target, "host_ip": "127.0.0.1", "protocol": "tcp"})
    return ports


def _apply_limits(service: dict[str, Any], limits: Limits) -> None:
    service["mem_limit"] = limits.memory
    service["memswap_limit"] = limits.memory
    service["pids_limit"] = limits.pids
    service["cpus"] = limits.cpus
    ulimits = service.get("ulimits") if isinstance(service.get("ulimits"), dict) else {}
    ulimits["nofile"] = {"soft": limits.nofile, "hard": limits.nofile}
    ulimits["core"] = {"soft": 0, "hard": 0}  # no core dumps handed to the host's core_pattern
    service["ulimits"] = ulimits
    service["security_opt"] = ["no-new-privileges:true"]  # and nothing that switches confinement off
    if limits.runtime:
        service["runtime"] = limits.runtime
    resources = (service.get("deploy") or {}).get("resources")
    if resources:  # the student's own limits would otherwise win over ours
        resources.pop("limits", None)
        resources.pop("reservations", None)


def _contain(service: dict[str, Any], services: dict[str, Any], submission: Path | None) -> None:
    """Defence in depth: whatever the policy let through, the container gets no more."""
    for key in DROPPED_KEYS:
        service.pop(key, None)
    service["cap_drop"] = ["ALL"]
    service["cap_add"] = list(CAPABILITIES)
    for key in HOST_NAMESPACE_KEYS:
        value = str(service.get(key) or "")
        if value == "host" or value.startswith("container:") or (
                value.startswith("service:") and value[8:] not in services):
            service.pop(key)
    mode = str(service.get("network_mode") or "")
    if mode and mode != "none" and not (mode.startswith("service:") and mode[8:] in services):
        service.pop("network_mode")
    service["volumes_from"] = [v for v in service.get("volumes_from") or []
                               if not str(v).startswith("container:") and str(v).split(":")[0] in services]
    if not service["volumes_from"]:
        del service["volumes_from"]
    service["logging"] = copy.deepcopy(LOGGING)
    _drop_valueless(service, "environment")
    _cap_restart(service)
    _cap_replicas(service)
    _cap_healthcheck(service.get("healthcheck"))
    if service.get("volumes"):
        service["volumes"] = [v for v in (_safe_volume(v, submission) for v in service["volumes"]) if v]
    build = service.get("build")
    if isinstance(build, dict):
        _drop_valueless(build, "args")
        for key in BUILD_DROPPED_KEYS:
            build.pop(key, None)
        if build.get("network") not in (None, "default", "none"):
            build.pop("network")


def _drop_valueless(holder: dict[str, Any], key: str) -> None:
    """`environment: [TOKEN]` / `args: [TOKEN]` have no value: compose would fill it from the
    grader's own environment at `up` / `build`. In the normalised model they are None."""
    value = holder.get(key)
    if isinstance(value, dict):
        holder[key] = {k: v for k, v in value.items() if v is not None}
    elif isinstance(value, list):
        holder[key] = [item for item in value if "=" in str(item)]


def _safe_volume(volume: Any, submission: Path | None) -> Any:
    """None for a bind the grader never mounts: the Docker socket always, and, when the
    submission is known, any host path outside it. Mount propagation is dropped."""
    if not isinstance(volume, dict) or volume.get("type") != "bind":
        return volume
    source = str(volume.get("source") or "")
    real = os.path.realpath(source)
    if os.path.basename(source.rstrip("/")) == "docker.sock" or os.path.basename(real) == "docker.sock":
        return None
    if submission is not None:
        root = os.path.realpath(submission)
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            return None
    if isinstance(volume.get("bind"), dict):
        volume["bind"].pop("propagation", None)
    return volume


def _cap_restart(service: dict[str, Any]) -> None:
    """Keep the student's wish to be restarted, but not forever: always / unless-stopped /
    on-failure[:N] / deploy.restart_policy become on-failure:min(N, 3). A clean exit (0) is
    no longer restarted - a lab service must not exit at all."""
    deploy = service.get("deploy") or {}
    policy = deploy.pop("restart_policy", None) or {}
    restart = str(service.get("restart") or "")
    wanted, retries = False, MAX_RESTARTS
    if restart and restart != "no":
        wanted = True
        if restart.startswith("on-failure:") and restart.split(":", 1)[1].isdigit():
            retries = min(retries, int(restart.split(":", 1)[1]))
    elif not restart and policy.get("condition", "any") in ("any", "on-failure") and policy:
        wanted = True
        if str(policy.get("max_attempts", "")).isdigit():
            retries = min(retries, int(policy["max_attempts"]))
    if wanted and retries > 0:
        service["restart"] = f"on-failure:{retries}"
    else:
        service["restart"] = "no"


def _cap_replicas(service: dict[str, Any]) -> None:
    deploy = service.get("deploy") or {}
    for holder, key in ((deploy, "replicas"), (service, "scale")):
        value = holder.get(key)
        if value is not None and str(value).isdigit() and int(value) > MAX_REPLICAS:
            holder[key] = MAX_REPLICAS


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_s(text: Any) -> float | None:
    """A compose (Go) duration such as 1m30s or 500ms in seconds; None when unreadable."""
    if isinstance(text, (int, float)):
        return float(text) / 1e9  # the engine's unit: nanoseconds
    parts = _DURATION.findall(str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text).strip():
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _cap_healthcheck(healthcheck: Any) -> None:
    """Every healthcheck is an exec in the container; a 1 ms interval would load the engine."""
    if not isinstance(healthcheck, dict):
        return
    for key in ("interval", "start_interval"):
        if key in healthcheck:
            seconds = duration_s(healthcheck[key])
            if seconds is None or seconds < MIN_HEALTHCHECK_INTERVAL_S:
                healthcheck[key] = f"{MIN_HEALTHCHECK_INTERVAL_S:g}s"


def _add_alias(service: dict[str, Any], alias: str) -> None:
    networks = service.get("networks") or {"default": None}
    for name, config in list(networks.items()):
        config = dict(config or {})
        config["aliases"] = sorted({*(config.get("aliases") or []), alias})
        networks[name] = config
    service["networks"] = networks


def rewrite_model(model: dict[str, Any], *, project: str, run_id: str, probe_ports: dict[str, list[int]],
                  limits: Limits, submission: Path | None = None,
                  extra_labels: dict[str, str] | None = None, images_of: str | None = None,
                  cgroup_parent: str | None = None) -> dict[str, Any]:
    """`submission`, when given, also drops every bind of a host path outside it and turns
    writable folder binds into volumes (`bind_volumes`, filled by the backend). `images_of`
    names the project whose built images a copy of the stack runs (it builds nothing).
    `cgroup_parent` puts every container under the grading's shared cgroup."""
    out = copy.deepcopy(model)
    out["name"] = project
    labels = {**(extra_labels or {}), LABEL_RUN: run_id, LABEL_TOOL: "lab4-grader"}
    services = out.get("services") or {}
    binds = bind_volumes(model, submission, project) if submission is not None else {}
    built = built_images(model, images_of or project)
    for name, service in services.items():
        _contain(service, services, submission)
        service["labels"] = {**(service.get("labels") or {}), **labels}
        # A sidecar (`network_mode: service:web`) lives in another container's network: it may
        # have no networks, aliases or ports of its own (compose refuses them together).
        sidecar = bool(service.get("network_mode"))
        service["ports"] = [] if sidecar else _rewrite_ports(service, probe_ports.get(name, []))
        if not service["ports"]:
            del service["ports"]
        if service.get("container_name"):
            original = service["container_name"]
            service["container_name"] = f"{project}-{original}"
            if not sidecar:
                _add_alias(service, original)
        if binds:
            service["volumes"] = [_bind_as_volume(v, binds) for v in service.get("volumes") or []]
        if cgroup_parent:
            service["cgroup_parent"] = cgroup_parent
        if service.get("build"):
            service["image"] = private_image(images_of or project, name)
            build = service["build"]
            if isinstance(build, dict):
                build["labels"] = {**(build.get("labels") or {}), **labels}
        elif str(service.get("image") or "") in built:  # `image: myapp` that another service builds
            service["image"] = built[str(service["image"])]
        _apply_limits(service, limits)
    for section in ("networks", "volumes"):
        for name, item in (out.get(section) or {}).items():
            item = item or {}
            if not item.get("external"):
                item["labels"] = {**(item.get("labels") or {}), **labels}
                # A fixed name (`compose config` writes one for every network) would be shared by
                # two gradings, or by a stack and its copy: the project's own prefix keeps it private.
                item.pop("name", None)
            out[section][name] = item
    out.setdefault("networks", {}).setdefault("default", {"labels": labels})
    for key, network in out["networks"].items():
        if not network.get("external") and network.get("driver") in (None, "", "bridge"):
            network.setdefault("driver_opts", {})["com.docker.network.bridge.name"] = bridge_name(project, key)
    for volume in {v["volume"]: v for v in binds.values()}.values():
        out.setdefault("volumes", {})[volume["key"]] = {"external": True, "name": volume["volume"]}
    return out


def bridge_name(project: str, network: str) -> str:
    return BRIDGE_PREFIX + hashlib.sha256(f"{project}/{network}".encode()).hexdigest()[:10]


def _bind_source(volume: Any) -> str | None:
    """The host folder of a writable folder bind, resolved; None for anything else."""
    if not isinstance(volume, dict) or volume.get("type") != "bind" or volume.get("read_only"):
        return None
    source = os.path.realpath(str(volume.get("source") or ""))
    return source if not os.path.isfile(source) else None


def bind_volumes(model: dict[str, Any], submission: Path, project: str) -> dict[str, dict[str, str]]:
    """Writable binds of a folder of the submission, each -> the volume that replaces it:
    `{source: {"key": model key, "volume": engine name, "source": folder}}`. A container writing
    through a bind could swap a folder of the submission for a symlink to the host's `/`, which a
    later container creation (a restart, a replica, a copy of the stack) would mount; a volume
    holds a copy, and the submission itself is never mounted writable. Every bind of a folder
    that some service binds writable shares its volume, read-only ones included, so services
    still see each other's writes (a folder inside another bound folder gets a volume of its own)."""
    root = os.path.realpath(submission)
    sources = sorted({s for service in (model.get("services") or {}).values()
                      for s in map(_bind_source, service.get("volumes") or []) if s
                      and (s == root or s.startswith(root.rstrip("/") + "/"))})
    return {source: {"key": f"{BIND_VOLUME_PREFIX}{n}", "volume": f"{project}-bind-{n}", "source": source}
            for n, source in enumerate(sources, start=1)}


def _bind_as_volume(volume: Any, binds: dict[str, dict[str, str]]) -> Any:
    if not isinstance(volume, dict) or volume.get("type") != "bind":
        return volume
    mapped = binds.get(os.path.realpath(str(volume.get("source") or "")))
    if mapped is None:
        return volume
    replaced = {"type": "volume", "source": mapped["key"], "target": volume["target"]}
    if volume.get("read_only"):
        replaced["read_only"] = True
    return replaced


def built_images(model: dict[str, Any], project: str) -> dict[str, str]:
    """The `image:` names the stack's own builds take -> the private tag each build gets (the
    first service by name, when several build under one name)."""
    found: dict[str, str] = {}
    for name, service in sorted((model.get("services") or {}).items()):
        if service.get("build") and service.get("image"):
            found.setdefault(str(service["image"]), private_image(project, name))
    return found


def private_image(project: str, service: str) -> str:
    return f"{project}-{service}:graded"
