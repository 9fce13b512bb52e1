"""The node's connection hub: which local sessions follow which channels,
and fan-out of publications from the broker to them.

A publication is decoded once and its frame encoded at most once per wire
format, whatever the number of local sessions it goes to. The hub also
keeps agents' presence fresh, closes idle connections and drains the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from chatd.metrics import Metrics
from chatd.protocol import CLOSE_DRAINING, CLOSE_IDLE, entry_frame, error_frame
from chatd.session import Outgoing, Replay, Session
from chatd.settings import Settings
from chatd.store.base import (
    Broker,
    Engine,
    agent_channel,
    conversation_channel,
    pack_publication,
    router_channel,
    unpack_publication,
)

__all__ = ["BrokerPublisher", "Hub"]

log = logging.getLogger("chatd.hub")

SIGNALS_PENDING = 10_000  # best-effort signals queued at most while a publish is slow


class BrokerPublisher:
    """The routing worker's news (:class:`router.worker.Publisher`) sent
    through a broker, one round trip per call."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def publish_assigned_many(self, assigned: Sequence[tuple[str, dict[str, Any]]]) -> None:
        await self.broker.publish_many([(agent_channel(agent_id), pack_publication("assigned", {"conversation": c}))
                                        for agent_id, c in assigned])

    async def publish_signals(self, signals: Sequence[tuple[str, dict[str, Any]]]) -> None:
        await self.broker.publish_many([(channel, pack_publication("signal", {"frame": frame, "skip": None}))
                                        for channel, frame in signals])

    async def wake_router(self, announce: Sequence[str] = ()) -> None:
        await self.broker.publish(router_channel(), pack_publication("wake", {"announce": list(announce)}))


class Hub(BrokerPublisher):
    def __init__(self, settings: Settings, engine: Engine, clock: Callable[[], float], metrics: Metrics) -> None:
        self.settings = settings
        self.store = engine.store
        super().__init__(engine.broker)
        self.clock = clock
        self.metrics = metrics
        self.draining = False
        self.in_flight = 0
        self.sessions: set[Session] = set()
        self._followers: dict[str, set[Session]] = {}
        self._agents: dict[str, set[Session]] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._pending_signals: list[tuple[str, bytes]] = []  # best-effort signals waiting to be published
        self._signal_publisher: asyncio.Task[None] | None = None
        self._on_agent_assigned: Callable[[str, dict[str, Any]], None] | None = None
        self._on_agent_gone: Callable[[str], None] | None = None
        self._on_resync: Callable[[], None] | None = None
        self._on_router_wake: Callable[[Sequence[str]], None] | None = None
        self._subscribed: set[str] = set()  # channels the broker delivers to this node
        self._channel_locks: dict[str, asyncio.Lock] = {}
        self._subscription_tasks: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()

    def next_sid(self) -> int:
        return next(self._ids)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; its failure is logged, never lost."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background work failed", exc_info=task.exception())

    # --- lifecycle ---------------------------------------------------------------
    def start(self, on_agent_gone: Callable[[str], None] | None = None,
              on_resync: Callable[[], None] | None = None,
              on_router_wake: Callable[[Sequence[str]], None] | None = None) -> None:
        """Start fan-out and housekeeping. ``on_agent_gone(agent_id)`` runs when an
        agent's last local connection closes; ``on_resync()`` after the broker
        came back from an outage (publications in between are lost);
        ``on_router_wake(conversation_ids)`` when another node has routing work
        (and visitors who want their queue position told again)."""
        self._on_agent_gone = on_agent_gone
        self._on_resync = on_resync
        self._on_router_wake = on_router_wake
        self.broker.start(self._on_publication, on_resync=self._resync)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._housekeeping())]
        self.spawn(self.broker.subscribe(router_channel()))

    async def stop(self) -> None:
        if self._signal_publisher is not None:
            self._signal_publisher.cancel()
        for task in list(self._background):
            task.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def drain(self, timeout: float) -> None:
        """Stop taking work, let in-flight frames finish (acks sent), then
        close every client with 1012 so it reconnects elsewhere."""
        self.draining = True
        deadline = self.clock() + timeout
        while self.in_flight and self.clock() < deadline:
            await asyncio.sleep(0.02)
        for session in list(self.sessions):
            session.close_soon(CLOSE_DRAINING)
        while any(s.writer and not s.writer.done() for s in self.sessions) and self.clock() < deadline:
            await asyncio.sleep(0.02)

    # --- sessions and channels -----------------------------------------------------
    def register(self, session: Session) -> None:
        self.sessions.add(session)
        session.on_detach = self.detach
        self.metrics.connections.labels(session.role).inc()
        if session.role == "agent":
            self._agents.setdefault(session.principal_id, set()).add(session)

    async def unregister(self, session: Session) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        self.metrics.connections.labels(session.role).dec()
        for channel in list(session.channels):
            self.leave(session, channel)
        if session.role == "agent":
            peers = self._agents.get(session.principal_id)
            if peers is not None:
                peers.discard(session)
                if not peers:
                    del self._agents[session.principal_id]
                    with contextlib.suppress(Exception):
                        await self.store.drop_presence(session.principal_id, self.settings.node_id)
                    if self._on_agent_gone is not None:
                        self._on_agent_gone(session.principal_id)

    def local_agent_sessions(self, agent_id: str) -> set[Session]:
        return self._agents.get(agent_id, set())

    async def join(self, session: Session, channel: str) -> None:
        """Follow ``channel``; returns once the broker delivers its publications."""
        session.channels.add(channel)
        self._followers.setdefault(channel, set()).add(session)
        await self._sync_subscription(channel)

    def leave(self, session: Session, channel: str) -> None:
        """Stop following ``channel`` at once; the broker unsubscribes soon
        when nobody on this node follows it any more."""
        if channel not in session.channels:
            return
        session.channels.discard(channel)
        followers = self._followers.get(channel)
        if followers is None:
            return
        followers.discard(session)
        if not followers:
            del self._followers[channel]
            task = asyncio.get_running_loop().create_task(self._sync_subscription(channel))
            self._subscription_tasks.add(task)
            task.add_done_callback(self._subscription_tasks.discard)

    async def _sync_subscription(self, channel: str) -> None:
        """Make the broker's subscription match whether anyone follows ``channel``.

        Followers change synchronously; the broker is told under one lock per
        channel, each time after reading what is wanted *now*, so any
        interleaving of joins and leaves ends subscribed exactly when followed.
        """
        lock = self._channel_locks.get(channel)
        if lock is None:
            lock = self._channel_locks[channel] = asyncio.Lock()
        try:
            async with lock:
                wanted = channel in self._followers
                if wanted and channel not in self._subscribed:
                    await self.broker.subscribe(channel)
                    self._subscribed.add(channel)
                elif not wanted and channel in self._subscribed:
                    self._subscribed.discard(channel)
                    await self.broker.unsubscribe(channel)
        finally:
            if not lock.locked() and self._channel_locks.get(channel) is lock:
                del self._channel_locks[channel]

    async def attach(self, session: Session, conversation_id: str, after_seq: int, epoch: str = "") -> None:
        """Follow a conversation: subscribe first, then replay the log after
        ``after_seq`` (of ``epoch``, when the client knows it), so no entry
        falls between the two."""
        await self.join(session, conversation_channel(conversation_id))
        session.push(Replay(conversation_id, after_seq, epoch))

    def detach(self, session: Session, conversation_id: str) -> None:
        """Stop delivering a conversation to ``session`` (it is no longer theirs)."""
        session.unfollow(conversation_id)
        self.leave(session, conversation_channel(conversation_id))

    def _resync(self) -> None:
        """After a broker outage, catch every session up from the logs, and
        let agents' sessions pick up chats given to them meanwhile."""
        for session in self.sessions:
            for conversation_id, seq in list(session.delivered.items()):
                session.push(Replay(conversation_id, seq))
        if self._on_resync is not None:
            self._on_resync()

    # --- fan-out --------------------------------------------------------------------
    def _on_publication(self, channel: str, raw: bytes) -> None:
        followers = self._followers.get(channel)
        if not followers:
            if channel == router_channel() and self._on_router_wake is not None:
                with contextlib.suppress(Exception):
                    self._on_router_wake(list(unpack_publication(raw).get("announce") or ()))
            return
        try:
            publication = unpack_publication(raw)
        except Exception:
            log.warning("dropped an undecodable publication on %s", channel)
            return
        kind = publication.get("type")
        if kind == "entry":
            entry = publication["entry"]
            epoch = entry.get("epoch", "")
            out = Outgoing(entry_frame(entry, epoch), entry["conversation_id"], entry["seq"], epoch=epoch)
        elif kind == "signal":
            skip = publication.get("skip")
            out = Outgoing(publication["frame"], skip=tuple(skip) if skip else None)
        elif kind == "assigned":
            conversation = publication["conversation"]
            for session in list(followers):
                if session.role == "agent":
                    session.push({"type": "conversation", "conversation": conversation})
                    self.spawn(self.attach(session, conversation["conversation_id"], 0))
            return
        elif kind == "status":
            out = Outgoing({"type": "status", "status": publication["status"]})
        else:
            return
        for session in followers:
            session.push(out)

    async def publish_signal(self, channel: str, frame: dict[str, Any], skip: tuple[str, str] | None = None) -> None:
        await self.broker.publish(channel, pack_publication("signal", {"frame": frame, "skip": skip}))

    def publish_signal_soon(self, channel: str, frame: dict[str, Any], skip: tuple[str, str] | None = None) -> None:
        """Publish a best-effort signal (typing, read) without making the
        caller wait: a client's reader goes on to its next frame at once.

        Signals wait for the one publishing task: those queued meanwhile go
        together in one round trip, in the order they were queued. While
        Redis is unreachable at most ``SIGNALS_PENDING`` wait; the rest are
        dropped and counted in ``chatd_signals_lost_total``."""
        if len(self._pending_signals) >= SIGNALS_PENDING:
            self.metrics.signals_lost.inc()
            return
        self._pending_signals.append((channel, pack_publication("signal", {"frame": frame, "skip": skip})))
        if self._signal_publisher is None:
            self._signal_publisher = asyncio.get_running_loop().create_task(self._publish_pending_signals())

    async def _publish_pending_signals(self) -> None:
        try:
            while self._pending_signals:
                batch, self._pending_signals = self._pending_signals, []
                try:
                    await self.broker.publish_many(batch)
                except Exception:
                    self.metrics.signals_lost.inc(len(batch))
        finally:
            self._signal_publisher = None

    async def publish_assigned(self, agent_id: str, conversation: dict[str, Any]) -> None:
        await self.broker.publish(agent_channel(agent_id), pack_publication("assigned", {"conversation": conversation}))

    # --- housekeeping ---------------------------------------------------------------
    async def _housekeeping(self) -> None:
        """Refresh agents' presence and close idle sessions, every few seconds."""
        period = max(0.5, min(5.0, self.settings.presence_ttl_seconds / 3))
        while True:
            await asyncio.sleep(period)
            now = self.clock()
            try:
                expires = now + self.settings.presence_ttl_seconds
                for agent_id in list(self._agents):
                    await self.store.touch_presence(agent_id, self.settings.node_id, expires)
            except Exception:
                log.warning("could not refresh presence", exc_info=True)
            limit = self.settings.idle_timeout_seconds
            for session in list(self.sessions):
                if now - session.last_seen > limit and not session.closed:
                    self.metrics.errors.labels("idle_timeout").inc()
                    session.push(error_frame("bad_request", "idle timeout: no frame received"))
                    session.close_soon(CLOSE_IDLE)
