"""What the grader refuses to run: one place, pure functions, no Docker.

A submission runs as root in containers on a machine shared with other gradings, so
anything that would reach outside its own containers is refused *before* anything runs.
Three passes; the engine calls the first before the backend's `inspect()` and the last
after it, before anything is built:

1. `check_files(submission, compose_file)`: the folder itself (symlinks that lead out
   of it, special files, size) and a bounded raw-YAML pre-scan of the
   compose file for what `docker compose config` would read from the host while
   normalising (`env_file`, `extends.file`, `include`) and for YAML bombs.
2. `docker compose config` (the backend's business), with a scrubbed environment
   (`graders.backends.process.scrubbed_env`), so `${VAR}` cannot copy the grader's
   environment into a container.
3. `check_model(model, submission)`: the normalised model, service by service (host
   namespaces, privileges, devices, bind mounts, build contexts, Dockerfiles...) and the
   top-level networks, volumes, secrets and configs.

Every function returns a list of violations, each naming the service (or file) and the
key, e.g. "service 'web': privileged: true is not allowed". An empty list means "run it".
The rules, why, and what the student sees: docs/policy.md. Containment of what does run
(limits, capabilities, log size) is compose_rewrite's job, not this module's.
"""

from __future__ import annotations

from pathlib import Path

from graders.i18n import N_, _
from graders.policy.dockerfiles import (
    MAX_DOCKERFILE_BYTES,
    ORIGIN_ABSENT,
    ORIGIN_LOCAL,
    ORIGIN_REGISTRY,
    ORIGIN_STANDIN,
    ImageRef,
    check_dockerfile,
    judge_images,
    judge_registries,
    registry_of,
)
from graders.policy.files import (
    MAX_COMPOSE_BYTES,
    MAX_TREE_BYTES,
    MAX_TREE_ENTRIES,
    YamlTooBig,
    _inside,
    check_raw_compose,
    check_tree,
    load_yaml_bounded,
)
from graders.policy.model import check_model, images_used

__all__ = ["MAX_COMPOSE_BYTES", "MAX_DOCKERFILE_BYTES", "MAX_TREE_BYTES", "MAX_TREE_ENTRIES", "ORIGIN_ABSENT",
           "ORIGIN_LOCAL", "ORIGIN_REGISTRY", "ORIGIN_STANDIN", "REFUSAL_DETAILS", "ImageRef", "YamlTooBig",
           "check_dockerfile", "check_files", "check_model", "check_raw_compose", "check_tree", "images_used",
           "judge_images", "judge_registries", "load_yaml_bounded", "refusal_message", "registry_of"]


def check_files(submission: Path, compose_file: Path | None) -> list[str]:
    """Pass 1: everything that must hold before `docker compose config` reads anything."""
    problems = check_tree(submission)
    if compose_file is not None and _inside(compose_file, submission):  # never read a host file through a link
        problems += check_raw_compose(compose_file, submission)
    return problems


REFUSAL_DETAILS = N_("The grader runs nothing that could reach outside the submission's own containers, so the "
                   "stack was not built or started. Fix each item listed and submit again.")


def refusal_message(violations: list[str]) -> str:
    return _("refused before running: {violations}", violations="; ".join(violations))
