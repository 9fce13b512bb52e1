"""decide_queue() gives exactly the decisions of deciding one request at a
time with every offer applied before the next, on random floors and queues
(all four algorithms, fallback groups, preferred and excluded agents,
agents away, off shift and full)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from router.model import AgentIndex, AgentSnapshot, ConversationRequest, SkillGroup
from router.policy import decide, decide_queue

NOW = 1_750_000_000.0
SKILLS = ("general", "billing", "vip")
ALGORITHMS = ("skills_load", "round_robin", "least_busy", "longest_idle")


def floor(rng: random.Random, size: int) -> list[AgentSnapshot]:
    agents = []
    for i in range(size):
        skills = {skill: rng.randint(1, 5) for skill in rng.sample(SKILLS, rng.randint(1, 3))}
        capacity = rng.randint(1, 4)
        agents.append(AgentSnapshot(
            agent_id=f"a{i:03d}", status=rng.choice(("online", "online", "online", "away", "offline")),
            skills=skills, capacity=capacity, active=rng.randint(0, capacity),
            last_assigned_at=None if rng.random() < 0.2 else NOW - rng.uniform(0, 900),
            on_shift=rng.random() > 0.1))
    return agents


def queue(rng: random.Random, size: int, agents: int) -> list[ConversationRequest]:
    requests = []
    for i in range(size):
        preferred = f"a{rng.randrange(agents):03d}" if rng.random() < 0.15 else None
        excluded = frozenset(f"a{rng.randrange(agents):03d}" for _ in range(2)) if rng.random() < 0.15 else frozenset()
        requests.append(ConversationRequest(
            conversation_id=f"c{i:04d}", skill=rng.choice(SKILLS), preferred_agent_id=preferred,
            enqueued_at=NOW - rng.uniform(0, 120), excluded_agent_ids=excluded))
    return requests


def one_at_a_time(requests, agents, groups, limit):
    index = AgentIndex(agents)
    cursors: dict[str, str] = {}
    decisions = []
    for request in requests:
        decision = decide(request, index, groups, NOW, rr_cursors=cursors, report_limit=limit)
        decisions.append(decision)
        if decision.agent_id is not None:
            chosen = index.by_id[decision.agent_id]
            index.update(dataclasses.replace(chosen, active=chosen.active + 1, last_assigned_at=NOW))
            if decision.rr_cursor is not None:
                cursors[decision.group] = decision.rr_cursor
    return decisions, index, cursors


@pytest.mark.parametrize("seed", range(24))
def test_same_decisions_as_one_at_a_time(seed: int) -> None:
    rng = random.Random(seed)
    agents = floor(rng, rng.choice((5, 40, 120)))
    groups = {skill: SkillGroup(skill, algorithm=rng.choice(ALGORITHMS)) for skill in SKILLS}
    groups["vip"] = dataclasses.replace(groups["vip"], fallback_group="general", sticky_budget_seconds=60)
    requests = queue(rng, rng.choice((10, 150)), len(agents))
    limit = rng.choice((None, 3, 20))

    expected, expected_index, expected_cursors = one_at_a_time(requests, agents, groups, limit)
    index = AgentIndex(agents)
    cursors: dict[str, str] = {}
    got = decide_queue(requests, index, groups, NOW, rr_cursors=cursors, report_limit=limit)

    assert got == expected
    assert index.by_id == expected_index.by_id
    assert cursors == expected_cursors
    assert (any(d.agent_id for d in got) and any(d.agent_id is None for d in got)) or len(requests) == 10


def test_a_long_queue_fills_agents_in_score_order_without_overfilling() -> None:
    agents = [AgentSnapshot(f"a{i}", skills={"general": 1 + i % 5}, capacity=2) for i in range(10)]
    requests = [ConversationRequest(f"c{i:02d}", "general", enqueued_at=NOW - 100 + i) for i in range(30)]
    index = AgentIndex(agents)
    decisions = decide_queue(requests, index, {}, NOW, report_limit=5)
    chosen = [d.agent_id for d in decisions]
    assert chosen[20:] == [None] * 10  # 10 agents x capacity 2
    assert sorted(chosen[:20]) == sorted([f"a{i}" for i in range(10)] * 2)
    assert chosen[:2] == ["a4", "a9"]  # proficiency 5 first, then the tie broken by agent id
    assert all(index.by_id[f"a{i}"].active == 2 for i in range(10))
    assert decisions[25].reason == "no_eligible_agent" and decisions[25].conversation_id == "c25"
