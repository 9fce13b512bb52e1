"""The client side of the Redis wire: connections and the connection pool.

redis-py's asyncio connections encode every command argument in Python,
which is most of the client-side cost of a pipelined Lua call with thirty
arguments. hiredis (already the reply parser) packs a whole command in C.
Anything hiredis does not take (a memoryview, a wrong type) goes through
redis-py's own encoder, so errors and edge cases stay exactly as before.

redis-py's ``BlockingConnectionPool`` takes a condition, a timeout scope and
several observability hooks for every command, whether or not it must wait;
:class:`WaitingConnectionPool` waits the same way but only when every
connection is in use.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["HiredisConnection", "WaitingConnectionPool", "pool_options"]


class _HiredisPacking:
    """Mixin for redis-py asyncio connections."""

    def pack_command(self, *args: Any) -> list[bytes]:
        head = args[0]
        if isinstance(head, str) and " " in head:  # "SCRIPT LOAD": the server wants two arguments
            args = (*head.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            return super().pack_command(*args)  # type: ignore[misc]


class HiredisConnection(_HiredisPacking, aioredis.Connection):
    """A TCP connection (``redis://``) that packs commands with hiredis."""


def pool_options(url: str) -> dict[str, Any]:
    """Extra ``ConnectionPool.from_url`` options for ``url``: the hiredis-packing
    connection for ``redis://`` (redis-py insists on its own classes for
    ``rediss://`` and ``unix://``, which then encode as before)."""
    return {"connection_class": HiredisConnection} if urlsplit(url).scheme == "redis" else {}


class WaitingConnectionPool(aioredis.ConnectionPool):
    """A pool of at most ``max_connections`` whose commands wait, first come
    first served, up to ``timeout`` seconds for a free connection (then
    ``ConnectionError``) instead of failing at once as redis-py's
    ``ConnectionPool`` does. A connection is checked as redis-py checks it
    (connected, nothing unread) every time it is handed out."""

    def __init__(self, *args: Any, timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _full(self) -> bool:
        return not self._available_connections and len(self._in_use_connections) >= self.max_connections

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        if self._full() or self._waiters:  # wait in line behind earlier waiters
            await self._wait_for_turn()
        connection = self.get_available_connection()
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def _wait_for_turn(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            turn: asyncio.Future[None] = loop.create_future()
            self._waiters.append(turn)
            try:
                async with asyncio.timeout_at(deadline):
                    await turn
            except (TimeoutError, asyncio.CancelledError) as exc:
                if turn.done() and not turn.cancelled():
                    self._wake_next()  # the connection this waiter was woken for goes to the next one
                if isinstance(exc, TimeoutError):
                    raise RedisConnectionError("No connection available.") from None
                raise
            finally:
                if turn in self._waiters:
                    self._waiters.remove(turn)
            if not self._full():
                return

    def _wake_next(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return

    async def release(self, connection: AbstractConnection) -> None:
        self._in_use_connections.remove(connection)
        if connection.should_reconnect():
            await connection.disconnect()
        self._available_connections.append(connection)
        self._wake_next()
