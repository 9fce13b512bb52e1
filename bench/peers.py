"""Protocol clients run by the load generator: a chatd visitor or agent
(docs/protocol.md) and a socket.io participant of the baseline relay.

Both are callback driven (no task per connection) on top of
:class:`bench.wire.WireConnection` and record what they see in the process's
:class:`bench.ledger.Ledger`. A chatd peer keeps the client's half of the
delivery contract like ``chatd/client.py``: an outbox resent with the same
``client_msg_id`` after a reconnect, the last seq per conversation sent as
``resume``, and entries it already has ignored (and counted). It reconnects
with the widget's full-jitter backoff, or after a random delay of up to 5 s
when the server drains (1012).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import msgpack
import orjson

from bench.ledger import Ledger, SeqTracker, direction_of, message_body, parse_body
from bench.wire import WireConnection, open_connection

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "ChatdPeer", "Hooks", "Mix", "SocketIOPeer", "backoff"]

BACKOFF_BASE = 0.5  # seconds; the widget's defaults (widget/src/core/backoff.js)
BACKOFF_CAP = 30.0
DRAIN_DELAY_MAX = 5.0
_dumps = orjson.dumps
_loads = orjson.loads


def backoff(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP,
            rand: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt))."""
    return rand() * min(cap, base * 2 ** min(max(attempt, 0), 31))


def _fail(future: asyncio.Future[Any] | None, exc: Exception) -> None:
    """Fail a pending wait; marked retrieved, since nobody may be waiting any more."""
    if future is not None and not future.done():
        future.set_exception(exc)
        future.exception()


class Mix:
    """The traffic mix shared by a process's peers: the step being measured
    (signals are counted in it), the chance that a message is preceded by a
    ``typing`` frame, the chance that a received message is answered with a
    ``read`` receipt, and the padding that sizes message bodies."""

    __slots__ = ("padding", "read_probability", "step", "typing_probability")

    def __init__(self, typing_probability: float = 0.5, read_probability: float = 0.5, body_bytes: int = 64) -> None:
        self.step = 0
        self.typing_probability = typing_probability
        self.read_probability = read_probability
        self.padding = "x" * max(0, body_bytes - 32)


class Hooks:
    """What a peer tells its load-generator process about (all optional)."""

    def on_welcomed(self, peer: Any) -> None: ...

    def on_attached(self, peer: Any, conversation_id: str) -> None: ...

    def on_resumed(self, peer: Any) -> None: ...

    def on_disconnected(self, peer: Any) -> None: ...


class ChatdPeer:
    """One chatd visitor or agent connection, reconnecting and resuming."""

    __slots__ = (
        "_counter",
        "_ids",
        "_prefix",
        "attached",
        "attempt",
        "conn",
        "conversations",
        "copies",
        "fmt",
        "hooks",
        "last_sent",
        "last_seq",
        "ledger",
        "local_host",
        "mix",
        "outbox",
        "pending_sync",
        "reconnect",
        "reconnect_pending",
        "role",
        "seqs",
        "session_start",
        "state",
        "token",
        "url",
        "waiter",
        "welcomes",
    )

    def __init__(self, ledger: Ledger, hooks: Hooks, mix: Mix, role: str, url: str, *, token: str = "",
                 fmt: str = "json", prefix: str = "", local_host: str | None = None) -> None:
        self.ledger = ledger
        self.hooks = hooks
        self.mix = mix
        self.role = role
        path = "/ws/visitor?site=demo" if role == "visitor" else "/ws/agent"
        self.url = url.rstrip("/") + path
        self.token = token
        self.fmt = fmt
        self.local_host = local_host
        self.conn: WireConnection | None = None
        self.state = "new"  # new, connecting, open, closed
        self.reconnect = True
        self.reconnect_pending = False  # one reconnect timer at a time
        self.attempt = 0
        self.welcomes = 0
        self.last_seq: dict[str, int] = {}  # conversation -> highest seq seen (sent as ``resume``)
        self.seqs = SeqTracker()  # gaps, duplicates and late entries by seq, per conversation
        self.copies = SeqTracker()  # the same by the sender's counter: a message stored twice under two seqs
        self.conversations: list[str] = []  # in the order this peer joined them
        self.attached: set[str] = set()  # conversations whose replay reached ``synced`` at least once
        self.pending_sync: set[str] = set()  # conversations still replaying in this session
        self.outbox: dict[str, tuple[str, str, int, int]] = {}  # client_msg_id -> (conversation, body, step, t)
        self.last_sent = 0.0
        self.session_start = 0
        self.waiter: asyncio.Future[dict[str, Any]] | None = None
        self._prefix = prefix
        self._ids = itertools.count(1)
        self._counter: dict[str, itertools.count[int]] = {}  # per conversation, so receivers see 1, 2, 3, ...

    # --- connection ---------------------------------------------------------------
    async def connect(self, timeout: float = 15.0) -> dict[str, Any]:
        """Open, say hello with ``resume``, wait for ``welcome``; returns it.
        Only one connection of a peer is ever open: a close reported by an
        older connection is ignored."""
        self.state = "connecting"
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        subprotocol = "chatd.v1.msgpack" if self.fmt == "msgpack" else "chatd.v1.json"
        if self.conn is not None:
            self.conn.abort()
        self.conn = None

        this: list[WireConnection] = []

        def closed(code: int | None) -> None:
            if this and this[0] is self.conn:
                self._on_close(code)

        try:
            opened = await open_connection(self.url, self._on_message, closed, subprotocol=subprotocol,
                                           timeout=timeout, local_host=self.local_host)
            this.append(opened)
            self.conn = opened
        except BaseException:
            self.state = "closed"
            raise
        self.state = "open"
        self.session_start = time.monotonic_ns()
        hello: dict[str, Any] = {"type": "hello", "resume": self.last_seq}
        if self.role == "visitor":
            hello["site"] = "demo"
        if self.token:
            hello["token"] = self.token
        self._send(hello)
        async with asyncio.timeout(timeout):
            return await self.waiter

    def connect_soon(self, delay: float) -> None:
        """Reconnect after ``delay`` seconds, backing off while it fails."""
        if self.reconnect_pending:
            return
        self.reconnect_pending = True
        asyncio.get_running_loop().call_later(delay, self._spawn_connect)

    def _spawn_connect(self) -> None:
        self.reconnect_pending = False
        if self.reconnect and self.state == "closed":
            self.state = "connecting"  # now, not when the task starts: no second attempt in between
            asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self.connect()
        except (OSError, TimeoutError, ConnectionError, asyncio.CancelledError, Exception):
            self.ledger.totals["connect_failures"] += 1
            conn, self.conn = self.conn, None  # its close, if still to come, is not a lost session
            if conn is not None:
                conn.abort()
            self.state = "closed"
            if self.reconnect:
                self.connect_soon(backoff(self.attempt))
                self.attempt += 1

    def close(self) -> None:
        self.reconnect = False
        if self.conn is not None:
            self.conn.close(1000)

    def drop(self) -> None:
        """Cut the TCP connection, like a lost network; reconnects if enabled."""
        if self.conn is not None:
            self.conn.abort()

    def _on_close(self, code: int | None) -> None:
        self.state = "closed"
        self.pending_sync.clear()
        _fail(self.waiter, ConnectionError(f"closed before an answer ({code})"))
        self.hooks.on_disconnected(self)
        if code is not None and code not in (1000, 1012):
            self.ledger.totals[f"close_{code}"] += 1
        if self.reconnect:
            self.ledger.totals["reconnects"] += 1
            if code == 1012:
                self.connect_soon(random.random() * DRAIN_DELAY_MAX)
            else:
                self.connect_soon(backoff(self.attempt))
                self.attempt += 1

    # --- sending ------------------------------------------------------------------
    def _send(self, frame: dict[str, Any]) -> None:
        conn = self.conn
        if conn is None or self.state != "open":
            return
        if self.fmt == "msgpack":
            conn.send(msgpack.packb(frame))
        else:
            conn.send(_dumps(frame).decode())
        self.last_sent = time.monotonic()

    async def start(self, skill: str, timeout: float = 15.0) -> str:
        """Visitor: start a conversation (or get the open one); returns its id."""
        self.waiter = asyncio.get_running_loop().create_future()
        self._send({"type": "start", "skill": skill})
        async with asyncio.timeout(timeout):
            frame = await self.waiter
        return str(frame["conversation"]["conversation_id"])

    def ping(self) -> None:
        self._send({"type": "ping"})

    def send_message(self, conversation_id: str, step: int, intended_ns: int) -> None:
        """Queue one message in the outbox and send it if connected."""
        client_msg_id = f"{self._prefix}{next(self._ids)}"
        counter = self._counter.get(conversation_id)
        if counter is None:
            counter = self._counter[conversation_id] = itertools.count(1)
        body = message_body(step, intended_ns, next(counter), self.mix.padding)
        self.outbox[client_msg_id] = (conversation_id, body, step, intended_ns)
        self.ledger.on_sent(step, direction_of(self.role))
        # ``ref`` echoes the id in an error answer, so a refused send is told apart from a slow one.
        self._send({"type": "send", "conversation_id": conversation_id, "client_msg_id": client_msg_id,
                    "body": body, "ref": client_msg_id})

    def send_typing(self, conversation_id: str, step: int) -> None:
        self.ledger.count(step, "typing_sent")
        self._send({"type": "typing", "conversation_id": conversation_id, "active": True})

    def send_read(self, conversation_id: str, seq: int, step: int) -> None:
        self.ledger.count(step, "read_sent")
        self._send({"type": "read", "conversation_id": conversation_id, "seq": seq})

    def send_close(self, conversation_id: str) -> None:
        self._send({"type": "close", "conversation_id": conversation_id})

    def unacked(self) -> int:
        return len(self.outbox)

    # --- receiving ----------------------------------------------------------------
    def _on_message(self, raw: str | bytes) -> None:
        frame = msgpack.unpackb(raw) if type(raw) is bytes else _loads(raw)
        kind = frame.get("type")
        if kind == "message" or kind == "event":
            self._on_entry(frame, kind)
        elif kind == "ack":
            self._acked(frame["client_msg_id"])
        elif kind == "typing":
            self._signal(frame, "typing_received")
        elif kind == "read":
            self._signal(frame, "read_received")
        elif kind == "synced":
            conversation_id = frame["conversation_id"]
            self.pending_sync.discard(conversation_id)
            if conversation_id not in self.attached:
                self.attached.add(conversation_id)
                self.hooks.on_attached(self, conversation_id)
            if not self.pending_sync:
                self.hooks.on_resumed(self)
        elif kind == "welcome":
            self._on_welcome(frame)
        elif kind == "conversation":
            conversation_id = frame["conversation"]["conversation_id"]
            if conversation_id not in self.last_seq:
                self.last_seq[conversation_id] = 0
                self.conversations.append(conversation_id)
            if conversation_id not in self.attached:
                self.pending_sync.add(conversation_id)
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(frame)
        elif kind == "error":
            self.ledger.totals["error_" + str(frame.get("code"))] += 1
            refused = self.outbox.get(frame.get("ref") or "")
            if refused is not None:  # stays in the outbox: resent after the next reconnect
                self.ledger.count(refused[2], "refused")
            if self.waiter is not None and not self.waiter.done():  # hello or start refused: give up this session
                _fail(self.waiter, ConnectionError(f"error {frame.get('code')} before an answer"))
                self.drop()
        elif kind == "resync":  # the log's history changed (Redis lost some): its seqs start afresh
            self.ledger.totals["resyncs"] += 1
            conversation_id = frame["conversation_id"]
            self.seqs.forget(lambda stream: stream == conversation_id)
            self.copies.forget(lambda stream: stream[0] == conversation_id)
            self.last_seq[conversation_id] = 0
        elif kind == "replay_gap":
            self.ledger.totals["replay_gaps"] += 1

    def _on_welcome(self, frame: dict[str, Any]) -> None:
        self.welcomes += 1
        self.attempt = 0
        if self.role == "visitor":
            self.token = frame["token"]
        for conversation in frame.get("conversations") or ():
            conversation_id = conversation["conversation_id"]
            if conversation["state"] == "closed":
                continue
            if conversation_id not in self.last_seq:
                self.last_seq[conversation_id] = 0
                self.conversations.append(conversation_id)
            self.pending_sync.add(conversation_id)
        for client_msg_id, (conversation_id, body, _step, _t) in list(self.outbox.items()):
            self._send({"type": "send", "conversation_id": conversation_id, "client_msg_id": client_msg_id,
                        "body": body, "ref": client_msg_id})
        self.hooks.on_welcomed(self)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(frame)
        if not self.pending_sync:
            self.hooks.on_resumed(self)

    def _on_entry(self, frame: dict[str, Any], kind: str) -> None:
        conversation_id = frame["conversation_id"]
        seq = frame["seq"]
        is_message = kind == "message"
        gaps = self.seqs.gaps
        verdict = self.seqs.observe(conversation_id, seq)
        if verdict == "duplicate":
            self._count_entry(frame, is_message, "duplicates")
            return
        if verdict == "late":
            self._count_entry(frame, is_message, "out_of_order")
        else:
            self.last_seq[conversation_id] = seq
            if self.seqs.gaps != gaps:
                self.ledger.totals["seq_gaps_seen"] += self.seqs.gaps - gaps
        if not is_message:
            return
        sender = frame["from"]["role"]
        if sender == self.role:
            self._acked(frame.get("client_msg_id", ""))
            return
        step, intended_ns, counter = parse_body(frame["body"])
        if step < 0:
            return
        if self.copies.observe((conversation_id, sender), counter) == "duplicate":
            self._count_entry(frame, is_message, "stored_twice")
            return
        self.ledger.on_delivered(step, conversation_id, direction_of(sender), intended_ns)
        if self.mix.read_probability and random.random() < self.mix.read_probability:
            self.send_read(conversation_id, seq, step)

    def _count_entry(self, frame: dict[str, Any], is_message: bool, name: str) -> None:
        step = parse_body(frame["body"])[0] if is_message else -1
        if step >= 0:
            self.ledger.count(step, name)
        self.ledger.totals[name] += 1

    def _acked(self, client_msg_id: str) -> None:
        queued = self.outbox.pop(client_msg_id, None)
        if queued is not None:
            conversation_id, _body, step, intended_ns = queued
            self.ledger.on_acked(step, conversation_id, direction_of(self.role), intended_ns)

    def _signal(self, frame: dict[str, Any], name: str) -> None:
        self.ledger.totals[name] += 1
        self.ledger.count(self.mix.step, name)


class SocketIOPeer:
    """One participant of the python-socketio baseline relay (Engine.IO 4 /
    Socket.IO 5 text packets over a WebSocket): joins its rooms, relays
    ``msg``/``typing``/``read`` events, acknowledged by the server after it
    published them. No resume: the relay keeps nothing."""

    __slots__ = ("_ack_ids", "_acks", "_counter", "_open_early", "conn", "copies", "hooks", "last_sent", "ledger",
                 "local_host", "mix", "opened", "reconnect", "role", "rooms", "state", "url")

    def __init__(self, ledger: Ledger, hooks: Hooks, mix: Mix, role: str, url: str, rooms: list[str], *,
                 local_host: str | None = None) -> None:
        self.ledger = ledger
        self.hooks = hooks
        self.mix = mix
        self.role = role
        self.url = url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self.rooms = rooms
        self.local_host = local_host
        self.conn: WireConnection | None = None
        self.state = "new"
        self.reconnect = False  # the relay keeps nothing to resume
        self._open_early = False  # Engine.IO's open packet came with the handshake, before ``conn`` was set
        self.opened: asyncio.Future[None] | None = None
        self.last_sent = 0.0
        self._acks: dict[int, tuple[str, int, int]] = {}  # ack id -> (room, step, intended ns)
        self._ack_ids = itertools.count(1)
        self._counter: dict[str, itertools.count[int]] = {}
        self.copies = SeqTracker()  # per (room, sender role): the sender's counter stands in for a seq

    @property
    def conversations(self) -> list[str]:
        return self.rooms

    async def connect(self, timeout: float = 15.0) -> None:
        self.state = "connecting"
        self.opened = asyncio.get_running_loop().create_future()
        self.conn = await open_connection(self.url, self._on_message, self._on_close, timeout=timeout,
                                          local_host=self.local_host)
        if self._open_early:
            self._open_early = False
            self.conn.send("40")
        async with asyncio.timeout(timeout):
            await self.opened
        self.state = "open"

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close(1000)

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.abort()

    def unacked(self) -> int:
        return len(self._acks)

    def _on_close(self, code: int | None) -> None:
        self.state = "closed"
        _fail(self.opened, ConnectionError(f"closed during the handshake ({code})"))
        self.hooks.on_disconnected(self)

    def _emit(self, event: str, data: dict[str, Any], ack: int | None = None) -> None:
        if self.conn is not None:
            head = "42" if ack is None else f"42{ack}"
            self.conn.send(head + _dumps([event, data]).decode())
            self.last_sent = time.monotonic()

    def send_message(self, room: str, step: int, intended_ns: int) -> None:
        counter = self._counter.get(room)
        if counter is None:
            counter = self._counter[room] = itertools.count(1)
        ack = next(self._ack_ids)
        self._acks[ack] = (room, step, intended_ns)
        self.ledger.on_sent(step, direction_of(self.role))
        self._emit("msg", {"room": room, "from": self.role,
                           "body": message_body(step, intended_ns, next(counter), self.mix.padding)}, ack)

    def send_typing(self, room: str, step: int) -> None:
        self.ledger.count(step, "typing_sent")
        self._emit("typing", {"room": room, "from": self.role})

    def ping(self) -> None:  # the server pings; nothing to do
        return

    def _on_message(self, raw: str | bytes) -> None:
        if type(raw) is not str or not raw:
            return
        kind = raw[0]
        if kind == "4":  # a Socket.IO packet
            self._on_packet(raw[1:])
        elif kind == "2":  # Engine.IO ping: answer pong
            if self.conn is not None:
                self.conn.send("3")
        elif kind == "0":  # Engine.IO open: connect to the default namespace
            if self.conn is not None:
                self.conn.send("40")
            else:
                self._open_early = True

    def _on_packet(self, packet: str) -> None:
        kind = packet[0]
        if kind == "2":  # EVENT, maybe with an ack id we never ask for on the receiving side
            start = packet.index("[")
            event, data = _loads(packet[start:])[:2]
            self._on_event(event, data)
        elif kind == "3":  # ACK
            start = packet.index("[")
            queued = self._acks.pop(int(packet[1:start]), None)
            if queued is not None:
                room, step, intended_ns = queued
                if room == "":  # the join
                    if self.opened is not None and not self.opened.done():
                        self.opened.set_result(None)
                    self.hooks.on_welcomed(self)
                    return
                self.ledger.on_acked(step, room, direction_of(self.role), intended_ns)
        elif kind == "0":  # CONNECT answered: join the rooms, acknowledged
            ack = next(self._ack_ids)
            self._acks[ack] = ("", 0, 0)
            self._emit("join", {"rooms": self.rooms}, ack)
        elif kind == "4":  # CONNECT_ERROR
            _fail(self.opened, ConnectionError(packet))

    def _on_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "msg":
            room, sender = data["room"], data["from"]
            step, intended_ns, counter = parse_body(data["body"])
            gaps = self.copies.gaps
            verdict = self.copies.observe((room, sender), counter)
            if verdict == "duplicate":
                self.ledger.count(step, "duplicates")
                return
            if verdict == "late":
                self.ledger.count(step, "out_of_order")
            elif self.copies.gaps != gaps:
                self.ledger.totals["seq_gaps_seen"] += self.copies.gaps - gaps
            self.ledger.on_delivered(step, room, direction_of(sender), intended_ns)
            if self.mix.read_probability and random.random() < self.mix.read_probability:
                self.send_read(room, step)
        elif event == "typing":
            self.ledger.totals["typing_received"] += 1
            self.ledger.count(self.mix.step, "typing_received")
        elif event == "read":
            self.ledger.totals["read_received"] += 1
            self.ledger.count(self.mix.step, "read_received")

    def send_read(self, room: str, step: int) -> None:
        self.ledger.count(step, "read_sent")
        self._emit("read", {"room": room, "from": self.role})
