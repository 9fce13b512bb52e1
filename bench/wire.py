"""A lean WebSocket client connection (RFC 6455) for load generation.

One :class:`WireConnection` is an ``asyncio.Protocol``: no task per
connection, no queue, one bytearray. Complete data frames are handed to a
callback as ``str`` (text) or ``bytes`` (binary); pings are answered; a close
frame is echoed and the socket closed. Client frames are masked with a random
key as the RFC requires (the XOR runs in the websockets C extension when it is
there).

Thousands of these fit where the full-featured clients would cost the load
generator more CPU and memory than the server under test, which is the point.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask
except ImportError:  # pure-Python fallback
    def apply_mask(data: bytes, mask: bytes) -> bytes:
        key = int.from_bytes((mask * (len(data) // 4 + 1))[:len(data)], "big")
        return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")

__all__ = ["HandshakeError", "WireConnection", "open_connection"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0, 1, 2, 8, 9, 10
_MAX_FRAME = 4 * 1024 * 1024
_getrandbits = random.getrandbits

MessageHandler = Callable[[str | bytes], None]
CloseHandler = Callable[[int | None], None]


class HandshakeError(Exception):
    """The server did not upgrade the connection."""


class WireConnection(asyncio.Protocol):
    """One client WebSocket. Create with :func:`open_connection`.

    After the handshake, ``on_message(payload)`` is called for every data
    frame and ``on_close(code)`` once when the connection ends (``None`` when
    it ended without a close frame, e.g. a reset).
    """

    __slots__ = (
        "_buffer",
        "_fragment_text",
        "_fragments",
        "_key",
        "_request",
        "close_code",
        "closed",
        "on_close",
        "on_message",
        "opened",
        "subprotocol",
        "transport",
    )

    def __init__(self, request: bytes, key: bytes, on_message: MessageHandler, on_close: CloseHandler) -> None:
        self._request = request
        self._key = key
        self._buffer = bytearray()
        self._fragments: list[bytes] | None = None  # a fragmented message being joined
        self._fragment_text = False
        self.on_message = on_message
        self.on_close = on_close
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.subprotocol = ""
        self.closed = False
        self.close_code: int | None = None

    # --- asyncio.Protocol -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self.opened.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > 65536:
                    self._fail(HandshakeError("handshake response too long"))
                return
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[:end + 4]
            try:
                self.subprotocol = self._check_handshake(head)
            except HandshakeError as exc:
                self._fail(exc)
                return
            self.opened.set_result(None)
        self._parse_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost during the handshake: {exc!r}"))
        if not self.closed:
            self.closed = True
            self.on_close(self.close_code)

    # --- sending --------------------------------------------------------------------
    def send(self, payload: str | bytes) -> bool:
        """Send one text (``str``) or binary (``bytes``) frame. Returns False
        when the connection is closed (the frame is dropped)."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return False
        if type(payload) is str:
            self.transport.write(_frame(_OP_TEXT, payload.encode()))
        else:
            self.transport.write(_frame(_OP_BINARY, payload))  # type: ignore[arg-type]
        return True

    def close(self, code: int = 1000) -> None:
        """Start the closing handshake; the server's close frame ends it."""
        if self.transport is not None and not self.transport.is_closing() and not self.closed:
            self.transport.write(_frame(_OP_CLOSE, struct.pack("!H", code)))
            loop = asyncio.get_running_loop()
            loop.call_later(2.0, self.abort)

    def abort(self) -> None:
        """Drop the TCP connection at once (no close frame), like a lost network."""
        if self.transport is not None:
            self.transport.abort()

    # --- internals ------------------------------------------------------------------
    def _check_handshake(self, head: str) -> str:
        lines = head.split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise HandshakeError(f"no upgrade: {lines[0]}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise HandshakeError("bad Sec-WebSocket-Accept")
        return headers.get("sec-websocket-protocol", "")

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.abort()

    def _parse_frames(self) -> None:
        buffer = self._buffer
        size = len(buffer)
        pos = 0
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buffer[pos + 2] << 8) | buffer[pos + 3]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buffer, pos + 2)
                head = 10
            if second & 0x80:  # servers never mask; refuse rather than guess
                self._protocol_error()
                return
            if length > _MAX_FRAME:
                self._protocol_error()
                return
            if size - pos < head + length:
                break
            payload = bytes(buffer[pos + head:pos + head + length])
            pos += head + length
            self._on_frame(first & 0x80, first & 0x0F, payload)
            if self.closed:
                break
        if pos:
            del buffer[:pos]

    def _on_frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == _OP_TEXT or opcode == _OP_BINARY:
            if not fin:
                self._fragments, self._fragment_text = [payload], opcode == _OP_TEXT
                return
            self.on_message(payload.decode() if opcode == _OP_TEXT else payload)
        elif opcode == _OP_CONT:
            if self._fragments is None:
                self._protocol_error()
                return
            self._fragments.append(payload)
            if fin:
                whole = b"".join(self._fragments)
                self._fragments = None
                self.on_message(whole.decode() if self._fragment_text else whole)
        elif opcode == _OP_PING:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(_frame(_OP_PONG, payload))
        elif opcode == _OP_CLOSE:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(_frame(_OP_CLOSE, payload[:2]))
                self.transport.close()
            self.closed = True
            self.on_close(self.close_code)

    def _protocol_error(self) -> None:
        self.close_code = 1002
        self.abort()


def _frame(opcode: int, payload: bytes) -> bytes:
    mask = _getrandbits(32).to_bytes(4, "big")
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, length)
    return head + mask + apply_mask(payload, mask)


async def open_connection(url: str, on_message: MessageHandler, on_close: CloseHandler, *,
                          subprotocol: str = "", timeout: float = 10.0,
                          local_host: str | None = None) -> WireConnection:
    """Connect to ``ws://host:port/path?query`` and finish the handshake.
    ``local_host`` picks the source address (spreads ports over loopback
    addresses). Raises ``OSError``, :class:`HandshakeError` or ``TimeoutError``."""
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise ValueError(f"only ws:// URLs are supported, not {url!r}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16))
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key.decode()}", "Sec-WebSocket-Version: 13"]
    if subprotocol:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    connection = WireConnection(request, key, on_message, on_close)
    local = (local_host, 0) if local_host else None
    try:
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: connection, host, port, local_addr=local)
            await connection.opened
    except BaseException:
        connection.abort()  # a late handshake must not leave a connection behind
        raise
    return connection
