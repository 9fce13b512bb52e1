"""Offers and extra conversation fields, through both engines."""

from __future__ import annotations

import dataclasses

import pytest

from chatd.conversation import plan
from chatd.errors import ChatdError
from chatd.store.base import Engine
from tests.store.helpers import T0, act, add_agent, queued


async def test_offer_reserves_capacity_and_lapse_requeues_at_the_front(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ana", capacity=1)
    await queued(store, "c1", T0)
    await queued(store, "c2", T0 + 1)
    change = dataclasses.replace(plan("queued", "offer", agent_id="ana"),
                                 fields={"offer_expires_at": T0 + 30, "excluded_agents": ""})
    offered, entry = await store.transition("c1", change, T0 + 2)
    assert (offered.state, offered.agent_id, offered.offer_expires_at) == ("offered", "ana", T0 + 30)
    assert entry.body == "offered" and entry.data["agent_id"] == "ana"
    assert (await store.agent_runtime())["ana"]["load"] == 1
    with pytest.raises(ChatdError) as full:
        await act(store, "c2", "offer", T0 + 3, agent_id="ana")
    assert full.value.code == "at_capacity"
    lapse = dataclasses.replace(plan("offered", "lapse", current_agent="ana"),
                                fields={"excluded_agents": "ana", "offer_expires_at": 0.0})
    lapsed, _ = await store.transition("c1", lapse, T0 + 31)
    assert (lapsed.state, lapsed.agent_id, lapsed.excluded()) == ("queued", "", frozenset({"ana"}))
    assert [c.conversation_id for c in await store.queue("general")] == ["c1", "c2"]
    assert (await store.agent_runtime())["ana"]["load"] == 0
    again = await store.get_conversation("c1")
    assert again is not None and again.excluded_agents == "ana" and again.offer_expires_at == 0.0


async def test_accept_keeps_the_owner_and_load(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "bo", capacity=2)
    await queued(store, "c1", T0)
    await act(store, "c1", "offer", T0 + 1, agent_id="bo")
    accepted = await act(store, "c1", "accept", T0 + 2)
    assert (accepted.state, accepted.agent_id) == ("assigned", "bo")
    assert (await store.agent_runtime())["bo"]["load"] == 1
    with pytest.raises(ValueError):
        await store.transition("c1", dataclasses.replace(plan("assigned", "close"), fields={"state": "x"}), T0 + 3)


async def test_bot_memory_missed_offers_and_samples(engine: Engine) -> None:
    store = engine.store
    assert await store.bot_state("c1") is None
    await store.put_bot_state("c1", {"step": "menu", "tries": 2})
    await store.put_bot_state("c1", {"step": "faq", "tries": 0})
    assert await store.bot_state("c1") == {"step": "faq", "tries": 0}
    await store.drop_bot_state("c1")
    await store.drop_bot_state("c1")
    assert await store.bot_state("c1") is None
    assert await store.missed_offers() == {}
    await store.set_missed_offers("ana", 2)
    await store.set_missed_offers("bo", 1)
    await store.set_missed_offers("bo", 0)  # 0 forgets the agent
    assert await store.missed_offers() == {"ana": 2}
    assert await store.archived_marks() == {}
    await store.mark_archived([("c1", T0 + 5), ("c2", T0 + 6)])
    await store.mark_archived([("c1", T0 + 9)])  # closed again and archived again
    await store.mark_archived([])
    assert await store.archived_marks() == {"c1": T0 + 9, "c2": T0 + 6}
    for value in range(1, 8):
        await store.add_sample("handle_time", "general", value * 10.0, keep=5)
    assert await store.samples("handle_time", "general") == [30.0, 40.0, 50.0, 60.0, 70.0]
    assert await store.samples("handle_time", "other") == []
