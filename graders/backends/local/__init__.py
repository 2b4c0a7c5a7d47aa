"""The backend without Docker: a submission's services as processes (see backend.py)."""

from graders.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
