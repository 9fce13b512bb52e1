"""Redis connections that encode commands with hiredis.

redis-py's asyncio connections encode every command argument in Python,
which is most of the client-side cost of a pipelined Lua call with thirty
arguments. hiredis (already the reply parser) packs a whole command in C.
Anything hiredis does not take (a memoryview, a wrong type) goes through
redis-py's own encoder, so errors and edge cases stay exactly as before.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import hiredis
import redis.asyncio as aioredis

__all__ = ["HiredisConnection", "pool_options"]


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
