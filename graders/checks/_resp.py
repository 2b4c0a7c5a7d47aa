"""A small Redis client that never reads more than it means to keep.

The stack's "redis" is whatever the student runs on that port: a real Redis holding a 64 MiB
value, or a fake that answers every command with one. redis-py reads any reply whole, so a
poll loop could pull gigabytes into the grader. This client speaks RESP2 itself and refuses a
reply over `MAX_REPLY_BYTES` (it reads no further and drops the connection). Its methods are
named as redis-py's, for the commands the checks use; the errors are redis-py's classes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from graders.i18n import _

MAX_REPLY_BYTES = 4 * 2**20  # one reply, all its elements together
MAX_ELEMENTS = 100_000


class ReplyTooLarge(DataError):
    pass


class CappedRedis:
    def __init__(self, host: str, port: int, db: int = 0, socket_timeout: float = 10,
                 socket_connect_timeout: float = 5, max_reply_bytes: int = MAX_REPLY_BYTES):
        self.host, self.port, self.db = host, port, db
        self.timeout, self.connect_timeout, self.cap = socket_timeout, socket_connect_timeout, max_reply_bytes
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        if self.db:
            await self._call("SELECT", self.db)

    async def execute_command(self, *args: Any) -> Any:
        async with self._lock:
            if self._writer is None:
                await self._connect()
            return await self._call(*args)

    async def _call(self, *args: Any) -> Any:
        assert self._reader is not None and self._writer is not None
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self._writer.write(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        try:
            await asyncio.wait_for(self._writer.drain(), self.timeout)
            budget = [self.cap]
            return await asyncio.wait_for(self._read(budget), self.timeout)
        except asyncio.TimeoutError:
            await self.aclose()
            raise RedisTimeoutError(f"no answer from {self.host}:{self.port} within {self.timeout:g} s") from None
        except (OSError, asyncio.IncompleteReadError) as exc:
            await self.aclose()
            raise RedisConnectionError(f"the connection to {self.host}:{self.port} broke: {exc}") from None
        except ReplyTooLarge:
            await self.aclose()  # the rest of the reply is never read
            raise

    async def _line(self, budget: list[int]) -> bytes:
        assert self._reader is not None
        try:
            line = await self._reader.readuntil(b"\r\n") if budget[0] > 0 else b""
        except asyncio.LimitOverrunError:  # a "line" of more than 64 KiB: no Redis sends that
            line = b""
        budget[0] -= len(line)
        if budget[0] < 0 or not line:
            raise ReplyTooLarge(_("Redis answered more than {value} KiB; the grader reads no more",
                                  value=self.cap // 1024))
        return line[:-2]

    async def _read(self, budget: list[int]) -> Any:
        line = await self._line(budget)
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise ResponseError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            budget[0] -= length + 2
            if budget[0] < 0:
                raise ReplyTooLarge(_("Redis answered a value of {length} bytes, more than the {value} KiB the "
                                      "grader reads", length=length, value=self.cap // 1024))
            return (await self._reader.readexactly(length + 2))[:-2]
        if kind == b"*":
            count = int(rest)
            if count < 0:
                return None
            if count > MAX_ELEMENTS:
                raise ReplyTooLarge(_("Redis answered {count} elements, more than the grader reads", count=count))
            return [await self._read(budget) for _unused in range(count)]
        raise RedisConnectionError(f"{self.host}:{self.port} does not speak Redis (it answered {line[:40]!r})")

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2)

    # --- redis-py's names for the commands the checks use --------------------------------
    async def type(self, key: str) -> bytes:
        return await self.execute_command("TYPE", key)

    async def get(self, key: str) -> bytes | None:
        return await self.execute_command("GET", key)

    async def lrange(self, key: str, start: int, end: int) -> list[bytes]:
        return await self.execute_command("LRANGE", key, start, end) or []

    async def llen(self, key: str) -> int:
        return await self.execute_command("LLEN", key)

    async def lindex(self, key: str, index: int) -> bytes | None:
        return await self.execute_command("LINDEX", key, index)

    async def hget(self, key: str, field: str) -> bytes | None:
        return await self.execute_command("HGET", key, field)

    async def hkeys(self, key: str) -> list[bytes]:
        return await self.execute_command("HKEYS", key) or []

    async def pttl(self, key: str) -> int:
        return await self.execute_command("PTTL", key)

    async def scard(self, key: str) -> int:
        return await self.execute_command("SCARD", key)

    async def sismember(self, key: str, member: Any) -> int:
        return await self.execute_command("SISMEMBER", key, member)

    async def sscan(self, key: str, cursor: int = 0, count: int | None = None) -> tuple[int, list[bytes]]:
        reply = await self.execute_command("SSCAN", key, cursor, *(("COUNT", count) if count else ()))
        return int(reply[0]), reply[1]

    async def zcard(self, key: str) -> int:
        return await self.execute_command("ZCARD", key)

    async def zscore(self, key: str, member: Any) -> float | None:
        reply = await self.execute_command("ZSCORE", key, member)
        return None if reply is None else float(reply)

    async def zrange(self, key: str, start: int, end: int, withscores: bool = False) -> list:
        reply = await self.execute_command("ZRANGE", key, start, end, *(("WITHSCORES",) if withscores else ()))
        if not withscores:
            return reply or []
        return [(reply[i], float(reply[i + 1])) for i in range(0, len(reply or []), 2)]

    async def scan_iter(self, match: str | None = None, count: int | None = None):
        cursor = b"0"
        while True:
            args = [*(("MATCH", match) if match else ()), *(("COUNT", count) if count else ())]
            cursor, keys = await self.execute_command("SCAN", cursor, *args)
            for key in keys:
                yield key
            if cursor in (b"0", 0):
                return

    async def client_list(self) -> list[dict[str, str]]:
        text = (await self.execute_command("CLIENT", "LIST") or b"").decode("utf-8", "replace")
        return [dict(field.partition("=")[::2] for field in line.split()) for line in text.splitlines() if line]
