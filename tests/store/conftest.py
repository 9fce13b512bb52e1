"""Engine fixtures: every contract test runs once per engine.

The Redis engine runs against a real server (``CHATD_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/9``); when it is not reachable those tests fail.
Each engine gets its own key prefix, and its keys are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from chatd.settings import Settings
from chatd.store import open_engine
from chatd.store.base import Engine

REDIS_URL = os.environ.get("CHATD_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")

EngineFactory = Callable[..., Awaitable[Engine]]


async def _delete_prefix(prefix: str) -> None:
    client = aioredis.from_url(REDIS_URL)
    try:
        batch = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(batch), 500):
            await client.unlink(*batch[start:start + 500])
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def engine_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture
async def make_engine(engine_name: str) -> AsyncIterator[EngineFactory]:
    """Open engines of the parametrized kind: ``await make_engine(log_retention=5)``.
    Engines opened with the same ``redis_prefix`` share state like two nodes
    (for the memory engine that is the same engine)."""
    opened: list[Engine] = []
    memory_engines: dict[str, Engine] = {}
    prefixes: set[str] = set()
    default_prefix = f"chatdtest:{uuid.uuid4().hex}"

    async def make(**overrides: Any) -> Engine:
        overrides.setdefault("redis_prefix", default_prefix)
        settings = Settings(engine=engine_name, redis_url=REDIS_URL, **overrides)
        if engine_name == "memory" and settings.redis_prefix in memory_engines:
            return memory_engines[settings.redis_prefix]
        engine = open_engine(settings)
        if engine_name == "memory":
            memory_engines[settings.redis_prefix] = engine
        opened.append(engine)
        if engine_name == "redis":
            prefixes.add(settings.redis_prefix)
            assert await engine.store.ping(), f"Redis is not reachable at {REDIS_URL}"
        return engine

    try:
        yield make
    finally:
        for engine in opened:
            await engine.broker.close()
            await engine.store.close()
        for prefix in prefixes:
            await _delete_prefix(prefix)


@pytest_asyncio.fixture
async def engine(make_engine: EngineFactory) -> Engine:
    return await make_engine()
