"""What runs a student's stack. `open_backend` is the one door: the CLI, validate and batch ask it
for a backend by kind instead of constructing one; the engine sees only the `Backend` interface
(base.py). Shared pieces live here; each engine's own plumbing in docker/ and local/."""

from __future__ import annotations

from pathlib import Path

from graders.backends.base import Backend, Limits

KINDS = ("auto", "docker", "local")
NOTE_LOCAL_CHOSEN = "no Docker engine answered: graded with the local backend (services as processes)"
NOTE_LOCAL_UNCONFINED = ("the local backend runs the submission's code unconfined, as this user: use it only "
                         "inside a throwaway container (Gradescope, PrairieLearn) or on your own code")


class BackendUnavailable(Exception):
    """The backend asked for cannot run here (no Docker engine answers)."""


def docker_available(timeout_s: float = 5) -> bool:
    from graders.backends.docker import engine_available

    return engine_available(timeout_s)


def open_backend(kind: str, submission: Path, workdir: Path, *, build_timeout_s: float = 900,
                 run_id: str | None = None, limits: Limits | None = None, pull: str = "missing") -> Backend:
    """`docker`, `local`, or `auto` (docker when an engine answers, else local). `pull`: missing
    (pull service images the engine lacks, as `docker compose up` does) or never."""
    if kind not in KINDS:
        raise ValueError(f"unknown backend {kind!r}; known: {', '.join(KINDS)}")
    docker_answers = kind != "local" and docker_available()
    if kind == "docker" and not docker_answers:
        raise BackendUnavailable("no Docker engine answers (is dockerd running? `python -m graders.testbed` starts "
                                 "one; or grade without Docker: --backend local)")
    runtime = limits.runtime if limits else None
    if docker_answers:
        from graders.backends.docker import DockerBackend

        backend = DockerBackend(submission, workdir, limits=limits, build_timeout_s=build_timeout_s, run_id=run_id,
                                pull=pull)
        if runtime and runtime not in (known := backend.client.info().get("Runtimes") or {}):
            raise BackendUnavailable(f"the Docker engine has no runtime '{runtime}' (it has: {', '.join(known)})")
        return backend
    if runtime:
        raise BackendUnavailable("--runtime needs the Docker backend")
    from graders.backends.local import LocalBackend

    backend = LocalBackend(submission, workdir, limits=limits, build_timeout_s=build_timeout_s, run_id=run_id)
    if kind == "auto":
        backend.notes.append(NOTE_LOCAL_CHOSEN)
    backend.notes.append(NOTE_LOCAL_UNCONFINED)
    return backend
