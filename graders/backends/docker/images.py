"""Images a stack runs: where each came from (for the policy's image rule) and pulling those
the engine lacks, as `docker compose up` would, within the build's time."""

from __future__ import annotations

import time
from collections.abc import Iterable

import docker
import docker.errors

from graders.backends.base import StackError
from graders.backends.process import run_command, scrubbed_env
from graders.i18n import _

LABEL_STANDIN = "org.graders.standin"


def image_origin(client: docker.DockerClient, ref: str) -> str:
    """absent | registry | standin | local (see graders.policy.dockerfiles)."""
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return "absent"
    except docker.errors.APIError:
        return "absent"  # an unreadable name: the build or the pull will say so
    if (image.labels or {}).get(LABEL_STANDIN) == "true":
        return "standin"
    return "registry" if image.attrs.get("RepoDigests") else "local"


def pull_missing(client: docker.DockerClient, images: Iterable[str | None], timeout_s: float,
                 never: bool = False) -> None:
    """Pull every image of `images` this engine lacks; a failure names the image and the
    registry's answer. `never`: a missing image is the failure."""
    wanted = sorted({str(i) for i in images if i and image_origin(client, str(i)) == "absent"})
    deadline = time.monotonic() + max(timeout_s, 30)
    for image in wanted:
        if never:
            raise StackError("pull", _("image '{image}' is not on this machine, and pulling is off (--pull never)",
                                       image=image))
        result = run_command(["docker", "pull", "--quiet", image], timeout=max(deadline - time.monotonic(), 1),
                             env=scrubbed_env())
        if not result.ok:
            said = next((line for line in reversed(result.output.splitlines()) if line.strip()), "no answer")
            why = "timed out" if result.timed_out else said.removeprefix("Error response from daemon: ")
            raise StackError("pull", _("could not pull image '{image}': {why}", image=image, why=why), result.tail(10))
