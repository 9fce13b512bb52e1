"""The slot-checking Redis of conftest.py refuses what Redis Cluster refuses,
so the contract suite passing on it (the ``redis-slots`` engine) shows every
script, transaction and multi-key command of the store to be single-slot."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from chatd.store.keys import Keys


async def test_the_checker_refuses_cross_slot_work(slot_checking_redis: str) -> None:
    client = aioredis.from_url(slot_checking_redis)
    try:
        with pytest.raises(aioredis.ResponseError, match="slot"):
            await client.eval("return 1", 2, "{a}x", "{b}x")  # declared keys of two slots
        with pytest.raises(aioredis.ResponseError, match="slot"):
            await client.eval("#!lua\nreturn redis.call('get', '{b}x')", 1, "{a}x")  # an undeclared key
        with pytest.raises(aioredis.ResponseError, match="slot"):
            await client.mget("{a}x", "{b}x")
        async with client.pipeline(transaction=True) as pipe:
            pipe.set("{a}x", 1)
            pipe.set("{b}x", 1)
            with pytest.raises(aioredis.ResponseError):
                await pipe.execute()
        assert await client.eval("#!lua\nreturn redis.call('get', '{a}y')", 1, "{a}x") is None  # one slot: fine
    finally:
        await client.aclose()


def test_a_conversations_keys_share_one_slot_and_routing_state_another() -> None:
    keys = Keys("chatd")
    tags = {key[key.index("{"):key.index("}") + 1] for key in (keys.seq("c1"), keys.log("c1"), keys.dedupe("c1"),
                                                                keys.mirror("c1"))}
    assert len(tags) == 1
