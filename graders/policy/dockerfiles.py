"""The policy's rules for Dockerfiles, read the way BuildKit reads them (graders/dockerfile_syntax.py):
size, RUN flags, and every image a build would read.

A build runs on the grader's engine, next to every image on it: the grader's own (specs and
hidden checks inside), other gradings' private images (other students' code), an instructor's
reference. So `FROM`, `COPY --from` and `RUN --mount=...,from=` may name only the Dockerfile's
own stages, or an image that is not the engine's own making (`judge_images`): this module lists
the references; where each came from is the engine's to say (the backend's `image_origin`).
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from graders.dockerfile_syntax import Instruction, expand, global_args, instructions, mount_options
from graders.i18n import _
from graders.policy.files import _inside

MAX_DOCKERFILE_BYTES = 1024 * 1024
RUN_FLAGS = ("mount", "network", "security")
MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret")  # ssh would lend the grader's agent


@dataclass(frozen=True)
class ImageRef:
    """An image a build reads: `where` names the service, file and line."""

    ref: str
    where: str


def read_dockerfile(path: Path, where: str, root: Path | None = None) -> tuple[str | None, list[str]]:
    """The text of a Dockerfile of the submission, or None with why not (one outside `root`
    is never read; a missing one is the build's failure to report, not a rule broken)."""
    if root is not None and not _inside(path, root):
        return None, []
    try:
        size = path.stat().st_size
    except OSError:
        return None, []
    if size > MAX_DOCKERFILE_BYTES:
        return None, [_("{where}: the Dockerfile is {value} KB, larger than the {value2} KB allowed", where=where,
                        value=size // 1024, value2=MAX_DOCKERFILE_BYTES // 1024)]
    return path.read_text(encoding="utf-8", errors="replace"), []


def check_dockerfile(text: str, where: str, build_args: dict[str, str] | None = None
                     ) -> tuple[list[str], list[ImageRef]]:
    """Violations of the RUN-flag rules, and the images the build would read."""
    found = instructions(text)
    values = global_args(found, build_args)
    stages: set[str] = set()
    problems: list[str] = []
    refs: list[ImageRef] = []

    def image(ref: str, at: str) -> None:
        name, missing = expand(ref, values)
        if missing:
            problems.append(_("{at}: '{ref}' uses ${missing}, which has no value; write the image name", at=at, ref=ref,
                              missing=missing[0]))
        elif name.lower() not in stages and not name.isdigit() and name.lower() != "scratch":
            refs.append(ImageRef(name, at))

    for step in found:
        at = _("{where}: Dockerfile line {line}", where=where, line=step.line)
        if step.keyword == "FROM":
            words = step.rest.split()
            if words:
                image(words[0], at)
            if len(words) >= 3 and words[-2].lower() == "as":
                stages.add(words[-1].lower())
        elif step.keyword in ("COPY", "ADD"):
            for source in step.flag_values("from"):
                image(source, at)
        elif step.keyword == "RUN":
            problems += _run_flags(step, at, image)
    return problems, refs


def _run_flags(step: Instruction, at: str, image) -> list[str]:
    problems = []
    for flag in step.flags:
        name, _eq, value = flag[2:].partition("=")
        if name not in RUN_FLAGS:
            problems.append(_("{at}: RUN {flag} is not allowed", at=at, flag=flag))
        elif name == "network" and value not in ("default", "none"):
            problems.append(_("{at}: RUN --network={value} is not allowed (a build step gets the default network)",
                              at=at, value=value))
        elif name == "security" and value != "sandbox":
            problems.append(_("{at}: RUN --security={value} is not allowed (it asks for a privileged build step)",
                              at=at, value=value))
        elif name == "mount":
            options = mount_options(value)
            if options["type"] not in MOUNT_TYPES:
                problems.append(_("{at}: RUN --mount type={type} is not allowed", at=at, type=options['type']))
            elif options.get("from"):
                image(options["from"], at)
    return problems


# What an engine says of an image it is asked about (the Docker backend's `image_origin`).
ORIGIN_ABSENT = "absent"  # not on the engine: it will be pulled from a registry
ORIGIN_REGISTRY = "registry"  # on the engine, pulled from a registry (it has a repo digest)
ORIGIN_STANDIN = "standin"  # a test bed's stand-in for a public base image
ORIGIN_LOCAL = "local"  # built or imported on this engine: the grader's, another grading's, an instructor's


def judge_images(refs: Iterable[ImageRef], origin: Callable[[str], str], allowed: Iterable[str] = ()) -> list[str]:
    """Images built on this engine may hold what no student may read; the spec's `policy.images`
    globs allow named ones (a course's own base image)."""
    problems = []
    allowed = list(allowed)
    for ref in refs:
        if any(fnmatch.fnmatch(ref.ref, pattern) for pattern in allowed):
            continue
        if origin(ref.ref) == ORIGIN_LOCAL:
            problems.append(_("{where}: image '{ref}' is not allowed: it exists only on the grading machine (built "
                              "there, not pulled from a registry); use a public base image", where=ref.where,
                              ref=ref.ref))
    return problems


def registry_of(ref: str) -> str:
    """The registry host of an image reference ("" for Docker Hub)."""
    first, slash, _rest = ref.partition("/")
    return first if slash and ("." in first or ":" in first or first == "localhost") else ""


def _on_this_network(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    if name == "localhost" or name.endswith((".local", ".internal", ".localhost")):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def judge_registries(refs: Iterable[ImageRef], allowed: Iterable[str] = ()) -> list[str]:
    """A pull from the grading machine's own network (its loopback, a private address) reaches
    registries no student should read; the spec's `policy.registries` allows named ones."""
    allowed = list(allowed)
    return [_("{where}: image '{ref}' is not allowed: its registry {registry_of} is on the grading machine's own "
              "network; use a public registry", where=ref.where, ref=ref.ref, registry_of=registry_of(ref.ref))
            for ref in refs
            if (host := registry_of(ref.ref)) and _on_this_network(host)
            and not any(fnmatch.fnmatch(host, pattern) for pattern in allowed)]
