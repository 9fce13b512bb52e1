"""Lifecycle transitions, queues, agent runtime, presence and routing records,
run against every engine."""

from __future__ import annotations

import dataclasses
import random

import pytest

from chatd.conversation import PRIORITY_HEAD_START_SECONDS, plan
from chatd.errors import ChatdError
from chatd.model import Conversation
from chatd.store.base import ROUTING_RECORDS_KEPT, Engine, Store, Transition

from .helpers import T0, act, add_agent, new_conversation, queued

pytestmark = pytest.mark.asyncio


async def _snapshot(store: Store, cid: str) -> tuple[object, ...]:
    """Everything a refused transition must leave untouched."""
    return (
        await store.get_conversation(cid),
        [e.seq for e in (await store.read(cid, 0)).entries],
        await store.agent_runtime(),
        {skill: [c.conversation_id for c in await store.queue(skill)] for skill in ("general", "billing")},
    )


async def _refused(store: Store, cid: str, change: Transition, code: str) -> None:
    before = await _snapshot(store, cid)
    with pytest.raises(ChatdError) as err:
        await store.transition(cid, change, T0 + 999)
    assert err.value.code == code
    assert await _snapshot(store, cid) == before


async def test_queue_then_assign(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    await new_conversation(store, "c1", skill="billing", created_at=T0)
    conv, entry = await store.transition("c1", plan("open", "queue", actor_role="visitor", actor_id="v1"), T0 + 1)
    assert (conv.state, conv.queued_at, conv.skill) == ("queued", T0 + 1, "billing")
    assert [c.conversation_id for c in await store.queue("billing")] == ["c1"]
    assert await store.queued_skills() == ["billing"]
    assert (entry.seq, entry.kind, entry.body, entry.sender_role, entry.sender_id, entry.ts) == (
        1, "event", "queued", "visitor", "v1", T0 + 1)
    assert without_tick(entry.data) == {"state": "queued", "agent_id": "", "skill": "billing"}

    conv, entry = await store.transition("c1", plan("queued", "assign", agent_id="ann", note="best match"), T0 + 2)
    assert (conv.state, conv.agent_id, conv.assigned_at) == ("assigned", "ann", T0 + 2)
    assert entry.seq == 2 and entry.body == "assigned"
    assert without_tick(entry.data) == {"agent_id": "ann", "note": "best match", "state": "assigned",
                                        "skill": "billing"}
    assert await store.queue("billing") == [] and await store.queued_skills() == []
    assert (await store.agent_runtime())["ann"] == {"load": 1, "last_assigned_at": T0 + 2, "status": "online"}
    assert [c.conversation_id for c in await store.agent_conversations("ann")] == ["c1"]
    assert [e.body for e in (await store.read("c1", 0)).entries] == ["queued", "assigned"]


async def test_refused_transitions_change_nothing(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann", capacity=1)
    await add_agent(store, "bob", capacity=1)
    await queued(store, "c1")
    await queued(store, "c2", now=T0 + 1)
    await act(store, "c1", "assign", T0 + 2, agent_id="ann")
    with pytest.raises(ChatdError) as err:
        await store.transition("nope", plan("queued", "assign", agent_id="ann"), T0)
    assert err.value.code == "unknown_conversation"
    await _refused(store, "c2", plan("queued", "assign", agent_id="ann"), "at_capacity")
    await _refused(store, "c2", plan("queued", "assign", agent_id="nobody"), "unknown_agent")
    await _refused(store, "c1", plan("queued", "assign", agent_id="bob"), "bad_state")  # already assigned
    await _refused(store, "c1", plan("assigned", "transfer_to_agent", current_agent="ann", agent_id="ann2"),
                   "unknown_agent")
    await act(store, "c2", "close", T0 + 3)
    await _refused(store, "c2", plan("open", "queue"), "bad_state")


async def test_assign_reports_refusals(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann", capacity=1)
    await queued(store, "c1")
    await queued(store, "c2")
    ok = await store.assign("c1", "ann", T0 + 1, data={"score": 0.9})
    assert ok.ok and ok.conversation is not None and ok.conversation.agent_id == "ann"
    assert without_tick((await store.read("c1", 0)).entries[-1].data) == {
        "score": 0.9, "agent_id": "ann", "state": "assigned", "skill": "general"}
    assert (await store.assign("c2", "ann", T0 + 2)).reason == "at_capacity"
    assert (await store.assign("c1", "ann", T0 + 2)).reason == "bad_state"
    assert (await store.assign("c2", "ghost", T0 + 2)).reason == "unknown_agent"
    assert (await store.assign("nope", "ann", T0 + 2)).reason == "unknown_conversation"
    assert (await store.assign("c2", "", T0 + 2)).ok is False


async def test_transition_many_applies_each_in_order_and_returns_refusals(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann", capacity=2)
    await add_agent(store, "bo", capacity=1)
    for cid in ("c1", "c2", "c3", "c4"):
        await queued(store, cid)
    assign = {a: plan("queued", "assign", agent_id=a) for a in ("ann", "bo")}
    results = await store.transition_many([("c1", assign["ann"]), ("c2", assign["bo"]), ("c3", assign["bo"]),
                                           ("nope", assign["ann"]), ("c1", assign["ann"]), ("c4", assign["ann"])],
                                          T0 + 1)
    assert [r.code if isinstance(r, ChatdError) else r[0].agent_id for r in results] == [
        "ann", "bo", "at_capacity", "unknown_conversation", "bad_state", "ann"]
    assert [r[1].seq for r in results if not isinstance(r, ChatdError)] == [2, 2, 2]
    ticks = [r[1].data["tick"] for r in results if not isinstance(r, ChatdError)]
    assert ticks == sorted(ticks) and len(set(ticks)) == 3  # applied in the order given
    runtime = await store.agent_runtime()
    assert (runtime["ann"]["load"], runtime["bo"]["load"]) == (2, 1)
    assert [c.conversation_id for c in await store.queue("general")] == ["c3"]
    assert [e.body for e in (await store.read("c4", 0)).entries] == ["queued", "assigned"]
    assert await store.transition_many([], T0 + 2) == []


async def test_a_long_batch_is_applied_whole_and_in_order(engine: Engine) -> None:
    """More changes than one script call takes (the Redis engine splits them)."""
    store = engine.store
    await add_agent(store, "ann", capacity=120)
    await add_agent(store, "bo", capacity=100)
    cids = [f"c{n:03d}" for n in range(130)]
    for cid in cids:
        await queued(store, cid)
    changes = [(cid, plan("queued", "assign", agent_id="ann" if n % 2 else "bo")) for n, cid in enumerate(cids)]
    changes.insert(70, ("c000", plan("queued", "assign", agent_id="ann")))  # already taken by bo
    results = await store.transition_many(changes, T0 + 1)
    assert len(results) == 131
    assert isinstance(results[70], ChatdError) and results[70].code == "bad_state"
    owners = [r[0].agent_id for r in results if not isinstance(r, ChatdError)]
    assert owners == ["bo" if n % 2 == 0 else "ann" for n in range(130)]
    assert [r[0].conversation_id for r in results if not isinstance(r, ChatdError)] == cids
    ticks = [r[1].data["tick"] for r in results if not isinstance(r, ChatdError)]
    assert ticks == sorted(ticks) and len(set(ticks)) == 130
    runtime = await store.agent_runtime()
    assert (runtime["ann"]["load"], runtime["bo"]["load"]) == (65, 65)
    assert await store.queue("general") == []


async def test_long_queues_are_read_whole_and_in_order(engine: Engine) -> None:
    """More conversations than one read takes (the Redis engine reads 500 per call)."""
    store = engine.store
    cids = [f"c{n:04d}" for n in range(1_100)]
    for n, cid in enumerate(cids):
        await queued(store, cid, T0 + n)
    assert [c.conversation_id for c in await store.queue("general")] == cids
    listed = await store.list_conversations(("queued",))
    assert [c.conversation_id for c in listed] == cids and all(c.state == "queued" for c in listed)


async def test_transfer_to_agent_moves_the_load(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    await add_agent(store, "bob")
    await queued(store, "c1")
    await act(store, "c1", "assign", T0 + 1, agent_id="ann")
    conv = await act(store, "c1", "transfer_to_agent", T0 + 5, agent_id="bob", note="needs billing")
    assert (conv.state, conv.agent_id, conv.assigned_at) == ("assigned", "bob", T0 + 5)
    runtime = await store.agent_runtime()
    assert (runtime["ann"]["load"], runtime["bob"]["load"]) == (0, 1)
    assert runtime["bob"]["last_assigned_at"] == T0 + 5 and runtime["ann"]["last_assigned_at"] == T0 + 1
    last = (await store.read("c1", 0)).entries[-1]
    assert (last.body, without_tick(last.data)) == ("transferred", {
        "from_agent": "ann", "to_agent": "bob", "note": "needs billing",
        "state": "assigned", "agent_id": "bob", "skill": "general"})


async def test_transfer_to_group_requeues_in_the_new_skill(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    await queued(store, "c1")
    await act(store, "c1", "assign", T0 + 1, agent_id="ann")
    conv = await act(store, "c1", "transfer_to_group", T0 + 7, skill="billing", priority=3)
    assert (conv.state, conv.agent_id, conv.skill, conv.priority, conv.queued_at) == (
        "queued", "", "billing", 3, T0 + 7)
    assert [c.conversation_id for c in await store.queue("billing")] == ["c1"]
    assert await store.queue("general") == [] and await store.queued_skills() == ["billing"]
    assert (await store.agent_runtime())["ann"]["load"] == 0


async def test_close_releases_and_reopen_queues_again(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    await queued(store, "c1")
    await queued(store, "c2")
    await act(store, "c1", "assign", T0 + 1, agent_id="ann")
    conv = await act(store, "c1", "close", T0 + 9, actor_role="agent", actor_id="ann")
    assert (conv.state, conv.agent_id, conv.closed_at) == ("closed", "", T0 + 9)
    assert (await store.agent_runtime())["ann"]["load"] == 0
    assert await store.agent_conversations("ann") == []
    closed_queued = await act(store, "c2", "close", T0 + 10)
    assert closed_queued.state == "closed" and await store.queue("general") == []
    assert conv.last_agent_id == "ann"  # kept after the close: ratings, reopening
    change = plan("closed", "reopen", record=conv, now=T0 + 11, fields={"preferred_agent_id": "ann"})
    reopened, _ = await store.reopen_conversation("c1", change, T0 + 11)
    assert (reopened.state, reopened.waiting_since, reopened.preferred_agent_id) == ("queued", T0 + 11, "ann")
    assert [c.conversation_id for c in await store.queue("general")] == ["c1"]
    events = [(e.body, e.data["state"]) for e in (await store.read("c1", 0)).entries]
    assert events == [("queued", "queued"), ("assigned", "assigned"), ("closed", "closed"), ("reopened", "queued")]


async def test_a_visitor_has_one_open_conversation_reopening_included(engine: Engine) -> None:
    store = engine.store
    await new_conversation(store, "old", visitor="v1")
    closed = await act(store, "old", "close", T0 + 1)
    await new_conversation(store, "new", visitor="v1", created_at=T0 + 2)
    with pytest.raises(ChatdError) as refused:
        await store.reopen_conversation("old", plan("closed", "reopen", record=closed, now=T0 + 3), T0 + 3)
    assert refused.value.code == "bad_state"
    await act(store, "new", "close", T0 + 4)
    await store.reopen_conversation("old", plan("closed", "reopen", record=closed, now=T0 + 5), T0 + 5)
    conversation = Conversation("newer", "s1", "v1", created_at=T0 + 6)
    started, created = await store.start_conversation(conversation, None, T0 + 6)
    assert (started.conversation_id, created) == ("old", False)  # the reopened one is the visitor's open one


async def test_queue_order_is_the_queue_key_priority_as_a_head_start(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann", capacity=5)
    await queued(store, "old-low", now=T0 + 1)
    await queued(store, "new-low", now=T0 + 2)
    await queued(store, "new-high", now=T0 + 3, priority=5)
    await queued(store, "old-high", now=T0 + 0.5, priority=5)
    await queued(store, "mid", now=T0 + 4, priority=1)
    order = [c.conversation_id for c in await store.queue("general")]
    assert order == ["old-high", "new-high", "mid", "old-low", "new-low"]
    # A priority level is a head start of PRIORITY_HEAD_START_SECONDS, not a trump:
    # a plain chat that has waited longer than that goes before a new VIP.
    await queued(store, "long-wait", now=T0 - 2 * PRIORITY_HEAD_START_SECONDS)
    await queued(store, "new-vip", now=T0 + 10, priority=1)
    order = [c.conversation_id for c in await store.queue("general")]
    assert order.index("long-wait") < order.index("new-vip")
    # A requeued chat keeps its wait: ahead of everyone who started waiting after it.
    await queued(store, "back", now=T0 + 1.5)
    await act(store, "back", "assign", T0 + 6, agent_id="ann")
    await queued(store, "newest", now=T0 + 6.5)
    await act(store, "back", "requeue", T0 + 7)
    order = [c.conversation_id for c in await store.queue("general")]
    assert order.index("old-low") < order.index("back") < order.index("new-low") < order.index("newest")
    back = await store.get_conversation("back")
    assert back is not None and back.waiting_since == T0 + 1.5 and back.queued_at == T0 + 7


async def test_loads_always_equal_active_conversations(engine: Engine) -> None:
    store = engine.store
    rng = random.Random(7)
    agents = ["a1", "a2", "a3"]
    for agent_id in agents:
        await add_agent(store, agent_id, capacity=2)
    cids = [f"c{n}" for n in range(8)]
    for n, cid in enumerate(cids):
        await new_conversation(store, cid, created_at=T0 + n)
    for step in range(120):
        cid = rng.choice(cids)
        conv = await store.get_conversation(cid)
        assert conv is not None
        action = rng.choice(["queue", "assign", "transfer_to_agent", "transfer_to_group", "requeue",
                             "close", "reopen"])
        target = rng.choice(agents)
        try:
            change = plan(conv.state, action, current_agent=conv.agent_id, agent_id=target, skill="general")
            await store.transition(cid, change, T0 + 100 + step)
        except Exception as exc:  # illegal moves and refusals are expected here
            assert getattr(exc, "code", "") in ("bad_state", "conversation_closed", "at_capacity", "bad_request")
        runtime = await store.agent_runtime()
        for agent_id in agents:
            held = await store.agent_conversations(agent_id)
            assert runtime[agent_id]["load"] == len(held) <= 2
            assert all(c.agent_id == agent_id and c.state == "assigned" for c in held)
        owned = {c.conversation_id for c in await store.list_conversations(["assigned"])}
        assert owned == {c.conversation_id for a in agents for c in await store.agent_conversations(a)}


async def test_presence_expires(engine: Engine) -> None:
    store = engine.store
    await store.touch_presence("ann", "node1", T0 + 10)
    await store.touch_presence("ann", "node2", T0 + 20)
    await store.touch_presence("bob", "node1", T0 + 15)
    await store.touch_presence("a|b", "node1", T0 + 15)
    assert await store.connected_agents(T0 + 12) == {"ann", "bob", "a|b"}
    assert await store.connected_agents(T0 + 16) == {"ann"}
    await store.touch_presence("bob", "node1", T0 + 30)  # a heartbeat refreshes
    await store.drop_presence("ann", "node2")
    assert await store.connected_agents(T0 + 17) == {"bob"}
    assert await store.connected_agents(T0 + 31) == set()


async def test_routing_records_are_capped(engine: Engine) -> None:
    store = engine.store
    assert await store.routing_records("c1") == []
    for n in range(25):
        await store.add_routing_record("c1", {"n": n, "candidates": [{"agent": "ann", "score": 0.5}]}, keep=20)
    records = await store.routing_records("c1")
    assert [r["n"] for r in records] == list(range(5, 25))
    assert records[0]["candidates"] == [{"agent": "ann", "score": 0.5}]


async def test_routing_records_in_a_batch_keep_their_order_and_cap(engine: Engine) -> None:
    store = engine.store
    await store.add_routing_records([("c1", {"n": 0}), ("c2", {"n": 0}), ("c1", {"n": 1})], keep=20)
    await store.add_routing_records([("c1", {"n": n}) for n in range(2, 6)], keep=3)
    await store.add_routing_records([])
    assert [r["n"] for r in await store.routing_records("c1")] == [3, 4, 5]
    assert [r["n"] for r in await store.routing_records("c2")] == [0]


async def test_a_transition_keeps_its_routing_record_only_when_applied(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann", capacity=1)
    for cid in ("c1", "c2"):
        await queued(store, cid)
    for n in range(ROUTING_RECORDS_KEPT - 1):
        await store.add_routing_record("c1", {"n": n})
    offers = [(cid, dataclasses.replace(plan("queued", "assign", agent_id="ann"), routing_record={"n": "chose ann"}))
              for cid in ("c1", "c2")]
    first, second = await store.transition_many(offers, T0 + 1)
    assert not isinstance(first, ChatdError) and first[0].agent_id == "ann"
    assert isinstance(second, ChatdError) and second.code == "at_capacity"  # ann has no slot left
    kept = [r["n"] for r in await store.routing_records("c1")]
    assert kept == [*range(ROUTING_RECORDS_KEPT - 1), "chose ann"]
    assert await store.routing_records("c2") == []
    # One more than the cap drops the oldest, as add_routing_record does.
    await store.transition("c1", dataclasses.replace(plan("assigned", "close", current_agent="ann"),
                                                     routing_record={"n": "closed"}), T0 + 2)
    kept = [r["n"] for r in await store.routing_records("c1")]
    assert len(kept) == ROUTING_RECORDS_KEPT and kept[0] == 1 and kept[-2:] == ["chose ann", "closed"]


def without_tick(data: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in data.items() if k != "tick"}


async def test_every_routing_change_gets_the_next_tick(engine: Engine) -> None:
    """Ticks order routing changes across conversations, whatever the callers' clocks said."""
    store = engine.store
    await add_agent(store, "ann", capacity=5)
    ticks = []
    for cid, when in (("c1", T0 + 50), ("c2", T0), ("c3", T0 + 20)):
        await queued(store, cid, when)
        await act(store, cid, "assign", when, agent_id="ann")
        ticks += [e.data["tick"] for e in (await store.read(cid, 0)).entries]
    assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks) == 6
