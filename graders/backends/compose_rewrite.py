"""Rewrite a normalised compose model before the grader starts it.

Pure: model in, model out. What it guarantees:
- every published port binds 127.0.0.1 on an ephemeral host port (no clash with the host
  or another grading), and the ports the grader probes are published even where the
  student did not publish them;
- a fixed `container_name` becomes unique per grading, the original name stays reachable
  as a network alias (nginx configs use it as a host name);
- built images get private per-grading tags, so `image: python:3.11-slim` beside `build:`
  never overwrites a base image on the host;
- labels on every service, network and volume, so leftovers can always be found;
- the grader's resource limits replace the student's.
"""

from __future__ import annotations

import copy
from typing import Any

from graders.backends.base import Limits

LABEL_RUN = "org.graders.run"
LABEL_TOOL = "org.graders.tool"


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
    service.setdefault("ulimits", {})["nofile"] = {"soft": limits.nofile, "hard": limits.nofile}
    security = [opt for opt in service.get("security_opt") or [] if "no-new-privileges" not in opt]
    service["security_opt"] = [*security, "no-new-privileges:true"]
    resources = (service.get("deploy") or {}).get("resources")
    if resources:  # the student's own limits would otherwise win over ours
        resources.pop("limits", None)
        resources.pop("reservations", None)


def _add_alias(service: dict[str, Any], alias: str) -> None:
    networks = service.get("networks") or {"default": None}
    for name, config in list(networks.items()):
        config = dict(config or {})
        config["aliases"] = sorted({*(config.get("aliases") or []), alias})
        networks[name] = config
    service["networks"] = networks


def rewrite_model(model: dict[str, Any], *, project: str, run_id: str, probe_ports: dict[str, list[int]],
                  limits: Limits) -> dict[str, Any]:
    out = copy.deepcopy(model)
    out["name"] = project
    labels = {LABEL_RUN: run_id, LABEL_TOOL: "lab4-grader"}
    for name, service in (out.get("services") or {}).items():
        service["labels"] = {**(service.get("labels") or {}), **labels}
        service["ports"] = _rewrite_ports(service, probe_ports.get(name, []))
        if not service["ports"]:
            del service["ports"]
        if service.get("container_name"):
            original = service["container_name"]
            service["container_name"] = f"{project}-{original}"
            _add_alias(service, original)
        if service.get("build"):
            service["image"] = private_image(project, name)
            build = service["build"]
            if isinstance(build, dict):
                build["labels"] = {**(build.get("labels") or {}), **labels}
        _apply_limits(service, limits)
    for section in ("networks", "volumes"):
        for name, item in (out.get(section) or {}).items():
            item = item or {}
            if not item.get("external"):
                item["labels"] = {**(item.get("labels") or {}), **labels}
            out[section][name] = item
    out.setdefault("networks", {}).setdefault("default", {"labels": labels})
    return out


def private_image(project: str, service: str) -> str:
    return f"{project}-{service}:graded"
