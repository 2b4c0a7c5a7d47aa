"""The backend without Docker: a submission's services as processes (see backend.py)."""

from graders.backends.local.backend import NOTE_ENV_ONLY, NOTE_NAMESPACE, LocalBackend

__all__ = ["NOTE_ENV_ONLY", "NOTE_NAMESPACE", "LocalBackend"]
