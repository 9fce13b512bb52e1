"""Publications: log entries reach subscribers once, in order; nothing else does."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chatd.conversation import plan
from chatd.store.base import (
    Engine,
    agent_channel,
    conversation_channel,
    pack_publication,
    unpack_publication,
)

from .conftest import EngineFactory
from .helpers import T0, add_agent, new_conversation, wait_for

pytestmark = pytest.mark.asyncio


def _collect(engine: Engine) -> list[tuple[str, bytes]]:
    received: list[tuple[str, bytes]] = []
    engine.broker.start(lambda channel, payload: received.append((channel, payload)))
    return received


async def test_subscriber_gets_each_entry_once_in_order(engine: Engine) -> None:
    received = _collect(engine)
    store = engine.store
    await new_conversation(store, "c1")
    await new_conversation(store, "c2")
    await engine.broker.subscribe(conversation_channel("c1"))
    results = [await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body=f"m{n}",
                                  client_msg_id=f"id{n}", now=T0 + n, data={"n": n} if n % 2 else None)
               for n in range(20)]
    await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="m0",
                       client_msg_id="id0", now=T0)  # a duplicate publishes nothing
    await store.append("c2", kind="message", sender_role="visitor", sender_id="v-c2", body="elsewhere",
                       client_msg_id="x", now=T0)  # not subscribed
    await wait_for(lambda: len(received) >= 20)
    await asyncio.sleep(0.05)
    assert len(received) == 20
    assert {channel for channel, _ in received} == {conversation_channel("c1")}
    stored = (await store.read("c1", 0)).entries
    for (_, payload), entry, result in zip(received, stored, results, strict=True):
        assert entry.seq == result.seq
        assert unpack_publication(payload) == unpack_publication(
            pack_publication("entry", {"entry": {**entry.to_dict(), "epoch": (await store.read("c1", 0)).epoch}}))


async def test_transition_events_are_published(engine: Engine) -> None:
    received = _collect(engine)
    store = engine.store
    await add_agent(store, "ann")
    await new_conversation(store, "c1")
    await engine.broker.subscribe(conversation_channel("c1"))
    await store.transition("c1", plan("open", "queue"), T0 + 1)
    await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="hello",
                       client_msg_id="m1", now=T0 + 2)
    await store.transition("c1", plan("queued", "assign", agent_id="ann"), T0 + 3)
    await wait_for(lambda: len(received) >= 3)
    decoded = [unpack_publication(payload) for _, payload in received]
    assert [p["type"] for p in decoded] == ["entry"] * 3
    assert [(p["entry"]["seq"], p["entry"]["body"]) for p in decoded] == [(1, "queued"), (2, "hello"),
                                                                         (3, "assigned")]
    assert {k: v for k, v in decoded[0]["entry"]["data"].items() if k != "tick"} == {
        "state": "queued", "agent_id": "", "skill": "general"}
    assert isinstance(decoded[0]["entry"]["ts"], float)


async def test_unsubscribe_stops_delivery(engine: Engine) -> None:
    received = _collect(engine)
    channel = agent_channel("ann")
    await engine.broker.subscribe(channel)
    await engine.broker.publish(channel, b"one")
    await engine.broker.publish(agent_channel("bob"), b"not for us")
    await wait_for(lambda: len(received) == 1)
    await engine.broker.unsubscribe(channel)
    await engine.broker.publish(channel, b"two")
    await engine.broker.subscribe(agent_channel("zed"))  # a round trip after the publish above
    await engine.broker.publish(agent_channel("zed"), b"three")
    await wait_for(lambda: len(received) == 2)
    await asyncio.sleep(0.05)
    assert received == [(channel, b"one"), (agent_channel("zed"), b"three")]


async def test_publish_many_delivers_each_in_order(engine: Engine) -> None:
    received = _collect(engine)
    ann, bob = agent_channel("ann"), agent_channel("bob")
    await engine.broker.subscribe(ann)
    await engine.broker.subscribe(bob)
    batch = [(ann if n % 3 else bob, f"p{n}".encode()) for n in range(300)]
    batch.insert(5, (agent_channel("nobody"), b"not for us"))
    await engine.broker.publish_many(batch)
    await engine.broker.publish_many([])
    await wait_for(lambda: len(received) == 300)
    await asyncio.sleep(0.05)
    assert received == [item for item in batch if item[0] != agent_channel("nobody")]


async def test_engines_with_different_prefixes_do_not_cross_talk(make_engine: EngineFactory) -> None:
    first = await make_engine()
    second = await make_engine(redis_prefix=f"chatdtest:{uuid.uuid4().hex}")
    got_first, got_second = _collect(first), _collect(second)
    for engine in (first, second):
        await engine.broker.subscribe("floor")
    await first.broker.publish("floor", b"from first")
    await second.broker.publish("floor", b"from second")
    await wait_for(lambda: got_first and got_second)
    await asyncio.sleep(0.05)
    assert got_first == [("floor", b"from first")]
    assert got_second == [("floor", b"from second")]
