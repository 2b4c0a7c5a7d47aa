"""Finding and removing what gradings left behind (`runner.py clean`).

Every container, network, volume and built image of a grading carries the label
`org.graders.run=<run id>`. A live grading registers its run id with its PID in a small
state file, so `clean` removes only runs whose grader is gone (killed with SIGKILL, a
crashed machine), never a grading still in progress, unless asked to with `--all`.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from graders.backends.compose_rewrite import LABEL_RUN
from graders.backends.process import pid_alive


def runs_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "lab4-grader" / "runs"


def register_run(run_id: str) -> None:
    runs_dir().mkdir(parents=True, exist_ok=True)
    (runs_dir() / run_id).write_text(str(os.getpid()))


def unregister_run(run_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (runs_dir() / run_id).unlink()


def run_alive(run_id: str) -> bool:
    try:
        pid = int((runs_dir() / run_id).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return pid_alive(pid)


@dataclass
class Leftovers:
    containers: list = field(default_factory=list)
    networks: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    images: list = field(default_factory=list)

    def names(self) -> list[str]:
        return ([f"container {c.name}" for c in self.containers] + [f"network {n.name}" for n in self.networks]
                + [f"volume {v.name}" for v in self.volumes]
                + [f"image {(i.tags or [i.short_id])[0]}" for i in self.images])


def find_leftovers(client: docker.DockerClient, run_id: str | None = None) -> dict[str, Leftovers]:
    """Labelled resources grouped by run id (only `run_id`'s when given)."""
    label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
    found: dict[str, Leftovers] = defaultdict(Leftovers)
    for container in client.containers.list(all=True, filters={"label": label}):
        found[container.labels[LABEL_RUN]].containers.append(container)
    for network in client.networks.list(filters={"label": label}):
        found[network.attrs["Labels"][LABEL_RUN]].networks.append(network)
    for volume in client.volumes.list(filters={"label": label}):
        found[(volume.attrs.get("Labels") or {})[LABEL_RUN]].volumes.append(volume)
    for image in client.images.list(filters={"label": label}):
        found[image.labels[LABEL_RUN]].images.append(image)
    return dict(found)


def remove(leftovers: Leftovers) -> list[str]:
    """Remove in dependency order; return what could not be removed."""
    failed = []
    for kind, items, action in (("container", leftovers.containers, lambda c: c.remove(force=True, v=True)),
                                ("network", leftovers.networks, lambda n: n.remove()),
                                ("volume", leftovers.volumes, lambda v: v.remove(force=True)),
                                ("image", leftovers.images, lambda i: i.client.images.remove(i.id, force=True))):
        for item in items:
            try:
                action(item)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                failed.append(f"{kind} {getattr(item, 'name', item.id)}: {exc.explanation or exc}")
    return failed
