"""Storage engines. :func:`open_engine` is the one place that picks one.

``memory`` keeps everything in the process (single node, nothing to install);
``redis`` shares state between any number of processes and hosts. Both
implement :mod:`chatd.store.base`.
"""

from __future__ import annotations

from chatd.settings import Settings
from chatd.store.base import Engine

__all__ = ["ENGINES", "open_engine"]

ENGINES = ("memory", "redis")


def open_engine(settings: Settings) -> Engine:
    """Build the engine named by ``settings.engine``.

    Synchronous and lazy: nothing connects here. The Redis engine connects on
    its first command, so check readiness with ``await engine.store.ping()``
    and call ``engine.broker.start(handler)`` from the running event loop.
    Close with ``await engine.broker.close()`` then ``await engine.store.close()``.
    """
    if settings.engine == "memory":
        from chatd.store.memory import MemoryBroker, MemoryStore

        broker = MemoryBroker()
        return Engine("memory", MemoryStore(broker, log_retention=settings.log_retention), broker)
    if settings.engine == "redis":
        from chatd.store.redis import open_redis_engine

        return open_redis_engine(settings.redis_url, prefix=settings.redis_prefix,
                                 log_retention=settings.log_retention, retry_seconds=settings.redis_retry_seconds)
    raise ValueError(f"unknown engine {settings.engine!r}; expected one of {', '.join(ENGINES)}")
