"""Publish/subscribe between chatd nodes over Redis.

Each process holds ONE subscriber connection, whatever the number of channels.
A reader task owns it: it connects (backing off while Redis is away),
subscribes to every channel the hub asked for, and hands each message to the
handler. Subscribe and unsubscribe commands are written under one lock, so
they reach Redis in call order; :meth:`RedisBroker.subscribe` returns once
Redis has confirmed the subscription, after which every later publication on
the channel is delivered.

Publications are best-effort: those sent while the connection is down are
lost. Log entries carry gap-free seqs, so a subscriber notices the hole at the
next entry and reads the log.

Channel names are prefixed with the deployment's key prefix on the wire (see
:mod:`chatd.store.keys`); the handler receives the names it subscribed with.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from chatd.errors import ChatdError
from chatd.store.base import PublicationHandler
from chatd.store.keys import Keys
from chatd.store.redis_wire import open_pool

__all__ = ["RedisBroker", "backoff"]

log = logging.getLogger(__name__)

_PUBLISH_MANY = Path(__file__).resolve().parent / "lua" / "publish_many.lua"
_SUBSCRIBE_BATCH = 500  # channels per SUBSCRIBE command when resubscribing


def backoff(initial: float = 0.05, maximum: float = 1.0, factor: float = 2.0) -> Iterator[float]:
    """Delays between reconnection attempts: exponential, capped at a second
    (one attempt a second per node while Redis is away; it is back in use
    within a second of returning, inside the store's retry bound)."""
    delay = initial
    while True:
        yield delay
        delay = min(maximum, delay * factor)


class RedisBroker:
    """The :class:`~chatd.store.base.Broker` contract on Redis pub/sub."""

    def __init__(self, url: str | Sequence[str], keys: Keys, *, publisher: aioredis.Redis,
                 health_check_seconds: float = 15.0, ack_timeout: float = 10.0) -> None:
        # Several URLs (the nodes of a Redis Cluster, where a classic publication
        # reaches subscribers on every node): a lost connection moves to the next.
        urls = [url] if isinstance(url, str) else list(url)
        self._pools = [open_pool(u, waiting=False, decode_responses=False,
                                 client_name=f"{keys.prefix}:broker".replace(" ", "_")) for u in urls]
        self._next_pool = 0
        self._publisher = publisher
        self._publish_many = publisher.register_script(_PUBLISH_MANY.read_text())
        self._prefix = keys.channel_prefix
        self._raw_prefix = keys.channel_prefix.encode()
        self._health_check_seconds = health_check_seconds
        self._ack_timeout = ack_timeout
        self._handler: PublicationHandler | None = None
        self._channels: set[str] = set()
        self._acks: dict[bytes, asyncio.Future[None]] = {}  # wire channel -> subscription confirmed
        self._lock = asyncio.Lock()  # orders every command written on the subscriber connection
        self._connection: AbstractConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self._on_resync: Callable[[], None] | None = None

    def start(self, handler: PublicationHandler, on_resync: Callable[[], None] | None = None) -> None:
        """Start the reader task; call from the running event loop."""
        self._handler = handler
        self._on_resync = on_resync
        if self._reader is None and not self._closed:
            self._reader = asyncio.get_running_loop().create_task(self._run(), name="chatd-broker-reader")

    async def publish(self, channel: str, payload: bytes) -> None:
        await self._publisher.publish(self._prefix + channel, payload)

    async def publish_many(self, publications: Sequence[tuple[str, bytes]]) -> None:
        if not publications:
            return
        args: list[str | bytes] = []
        for channel, payload in publications:
            args += [self._prefix + channel, payload]
        await self._publish_many(keys=[], args=args)

    async def subscribe(self, channel: str) -> None:
        """Subscribe and wait for Redis to confirm. If the connection is down,
        the subscription is made on reconnection; ``ChatdError("unavailable")``
        after ``ack_timeout`` seconds (the channel stays subscribed)."""
        if self._reader is None:
            raise RuntimeError("start() the broker before subscribing")
        self._channels.add(channel)
        wire = (self._prefix + channel).encode()
        ack = self._acks.get(wire)
        if ack is None:
            ack = self._acks[wire] = asyncio.get_running_loop().create_future()
            await self._send("SUBSCRIBE", wire)
        try:
            await asyncio.wait_for(asyncio.shield(ack), self._ack_timeout)
        except TimeoutError:
            if self._acks.get(wire) is ack:
                del self._acks[wire]  # the next subscribe() asks again
            raise ChatdError("unavailable", "Redis did not confirm a subscription") from None

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        await self._send("UNSUBSCRIBE", (self._prefix + channel).encode())

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        for ack in self._acks.values():
            ack.cancel()
        self._acks.clear()
        for pool in self._pools:
            await pool.aclose()

    # --- the subscriber connection -------------------------------------------------
    @property
    def _connected(self) -> bool:
        return self._connection is not None and self._connection.is_connected

    async def _send(self, *command: bytes | str) -> None:
        async with self._lock:
            if not self._connected:
                return  # the reader subscribes everything when it reconnects
            assert self._connection is not None
            try:
                await self._connection.send_command(*command)
            except (RedisError, OSError) as exc:
                log.warning("broker command failed, reconnecting: %s", exc)
                await self._connection.disconnect()

    async def _run(self) -> None:
        delays = backoff()
        while True:
            connection = self._pools[self._next_pool % len(self._pools)].make_connection()
            try:
                await connection.connect()
                async with self._lock:
                    self._connection = connection
                    channels = [(self._prefix + c).encode() for c in sorted(self._channels)]
                    for start in range(0, len(channels), _SUBSCRIBE_BATCH):
                        await connection.send_command("SUBSCRIBE", *channels[start:start + _SUBSCRIBE_BATCH])
                delays = backoff()
                if channels and self._on_resync is not None:
                    # Publications sent while we were away are lost: let the hub re-read the logs.
                    self._on_resync()
                await self._read(connection)
            except (RedisError, OSError) as exc:
                log.warning("broker connection lost: %s", exc)
                self._next_pool += 1
            except Exception:
                log.exception("broker reader failed, reconnecting")
                self._next_pool += 1
            finally:
                self._connection = None
                await connection.disconnect()
            await asyncio.sleep(next(delays))

    async def _read(self, connection: AbstractConnection) -> None:
        """Dispatch messages until the connection fails; ping when it is quiet."""
        pinged = False
        while True:
            message = await connection.read_response(timeout=self._health_check_seconds, push_request=True)
            if message is None:  # quiet for a while: is the server still there?
                if pinged:
                    raise ConnectionError("no answer to PING on the subscriber connection")
                async with self._lock:
                    await connection.send_command("PING")
                pinged = True
                continue
            pinged = False
            self._dispatch(message)

    def _dispatch(self, message: object) -> None:
        if not isinstance(message, list) or not message:
            return  # e.g. PONG when nothing is subscribed
        kind = message[0]
        if kind == b"message":
            wire, payload = message[1], message[2]
            channel = wire[len(self._raw_prefix):].decode()
            if channel in self._channels and self._handler is not None:
                try:
                    self._handler(channel, payload)
                except Exception:
                    log.exception("publication handler failed on %s", channel)
        elif kind == b"subscribe":
            ack = self._acks.pop(message[1], None)
            if ack is not None and not ack.done():
                ack.set_result(None)
