"""Small helpers of the Docker backend that need no engine: labels from the environment, a
note about the host's build limits, Docker's time format, a capped stream, ASCII project names,
a file read out of a container."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import re
import tarfile
from pathlib import Path

# Russian letters as ISO 9 / GOST 7.79 (system B) writes them, lower case: project names are ASCII.
_CYRILLIC = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґ",
                     ["a", "b", "v", "g", "d", "e", "yo", "zh", "z", "i", "j", "k", "l", "m", "n", "o", "p", "r",
                      "s", "t", "u", "f", "x", "cz", "ch", "sh", "shh", "", "y", "", "e", "yu", "ya", "i", "yi",
                      "ye", "g"], strict=True))


def project_slug(name: str, limit: int = 20) -> str:
    """A compose project name part ([a-z0-9-]) from any folder name: Cyrillic transliterated,
    anything else that is not ASCII replaced; a name with nothing left becomes a short hash."""
    text = "".join(_CYRILLIC.get(c, c) for c in name.lower())
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:limit].strip("-")
    return slug or "sub-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def extra_labels() -> dict[str, str]:
    """Labels from GRADER_EXTRA_LABELS ("k=v,k2=v2"): a course, a batch, a test session."""
    pairs = (item.partition("=") for item in os.environ.get("GRADER_EXTRA_LABELS", "").split(",") if "=" in item)
    return {key.strip(): value.strip() for key, _, value in pairs if key.strip()}


def build_limit_notes() -> list[str]:
    """Builds (RUN steps) get no per-container limits from compose; the host caps them on the
    BuildKit cgroup (`python -m graders.testbed` sets it). Say so when it is not capped here."""
    pids = Path("/sys/fs/cgroup/pids/docker/buildkit/pids.max")
    if pids.exists() and pids.read_text().strip() == "max":
        return ["image builds run without a pids/memory cap on this engine (`python -m graders.testbed` "
                "sets one): a fork bomb in a Dockerfile's RUN is not contained"]
    return []


def container_number(container) -> int:
    return int(container.labels.get("com.docker.compose.container-number", "0") or 0)


def parse_docker_time(text: str) -> float:
    """Docker's RFC 3339 times carry nanoseconds, which datetime does not take."""
    from datetime import datetime

    head, _, rest = text.partition(".")
    fraction = rest.rstrip("Z")[:6] if rest else "0"
    return datetime.fromisoformat(f"{head}.{fraction.ljust(6, '0')}+00:00").timestamp()


def capped(stream, cap: int):
    total = 0
    for chunk in stream:
        total += len(chunk)
        if total > cap:
            break
        yield chunk


def read_container_file(container, path: str, cap: int) -> bytes | None:
    """A file of a container (relative paths from its working directory), at most `cap` bytes read
    from the engine; None when it does not exist there."""
    import docker.errors

    full = path if path.startswith("/") else posixpath.join(container.attrs["Config"].get("WorkingDir") or "/", path)
    try:
        stream, _stat = container.get_archive(full)
    except docker.errors.NotFound:
        return None
    data = b"".join(capped(stream, cap + 4096))
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            return tar.extractfile(member).read(cap) if member is not None else None
    except tarfile.TarError:  # cut short by the cap: the content follows one 512-byte header
        return data[512:512 + cap]


def quietly(fn, *args, **kwargs) -> None:
    """Remove something that may be gone already (teardown, restore): an engine error is no news."""
    import docker.errors

    with contextlib.suppress(docker.errors.APIError):
        fn(*args, **kwargs)
