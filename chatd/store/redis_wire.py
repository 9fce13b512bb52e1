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

``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]`` URLs
give pools that ask the Sentinels for the current primary and follow it
across failovers (:func:`open_pool`); ``redis+cluster://[:password@]host:port
[,host:port...]`` a Redis Cluster client (:func:`cluster_client`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = [
    "CLUSTER_SCHEME",
    "SENTINEL_SCHEME",
    "HiredisConnection",
    "SentinelUrl",
    "WaitingConnectionPool",
    "cluster_client",
    "open_pool",
    "parse_cluster_url",
    "parse_sentinel_url",
    "pool_options",
]

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"


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


class HiredisSentinelConnection(_HiredisPacking, SentinelManagedConnection):
    """A connection to whichever server the Sentinels name primary, packing with hiredis."""


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


class WaitingSentinelPool(WaitingConnectionPool, SentinelConnectionPool):
    """:class:`WaitingConnectionPool`'s waiting over a Sentinel-managed pool."""


class SentinelUrl:
    """A parsed ``redis+sentinel://`` URL."""

    def __init__(self, sentinels: list[tuple[str, int]], service: str, db: int, password: str | None,
                 sentinel_password: str | None) -> None:
        self.sentinels, self.service, self.db = sentinels, service, db
        self.password, self.sentinel_password = password, sentinel_password


def parse_sentinel_url(url: str) -> SentinelUrl:
    """``redis+sentinel://[:password@]h1:26379,h2:26379/mymaster[/db][?sentinel_password=…]``;
    raises ``ValueError`` saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    hosts = parts.netloc.rpartition("@")[2]
    password = unquote(parts.password) if parts.password else None
    sentinels = []
    for item in filter(None, hosts.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"each Sentinel must be host:port, not {item!r}")
        sentinels.append((host, int(port)))
    path = [segment for segment in parts.path.split("/") if segment]
    if not sentinels or not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("expected redis+sentinel://host:port[,host:port...]/<service name>[/<db>]")
    query = parse_qs(parts.query)
    return SentinelUrl(sentinels, path[0], int(path[1]) if len(path) == 2 else 0, password,
                       query.get("sentinel_password", [None])[0])


def open_pool(url: str, *, waiting: bool, **options: Any) -> aioredis.ConnectionPool:
    """A connection pool for ``url`` (``redis://``, ``rediss://``, ``unix://`` or
    ``redis+sentinel://``): :class:`WaitingConnectionPool` when ``waiting``,
    redis-py's plain pool otherwise (the broker's one subscriber connection)."""
    if urlsplit(url).scheme != SENTINEL_SCHEME:
        if waiting:
            return WaitingConnectionPool.from_url(url, **pool_options(url), **options)
        return aioredis.ConnectionPool.from_url(url, **pool_options(url), **options)
    parsed = parse_sentinel_url(url)
    timeout = options.pop("timeout", 10.0)
    manager = Sentinel(parsed.sentinels, sentinel_kwargs={"password": parsed.sentinel_password,
                                                          "socket_timeout": 2.0},
                       socket_timeout=2.0)
    kwargs = {**options, "db": parsed.db, "password": parsed.password,
              "connection_class": HiredisSentinelConnection}
    if waiting:
        return WaitingSentinelPool(parsed.service, manager, timeout=timeout, **kwargs)
    return SentinelConnectionPool(parsed.service, manager, **kwargs)


def parse_cluster_url(url: str) -> tuple[list[tuple[str, int]], str | None]:
    """``redis+cluster://[:password@]h1:7000,h2:7001`` -> (startup nodes, password);
    raises ``ValueError`` saying what is wrong (a cluster has only database 0)."""
    parts = urlsplit(url)
    if parts.scheme != CLUSTER_SCHEME:
        raise ValueError(f"not a {CLUSTER_SCHEME}:// URL")
    nodes = []
    for item in filter(None, parts.netloc.rpartition("@")[2].split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"each cluster node must be host:port, not {item!r}")
        nodes.append((host, int(port)))
    if not nodes or parts.path.strip("/") not in ("", "0"):
        raise ValueError("expected redis+cluster://host:port[,host:port...] (database 0 only)")
    return nodes, unquote(parts.password) if parts.password else None


def cluster_client(url: str, **options: Any) -> tuple[Any, list[str]]:
    """A Redis Cluster client for ``url``, and a plain ``redis://`` URL per
    startup node for the broker's subscriber connection."""
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    nodes, password = parse_cluster_url(url)
    client = RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes], password=password,
                          **options)
    auth = f":{password}@" if password else ""
    return client, [f"redis://{auth}{host}:{port}/0" for host, port in nodes]
