"""Where a submission's stack is described: its compose file, or a Dockerfile alone (then the
stack the lab would give it). Shared by the Docker and the local backends."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.backends.base import StackError
from graders.i18n import _

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def find_compose_file(submission: Path) -> Path | None:
    for name in COMPOSE_FILES:
        if (submission / name).is_file():
            return submission / name
    return None


def generated_stack(submission: Path, web_port: int = 8000) -> dict[str, Any]:
    """A Dockerfile-only submission gets the stack the lab would give it: web + redis."""
    return {
        "name": "generated",
        "services": {
            "web": {"build": {"context": str(submission), "dockerfile": "Dockerfile"},
                    "ports": [{"target": web_port}], "depends_on": {"redis": {"condition": "service_started"}},
                    "environment": {"REDIS_URL": "redis://redis:6379/0", "REDIS_HOST": "redis"}},
            "redis": {"image": "redis:7-alpine"},
        },
    }


@dataclass
class StackFiles:
    compose_file: Path | None
    dockerfile: str | None
    generated: dict[str, Any] | None = None  # the stack made for a Dockerfile alone
    notes: list[str] = field(default_factory=list)


def find_stack_files(submission: Path) -> StackFiles:
    """The compose file, else a generated stack around the Dockerfile; neither is an error."""
    compose_file = find_compose_file(submission)
    dockerfile = "Dockerfile" if (submission / "Dockerfile").is_file() else None
    if compose_file is not None:
        return StackFiles(compose_file, dockerfile)
    if dockerfile is None:
        raise StackError("find", _("no compose file (compose.yaml, docker-compose.yml, ...) and no Dockerfile"),
                         "Put compose.yaml (or docker-compose.yml) and a Dockerfile at the top of the folder.")
    return StackFiles(None, dockerfile, generated_stack(submission),
                      ["no compose file: graded the Dockerfile in a generated stack (web + redis)"])
