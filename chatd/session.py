"""One client connection: identity, per-conversation delivery state, and the
writer that keeps every conversation's frames gap-free and in order.

Everything sent to a client goes through :meth:`Session.push` into one
bounded queue drained by one writer task, so acks, replays and live entries
never interleave out of order. The writer exists only while there is
something to send: most connections are idle most of the time, and an idle
one holds no task. The writer enforces the delivery contract per
conversation: it skips entries the client already has, fills a gap from the
log before sending a later entry, and replays from the client's last seq when
the session attaches to a conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from chatd.conversation import takes_part
from chatd.protocol import CLOSE_UNAVAILABLE, encode, entry_frame
from chatd.ratelimit import TokenBucket
from chatd.store.base import Store

__all__ = ["PRIVATE_DATA", "TYPING_REPEAT_SECONDS", "Outgoing", "Replay", "Session", "visitor_view"]

log = logging.getLogger("chatd.session")

TYPING_REPEAT_SECONDS = 2.0  # an unchanged typing state is passed on at most this often

Sender = Callable[[str | bytes], Awaitable[None]]


# Event details that agents see and visitors do not (a transfer's note, the bot's handoff context).
PRIVATE_DATA = ("note", "handoff")


def visitor_view(frame: dict[str, Any]) -> dict[str, Any] | None:
    """The frame as a visitor may see it: ``None`` for internal notes, events
    without their private details."""
    if frame["type"] == "note":
        return None
    if frame["type"] == "event" and any(key in frame["data"] for key in PRIVATE_DATA):
        data = {k: v for k, v in frame["data"].items() if k not in PRIVATE_DATA}
        return {**frame, "data": data}
    return frame


class Outgoing:
    """A server frame encoded at most once per format, shared by every
    session it is fanned out to. ``seq``/``conversation_id`` are set for log
    entries (which the writer orders); 0/"" for signals."""

    __slots__ = ("_json", "_msgpack", "_public", "conversation_id", "epoch", "frame", "seq", "skip")

    def __init__(self, frame: dict[str, Any], conversation_id: str = "", seq: int = 0,
                 skip: tuple[str, str] | None = None, epoch: str = "") -> None:
        self.frame = frame
        self.conversation_id = conversation_id
        self.seq = seq
        self.epoch = epoch
        self.skip = skip  # (role, id) of the originator, for signals not echoed back
        self._json: str | bytes | None = None
        self._msgpack: str | bytes | None = None
        self._public: Outgoing | bool | None = False  # False: not computed yet

    def public(self) -> Outgoing | None:
        """This frame as visitors see it (itself when nothing is private)."""
        if self._public is False:
            view = visitor_view(self.frame)
            self._public = self if view is self.frame else (None if view is None else
                                                               Outgoing(view, self.conversation_id, self.seq,
                                                                        epoch=self.epoch))
        return self._public  # type: ignore[return-value]

    def encoded(self, fmt: str) -> str | bytes:
        if fmt == "json":
            if self._json is None:
                self._json = encode(self.frame, "json")
            return self._json
        if self._msgpack is None:
            self._msgpack = encode(self.frame, "msgpack")
        return self._msgpack


class Replay:
    """Writer instruction: send entries after ``after_seq`` (of the log's
    ``epoch`` when the client named one), then ``synced``."""

    __slots__ = ("after_seq", "conversation_id", "epoch")

    def __init__(self, conversation_id: str, after_seq: int, epoch: str = "") -> None:
        self.conversation_id = conversation_id
        self.after_seq = after_seq
        self.epoch = epoch


_CLOSE = object()


class Session:
    """State of one WebSocket connection after ``hello``.

    ``delivered`` maps each attached conversation to the highest seq sent to
    this client, and ``epochs`` every conversation the client was sent entries
    of to the log epoch they belong to (kept after a detach, so a conversation
    that comes back in a new epoch is resynced); a conversation absent from
    ``delivered`` is not (yet) attached and its live entries are skipped: the
    replay that attaches it reads them from the log. ``held`` is what the
    client holds of conversations not attached now (said at ``hello``, or
    sent before a detach): no replay sends those entries again, whichever
    attaches the conversation (the hello's own, a catch-up after a broker
    outage, a chat coming back). Only a ``resync`` sends a log again.
    """

    __slots__ = (
        "_bucket",
        "_close_cb",
        "_limit",
        "_queue",
        "_send",
        "_started",
        "_store",
        "_typing",
        "agent_role",
        "channels",
        "close_code",
        "closed",
        "delivered",
        "epochs",
        "fmt",
        "held",
        "last_seen",
        "name",
        "on_detach",
        "principal_id",
        "role",
        "sid",
        "site_key",
        "watching",
        "writer",
    )

    def __init__(self, sid: int, role: str, fmt: str, send: Sender, store: Store, *,
                 queue_limit: int, rate: float, burst: int, now: float,
                 close: Callable[[int], Awaitable[None]]) -> None:
        self.sid = sid
        self.role = role  # "visitor" or "agent"
        self.fmt = fmt
        self.principal_id = ""  # visitor id or agent id
        self.site_key = ""
        self.name = ""
        self.agent_role = ""  # agent / supervisor / admin
        self.delivered: dict[str, int] = {}
        self.epochs: dict[str, str] = {}
        self.held: dict[str, int] = {}
        self.channels: set[str] = set()
        self._queue: deque[Any] = deque()
        self._started = False
        self._send = send
        self._close_cb = close
        self._store = store
        self._limit = queue_limit
        self.writer: asyncio.Task[None] | None = None  # while there is something to send
        self.closed = False
        self.close_code = 0
        self.last_seen = now
        self._bucket = TokenBucket(rate, burst, now)
        self.on_detach: Callable[[Session, str], None] | None = None
        self.watching: set[str] = set()  # conversations a supervisor monitors read-only
        self._typing: dict[str, tuple[bool, float]] = {}  # conversation -> last typing state sent, when

    # --- input side -----------------------------------------------------------
    def allow_frame(self, now: float) -> bool:
        """Token bucket: ``rate`` frames/s sustained, ``burst`` at once."""
        return self._bucket.take(now)

    def typing_changed(self, conversation_id: str, active: bool, now: float) -> bool:
        """Whether this client's typing signal is worth publishing: its state
        changed, or the same state was last sent ``TYPING_REPEAT_SECONDS`` ago
        (followers' indicators expire without it). Clients send one per
        keystroke burst; most are dropped here."""
        last = self._typing.get(conversation_id)
        if last is not None and last[0] == active and now - last[1] < TYPING_REPEAT_SECONDS:
            return False
        self._typing[conversation_id] = (active, now)
        return True

    # --- output side ----------------------------------------------------------
    def push(self, item: Any) -> bool:
        """Queue a frame dict, an :class:`Outgoing` or a :class:`Replay`.
        Returns False (and starts closing as a slow consumer) when the queue
        is full; the client then reconnects and resumes by seq."""
        if self.closed:
            return False
        if len(self._queue) >= self._limit:
            self._queue.clear()
            self._queue.append({"type": "error", "code": "slow_consumer",
                                "message": "The connection fell too far behind; reconnect and resume."})
            self._queue.append((_CLOSE, 1013))
            self.closed = True
            self._write_soon()
            return False
        self._queue.append(item)
        self._write_soon()
        return True

    def close_soon(self, code: int) -> None:
        """Flush what is queued, then close with ``code``."""
        if not self.closed:
            self.closed = True
            self._queue.append((_CLOSE, code))
            self._write_soon()

    def holds(self, points: dict[str, tuple[int, str]]) -> None:
        """The client's resume points from ``hello`` (``{conversation: (seq,
        epoch)}``): what it has, never sent again by any replay."""
        for conversation_id, (seq, epoch) in points.items():
            self.held[conversation_id] = seq
            if epoch:
                self.epochs[conversation_id] = epoch

    def unfollow(self, conversation_id: str) -> None:
        """Stop delivering the conversation's live entries. What the client
        was sent stays held (and its epoch known): if the conversation comes
        back to this session, the replay goes on from there, or resyncs when
        the log's epoch changed meanwhile."""
        seq = self.delivered.pop(conversation_id, None)
        if seq is not None:
            self.held[conversation_id] = seq

    def start(self) -> None:
        """Frames may be written from now on (those queued before go first)."""
        self._started = True
        if self._queue:
            self._write_soon()

    def stop(self) -> None:
        """The connection is gone: nothing more is queued or written."""
        self.closed = True
        self._queue.clear()
        if self.writer is not None:
            self.writer.cancel()

    def _write_soon(self) -> None:
        if self._started and self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        queue = self._queue
        try:
            while queue:
                item = queue.popleft()
                if type(item) is Outgoing:
                    if item.seq:
                        await self._deliver_entry(item)
                    elif item.skip is None or item.skip != (self.role, self.principal_id):
                        await self._send(item.encoded(self.fmt))
                elif type(item) is dict:
                    await self._send(encode(item, self.fmt))
                elif type(item) is Replay:
                    # Never resend what this client already has, whatever was known when queued.
                    cid = item.conversation_id
                    if cid in self.delivered:
                        await self._replay(cid, max(item.after_seq, self.delivered[cid]), announce=True,
                                           epoch=self.epochs.get(cid, ""))
                    else:
                        await self._replay(cid, max(item.after_seq, self.held.get(cid, 0)), announce=True,
                                           epoch=item.epoch or self.epochs.get(cid, ""))
                elif type(item) is tuple and item[0] is _CLOSE:
                    self.close_code = item[1]
                    with contextlib.suppress(Exception):
                        await self._close_cb(item[1])
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The socket went away, or the log could not be read (the store is
            # unreachable beyond its retries). Either way this connection can no
            # longer keep the delivery contract: close it now so the client
            # reconnects and resumes, instead of leaving it open and silent.
            self.closed = True
            self._queue.clear()
            self.close_code = CLOSE_UNAVAILABLE
            log.info("closing session %d after a failed write: %r", self.sid, exc)
            with contextlib.suppress(Exception):
                await self._close_cb(CLOSE_UNAVAILABLE)
            return
        self.writer = None  # all sent: the next push starts a writer again

    async def _deliver_entry(self, item: Outgoing) -> None:
        conversation_id = item.conversation_id
        last = self.delivered.get(conversation_id)
        if last is None:
            return
        if item.epoch != self.epochs.get(conversation_id, item.epoch):
            # The log's history may have been lost and its seqs handed out again:
            # what this client has no longer compares. Send it the log afresh.
            await self._replay(conversation_id, 0, announce=True, resync=True)
            return
        if item.seq <= last:
            return
        if item.seq > last + 1:
            await self._replay(conversation_id, last, announce=False, upto=item.seq - 1)
            if item.seq <= self.delivered.get(conversation_id, item.seq):
                return
        if self.role == "visitor":
            public = item.public()
            if public is not None:
                await self._send(public.encoded(self.fmt))
        else:
            await self._send(item.encoded(self.fmt))
        self.delivered[conversation_id] = item.seq
        if item.frame["type"] == "event":
            self._follow(conversation_id, item.frame["data"])

    async def _replay(self, conversation_id: str, after_seq: int, *, announce: bool, upto: int = 0,
                      epoch: str = "", resync: bool = False) -> None:
        """Send log entries after ``after_seq`` (up to ``upto`` when set) in
        order; then decide from the newest event whether to keep following.

        ``epoch`` is the log epoch ``after_seq`` belongs to ("": trusted as
        current). When the log's epoch differs, or the client is ahead of the
        log (history lost under the same epoch), or ``resync`` is asked, the
        client is told to forget the conversation's entries (``resync``) and
        gets the whole log instead."""
        cursor = after_seq
        page = await self._store.read(conversation_id, cursor, limit=500)
        if resync or (epoch and epoch != page.epoch) or cursor > page.last_seq:
            await self._send(encode({"type": "resync", "conversation_id": conversation_id, "epoch": page.epoch},
                                    self.fmt))
            self.delivered.pop(conversation_id, None)
            self.held.pop(conversation_id, None)
            announce, upto, cursor = True, 0, 0
            page = await self._store.read(conversation_id, 0, limit=500)
        self.epochs[conversation_id] = page.epoch
        if page.first_seq > cursor + 1 and page.last_seq >= page.first_seq:
            await self._send(encode({"type": "replay_gap", "conversation_id": conversation_id,
                                     "after_seq": cursor, "first_seq": page.first_seq}, self.fmt))
        newest_event: dict[str, Any] | None = None
        while True:
            for entry in page.entries:
                if upto and entry.seq > upto:
                    break
                frame = entry_frame(entry.to_dict(), page.epoch)
                shown = visitor_view(frame) if self.role == "visitor" else frame
                if shown is not None:
                    await self._send(encode(shown, self.fmt))
                cursor = entry.seq
                if entry.kind == "event":
                    newest_event = entry.data
            if not page.entries or (upto and cursor >= upto) or cursor >= page.last_seq:
                break
            page = await self._store.read(conversation_id, cursor, limit=500)
        if conversation_id in self.delivered or announce:
            self.delivered[conversation_id] = max(cursor, self.delivered.get(conversation_id, 0))
            self.held.pop(conversation_id, None)
        if announce:
            await self._send(encode({"type": "synced", "conversation_id": conversation_id,
                                     "last_seq": cursor, "epoch": page.epoch}, self.fmt))
        if newest_event is not None:
            self._follow(conversation_id, newest_event)

    def _follow(self, conversation_id: str, event_data: dict[str, Any]) -> None:
        """An agent follows a conversation while it is theirs, as the newest
        event says (``state`` and ``agent_id`` after it): never from an older
        one. A supervisor watching it keeps following it."""
        if self.role != "agent" or conversation_id in self.watching or conversation_id not in self.delivered:
            return
        if not takes_part("agent", self.principal_id, state=str(event_data.get("state", "")),
                          owner=str(event_data.get("agent_id", ""))) and self.on_detach is not None:
            self.on_detach(self, conversation_id)
