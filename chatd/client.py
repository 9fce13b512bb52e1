"""A Python client of the chatd protocol (docs/protocol.md), for tests,
``bench/`` and server-side integrations.

It keeps the client's half of the delivery contract: an outbox of
unacknowledged messages resent with the same ``client_msg_id`` after a
reconnect, the last seen seq per conversation and its log epoch sent as
``resume``, entries whose seq was already seen ignored (and counted, so tests
can prove there were none), and a conversation's entries forgotten when the
server says its history changed (``resync``: the whole log follows).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Callable
from typing import Any

import msgpack
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from chatd.protocol import SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK

__all__ = ["ChatClient", "ClientClosed"]


class ClientClosed(Exception):
    """The connection ended while waiting for a frame."""


class ChatClient:
    """One visitor or agent. ``url`` is the server base (``ws://host:port``).

    After :meth:`connect`, frames are read by a background task; entries go
    to :attr:`entries` (per conversation, in seq order) and every frame to an
    inbox that :meth:`expect` reads from.
    """

    def __init__(self, url: str, role: str, *, site: str = "demo", token: str = "", fmt: str = "json",
                 name: str = "", on_entry: Callable[[dict[str, Any]], None] | None = None,
                 max_size: int = 2**21, keep_frames: bool = False) -> None:
        self.url = url.rstrip("/")
        self.role = role
        self.site = site
        self.token = token
        self.fmt = fmt
        self.name = name
        self.on_entry = on_entry
        self.max_size = max_size
        self.ws: ClientConnection | None = None
        self.welcome: dict[str, Any] = {}
        self.last_seq: dict[str, int] = {}
        self.epochs: dict[str, str] = {}  # the log epoch last_seq belongs to
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.resyncs = 0  # conversations whose history the server replaced (epoch changes)
        self.violations: list[str] = []  # breaches of the delivery contract seen (tests assert none)
        self.frames: list[dict[str, Any]] = []  # every frame received, in order (with keep_frames)
        self._keep_frames = keep_frames
        self.outbox: dict[str, tuple[str, str]] = {}  # client_msg_id -> (conversation_id, body)
        self.acks: dict[str, int] = {}  # client_msg_id -> seq
        self.duplicates = 0
        self.gaps: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []  # every error frame received
        self.conversations: dict[str, dict[str, Any]] = {}  # the newest summary of each one taken part in
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._online = False  # welcomed and the outbox resent: new messages go out at once
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(4)

    # --- connection -----------------------------------------------------------------
    async def connect(self, *, resend: bool = True, **hello: Any) -> dict[str, Any]:
        """Open the socket, say hello with ``resume``, wait for ``welcome``,
        then resend the outbox. Returns the welcome frame."""
        path = "/ws/visitor?site=" + self.site if self.role == "visitor" else "/ws/agent"
        subprotocol = SUBPROTOCOL_MSGPACK if self.fmt == "msgpack" else SUBPROTOCOL_JSON
        self._online = False
        await self._stop_reader()
        if self.ws is not None:  # an earlier connection: gone or going, never two at once
            with contextlib.suppress(Exception):
                await self.ws.close()
        self.ws = await websockets.connect(self.url + path, subprotocols=[subprotocol],  # type: ignore[list-item]
                                           max_size=self.max_size, compression=None, open_timeout=10,
                                           ping_interval=None)
        self._inbox = asyncio.Queue()
        frame: dict[str, Any] = {"type": "hello", "resume": self.resume_points(), **hello}
        if self.role == "visitor":
            frame["site"] = self.site
        if self.token:
            frame["token"] = self.token
        if self.name:
            frame["name"] = self.name
        try:
            await self.send_frame(frame)
            self._reader = asyncio.get_running_loop().create_task(self._read())
            welcome = await self.expect("welcome", timeout=10)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.ws.close()
            raise
        self.welcome = welcome
        if self.role == "visitor":
            self.token = welcome["token"]
        if resend:
            # In outbox order, including what was queued while this went on: a
            # message sent meanwhile must not overtake an older one.
            resent: set[str] = set()
            while pending := [(cmid, item) for cmid, item in self.outbox.items() if cmid not in resent]:
                for client_msg_id, (conversation_id, body) in pending:
                    await self._send_message(conversation_id, body, client_msg_id)
                    resent.add(client_msg_id)
        self._online = True
        return welcome

    def resume_points(self) -> dict[str, Any]:
        """``hello.resume``: each conversation's last seq, with its epoch when known."""
        return {cid: {"seq": seq, "epoch": self.epochs[cid]} if self.epochs.get(cid) else seq
                for cid, seq in self.last_seq.items()}

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        await self._stop_reader()

    async def drop(self) -> None:
        """Cut the connection abruptly, like a lost mobile network."""
        if self.ws is not None:
            transport = getattr(self.ws, "transport", None)
            if transport is not None:
                transport.abort()
        await self._stop_reader()

    async def _stop_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None

    # --- sending ----------------------------------------------------------------------
    async def send_frame(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None, "connect first"
        if self.fmt == "msgpack":
            await self.ws.send(msgpack.packb(frame, use_bin_type=True))
        else:
            await self.ws.send(orjson.dumps(frame).decode())

    async def send_raw(self, payload: str | bytes) -> None:
        assert self.ws is not None, "connect first"
        await self.ws.send(payload)

    def new_message_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    async def send(self, conversation_id: str, body: str, client_msg_id: str | None = None) -> str:
        """Queue a message in the outbox and send it when connected.
        Returns its ``client_msg_id``; :attr:`acks` gets its seq once stored."""
        client_msg_id = client_msg_id or self.new_message_id()
        self.outbox[client_msg_id] = (conversation_id, body)
        if self._online:  # else the connect under way sends it, after what is older
            with contextlib.suppress(Exception):
                await self._send_message(conversation_id, body, client_msg_id)
        return client_msg_id

    async def _send_message(self, conversation_id: str, body: str, client_msg_id: str) -> None:
        await self.send_frame({"type": "send", "conversation_id": conversation_id,
                               "client_msg_id": client_msg_id, "body": body})

    async def start(self, **fields: Any) -> dict[str, Any]:
        """Visitor: start (or get) the open conversation; returns it."""
        await self.send_frame({"type": "start", **fields})
        frame = await self.expect("conversation", timeout=10)
        return frame["conversation"]

    # --- receiving --------------------------------------------------------------------
    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                frame = msgpack.unpackb(raw, raw=False) if isinstance(raw, bytes) else orjson.loads(raw)
                self._on_frame(frame)
        except Exception as exc:
            self._online = False
            received = getattr(exc, "rcvd", None)  # websockets' ConnectionClosed: the close frame, if any
            self._inbox.put_nowait({"type": "_closed", "reason": repr(exc),
                                    "code": received.code if received is not None else None})
            return
        self._online = False
        code = self.ws.close_code if self.ws is not None else None
        self._inbox.put_nowait({"type": "_closed", "code": code})

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if self._keep_frames:
            self.frames.append(frame)
        if kind in ("message", "event", "note"):
            conversation_id = frame["conversation_id"]
            seq = frame["seq"]
            epoch = frame.get("epoch", "")
            if epoch and self.epochs.get(conversation_id, epoch) != epoch:
                # Never happens with a server that keeps the protocol (it says
                # resync first): seqs of another epoch do not compare.
                self.violations.append(f"entry of epoch {epoch} in {conversation_id} without a resync")
                self.entries.pop(conversation_id, None)
                self.last_seq[conversation_id] = 0
            if epoch:
                self.epochs[conversation_id] = epoch
            if seq <= self.last_seq.get(conversation_id, 0):
                self.duplicates += 1
                return
            self.last_seq[conversation_id] = seq
            self.entries.setdefault(conversation_id, []).append(frame)
            if kind == "message" and frame.get("from", {}).get("role") == self.role:
                self.outbox.pop(frame.get("client_msg_id", ""), None)
            if self.on_entry is not None:
                self.on_entry(frame)
        elif kind == "ack":
            self.acks[frame["client_msg_id"]] = frame["seq"]
            self.outbox.pop(frame["client_msg_id"], None)
        elif kind == "replay_gap":
            self.gaps.append(frame)
        elif kind == "resync":
            # The conversation's history may have changed: what we hold no longer compares.
            conversation_id = frame["conversation_id"]
            self.resyncs += 1
            self.entries.pop(conversation_id, None)
            self.last_seq[conversation_id] = 0
            self.epochs[conversation_id] = frame.get("epoch", "")
        elif kind == "synced":
            if frame.get("epoch"):
                self.epochs[frame["conversation_id"]] = frame["epoch"]
        elif kind == "error":
            self.errors.append(frame)
        elif kind == "conversation":
            summary = frame["conversation"]
            self.conversations[summary["conversation_id"]] = summary
        elif kind == "welcome":
            for summary in frame.get("conversations") or ():
                self.conversations[summary["conversation_id"]] = summary
        self._inbox.put_nowait(frame)

    async def expect(self, kind: str, timeout: float = 5.0,
                     where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The next frame of type ``kind`` (matching ``where``), skipping
        others. Raises ``TimeoutError`` or :class:`ClientClosed`."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self._inbox.get()
                if frame["type"] == "_closed" and kind != "_closed":
                    raise ClientClosed(str(frame))
                if frame["type"] == kind and (where is None or where(frame)):
                    return frame

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        return [f for f in self.entries.get(conversation_id, []) if f["type"] == "message"]
