"""The Docker backend: a submission's Compose stack on a real engine (see backend.py)."""

from graders.backends.docker.backend import DockerBackend, engine_available

__all__ = ["DockerBackend", "engine_available"]
