"""Which service plays which role: students name their services freely.

Pure functions over the normalised compose model, so they are tested without Docker.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Mapping
from typing import Any

from graders.spec.model import RoleSpec


def _normalise(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def command_text(service: dict[str, Any]) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key)
        if isinstance(value, list):
            parts.append(shlex.join(str(v) for v in value))
        elif value:
            parts.append(str(value))
    return " ".join(parts)


def container_ports(service: dict[str, Any]) -> set[int]:
    found = set()
    for port in service.get("ports") or []:
        target = port.get("target") if isinstance(port, dict) else str(port).rsplit(":", 1)[-1].split("/")[0]
        if str(target).isdigit():
            found.add(int(target))
    for port in service.get("expose") or []:
        head = str(port).split("/")[0].split("-")[0]
        if head.isdigit():
            found.add(int(head))
    return found


def role_score(role: RoleSpec, name: str, service: dict[str, Any], image_cmd: str = "") -> int:
    """How strongly `service` looks like `role`; 0 means not at all."""
    if role.service:
        return 100 if name == role.service else 0
    command = (command_text(service) or image_cmd).lower()
    if any(fnmatch.fnmatch(command, pattern.lower()) for pattern in role.not_command):
        return 0
    score = 0
    if _normalise(name) in {_normalise(n) for n in role.names}:
        score += 4
    image = str(service.get("image") or "").lower()
    if image and not service.get("build") and any(fnmatch.fnmatch(image, p.lower()) for p in role.image):
        score += 5
    if command and any(fnmatch.fnmatch(command, p.lower()) for p in role.command):
        score += 3
    if role.port and role.port in container_ports(service):
        score += 2
    return score


def discover_roles(roles: dict[str, RoleSpec], services: dict[str, dict[str, Any]],
                   image_cmd: str | Mapping[str, str] = "") -> tuple[dict[str, str], list[str]]:
    """Assign each role its best service, each service to one role at most.

    `image_cmd` is what a built service's image runs when compose sets no command: one CMD for
    every built service, or each service's own (`graders.dockerfile.image_commands`).
    Returns the map and a list of roles nobody plays (optional roles left out).
    """
    def cmd_of(name: str, service: dict[str, Any]) -> str:
        if not service.get("build"):
            return ""
        return image_cmd if isinstance(image_cmd, str) else image_cmd.get(name, "")

    candidates = sorted(
        ((role_score(role, name, svc, cmd_of(name, svc)), order, role.name, name)
         for order, role in enumerate(roles.values()) for name, svc in services.items()),
        key=lambda c: (-c[0], c[1], c[3]),
    )
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for score, _order, role_name, service_name in candidates:
        if score > 0 and role_name not in mapping and service_name not in taken:
            mapping[role_name] = service_name
            taken.add(service_name)
    missing = [r.name for r in roles.values() if r.name not in mapping and not r.optional]
    return mapping, missing
