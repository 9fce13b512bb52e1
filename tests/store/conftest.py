"""Engine fixtures: every contract test runs once per engine.

The Redis engine runs against a real server (``CHATD_TEST_REDIS_URL``, default
``redis://127.0.0.1:6379/9``); when it is not reachable those tests fail.
Each engine gets its own key prefix, and its keys are deleted afterwards.

``redis-slots`` is the Redis engine again, on a redis-server of the tests'
own in cluster mode owning every slot: Redis then refuses any script,
transaction or multi-key command whose keys lie in more than one hash slot
(CROSSSLOT), so the whole contract suite passing there proves that every
operation chatd does is single-slot, as Redis Cluster requires.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio as aioredis

from bench.redis_server import ClusterGroup, RedisServer, cluster_port
from chatd.settings import Settings
from chatd.store import open_engine
from chatd.store.base import Engine
from chatd.store.redis import open_redis_engine
from chatd.store.redis_wire import cluster_client

REDIS_URL = os.environ.get("CHATD_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")

EngineFactory = Callable[..., Awaitable[Engine]]


async def _delete_prefix(url: str, prefix: str) -> None:
    client = cluster_client(url)[0] if url.startswith("redis+cluster://") else aioredis.from_url(url)
    try:
        batch = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        async with client.pipeline(transaction=False) as pipe:
            for key in batch:  # one key per command: in cluster mode keys of several slots cannot go together
                pipe.execute_command("UNLINK", key)
            await pipe.execute()
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def slot_checking_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A one-node Redis Cluster (all 16384 slots on it); its URL."""
    directory = tmp_path_factory.mktemp("redis-slots")
    server = RedisServer(directory, port=cluster_port(), args=(
        "--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf")))
    server.start()
    try:
        client = redis.Redis(port=server.port, socket_timeout=2)
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        for _ in range(200):
            if b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO"):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the one-node cluster did not come up")
        client.close()
        yield server.url
    finally:
        server.kill()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterGroup]:
    """A real Redis Cluster of three primaries."""
    with ClusterGroup(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(params=["memory", "redis", "redis-slots", "redis-cluster"])
def engine_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def redis_url(engine_name: str, request: pytest.FixtureRequest) -> str:
    if engine_name == "redis-slots":
        return request.getfixturevalue("slot_checking_redis")
    if engine_name == "redis-cluster":
        return request.getfixturevalue("redis_cluster").url
    return REDIS_URL


@pytest_asyncio.fixture
async def make_engine(engine_name: str, redis_url: str) -> AsyncIterator[EngineFactory]:
    """Open engines of the parametrized kind: ``await make_engine(log_retention=5)``.
    Engines opened with the same ``redis_prefix`` share state like two nodes
    (for the memory engine that is the same engine)."""
    opened: list[Engine] = []
    memory_engines: dict[str, Engine] = {}
    prefixes: set[str] = set()
    default_prefix = f"chatdtest:{uuid.uuid4().hex}"

    async def make(**overrides: Any) -> Engine:
        overrides.setdefault("redis_prefix", default_prefix)
        settings = Settings(engine="memory" if engine_name == "memory" else "redis", redis_url=redis_url,
                            **overrides)
        if engine_name == "memory" and settings.redis_prefix in memory_engines:
            return memory_engines[settings.redis_prefix]
        if engine_name == "redis-slots":
            engine = open_redis_engine(redis_url, prefix=settings.redis_prefix, log_retention=settings.log_retention,
                                       retry_seconds=settings.redis_retry_seconds, slot_checked=True)
        else:
            engine = open_engine(settings)
        if engine_name == "memory":
            memory_engines[settings.redis_prefix] = engine
        opened.append(engine)
        if engine_name != "memory":
            prefixes.add(settings.redis_prefix)
            assert await engine.store.ping(), f"Redis is not reachable at {redis_url}"
        return engine

    try:
        yield make
    finally:
        for engine in opened:
            await engine.broker.close()
            await engine.store.close()
        for prefix in prefixes:
            await _delete_prefix(redis_url, prefix)


@pytest_asyncio.fixture
async def engine(make_engine: EngineFactory) -> Engine:
    return await make_engine()
