"""`browser`: the page used as a student's classmates would, in a real headless Chromium.

Tabs open the page at localhost:<the role's port>, inside the stack's network (so a page that
hard-codes ws://localhost:8000/ws works as it did for its author), then the steps run in order:

- `open: /path`: load a page (every tab loads the body's `open` first);
- `type: text`: fill a field: the `into` selector, or the first visible text input or textarea;
- `press: Enter`: press a key in the field typed into last (or in `into`);
- `click: true | selector`: click the first visible button (or the element the selector finds);
- `wait_text: text`: the text must appear in the page within `within_s`;
- `close: true`: close the tab (the page's sockets close as when a classmate leaves).

A step acts on `tab` (a number or a list; default: every open tab). One Chromium serves the
whole grading (`ctx.shared`); each check gets its own browser context. Script errors, console
errors and the WebSockets of every tab go to the details; a screenshot of each tab (its last
state) is attached to the report. A text that does not appear is explained by the most telling
thing seen: a script error, a failed socket, no socket, nothing sent after the click, a reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx

from graders.checks import CheckContext, StackUnavailable, check_type
from graders.checks._browser_session import FLOOD_FRAMES, Session, Tab, browser_missing, open_browser
from graders.i18n import _
from graders.results import Attachment, Outcome

FIELD = "input:not([type]):visible, input[type=text]:visible, input[type=search]:visible, textarea:visible"
BUTTON = "button:visible, input[type=submit]:visible, input[type=button]:visible"
ACTION_TIMEOUT_MS = 5000
LOAD_TIMEOUT_MS = 15_000
VIEWPORT = {"width": 720, "height": 480}
SHOT_TIMEOUT_S = 4  # the screenshots after the steps, all tabs at once
CLOSE_TIMEOUT_S = 4
# Kept from the check's time for the screenshots and closing, so that a page that stops
# responding fails with its own message, inside the check's timeout.
RESERVE_S = SHOT_TIMEOUT_S + CLOSE_TIMEOUT_S + 2
PAGE_CAP = 4 * 1024 * 1024  # a chat page is kilobytes; a bigger one is not handed to the browser
TEXT_SHOWN = "t => document.body !== null && document.body.innerText.includes(t)"

__all__ = ["browser_missing", "run"]  # browser_missing: the engine asks whether a browser can run here

ACTIONS = ("open", "type", "press", "click", "wait_text", "close")  # the order they run in within a step
TAB = {"oneOf": [{"type": "integer", "minimum": 1},
                 {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1}],
       "description": "which tab(s) the step acts on, from 1 (default: every open tab)"}
STEP = {
    "type": "object",
    "additionalProperties": False,
    "anyOf": [{"required": [action]} for action in ACTIONS],
    "description": "one or more actions, run in this order: open, type, press, click, wait_text, close",
    "properties": {
        "tab": TAB,
        "open": {"type": "string", "pattern": "^/", "description": "load this path of the role's service"},
        "type": {"type": "string", "description": "text to fill into the field"},
        "into": {"type": "string", "description": "CSS selector of the field (default: the first visible "
                                                  "text input or textarea)"},
        "press": {"type": "string", "description": "a key, e.g. Enter, pressed in the field"},
        "click": {"oneOf": [{"const": True}, {"type": "string"}],
                  "description": "true: the first visible button; or a CSS selector"},
        "wait_text": {"type": "string", "description": "text that must appear in the page"},
        "within_s": {"type": "number", "exclusiveMinimum": 0,
                     "description": "how long this step's wait_text waits (default: the check's within_s)"},
        "close": {"const": True, "description": "close the step's tab(s): the others must keep working"},
    },
}
SCHEMA = {
    "type": "object",
    "required": ["steps"],
    "additionalProperties": False,
    "properties": {
        "role": {"type": "string", "description": "whose page to open (default: web)"},
        "tabs": {"type": "integer", "minimum": 1, "maximum": 8, "description": "tabs opened at the start"},
        "open": {"type": "string", "pattern": "^/", "description": "the path every tab loads first (default /)"},
        "within_s": {"type": "number", "exclusiveMinimum": 0, "description": "default wait for wait_text"},
        "steps": {"type": "array", "minItems": 1, "items": STEP,
                  "description": "what the user does, in order; each step acts on one tab, several, or all"},
    },
}


class StepFailed(Exception):
    pass


class Scenario:
    """The tabs of one check and what its steps have done so far."""

    def __init__(self, origin: str, address: str, tabs: list[Tab], within_s: float):
        self.origin = origin  # where the browser finds the page: localhost:<port>, as its author did
        self.address = address  # where the grader itself reaches the same service
        self.tabs = tabs
        self.within_s = within_s
        self.step = 0
        self.last_action: tuple[Tab, int, str] | None = None  # who pressed/clicked, frames sent before, what
        self.seen: list[str] = []  # what passed, for the summary

    def chosen(self, step: dict[str, Any]) -> list[Tab]:
        wanted = step.get("tab")
        if wanted is None:
            return [t for t in self.tabs if t.is_open]
        numbers = wanted if isinstance(wanted, list) else [wanted]
        for number in numbers:
            if number > len(self.tabs):
                raise StepFailed(_("step {step}: there is no tab {number} (the check opens {tabs})", step=self.step,
                                   number=number, tabs=len(self.tabs)))
            if not self.tabs[number - 1].is_open:
                raise StepFailed(_("step {step}: tab {number} was closed at step {closed_at_step}", step=self.step,
                                   number=number, closed_at_step=self.tabs[number - 1].closed_at_step))
        return [self.tabs[n - 1] for n in numbers]

    async def load_all(self, tabs: list[Tab], path: str) -> None:
        await page_fits(self.address + path, path)  # before any tab loads it
        await asyncio.gather(*(self.load(t, path) for t in tabs))

    async def load(self, tab: Tab, path: str) -> None:
        tab.url = self.origin + path
        try:
            response = await tab.page.goto(tab.url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        except Exception as exc:  # noqa: BLE001 - Playwright's errors say what the browser saw
            raise StepFailed(_("tab {number}: could not load {url}: {first_line}", number=tab.number, url=tab.url,
                               first_line=first_line(exc))) from None
        tab.status = response.status if response else None
        if tab.status and tab.status >= 400:
            raise StepFailed(_("tab {number}: GET {path} answered HTTP {status}", number=tab.number, path=path,
                               status=tab.status))
        tab.navigations = 1
        await tab.settle()

    async def type_into(self, tab: Tab, text: str, selector: str | None) -> None:
        await tab.page.bring_to_front()  # as a person switches tabs; a hidden tab paints no frames
        field = tab.page.locator(selector or FIELD).first
        try:
            await field.fill(text, timeout=ACTION_TIMEOUT_MS)
        except Exception as exc:  # noqa: BLE001 - Playwright says why in its own terms; the student gets ours
            what = _("no field matches {selector}", selector=repr(selector)) if selector else (
                "no text field to type into (looked for the first visible text input or textarea)")
            raise StepFailed(_("tab {number}: {value}", number=tab.number,
                               value=self.busy(exc, 'the text field') or what)) from None
        tab.field = field

    async def press(self, tab: Tab, key: str, selector: str | None) -> None:
        await tab.page.bring_to_front()
        before = tab.frames_sent()
        target = tab.page.locator(selector).first if selector else tab.field
        try:
            await (target.press(key, timeout=ACTION_TIMEOUT_MS) if target is not None
                   else tab.page.keyboard.press(key))
        except Exception as exc:  # noqa: BLE001 - its first line is what the browser saw
            raise StepFailed(_("tab {number}: could not press {key}: {first_line}", number=tab.number, key=key,
                               first_line=first_line(exc))) from None
        self.last_action = (tab, before, _("pressing {key}", key=key))

    async def click(self, tab: Tab, selector: str | bool) -> None:
        await tab.page.bring_to_front()
        before = tab.frames_sent()
        target = tab.page.locator(BUTTON if selector is True else selector).first
        try:
            await target.click(timeout=ACTION_TIMEOUT_MS)
        except Exception as exc:  # noqa: BLE001 - Playwright says why in its own terms; the student gets ours
            what = "no button to click (looked for the first visible button)" if selector is True else (
                _("nothing to click matches {selector}", selector=repr(selector)))
            raise StepFailed(_("tab {number}: {value}", number=tab.number,
                               value=self.busy(exc, 'the button') or what)) from None
        self.last_action = (tab, before, "the click on the send button" if selector is True else "the click")

    async def wait_text(self, tabs: list[Tab], text: str, within_s: float) -> None:
        started = time.monotonic()
        shown = await asyncio.gather(*(appears(t, text, started + within_s) for t in tabs))
        missing = [t for t, ok in zip(tabs, shown, strict=True) if not ok]
        if missing:
            tab = missing[0]
            raise StepFailed(_("tab {number}: {text} did not appear within {within_s} s", number=tab.number,
                               text=repr(text), within_s=format(within_s, "g"))
                             + (_(" (nor in tab(s) {value})", value=', '.join(str(t.number) for t in missing[1:]))
                                if missing[1:] else "") + f"; {self.diagnose(tab, text)}")
        self.seen.append(_("{text} appeared in tab{value} {value2} within {value3} s", text=repr(text),
                           value='s' if len(tabs) > 1 else '', value2=', '.join(str(t.number) for t in tabs),
                           value3=format(time.monotonic() - started, ".2f")))

    async def close(self, tab: Tab) -> None:
        await tab.take_screenshot()
        await tab.page.close()
        tab.closed_at_step = self.step
        self.seen.append(_("tab {number} closed", number=tab.number))

    def busy(self, exc: BaseException, what: str) -> str:
        """Why an action timed out when the element may well be there: a flood, or a page too busy."""
        if flood := self.flood():
            return _("the page did not respond within {value} s: {flood}", value=ACTION_TIMEOUT_MS // 1000, flood=flood)
        return (_("{what} is there but did not respond within {value} s (is the page busy?)", what=what,
                  value=ACTION_TIMEOUT_MS // 1000)
                if "resolved to" in str(exc) else "")

    def flood(self) -> str:
        flooded = [str(t.number) for t in self.tabs if t.flooded]
        return (_("tab{value} {flooded} received over {flood_frames} WebSocket messages (does the server send "
                  "without being asked?)", value='s' if len(flooded) > 1 else '', flooded=', '.join(flooded),
                  flood_frames=FLOOD_FRAMES)) if flooded else ""

    def diagnose(self, tab: Tab, text: str) -> str:
        """The most telling reason a text did not appear in `tab`, in words a student can act on."""
        if flood := self.flood():
            return flood
        for other in self.tabs:
            if other.page_errors:
                return _("the page's script failed in tab {number}: {value}", number=other.number,
                         value=other.page_errors[0])
        for other in self.tabs:
            for socket in other.sockets.values():
                if socket.failed:
                    return (_("tab {number}'s WebSocket to {url} {state} (is the address right, and does the "
                              "endpoint accept it?)", number=other.number, url=socket.url, state=socket.state()))
        for other in self.tabs:
            if other.is_open and not other.sockets:
                return _("the page in tab {number} opened no WebSocket", number=other.number)
        for other in self.tabs:
            if other.navigations > 1:
                return (_("the page in tab {number} reloaded after it was loaded (a form submitted without "
                          "event.preventDefault()?)", number=other.number))
        if self.last_action:
            actor, before, what = self.last_action
            if actor.frames_sent() == before:
                return (_("tab {number} sent nothing over its WebSocket after {what} (does the handler call "
                          "ws.send?)", number=actor.number, what=what))
        if tab.received_text(text):
            return _("tab {number} received it over its WebSocket but did not show it on the page", number=tab.number)
        if all(s.closed for s in tab.sockets.values()):
            return _("tab {number}'s WebSocket was closed (by the server?) before the text came", number=tab.number)
        return _("tab {number} never received it over its open WebSocket (is every message sent to every client?)",
                 number=tab.number)


async def page_fits(url: str, path: str) -> None:
    """Read at most PAGE_CAP bytes of the page first: a page of hundreds of megabytes would take
    the browser (on the grader's host) that much memory and more."""
    size = 0
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), trust_env=False) as client, \
                client.stream("GET", url) as response:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > PAGE_CAP:
                    raise StepFailed(_("GET {path} is over {value} MB: far too big for a chat page (it was not "
                                       "opened in the browser)", path=path, value=PAGE_CAP >> 20))
    except httpx.HTTPError:
        pass  # the browser's own load says what is wrong, in its words


def first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip() and not line.startswith("=")]
    return lines[0] if lines else type(exc).__name__


async def appears(tab: Tab, text: str, deadline: float) -> bool:
    """Poll the page's visible text (surviving a reload) until `text` shows or time is up."""
    while True:
        try:
            if await tab.page.evaluate(TEXT_SHOWN, text):
                return True
        except Exception:  # noqa: BLE001 - a page between two documents has no body to read
            pass
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)


async def run_step(scenario: Scenario, step: dict[str, Any]) -> None:
    tabs = scenario.chosen(step)
    if "open" in step:
        await scenario.load_all(tabs, step["open"])
    for tab in tabs:
        if "type" in step:
            await scenario.type_into(tab, str(step["type"]), step.get("into"))
        if "press" in step:
            await scenario.press(tab, step["press"], step.get("into"))
        if "click" in step:
            await scenario.click(tab, step["click"])
    if "wait_text" in step:
        await scenario.wait_text(tabs, str(step["wait_text"]), float(step.get("within_s", scenario.within_s)))
    if step.get("close"):
        for tab in tabs:
            await scenario.close(tab)


async def grading_browser(ctx: CheckContext, role: str) -> Session:
    """The grading's one Chromium in the network of the role's service, launched by the first to ask."""
    if role not in ctx.role_ports:
        raise StackUnavailable(_("the spec gives no port for the role '{role}'", role=role))
    entry = await asyncio.to_thread(ctx.backend.network_entry, ctx.service(role))
    return await ctx.shared.get(("browser", *entry), lambda: open_browser(entry))


async def warm_up(ctx: CheckContext, body: dict[str, Any]) -> None:
    await grading_browser(ctx, body.get("role", "web"))


async def within(budget: float, state: Scenario, body: dict[str, Any]) -> str:
    """Load the tabs and run the steps within `budget` seconds; "" when all passed, else why not."""
    async def steps() -> None:
        await state.load_all(state.tabs, body.get("open", "/"))
        for number, step in enumerate(body["steps"], start=1):
            state.step = number
            await run_step(state, step)

    try:
        await asyncio.wait_for(steps(), budget)
        return ""
    except StepFailed as exc:
        return str(exc)
    except (asyncio.TimeoutError, TimeoutError):
        where = _("step {step}", step=state.step) if state.step else _("loading the page")
        return (_("the page stopped responding: {where} did not finish within {budget} s", where=where,
                  budget=format(budget, "g"))
                + (f"; {state.flood()}" if state.flood() else ""))


EXAMPLE = """\
- id: chat_in_browser
  points: 6
  requires: [browser]
  browser:
    tabs: 2
    open: /
    within_s: 2
    steps:
      - {tab: 1, type: "{chat_text}", click: true}   # the first text field, then the first button
      - {wait_text: "{chat_text}"}                   # in every tab
      - {tab: 1, close: true}
      - {tab: 2, type: "{chat_text_after}", press: Enter}
      - {tab: 2, wait_text: "{chat_text_after}"}
"""


@check_type("browser", schema=SCHEMA, warm_up=warm_up, example=EXAMPLE)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    body = ctx.render(body)
    role = body.get("role", "web")
    session = await grading_browser(ctx, role)
    context = await session.browser.new_context(viewport=VIEWPORT, accept_downloads=False)
    tabs: list[Tab] = []
    budget = max(ctx.timeout_s - RESERVE_S, ctx.timeout_s / 2)
    try:
        tabs = list(await asyncio.gather(*(Tab.open(context, n) for n in range(1, int(body.get("tabs", 1)) + 1))))
        state = Scenario(f"http://localhost:{ctx.role_ports[role]}", ctx.base_url(role), tabs,
                         float(body.get("within_s", 2)))
        failure = await within(budget, state, body)
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(t.take_screenshot() for t in tabs)), SHOT_TIMEOUT_S)
    finally:
        with contextlib.suppress(Exception):  # a page that hangs must not hold the check past its time
            await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
    details = "\n".join([session.describe(), *(t.describe() for t in tabs)])
    shots = tuple(Attachment(_("tab {number}", number=t.number), "image/png", t.screenshot)
                  for t in tabs if t.screenshot)
    if failure:
        return Outcome.fail(failure, details, attachments=shots)
    where = _("{tabs} tab{value} of {origin}{get}", tabs=len(tabs), value='s' if len(tabs) > 1 else '',
              origin=state.origin, get=body.get('open', '/'))
    return Outcome.ok(f"{where}: " + ("; ".join(state.seen) or _("all {steps} steps done", steps=len(body['steps']))),
                      details, attachments=shots)
