"""uvicorn's httptools protocol with a deadline for the request head.

uvicorn closes idle keep-alive connections, but a connection that sends part
of a request line or headers and then trickles (slowloris) is held forever.
Here every request head, including a WebSocket handshake, must arrive whole
within ``header_timeout`` seconds of the connection opening or of the
request's first byte; otherwise the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["guarded_http"]


class _GuardedHttp(HttpToolsProtocol):
    header_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_http(header_timeout: float) -> type[asyncio.Protocol]:
    """The protocol class to hand uvicorn as ``http=``."""
    return type("GuardedHttp", (_GuardedHttp,), {"header_timeout": header_timeout})
