"""A compose file read without Docker, into the model `docker compose config --format json` gives.

yaml.safe_load does anchors and `<<:` merge keys; this adds what compose config normalises:
`${VAR:-default}` interpolation (.env and the environment), `x-` keys dropped, build as a
string or {context, dockerfile} (context made absolute), command/entrypoint as lists,
environment (and env_file) as a dict, depends_on as a dict with conditions, ports as
{target, published}, services in inactive profiles left out.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from graders.i18n import _


class ComposeError(Exception):
    """The compose file cannot be read as a compose model."""


_VAR = re.compile(r"\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_MODIFIER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$", re.S)


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `$VAR`, `$$`."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(1):
            return "$"
        if match.group(3):
            return variables.get(match.group(3), "")
        parsed = _MODIFIER.match(match.group(2))
        if not parsed:
            raise ComposeError(f"invalid interpolation format for {match.group(0)!r}")
        name, op, arg = parsed.group(1), parsed.group(2), parsed.group(3) or ""
        current = variables.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-"):
            return interpolate(arg, variables) if unset else current
        if op in (":?", "?"):
            if unset:
                raise ComposeError(f"required variable {name} is missing a value: {arg}")
            return current
        if op in (":+", "+"):
            return "" if unset else interpolate(arg, variables)
        return current or ""

    return _VAR.sub(one, value)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments, blank lines and `export ` skipped; quotes removed)."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key.strip()] = value
    return found


def words(value: Any) -> list[str]:
    """A command or entrypoint as compose normalises it: a string is split like a shell would."""
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        return shlex.split(str(value))
    except ValueError as exc:
        raise ComposeError(f"cannot split the command {value!r}: {exc}") from None


def _environment(value: Any, environ: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    items = value.items() if isinstance(value, dict) else (
        (entry.split("=", 1) if "=" in str(entry) else (entry, None)) for entry in value or [])
    for key, val in items:
        if val is None:
            if str(key) in environ:  # `- KEY` alone: taken from the grader's environment
                found[str(key)] = environ[str(key)]
            continue
        found[str(key)] = str(val).lower() if isinstance(val, bool) else str(val)
    return found


def parse_port(entry: Any) -> list[dict[str, Any]]:
    if isinstance(entry, dict):
        target = str(entry.get("target", ""))
        if not target.isdigit():
            raise ComposeError(f"a port has no numeric target: {entry}")
        port: dict[str, Any] = {"mode": entry.get("mode", "ingress"), "target": int(target),
                                "protocol": entry.get("protocol", "tcp")}
        if entry.get("published") not in (None, ""):
            port["published"] = str(entry["published"])
        return [port]
    text = str(entry)
    text, _sep, protocol = text.partition("/")
    published, _sep, target = text.rpartition(":")
    if "]" in published:  # [::1]:8000:8000
        published = published.rsplit("]", 1)[1].lstrip(":")
    elif published.count(":"):
        published = published.rsplit(":", 1)[1]
    targets = _port_range(target)
    publishes = _port_range(published) if published else []
    if not targets:
        raise ComposeError(f"cannot read the port {entry!r}")
    ports = []
    for n, t in enumerate(targets):
        port = {"mode": "ingress", "target": t, "protocol": protocol or "tcp"}
        if publishes:
            port["published"] = str(publishes[n] if n < len(publishes) else publishes[0])
        ports.append(port)
    return ports


def _port_range(text: str) -> list[int]:
    low, _sep, high = text.strip().partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        return []
    return list(range(int(low), int(high or low) + 1))[:100]


def normalise_service(name: str, raw: dict[str, Any], project_dir: Path,
                      environ: Mapping[str, str]) -> dict[str, Any]:
    service = {str(k): v for k, v in raw.items() if not str(k).startswith("x-")}
    build = service.get("build")
    if build is not None:
        spec = {"context": build} if isinstance(build, str) else dict(build)
        context = (project_dir / str(spec.get("context") or ".")).resolve()
        service["build"] = {**spec, "context": str(context), "dockerfile": str(spec.get("dockerfile") or "Dockerfile")}
    for key in ("command", "entrypoint"):
        if service.get(key) is None:
            service.pop(key, None)
        else:
            service[key] = words(service[key])
    env: dict[str, str] = {}
    env_files = service.pop("env_file", None)
    for entry in [env_files] if isinstance(env_files, (str, dict)) else env_files or []:
        path = entry.get("path") if isinstance(entry, dict) else entry
        file = project_dir / str(path)
        if file.is_file():
            env.update(read_env_file(file))
        elif not (isinstance(entry, dict) and entry.get("required") is False):
            raise ComposeError(f"service '{name}': env file {path} not found")
    env.update(_environment(service.get("environment"), environ))
    if env or "environment" in service:
        service["environment"] = env
    deps = service.get("depends_on")
    if deps is not None:
        if isinstance(deps, list):
            service["depends_on"] = {str(d): {"condition": "service_started", "required": True} for d in deps}
        elif isinstance(deps, dict):
            service["depends_on"] = {str(d): {"condition": "service_started", "required": True, **(v or {})}
                                     for d, v in deps.items()}
        else:
            raise ComposeError(f"service '{name}': depends_on must be a list or a mapping")
    if service.get("ports") is not None:
        service["ports"] = [p for entry in service["ports"] for p in parse_port(entry)]
    if service.get("expose") is not None:
        service["expose"] = [str(p) for p in service["expose"]]
    return service


def normalise_compose(raw: Any, project_dir: Path, environ: Mapping[str, str] | None = None,
                      ) -> tuple[dict[str, Any], list[str]]:
    """The compose model and notes (services left out by profiles)."""
    if environ is None:
        environ = dict(os.environ)
        dotenv = project_dir / ".env"
        if dotenv.is_file():
            environ = {**read_env_file(dotenv), **environ}
    if not isinstance(raw, dict):
        raise ComposeError("the compose file is not a mapping of top-level keys")
    raw = interpolate({k: v for k, v in raw.items() if not str(k).startswith("x-")}, environ)
    services = raw.get("services")
    if not isinstance(services, dict) or not services:
        raise ComposeError("the compose file defines no services")
    model: dict[str, Any] = {"name": str(raw.get("name") or project_dir.name), "services": {}}
    notes = []
    for name, service in services.items():
        if not isinstance(service, dict):
            raise ComposeError(f"service '{name}' must be a mapping")
        if service.get("profiles"):
            notes.append(_("service '{name}' is in profile(s) {profiles}: not started, as by compose", name=name,
                           profiles=service['profiles']))
            continue
        if not service.get("build") and not service.get("image"):
            raise ComposeError(f"service '{name}' has neither an image nor a build context specified")
        model["services"][str(name)] = normalise_service(str(name), service, project_dir, environ)
    for name, service in model["services"].items():
        for dep in service.get("depends_on") or {}:
            if dep not in model["services"]:
                raise ComposeError(f"service '{name}' depends on undefined service '{dep}'")
    return model, notes


def host_names(name: str, service: dict[str, Any]) -> list[str]:
    """Every name other containers reach `service` by: its name, container_name, hostname,
    network aliases."""
    found = [name]
    for key in ("container_name", "hostname"):
        if service.get(key):
            found.append(str(service[key]))
    networks = service.get("networks")
    if isinstance(networks, dict):
        for net in networks.values():
            if isinstance(net, dict):
                found += [str(a) for a in net.get("aliases") or []]
    return list(dict.fromkeys(found))


def start_order(services: dict[str, dict[str, Any]], kinds: dict[str, str]) -> list[str]:
    """The services in `kinds` (name -> "redis" or "built"), each after what it depends_on,
    redis first among equals. A cycle is broken where it closes (compose refuses those)."""
    deps = {name: [d for d in services[name].get("depends_on") or {} if d in kinds]
            for name in sorted(kinds, key=lambda n: kinds[n] != "redis")}
    while True:
        sorter = TopologicalSorter()
        for name, needed in deps.items():  # ready services come out in the order they were added
            sorter.add(name, *needed)
        try:
            return list(sorter.static_order())
        except CycleError as exc:
            closing, closed = exc.args[1][-2:]  # `closed` depends on `closing`: drop that edge
            deps[closed].remove(closing)
