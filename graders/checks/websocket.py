"""`websocket`: real clients on a chat endpoint: broadcast, vanishing clients, rejoining.

Scenarios:
- `broadcast`: N clients each send a fresh message; every client, the sender included,
  must receive every message within `within_s`.
- `disconnects`: N clients; one vanishes without a close frame (its TCP connection is
  aborted), one closes cleanly; the rest must still get each other's messages, and a
  new client must be able to join and chat.
A received frame counts when it contains the sent text (a "Client 3: hi" prefix is fine).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from graders.checks import CheckContext, CheckFailed, check_type
from graders.checks._causes import REFUSED, display, explain_websocket, source_root
from graders.checks._expect import short
from graders.i18n import _
from graders.results import Outcome

RECENT_FRAMES = 50  # per client, kept for the report; awaited texts are matched as frames arrive,
FRAME_CAP = 4096  # so a flooding server can neither grow the grader's memory nor hide a message

SCHEMA = {
    "type": "object",
    "required": ["scenario"],
    "additionalProperties": False,
    "properties": {
        "role": {"type": "string", "description": "whose port to connect to (default: web)"},
        "path": {"type": "string", "pattern": "^/", "description": "the websocket path (default: /ws)"},
        "scenario": {"enum": ["broadcast", "disconnects"],
                     "description": "`broadcast`: every client gets every message, its own included; "
                                    "`disconnects`: after one client vanishes and one closes, the rest still "
                                    "chat and a newcomer joins"},
        "clients": {"type": "integer", "minimum": 1, "maximum": 50, "description": "how many (default 2)"},
        "within_s": {"type": "number", "exclusiveMinimum": 0,
                     "description": "each message must arrive within this (default 2 s)"},
    },
}


class Client:
    """One chat participant that keeps reading frames in the background."""

    def __init__(self, name: str, conn: ClientConnection):
        self.name = name
        self.conn = conn
        self.frames: deque[str] = deque(maxlen=RECENT_FRAMES)
        self.awaited: set[str] = set()  # texts this client should receive (registered before sending)
        self.seen: set[str] = set()
        self.changed = asyncio.Event()
        self.closed_reason: str | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.conn:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", errors="replace")
                self.frames.append(text[:FRAME_CAP])
                for wanted in self.awaited - self.seen:
                    if wanted in text:
                        self.seen.add(wanted)
                        self.changed.set()
        except ConnectionClosed as exc:
            self.closed_reason = _("closed by the server (code {value})", value=exc.rcvd.code if exc.rcvd else 'none')
        except Exception as exc:  # noqa: BLE001 - a broken connection is an observation, not a crash
            self.closed_reason = f"{type(exc).__name__}: {exc}"
        finally:
            self.changed.set()

    def expect(self, text: str) -> None:
        self.awaited.add(text)

    def got(self, text: str) -> bool:
        return text in self.seen

    async def send(self, text: str) -> None:
        try:
            await self.conn.send(text)
        except ConnectionClosed:
            raise CheckFailed(_("{name} could not send: the server closed its connection", name=self.name)) from None

    def vanish(self) -> None:
        """Drop the TCP connection without a close frame, like a laptop lid shutting."""
        self.conn.transport.abort()
        self.reader.cancel()

    async def close(self) -> None:
        self.reader.cancel()
        try:
            await asyncio.wait_for(self.conn.close(), timeout=3)
        except Exception:  # noqa: BLE001 - closing a dead connection is fine
            self.conn.transport.abort()


class HandshakeRefused(CheckFailed):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


async def open_client(url: str, name: str) -> Client:
    path = "/" + url.split("/", 3)[-1] if url.count("/") >= 3 else url
    try:
        conn = await asyncio.wait_for(connect(url, open_timeout=5, max_size=1 << 20, ping_interval=None,
                                              proxy=None), timeout=8)
    except InvalidStatus as exc:
        raise HandshakeRefused(_("{name}: the websocket handshake at {path} was refused with HTTP {status_code}",
                                 name=name, path=path, status_code=exc.response.status_code),
                               exc.response.status_code) from None
    except (ConnectionRefusedError, ConnectionResetError) as exc:
        raise CheckFailed(_("{name}: could not open a websocket at {path}: {name2}: {exc}", name=name, path=path,
                            name2=type(exc).__name__, exc=exc),
                          cause=REFUSED) from None
    except (InvalidHandshake, OSError, asyncio.TimeoutError, TimeoutError) as exc:
        raise CheckFailed(_("{name}: could not open a websocket at {path}: {name2}: {exc}", name=name, path=path,
                            name2=type(exc).__name__, exc=exc)) from None
    return Client(name, conn)


async def say(sender: Client, listeners: list[Client], text: str) -> None:
    """Send `text` from `sender`, every listener watching for it from before it is sent."""
    for listener in listeners:
        listener.expect(text)
    await sender.send(text)


async def expect_everyone_gets(clients: list[Client], text: str, within_s: float, situation: str) -> None:
    deadline = time.monotonic() + within_s
    while True:
        missing = [c for c in clients if not c.got(text)]
        if not missing:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            who = missing[0]
            seen = short(list(who.frames)[-3:], 160) if who.frames else "nothing"
            closed = _("; its connection was {closed_reason}", closed_reason=who.closed_reason) \
                if who.closed_reason else ""
            raise CheckFailed(_("{situation}: {name} did not receive {text} within {within_s} s ({missing} of "
                                "{clients} clients missed it; it saw {seen}{closed})", situation=situation,
                                name=who.name, text=repr(text), within_s=format(within_s, "g"), missing=len(missing),
                                clients=len(clients), seen=seen, closed=closed))
        for c in missing:
            c.changed.clear()
        waits = [asyncio.create_task(c.changed.wait()) for c in missing]
        _done, pending = await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


def message(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}"


async def broadcast(url: str, count: int, within_s: float) -> str:
    clients = [await open_client(url, _("client {value}", value=i + 1)) for i in range(count)]
    try:
        for index, client in enumerate(clients):
            text = message(f"hello-from-{index + 1}")
            await say(client, clients, text)
            await expect_everyone_gets(clients, text, within_s, _("{name} of {count} sent a message",
                                                                  name=client.name, count=count))
        return _("{count} clients each got all {count2} messages, their own included", count=count, count2=count)
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def disconnects(url: str, count: int, within_s: float) -> str:
    count = max(count, 3)
    clients = [await open_client(url, _("client {value}", value=i + 1)) for i in range(count)]
    newcomer = None
    try:
        warm = message("before")
        await say(clients[0], clients, warm)
        await expect_everyone_gets(clients, warm, within_s, "before any disconnect")
        vanished, leaver, rest = clients[-1], clients[-2], clients[:-2]
        vanished.vanish()
        await leaver.close()
        await asyncio.sleep(0.3)
        for sender in rest[:2]:
            text = message("after")
            await say(sender, rest, text)
            await expect_everyone_gets(rest, text, within_s,
                                       _("after one client vanished and one closed, {name} sent", name=sender.name))
        newcomer = await open_client(url, "a new client")
        text = message("newcomer")
        await say(newcomer, [*rest, newcomer], text)
        await expect_everyone_gets([*rest, newcomer], text, within_s, "a client joined after the disconnects")
        return (_("{rest} clients kept chatting after one vanished and one closed, and a new client joined",
                  rest=len(rest)))
    finally:
        await asyncio.gather(*(c.close() for c in [*clients, *([newcomer] if newcomer else [])]))


SCENARIOS = {"broadcast": broadcast, "disconnects": disconnects}


EXAMPLE = """\
- id: broadcast
  points: 7
  websocket: {path: /ws, scenario: broadcast, clients: 2, within_s: 2}
- id: survives_disconnects
  points: 7
  needs: [broadcast]  # also runs it after broadcast: one chat server, one scenario at a time
  websocket: {path: /ws, scenario: disconnects, clients: 4, within_s: 2}
"""


@check_type("websocket", schema=SCHEMA, example=EXAMPLE)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    body = ctx.render(body)
    role, path = body.get("role", "web"), body.get("path", "/ws")
    url = ctx.base_url(role).replace("http://", "ws://", 1) + path
    try:
        summary = await SCENARIOS[body["scenario"]](url, int(body.get("clients", 2)), float(body.get("within_s", 2)))
    except HandshakeRefused as exc:
        cause, why = explain_websocket(source_root(ctx, "web"), path, exc.status)
        where = f"{display(ctx, role)}{path}"
        said = _("{why} ({where} answered HTTP {status})", why=why, where=where, status=exc.status) if why \
            else exc.message.replace(path, where, 1)
        raise CheckFailed(said, cause=cause) from None
    return Outcome.ok(summary)
