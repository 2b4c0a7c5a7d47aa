"""What checks do to a running Docker stack: stop, start, scale a service, and put it all back
(`restore`) after a stage. Part of DockerBackend (backend.py), which provides `_compose`,
`_containers`, `_forget_ports`, `exit_watch` and the bookkeeping these use."""

from __future__ import annotations

from graders.backends.base import StackError
from graders.backends.docker.support import container_number, quietly
from graders.backends.process import CommandResult
from graders.i18n import _


class StackActions:
    def stop_service(self, service: str) -> None:
        self.dirty = True
        self._stopped.add(service)
        self._expect_exits(service)
        self._forget_ports(service)
        self._checked(self._compose("stop", "-t", "3", service, timeout=60), _("stop {service}", service=service))

    def start_service(self, service: str) -> None:
        self.dirty = True
        self._stopped.discard(service)
        self._forget_ports(service)
        if self._containers(service):
            self._checked(self._compose("start", service, timeout=60), _("start {service}", service=service))
        else:  # a copy's service that was never started has no container yet
            self._checked(self._compose("up", "-d", "--no-build", "--pull", "never", "--no-deps", service,
                                        timeout=60), _("start {service}", service=service))

    def scale(self, service: str, replicas: int) -> None:
        self.dirty = True
        self._scaled.setdefault(service, max(1, len(self._containers(service))))
        self._ports.clear()
        self._checked(self._compose("up", "-d", "--no-build", "--pull", "never", "--no-deps", "--no-recreate",
                                    "--scale", f"{service}={replicas}", service, timeout=120),
                      _("scale {service} to {replicas}", service=service, replicas=replicas))

    def restore(self) -> None:
        """Undo what checks did: start what they stopped, remove the replicas they added.
        A container that exited by itself stays exited, so a later `running` check sees it."""
        self._ports.clear()
        for service, count in sorted(self._scaled.items()):
            extra = sorted(self._containers(service), key=container_number)[count:]
            self.exit_watch.expect([c.id for c in extra])
            for container in extra:
                quietly(container.remove, force=True, v=True)
        for service in sorted(self._stopped):
            self._checked(self._compose("start", service, timeout=60), _("start {service}", service=service))
        for service in sorted(self._stopped):  # the next stage's checks find it answering
            self.wait_ready(service, 60)
        self._scaled.clear()
        self._stopped.clear()
        self.dirty = False

    @staticmethod
    def _checked(result: CommandResult, what: str) -> None:
        if not result.ok:
            raise StackError("stack", _("could not {what}", what=what), result.tail(10))

