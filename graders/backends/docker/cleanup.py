"""Finding and removing what Docker gradings left behind (`runner.py clean`).

Every container, network, volume and built image of a grading carries the label
`org.graders.run=<run id>` (compose_rewrite.py puts it there). Which runs are still alive is
the run registry's business (graders/backends/runs.py): `clean` leaves those alone unless
asked to with `--all`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import docker
import docker.errors

from graders.backends.docker.compose_rewrite import LABEL_RUN
from graders.backends.docker.containment import cgroup_name, remove_cgroups
from graders.backends.runs import unregister_run


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


def remove_run(run_id: str) -> list[str]:
    """Remove what one (dead) run left, by its label, and forget the run; return what was removed."""
    client = docker.from_env(timeout=60)
    removed: list[str] = []
    try:
        for leftovers in find_leftovers(client, run_id).values():
            removed += leftovers.names()
            remove(leftovers)
    finally:
        client.close()
    remove_cgroups(cgroup_name(run_id))
    unregister_run(run_id)
    return removed
