"""Many nodes assigning at once never overfill an agent nor double-assign."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from .conftest import EngineFactory
from .helpers import T0, add_agent, queued

pytestmark = pytest.mark.asyncio

NODES, AGENTS, CAPACITY, CONVERSATIONS, ATTEMPTS = 5, 20, 3, 80, 200


async def test_concurrent_assignments_respect_capacity(make_engine: EngineFactory) -> None:
    nodes = [await make_engine() for _ in range(NODES)]  # same prefix, separate connection pools
    setup = nodes[0].store
    agents = [f"agent{n:02}" for n in range(AGENTS)]
    for agent_id in agents:
        await add_agent(setup, agent_id, capacity=CAPACITY)
    cids = [f"conv{n:03}" for n in range(CONVERSATIONS)]
    await asyncio.gather(*(queued(setup, cid, now=T0 + n) for n, cid in enumerate(cids)))
    rng = random.Random(42)
    attempts = [(rng.choice(nodes).store, rng.choice(cids), rng.choice(agents)) for _ in range(ATTEMPTS)]
    results = await asyncio.gather(*(store.assign(cid, agent_id, T0 + 100) for store, cid, agent_id in attempts))

    wins = Counter(cid for (_, cid, _), result in zip(attempts, results, strict=True) if result.ok)
    assert wins and max(wins.values()) == 1  # no conversation assigned twice
    assert {r.reason for r in results if not r.ok} <= {"bad_state", "at_capacity"}
    runtime = await nodes[-1].store.agent_runtime()
    assert all(runtime[a]["load"] <= CAPACITY for a in agents)
    assert sum(runtime[a]["load"] for a in agents) == sum(wins.values())
    for agent_id in agents:
        held = await nodes[-1].store.agent_conversations(agent_id)
        assert len(held) == runtime[agent_id]["load"]
        assert all(c.agent_id == agent_id and c.state == "assigned" for c in held)
    for cid in wins:
        entries = (await setup.read(cid, 0)).entries
        assert [e.body for e in entries] == ["queued", "assigned"]
    queue_left = {c.conversation_id for c in await setup.queue("general")}
    assert queue_left == set(cids) - set(wins)
