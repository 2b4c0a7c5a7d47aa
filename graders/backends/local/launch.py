"""How each service is started locally: its command (the image's CMD/ENTRYPOINT or compose's,
its server bound to the service's loopback address), its environment (the image's ENV, then
compose's, with service host names made addresses, and REDIS_URL and friends), its WORKDIR."""

from __future__ import annotations

import os
import posixpath
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.backends.base import StackError
from graders.backends.discovery import container_ports
from graders.backends.local.env import Venv
from graders.backends.local.image import Image, ImageError, build_image
from graders.backends.local.rewrite import bind_argv, map_path_arg, rewrite_env_value
from graders.i18n import _

RUN_ENV = "LAB4_GRADER_RUN"  # in every service's environment: finds leftovers in /proc
REDIS_OVERRIDDEN = {"--bind", "--port", "--dir", "--daemonize", "--logfile", "--protected-mode", "--unixsocket"}


@dataclass
class Launch:
    kind: str  # "built" | "redis"
    argv: list[str]
    env: dict[str, str]
    workdir: str  # in the container; the replica's cwd is this under its root
    address: str
    ports: list[int]
    image: Image | None = None
    restart: str = "no"


def plan_redis(name: str, service: dict[str, Any], redis_bin: str, notes: list[str]) -> tuple[list[str], list[int]]:
    """redis-server with the compose command's options (the redis image passes `redis-server
    ARGS` or bare `--option`s on); the grader sets bind, port, dir, daemonize."""
    args = list(service.get("command") or [])
    if args and os.path.basename(args[0]) == "redis-server":
        args = args[1:]
    elif args and not args[0].startswith("-"):
        notes.append(_("{name}: the redis command {args} is not understood; ran plain redis-server", name=name,
                       args=args))
        args = []
    if args and not args[0].startswith("-"):
        args = args[1:]  # a config file inside the image
    port = option(args, "--port")
    return [redis_bin, *drop_options(args, REDIS_OVERRIDDEN)], [int(port) if port and port.isdigit() else 6379]


def plan_built(name: str, service: dict[str, Any], image: Image, notes: list[str]) -> tuple[list[str], list[int]]:
    """The command as Docker would run it (compose entrypoint/command over the image's), and
    the ports it listens on."""
    entrypoint = service.get("entrypoint", image.entrypoint)
    command = service.get("command", None if "entrypoint" in service else image.cmd)
    argv = [*(entrypoint or []), *(command or [])]
    if not argv:
        notes.append(_("{name}: no CMD, ENTRYPOINT or command: ran `python`, as a python base image would", name=name))
        argv = ["python"]
    _argv, ports = bind_argv(argv, "0.0.0.0", "0.0.0.0")
    return argv, sorted(set(ports) | container_ports(service))


def redis_env(address: str, port: int) -> dict[str, str]:
    url = f"redis://{address}:{port}/0"
    return {"REDIS_URL": url, "REDIS_HOST": address, "REDIS_PORT": str(port), "CELERY_BROKER_URL": url,
            "CELERY_RESULT_BACKEND": url, "BROKER_URL": url}


def base_env(name: str, run_id: str, venv: Venv | None = None) -> dict[str, str]:
    env = {"PATH": ":".join(host_path()), "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
           "HOSTNAME": name, "PYTHONUNBUFFERED": "1", RUN_ENV: run_id}
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv.path)
    return env


def launch_redis(name: str, argv: list[str], ports: list[int], address: str, run_id: str,
                 service: dict[str, Any]) -> Launch:
    argv = [*argv, "--bind", address, "--port", str(ports[0]), "--daemonize", "no", "--protected-mode", "no"]
    return Launch("redis", argv, base_env(name, run_id), "/data", address, ports,
                  restart=str(service.get("restart") or "no"))


def launch_built(name: str, service: dict[str, Any], argv: list[str], ports: list[int], *, image: Image, venv: Venv,
                 address: str, inner: str, addresses: dict[str, str], redis: dict[str, str], run_id: str) -> Launch:
    """Environment precedence: the grader's base < REDIS_URL & co. < the image's ENV < compose's
    environment; values naming a service as a host point at its address; the venv leads PATH."""
    argv, _unused = bind_argv(argv, address, inner)
    env = {**base_env(name, run_id, venv), **redis}
    for source in (image.env, service.get("environment") or {}):
        env.update({k: rewrite_env_value(str(v), addresses) for k, v in source.items()})
    env["PATH"] = ":".join(p for p in dict.fromkeys([str(venv.bin), *env["PATH"].split(":"), *host_path()]) if p)
    workdir = posixpath.normpath(posixpath.join(image.workdir, service.get("working_dir") or "."))
    return Launch("built", argv, env, workdir, address, ports, image, str(service.get("restart") or "no"))


def host_path() -> list[str]:
    """The grader's PATH without virtual environments' bin folders and pyenv's: a command the
    submission's requirements lack must not be borrowed from the grader's Python."""
    return [p for p in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":")
            if p and not os.path.isfile(os.path.join(os.path.dirname(p), "pyvenv.cfg"))
            and "/.pyenv/" not in p + "/"]


def map_env(key: str, value: str, root: Path) -> str:
    """Container paths in a setting (LOG_FILE=/app/log.txt, PYTHONPATH=/app) -> the replica's."""
    if key.endswith("PATH") and ":" in value:
        return ":".join(map_path_arg(part, root) if part.startswith("/") else part for part in value.split(":"))
    return map_path_arg(value, root)


def build_args(build: dict[str, Any]) -> dict[str, str]:
    args = build.get("args") or {}
    if isinstance(args, list):
        args = dict(str(a).split("=", 1) for a in args if "=" in str(a))
    return {str(k): str(v) for k, v in args.items() if v is not None}


def option(args: list[str], name: str) -> str | None:
    for i, word in enumerate(args):
        if word == name and i + 1 < len(args):
            return args[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def drop_options(args: list[str], names: set[str]) -> list[str]:
    """Remove `--name value...` groups (an option runs until the next `--`)."""
    out, dropping = [], False
    for word in args:
        if word.startswith("--"):
            dropping = word.split("=", 1)[0] in names
        if not dropping:
            out.append(word)
    return out


def lay_out_images(services: dict[str, dict[str, Any]], root: Path) -> tuple[list[Image], dict[str, Image], list[str]]:
    """The files of each built service's image under `root`: one image per (context,
    Dockerfile, build args), as Docker's cache makes identical builds one. Returns the
    distinct images, each service's image, and notes for the report."""
    images: dict[tuple, Image] = {}
    of_service: dict[str, Image] = {}
    notes: list[str] = []
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    for name, service in services.items():
        build = service.get("build")
        if not build:
            continue
        args = build_args(build)
        key = (build["context"], build["dockerfile"], tuple(sorted(args.items())))
        if key not in images:
            context = Path(build["context"])
            try:
                images[key] = build_image(context, context / build["dockerfile"], root / str(len(images)), args)
            except (ImageError, OSError) as exc:
                raise StackError("build", _("could not lay out the image of '{name}': {exc}", name=name,
                                            exc=exc)) from None
            notes += [f"{name}: {note}" for note in images[key].notes]
            wanted = re.match(r"(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)", images[key].base)
            if wanted and wanted.group(1) != here:
                notes.append(_("{name}: the image is {base}; ran with this machine's Python {here}", name=name,
                               base=images[key].base, here=here))
        of_service[name] = images[key]
    return list(images.values()), of_service, notes
