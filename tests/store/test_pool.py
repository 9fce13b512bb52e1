"""The waiting connection pool against the real Redis: more commands than
connections all complete, first come first served; a command that waits too
long fails with a clear error; a cancelled waiter does not strand the others."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from chatd.store.redis_wire import HiredisConnection, WaitingConnectionPool, pool_options
from tests.support import REDIS_URL, require_redis

pytestmark = pytest.mark.asyncio


def _pool(size: int, timeout: float = 5.0) -> WaitingConnectionPool:
    require_redis()
    return WaitingConnectionPool.from_url(REDIS_URL, max_connections=size, timeout=timeout, **pool_options(REDIS_URL))


async def test_more_commands_than_connections_all_complete() -> None:
    pool = _pool(2)
    client = aioredis.Redis.from_pool(pool)
    try:
        assert pool.connection_class is HiredisConnection
        replies = await asyncio.gather(*(client.echo(f"m{n}") for n in range(200)))
        assert replies == [f"m{n}".encode() for n in range(200)]
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 2
        assert not pool._in_use_connections and not pool._waiters
    finally:
        await client.aclose()


async def test_waiters_are_served_in_arrival_order() -> None:
    pool = _pool(1)
    try:
        held = await pool.get_connection()
        order: list[int] = []

        async def take(n: int) -> None:
            connection = await pool.get_connection()
            order.append(n)
            await pool.release(connection)

        takers = [asyncio.create_task(take(n)) for n in range(5)]
        await asyncio.sleep(0.01)
        await pool.release(held)
        await asyncio.gather(*takers)
        assert order == [0, 1, 2, 3, 4]
    finally:
        await pool.disconnect()


async def test_a_command_that_waits_too_long_fails_clearly() -> None:
    pool = _pool(1, timeout=0.1)
    try:
        held = await pool.get_connection()
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await pool.get_connection()
        assert not pool._waiters
        await pool.release(held)
        again = await pool.get_connection()  # the pool still works
        await pool.release(again)
    finally:
        await pool.disconnect()


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    pool = _pool(1)
    try:
        held = await pool.get_connection()
        first = asyncio.create_task(pool.get_connection())
        second = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.01)
        await pool.release(held)  # wakes the first waiter ...
        first.cancel()  # ... which is cancelled before it runs
        connection = await asyncio.wait_for(second, 2)
        assert first.cancelled()
        await pool.release(connection)
        assert not pool._waiters and not pool._in_use_connections
    finally:
        await pool.disconnect()
