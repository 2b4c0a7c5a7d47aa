"""The engine's event stream for one compose project, read by a thread while the stack runs: every
container start and death, handed to a callback. Teardown closes the stream, which ends the thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

import docker

OnEvent = Callable[[str, str, str, "int | None"], None]  # action, container id, service, exit code


def watch_container_events(project: str, on_event: OnEvent, name: str):
    """Start watching; returns the stream (close it to stop)."""
    client = docker.from_env(timeout=None)
    stream = client.events(decode=True, filters={
        "type": "container", "event": ["die", "start"], "label": [f"com.docker.compose.project={project}"]})

    def pump() -> None:
        try:
            for event in stream:
                attrs = event.get("Actor", {}).get("Attributes", {})
                code = attrs.get("exitCode")
                on_event(event.get("Action") or event.get("status") or "", event.get("id", ""),
                         attrs.get("com.docker.compose.service", "?"),
                         int(code) if str(code).lstrip("-").isdigit() else None)
        except Exception:  # noqa: BLE001 - the stream ends when teardown closes it
            pass
        finally:
            client.close()

    threading.Thread(target=pump, daemon=True, name=name).start()
    return stream
