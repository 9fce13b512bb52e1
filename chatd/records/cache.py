"""Reads of small configuration stores kept for a moment on each node.

The router reads every skill group and schedule on each pass, and each new
chat reads its site's bot settings and overflow rule: many reads a second of
records that change a few times a day. :func:`read_cached` wraps such a store
so that ``list()`` and ``get(key)`` are answered from memory for
``CONFIG_CACHE_SECONDS``; a write through the wrapper forgets everything at
once, so this node sees its own changes immediately and other nodes within
``CONFIG_CACHE_SECONDS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = ["CONFIG_CACHE_SECONDS", "read_cached"]

CONFIG_CACHE_SECONDS = 2.0

S = TypeVar("S")
_MISSING = object()


class _ReadCache:
    def __init__(self, store: Any, seconds: float, clock: Callable[[], float]) -> None:
        self._store, self._seconds, self._clock = store, seconds, clock
        self._cached: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._writes = 0  # a read that overlapped a write does not keep what it read

    async def _read(self, key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
        value = self._fresh(key)
        if value is _MISSING:
            read_at, writes = self._clock(), self._writes
            value = await read()
            if writes == self._writes:
                self._cached[key] = (read_at, value)
        return value

    def _fresh(self, key: tuple[Any, ...]) -> Any:
        found = self._cached.get(key)
        if found is None or not 0 <= self._clock() - found[0] < self._seconds:
            return _MISSING
        return found[1]

    async def list(self) -> Any:
        value = await self._read(("list",), self._store.list)
        return [dict(record) for record in value]  # callers may change what they get

    async def get(self, record_key: str) -> Any:
        value = await self._read(("get", record_key), lambda: self._store.get(record_key))
        return None if value is None else dict(value)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        async def writing(*args: Any, **kwargs: Any) -> Any:
            self._writes += 1
            self._cached.clear()
            try:
                return await method(*args, **kwargs)
            finally:
                self._writes += 1
                self._cached.clear()
        return writing


def read_cached(store: S, seconds: float = CONFIG_CACHE_SECONDS,
                clock: Callable[[], float] = time.monotonic) -> S:
    """``store`` with ``list``/``get`` answered from memory for ``seconds``;
    every other method (the writes) goes through and forgets the cache."""
    return cast(S, _ReadCache(store, seconds, clock))
