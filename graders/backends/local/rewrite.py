"""Addresses for the local backend, pure: a server's command bound to a service's loopback
address, service host names in settings made addresses, the private /etc/hosts, container
paths mapped to a process's copy of the image files."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

WILDCARD_HOSTS = {"0.0.0.0", "::", "[::]", "", "*"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
SERVERS = {"uvicorn": 8000, "gunicorn": 8000, "hypercorn": 8000, "daphne": 8000, "fastapi": 8000,
           "flask": 5000}


def map_host(host: str, outer: str, inner: str) -> str:
    """Where a bind address lands: every interface -> the service's address; the container's
    own loopback -> this grading's 'inner' address, which the grader never probes (as in
    Docker, where such a server cannot be reached from outside its container)."""
    if host in WILDCARD_HOSTS:
        return outer
    if host in LOOPBACK_HOSTS:
        return inner
    return host


def _server_at(argv: list[str]) -> tuple[str, int] | None:
    for i, word in enumerate(argv):
        base = os.path.basename(word)
        if base in SERVERS:
            if base in ("fastapi", "flask"):
                sub = next((w for w in argv[i + 1:] if not w.startswith("-")), "")
                if sub not in ("run", "dev"):
                    continue
            return base, i
        if word == "-m" and i + 1 < len(argv) and argv[i + 1] in SERVERS:
            return argv[i + 1], i + 1
    return None


def bind_argv(argv: list[str], outer: str, inner: str) -> tuple[list[str], list[int]]:
    """The command with its server's bind host mapped (see `map_host`) and the ports it
    listens on. A missing host gets the server's default (127.0.0.1: unreachable, as in
    Docker; `fastapi run`: every interface)."""
    if len(argv) >= 3 and os.path.basename(argv[0]) in ("sh", "bash", "ash", "dash") and argv[1] == "-c":
        script, ports = _bind_script(argv[2], outer, inner)
        return [*argv[:2], script, *argv[3:]], ports
    found = _server_at(argv)
    if found is None:
        return list(argv), []
    server, at = found
    head, args = list(argv[:at + 1]), list(argv[at + 1:])
    port = SERVERS[server]
    if server in ("gunicorn", "hypercorn"):
        rest, ports = _bind_gunicorn(args, outer, inner, port)
        return head + rest, ports
    default_host = "0.0.0.0" if server == "fastapi" and "run" in args else "127.0.0.1"
    host_flags = ("--host", "-h") if server == "flask" else ("--host",)
    port_flags = ("--port", "-p") if server in ("flask", "daphne") else ("--port",)
    if server == "daphne":
        host_flags = ("--bind", "-b")
    seen_host = False
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        flag, eq, value = word.partition("=")
        if flag in host_flags + port_flags and (eq or i + 1 < len(args)):
            value = value if eq else args[i + 1]
            if flag in host_flags:
                seen_host = True
                value = map_host(value, outer, inner)
            elif value.isdigit():
                port = int(value)
            out += [f"{flag}={value}"] if eq else [flag, value]
            i += 1 if eq else 2
            continue
        out.append(word)
        i += 1
    if not seen_host:
        out += [host_flags[0], map_host(default_host, outer, inner)]
    return head + out, [port]


def _bind_gunicorn(args: list[str], outer: str, inner: str, port: int) -> tuple[list[str], list[int]]:
    out: list[str] = []
    ports: list[int] = []
    i = 0

    def mapped(bind: str) -> str:
        if bind.startswith(("unix:", "fd://")):
            return bind
        if bind.startswith("["):  # [::]:8000
            host, _, number = bind[1:].partition("]")
            host, number = f"[{host}]", number.lstrip(":")
        elif ":" in bind:
            host, _, number = bind.rpartition(":")
        else:
            host, number = bind, ""
        ports.append(int(number) if number.isdigit() else port)
        return f"{map_host(host, outer, inner)}:{number or port}"

    while i < len(args):
        word = args[i]
        if word in ("-b", "--bind") and i + 1 < len(args):
            out += [word, mapped(args[i + 1])]
            i += 2
            continue
        if word.startswith("--bind="):
            out.append("--bind=" + mapped(word.split("=", 1)[1]))
        elif word.startswith("-b") and len(word) > 2:
            out.append("-b" + mapped(word[2:]))
        else:
            out.append(word)
        i += 1
    if not ports:
        out += ["--bind", f"{inner}:{port}"]
        ports.append(port)
    return out, ports


_SCRIPT_HOST = re.compile(r"(--host[= ]|-h )(0\.0\.0\.0|::|\[::\]|127\.0\.0\.1|localhost)(?=\s|$|;|&|\|)")
_SCRIPT_BIND = re.compile(r"(--bind[= ]|-b ?)(0\.0\.0\.0|\[::\]|127\.0\.0\.1|localhost)?:(\d+)")
_SCRIPT_PORT = re.compile(r"--port[= ](\d+)")


def _bind_script(script: str, outer: str, inner: str) -> tuple[str, list[int]]:
    """`sh -c '... uvicorn --host 0.0.0.0 ...'`: explicit hosts only (a missing one stays)."""
    script = _SCRIPT_HOST.sub(lambda m: m.group(1) + map_host(m.group(2), outer, inner), script)
    ports = [int(m.group(3)) for m in _SCRIPT_BIND.finditer(script)]
    script = _SCRIPT_BIND.sub(lambda m: f"{m.group(1)}{map_host(m.group(2) or '', outer, inner)}:{m.group(3)}",
                              script)
    ports += [int(p) for p in _SCRIPT_PORT.findall(script)]
    if not ports and _server_at(script.split()):
        ports.append(SERVERS[_server_at(script.split())[0]])
    return script, ports


_URL_HOST = re.compile(r"(?P<pre>[A-Za-z][\w+.-]*://(?:[^@/\s,]*@)?)(?P<host>[^:/\s,?#@\[\]]+)")
_HOST_PORT = re.compile(r"(?<![\w.@/-])(?P<host>[A-Za-z_][\w.-]*)(?=:\d+(?:$|[,/\s]))")


def rewrite_env_value(value: str, addresses: Mapping[str, str]) -> str:
    """Service names used as hosts in a setting: `redis://redis:6379/0`, `redis:6379`, `redis`
    (the whole value) -> the address of that service. Names compare case-insensitively."""
    lower = {k.lower(): v for k, v in addresses.items()}
    if value.strip().lower() in lower:
        return lower[value.strip().lower()]
    value = _URL_HOST.sub(lambda m: m.group("pre") + lower.get(m.group("host").lower(), m.group("host")), value)
    if "://" in value:
        return value
    return _HOST_PORT.sub(lambda m: lower.get(m.group("host").lower(), m.group("host")), value)


def hosts_text(names: Mapping[str, str], inner: str, original: str = "") -> str:
    """A hosts file: every service name -> its address; `localhost` -> the inner address
    (a container's own loopback); the machine's other entries kept when not shadowed."""
    taken = {n.lower() for n in names} | {"localhost", "ip6-localhost", "ip6-loopback"}
    lines = ["# written by lab4-grader's local backend for one grading (a private mount namespace)",
             f"{inner}\tlocalhost"]
    by_address: dict[str, list[str]] = {}
    for name, address in names.items():
        by_address.setdefault(address, []).append(name)
    lines += [f"{address}\t{' '.join(sorted(ns))}" for address, ns in by_address.items()]
    for line in original.splitlines():
        fields = line.split("#", 1)[0].split()
        kept = [f for f in fields[1:] if f.lower() not in taken]
        if fields and kept and ":" not in fields[0]:
            lines.append(f"{fields[0]}\t{' '.join(kept)}")
    return "\n".join(lines) + "\n"


def map_path_arg(arg: str, root: Path) -> str:
    """An absolute container path (`/app/worker.py`, `--app-dir=/app`) -> the same path
    under `root`, the service's copy of the image files, when that copy has it (or its folder)."""
    prefix, eq, path = arg.partition("=") if arg.startswith("-") else ("", "", arg)
    if not path.startswith("/") or path == "/":
        return arg
    local = root / path.lstrip("/")
    parent = os.path.dirname(path.rstrip("/"))
    if local.exists() or (parent != "/" and local.parent.is_dir()):
        return f"{prefix}{eq}{local}"
    return arg
