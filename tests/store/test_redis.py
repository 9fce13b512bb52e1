"""What only the Redis engine has: key layout, scripts, the two-step
transition, several nodes on one server, and the broker's reconnection."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
import redis.asyncio as aioredis

from chatd.conversation import plan, queue_key
from chatd.errors import ChatdError
from chatd.model import Site
from chatd.store.base import Engine, conversation_channel, unpack_publication
from chatd.store.keys import Keys
from chatd.store.redis import RedisStore

from .conftest import REDIS_URL, EngineFactory
from .helpers import T0, act, add_agent, new_conversation, queued, wait_for

pytestmark = pytest.mark.asyncio

@pytest.fixture
def engine_name() -> str:
    return "redis"


async def _keys_of(prefix: str) -> list[str]:
    client = aioredis.from_url(REDIS_URL)
    try:
        return sorted([key.decode() async for key in client.scan_iter(match=f"{prefix}:*")])
    finally:
        await client.aclose()


async def test_keys_live_under_the_prefix_with_hash_tags(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    await store.put_site(Site("s1", "Site"))
    await queued(store, "c1")
    await act(store, "c1", "assign", T0 + 1, agent_id="ann")
    await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="hi",
                       client_msg_id="m1", now=T0 + 2)
    await store.update_visitor("s1", "v1", {"name": "Vi"})
    await store.touch_presence("ann", "n1", T0 + 60)
    await store.revoke_token("tok", T0 + 60, T0)
    await store.add_routing_record("c1", {"chosen": "ann"})
    prefix = store._keys.prefix  # type: ignore[attr-defined]
    keys = await _keys_of(prefix)
    pattern = re.compile(rf"^{re.escape(prefix)}:(\{{rt\}}:.+|\{{c:c1\}}:(seq|log|dedupe|state))$")
    assert keys and all(pattern.match(key) for key in keys), keys
    assert sum(key.startswith(f"{prefix}:{{c:c1}}") for key in keys) == 4


async def test_dedupe_ids_are_trimmed_with_the_log(make_engine: EngineFactory) -> None:
    engine = await make_engine(log_retention=10)
    await new_conversation(engine.store, "c1")
    for n in range(50):
        await engine.store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="x",
                                  client_msg_id=f"m{n}", now=T0)
    client = aioredis.from_url(REDIS_URL)
    keys = Keys(engine.store._keys.prefix)  # type: ignore[attr-defined]
    try:
        assert await client.hlen(keys.dedupe("c1")) == 10
        assert await client.xlen(keys.log("c1")) == 10
    finally:
        await client.aclose()


async def _assign_without_logging(store: RedisStore, cid: str, agent_id: str, now: float) -> None:
    """Step 1 of an assignment only: the node dies before it logs the event."""
    original = store._log_many

    async def die(*args: object) -> None:
        raise RuntimeError("node died")

    store._log_many = die  # type: ignore[method-assign,assignment]
    try:
        with pytest.raises(RuntimeError):
            await store.transition(cid, plan("queued", "assign", agent_id=agent_id), now)
    finally:
        store._log_many = original  # type: ignore[method-assign]


async def test_a_transition_interrupted_between_its_steps_is_completed_by_the_next(engine: Engine) -> None:
    store = engine.store
    assert isinstance(store, RedisStore)
    await add_agent(store, "ann")
    await queued(store, "c1")
    await _assign_without_logging(store, "c1", "ann", T0 + 1)
    assert [e.body for e in (await store.read("c1", 0)).entries] == ["queued"]
    assert (await store.get_conversation("c1")).state == "assigned"  # type: ignore[union-attr]
    # The next transition logs the missing event first, then its own, each once.
    _, entry = await store.transition("c1", plan("assigned", "close"), T0 + 2)
    assert entry.seq == 3
    entries = (await store.read("c1", 0)).entries
    assert [(e.seq, e.body, e.data["state"]) for e in entries] == [
        (1, "queued", "queued"), (2, "assigned", "assigned"), (3, "closed", "closed")]
    with pytest.raises(ChatdError) as err:
        await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="late",
                           client_msg_id="m1", now=T0 + 3)
    assert err.value.code == "conversation_closed"


async def test_a_transition_a_dead_node_left_half_done_is_completed_by_the_sweep(engine: Engine) -> None:
    """The window between the two steps: the log stays in one order and the
    sweep closes it within its grace, with no later transition needed."""
    store = engine.store
    assert isinstance(store, RedisStore)
    await add_agent(store, "ann")
    await queued(store, "c1")
    await _assign_without_logging(store, "c1", "ann", T0 + 1)
    # In the window the log still says queued: the agent cannot send yet; the visitor can.
    with pytest.raises(ChatdError) as refused:
        await store.append("c1", kind="message", sender_role="agent", sender_id="ann", body="hello",
                           client_msg_id="a1", now=T0 + 1.5)
    assert refused.value.code == "forbidden"
    await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="anyone?",
                       client_msg_id="v1", now=T0 + 1.5)
    assert await store.complete_transitions(T0 + 2, older_than=2.0) == 0  # still within the grace
    assert await store.complete_transitions(T0 + 3.5, older_than=2.0) == 1
    entries = (await store.read("c1", 0)).entries
    assert [(e.seq, e.body) for e in entries] == [(1, "queued"), (2, "anyone?"), (3, "assigned")]
    await store.append("c1", kind="message", sender_role="agent", sender_id="ann", body="hello",
                       client_msg_id="a1", now=T0 + 4)
    assert await store.complete_transitions(T0 + 9, older_than=2.0) == 0  # nothing is left pending
    client = aioredis.from_url(REDIS_URL)
    try:
        assert await client.zcard(store._keys.unlogged) == 0
        assert await client.zcard(store._keys.pending_events("c1")) == 0
    finally:
        await client.aclose()


async def test_settling_a_conversation_lets_its_new_owner_send_at_once(engine: Engine) -> None:
    store = engine.store
    assert isinstance(store, RedisStore)
    await add_agent(store, "ann")
    await queued(store, "c1")
    await _assign_without_logging(store, "c1", "ann", T0 + 1)
    await store.settle("c1")
    sent = await store.append("c1", kind="message", sender_role="agent", sender_id="ann", body="hello",
                              client_msg_id="a1", now=T0 + 1.5)
    assert [e.body for e in (await store.read("c1", 0)).entries] == ["queued", "assigned", "hello"]
    assert sent.seq == 3


async def test_many_transitions_with_their_logging_lost_are_all_logged_in_order(engine: Engine) -> None:
    """No bound on how many unlogged events are kept: none is ever dropped."""
    store = engine.store
    assert isinstance(store, RedisStore)
    await add_agent(store, "ann", capacity=1)
    await add_agent(store, "bo", capacity=1)
    await queued(store, "c1")
    await _assign_without_logging(store, "c1", "ann", T0 + 1)
    original = store._log_many

    async def die(*args: object) -> None:
        raise RuntimeError("node died")

    store._log_many = die  # type: ignore[method-assign,assignment]
    owners = ["bo", "ann"] * 10
    for n, owner in enumerate(owners):
        with pytest.raises(RuntimeError):
            await store.transition("c1", plan("assigned", "transfer_to_agent", current_agent=owners[n - 1]
                                              if n else "ann", agent_id=owner), T0 + 2 + n)
    store._log_many = original  # type: ignore[method-assign]
    assert await store.complete_transitions(T0 + 60, older_than=2.0) == 1
    entries = (await store.read("c1", 0)).entries
    assert [e.body for e in entries] == ["queued", "assigned", *["transferred"] * 20]
    assert [e.data["agent_id"] for e in entries[2:]] == owners


async def test_a_retry_after_a_lost_reply_applies_a_transition_once(engine: Engine) -> None:
    store = engine.store
    assert isinstance(store, RedisStore)
    await add_agent(store, "ann")
    await add_agent(store, "bo")
    await queued(store, "c1")
    await act(store, "c1", "assign", T0 + 1, agent_id="ann")
    change = plan("assigned", "transfer_to_agent", current_agent="ann", agent_id="bo")
    first = await store._transition_many([("c1", change)], ["op-1"], T0 + 2)
    again = await store._transition_many([("c1", change)], ["op-1"], T0 + 2)  # the same call, retried
    assert not isinstance(first[0], ChatdError) and not isinstance(again[0], ChatdError)
    entries = (await store.read("c1", 0)).entries
    assert [e.body for e in entries] == ["queued", "assigned", "transferred"]
    runtime = await store.agent_runtime()
    assert (runtime["ann"]["load"], runtime["bo"]["load"]) == (0, 1)


async def test_racing_transitions_log_events_in_order(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    for round_ in range(10):
        cid = f"c{round_}"
        await queued(store, cid)
        results = await asyncio.gather(
            store.transition(cid, plan("queued", "assign", agent_id="ann"), T0 + 1),
            store.transition(cid, plan("queued", "close"), T0 + 1),
            store.transition(cid, plan("assigned", "close"), T0 + 1),
            return_exceptions=True)
        conv = await store.get_conversation(cid)
        assert conv is not None and conv.state == "closed"
        entries = (await store.read(cid, 0)).entries
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert entries[-1].body == "closed"
        applied = [r for r in results if not isinstance(r, BaseException)]
        assert sorted(e.seq for _, e in applied) == [e.seq for e in entries[1:]]
        with pytest.raises(ChatdError):
            await store.append(cid, kind="message", sender_role="visitor", sender_id=f"v-{cid}", body="late",
                               client_msg_id="m", now=T0 + 2)
    assert (await store.agent_runtime())["ann"]["load"] == 0


async def test_nodes_share_state_and_publications(make_engine: EngineFactory) -> None:
    node_a, node_b = await make_engine(), await make_engine()
    received: list[tuple[str, bytes]] = []
    node_a.broker.start(lambda channel, payload: received.append((channel, payload)))
    await new_conversation(node_b.store, "c1")
    await node_a.broker.subscribe(conversation_channel("c1"))
    await node_b.store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="from b",
                              client_msg_id="m1", now=T0)
    await wait_for(lambda: len(received) == 1)
    assert unpack_publication(received[0][1])["entry"]["body"] == "from b"
    again = await node_a.store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1",
                                      body="from b", client_msg_id="m1", now=T0 + 1)
    assert again.duplicate and again.seq == 1


async def test_broker_resubscribes_after_the_connection_drops(make_engine: EngineFactory) -> None:
    prefix = f"chatdtest:{uuid.uuid4().hex}"
    engine = await make_engine(redis_prefix=prefix)
    received: list[tuple[str, bytes]] = []
    engine.broker.start(lambda channel, payload: received.append((channel, payload)))
    await engine.broker.subscribe("floor")
    await engine.broker.subscribe("agent:ann")
    admin = aioredis.from_url(REDIS_URL)
    try:
        clients = await admin.client_list()
        ours = [c["id"] for c in clients if c.get("name") == f"{prefix}:broker"]
        assert len(ours) == 1
        await admin.client_kill_filter(_id=ours[0])
        await asyncio.sleep(0.01)
        subscribing = asyncio.ensure_future(engine.broker.subscribe("agent:bob"))  # during the outage

        async def publish_until_received() -> None:
            while not any(channel == "floor" for channel, _ in received):
                await engine.broker.publish("floor", b"ping")
                await asyncio.sleep(0.02)

        await asyncio.wait_for(publish_until_received(), 5)
        await asyncio.wait_for(subscribing, 5)
        await engine.broker.publish("agent:bob", b"hello bob")
        await engine.broker.publish("agent:ann", b"hello ann")
        await wait_for(lambda: (("agent:bob", b"hello bob") in received and ("agent:ann", b"hello ann") in received))
        clients = await admin.client_list()
        assert len([c for c in clients if c.get("name") == f"{prefix}:broker"]) == 1
    finally:
        await admin.aclose()


async def test_a_queue_is_sorted_by_each_conversations_queue_key(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    await queued(store, "c1", now=T0 + 0.25, priority=7)
    await queued(store, "c2", now=T0 + 1)
    await act(store, "c2", "assign", T0 + 2, agent_id="ann")
    await act(store, "c2", "requeue", T0 + 3.5)
    keys = Keys(store._keys.prefix)  # type: ignore[attr-defined]
    client = aioredis.from_url(REDIS_URL)
    try:
        for cid, key in (("c1", queue_key(7, T0 + 0.25)), ("c2", queue_key(0, T0 + 1))):
            assert await client.zscore(keys.queue("general"), cid) == key
            assert (await store.get_conversation(cid)).queue_key == key  # type: ignore[union-attr]
    finally:
        await client.aclose()
