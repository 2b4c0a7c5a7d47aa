"""One headless Chromium per grading, shared by every tab of every `browser` check, and what
each tab saw: script errors, console errors, its WebSockets (from the DevTools protocol, so the
student's page runs untouched), navigations, and a screenshot.

The browser is Debian's `chromium`, driven by Playwright's Python API through `executable_path`
(Playwright's own browser downloads are not needed). Its executable is a small wrapper that
enters the stack's network (the backend's `network_entry`: the page then finds the web service
at localhost:8000, as in the student's browser) and drops root: untrusted pages run as `nobody`,
inside Chromium's own sandbox where the kernel allows one. Playwright talks to it over a pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shlex
import shutil
import stat
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.i18n import _

CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
# Headless, and quiet: without the background-networking flags Chromium keeps calling home,
# which on a closed network is a stream of refused connections.
FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
         "--disable-default-apps", "--mute-audio",
         "--js-flags=--max-old-space-size=256"]  # a page's script that hoards memory crashes its own tab
NOBODY = 65534
LAUNCH_TIMEOUT_MS = 30_000
FRAMES_KEPT = 20  # per WebSocket, for the report
# Frames a tab may receive before the grader stops watching its sockets: every frame is an event
# through Playwright's pipe, and a flooding server would keep the grader busy reading them.
FLOOD_FRAMES = 2000
TEXT_CAP = 300

WRAPPER = """#!/bin/sh
# Written by the grader: {why}
# Playwright makes the profile in its own TMPDIR, which may be private: nobody gets {profile} instead
for arg do
  shift
  case "$arg" in --user-data-dir=*) arg="--user-data-dir="{profile};; esac
  set -- "$@" "$arg"
done
chown {uid}:{uid} {profile}
# Chromium's lock socket goes to TMPDIR: the grader's may be private, and a socket's path is short
HOME={profile} TMPDIR=/tmp
export HOME TMPDIR
exec {entry} setpriv --reuid={uid} --regid={uid} --clear-groups --inh-caps=-all --bounding-set=-all {chromium} "$@"
"""


def chromium_path() -> str | None:
    """The real Chromium binary (Debian's /usr/bin/chromium is a shell launcher in front of it)."""
    override = os.environ.get("GRADER_CHROMIUM")
    for candidate in ([override] if override else []) + list(CHROMIUM_PATHS):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def browser_missing() -> str:
    """Why no browser can run here; "" when one can."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install '.[browser]')"
    if chromium_path() is None:
        return "Chromium is not installed (apt-get install chromium)"
    if not shutil.which("setpriv"):
        return "setpriv (util-linux) is missing: the browser would run as root"
    return ""


def _shorten(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= TEXT_CAP else text[:TEXT_CAP] + "…"


def _reachable_by_nobody(folder: Path) -> Path:
    """`folder` when every folder on its path lets others pass (a grading worker's TMPDIR under a
    private work dir does not), else the system's /tmp: Chromium runs as nobody and must reach
    its profile."""
    for part in (folder, *folder.parents):
        if not part.stat().st_mode & stat.S_IXOTH:
            return Path("/tmp")
    return folder


@dataclass
class Session:
    browser: Any  # playwright.async_api.Browser
    sandboxed: bool
    started_s: float  # how long the launch took

    def describe(self) -> str:
        sandbox = "in Chromium's sandbox" if self.sandboxed else "without Chromium's sandbox (none available here)"
        return (f"Chromium {self.browser.version}, in the stack's network namespace, as nobody, {sandbox}; "
                f"launched in {self.started_s:.1f} s")


async def open_browser(entry: list[str]) -> tuple[Session, Any]:
    """Launch Chromium behind `entry` (an argv prefix); returns the session and its async close."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    chromium = chromium_path()
    folder = Path(tempfile.mkdtemp(prefix="grader-browser-", dir=_reachable_by_nobody(Path(tempfile.gettempdir()))))
    folder.chmod(0o711)  # nobody passes through to the profile inside, and lists nothing
    (folder / "profile").mkdir()
    wrapper = folder / "chromium"
    wrapper.write_text(WRAPPER.format(why="Chromium in the stack's network, as nobody", uid=NOBODY,
                                      profile=shlex.quote(str(folder / "profile")), entry=shlex.join(entry),
                                      chromium=shlex.quote(chromium or "chromium")))
    wrapper.chmod(stat.S_IRWXU)
    started = time.monotonic()
    playwright = await async_playwright().start()
    try:
        try:
            browser = await playwright.chromium.launch(executable_path=str(wrapper), args=FLAGS,
                                                       chromium_sandbox=True, timeout=LAUNCH_TIMEOUT_MS)
            sandboxed = True
        except PlaywrightError:  # no user namespaces (e.g. a container's seccomp): still nobody
            browser = await playwright.chromium.launch(executable_path=str(wrapper), args=FLAGS,
                                                       chromium_sandbox=False, timeout=LAUNCH_TIMEOUT_MS)
            sandboxed = False
    except BaseException:
        await playwright.stop()
        shutil.rmtree(folder, ignore_errors=True)
        raise

    async def close() -> None:
        try:
            await browser.close()
        finally:
            await playwright.stop()
            shutil.rmtree(folder, ignore_errors=True)

    return Session(browser, sandboxed, time.monotonic() - started), close


@dataclass
class Socket:
    """One WebSocket a page opened, as the DevTools protocol reported it."""

    url: str
    status: int | None = None  # the handshake's HTTP status (101 = open)
    error: str = ""
    closed: bool = False
    sent: int = 0
    received: deque[str] = field(default_factory=lambda: deque(maxlen=FRAMES_KEPT))
    received_count: int = 0

    @property
    def pending(self) -> bool:
        return self.status is None and not self.error and not self.closed

    @property
    def failed(self) -> bool:
        return bool(self.error) or (self.status is not None and self.status != 101)

    def state(self) -> str:
        if self.failed:
            return f"failed: {self.error or f'HTTP {self.status}'}"
        if self.pending:
            return "still connecting"
        return "closed" if self.closed else "open"

    def describe(self) -> str:
        return f"WebSocket {self.url}: {self.state()}, sent {self.sent}, received {self.received_count}"


class Tab:
    """A page in the check's browser context, and everything it was seen doing."""

    def __init__(self, number: int, page: Any):
        self.number = number
        self.page = page
        self.url = ""
        self.status: int | None = None
        self.navigations = 0  # main-frame navigations: more than one after load is a reload
        self.closed_at_step = 0
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.sockets: dict[str, Socket] = {}
        self.screenshot = b""
        self.field: Any = None  # the field typed into last, for `press`
        self.cdp: Any = None
        self.flooded = False  # more than FLOOD_FRAMES came in: the sockets are no longer watched
        self._unwatching: Any = None

    @classmethod
    async def open(cls, context: Any, number: int) -> Tab:
        page = await context.new_page()
        tab = cls(number, page)
        page.on("pageerror", lambda error: tab.page_errors.append(_shorten(f"Uncaught {error.name}: "
                                                                           f"{error.message}")))
        page.on("console", lambda message: tab._console(message))
        page.on("framenavigated", lambda frame: tab._navigated(frame))
        cdp = tab.cdp = await context.new_cdp_session(page)
        for event, handler in (("webSocketCreated", tab._ws_created),
                               ("webSocketHandshakeResponseReceived", tab._ws_handshake),
                               ("webSocketFrameError", tab._ws_error), ("webSocketClosed", tab._ws_closed),
                               ("webSocketFrameSent", tab._ws_sent),
                               ("webSocketFrameReceived", tab._ws_received)):
            cdp.on(f"Network.{event}", handler)
        await cdp.send("Network.enable")
        return tab

    # --- what the page does ------------------------------------------------------------
    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = message.location or {}
            at = f" ({where.get('url', '').rsplit('/', 1)[-1]}:{where.get('lineNumber', 0) + 1})" if where.get(
                "url") else ""
            self.console_errors.append(_shorten(message.text) + at)

    def _navigated(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.navigations += 1

    def _socket(self, event: dict) -> Socket:
        return self.sockets.setdefault(event.get("requestId", "?"), Socket(url="?"))

    def _ws_created(self, event: dict) -> None:
        self.sockets[event.get("requestId", "?")] = Socket(url=event.get("url", "?"))

    def _ws_handshake(self, event: dict) -> None:
        self._socket(event).status = int((event.get("response") or {}).get("status") or 0)

    def _ws_error(self, event: dict) -> None:
        self._socket(event).error = _shorten(event.get("errorMessage", "error"))

    def _ws_closed(self, event: dict) -> None:
        self._socket(event).closed = True

    def _ws_sent(self, event: dict) -> None:
        self._socket(event).sent += 1

    def _ws_received(self, event: dict) -> None:
        socket = self._socket(event)
        socket.received_count += 1
        socket.received.append(_shorten((event.get("response") or {}).get("payloadData", "")))
        if not self.flooded and sum(s.received_count for s in self.sockets.values()) > FLOOD_FRAMES:
            self.flooded = True
            self._unwatching = asyncio.get_running_loop().create_task(self._stop_watching())

    async def _stop_watching(self) -> None:
        with contextlib.suppress(Exception):  # a closed tab has nothing left to watch
            await self.cdp.send("Network.disable")

    # --- questions the check asks ------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return not self.closed_at_step

    def frames_sent(self) -> int:
        return sum(s.sent for s in self.sockets.values())

    def received_text(self, text: str) -> bool:
        return any(text in frame for s in self.sockets.values() for frame in s.received)

    async def settle(self, timeout_s: float = 3.0, grace_s: float = 0.3) -> None:
        """Wait for the page's sockets to finish their handshakes (a human waits before typing
        too), or a short grace when it opened none yet."""
        deadline = time.monotonic() + timeout_s
        started = time.monotonic()
        while time.monotonic() < deadline:
            if self.sockets and not any(s.pending for s in self.sockets.values()):
                return
            if not self.sockets and time.monotonic() - started > grace_s:
                return
            await asyncio.sleep(0.05)

    async def take_screenshot(self) -> None:
        if self.is_open:
            try:
                await self.page.bring_to_front()  # a hidden tab paints no frames to take
                self.screenshot = await self.page.screenshot(type="png", timeout=5000)
            except Exception:  # noqa: BLE001 - a page that cannot be pictured still gets graded
                self.screenshot = b""

    def describe(self) -> str:
        lines = [f"tab {self.number}: {self.url or '(never loaded)'}"
                 + (f" (HTTP {self.status})" if self.status else "")
                 + (f", closed at step {self.closed_at_step}" if self.closed_at_step else "")]
        if self.flooded:
            lines.append(_("received over {flood_frames} WebSocket messages: its sockets were no longer watched",
                           flood_frames=FLOOD_FRAMES))
        if self.navigations > 1:
            lines.append(_("  the page navigated {value} more time(s) after loading", value=self.navigations - 1))
        lines += [f"  {s.describe()}" + (f"; last received: {list(s.received)[-3:]}" if s.received else "")
                  for s in self.sockets.values()] or ["  opened no WebSocket"]
        lines += [f"  script error: {e}" for e in self.page_errors[:5]]
        lines += [f"  console error: {e}" for e in self.console_errors[:5]]
        return "\n".join(lines)
