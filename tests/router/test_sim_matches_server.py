"""The simulator and the server route alike.

One scenario runs through ``router.sim.simulate`` and, separately, through a
chatd node's own code on the memory engine: visitors start conversations
through :meth:`chatd.service.ChatService.start_conversation` (the bot's plan,
the skill check, the atomic start), agents close them through
:meth:`chatd.service.ChatService.close`, and the routing worker runs a pass
after every event on the same simulated clock. Both must make exactly the
same assignments, in the same order, at the same times.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import router.sim
from chatd.app import build_context
from chatd.model import Agent
from chatd.records import MEMORY_URL
from chatd.settings import Settings
from router.sim import load_scenario, simulate, workload
from router.worker import RoutingWorker

SCENARIO = Path(router.sim.__file__).parent / "scenarios" / "chained_two_skill.json"
SEED = 5


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []

    async def publish_assigned_many(self, assigned: Any) -> None:
        self.made += [(agent_id, conversation["conversation_id"]) for agent_id, conversation in assigned]

    async def publish_signals(self, signals: Any) -> None:
        return None

    async def wake_router(self, announce: Any = ()) -> None:
        return None


async def through_the_server(scenario: router.sim.Scenario, seed: int) -> list[tuple[float, str, str]]:
    clock = Clock()
    ctx = build_context(Settings(engine="memory", demo=False, database_url=MEMORY_URL), clock=clock)
    store = ctx.store
    for spec in scenario.agents:
        await store.put_agent(Agent(agent_id=spec.agent_id, name=spec.agent_id, skills=dict(spec.skills),
                                    capacity=spec.capacity, status="online"))
        await store.touch_presence(spec.agent_id, "node", math.inf)
    for traffic in scenario.traffic:
        await ctx.records.skill_groups.put(asdict(traffic.group))
    recorder = Recorder()
    worker = RoutingWorker(store, recorder, clock, skill_groups=ctx.records.skill_groups,
                           schedules=ctx.records.schedules, grace_seconds=math.inf, node_id="node")
    arrival_of: dict[str, str] = {}  # conversation id -> the simulator's name for it
    handles: dict[str, float] = {}
    finishing: list[tuple[float, int, str, str]] = []
    trace: list[tuple[float, str, str]] = []
    end = scenario.hours * 3600

    async def route(now: float) -> None:
        clock.now = now
        made = len(recorder.made)
        await worker.run_pass()
        for agent_id, cid in recorder.made[made:]:
            trace.append((now, arrival_of[cid], agent_id))
            heapq.heappush(finishing, (now + handles[cid], len(trace), cid, agent_id))

    arrivals = [a for a in workload(scenario, seed) if a[0] < end]
    position = 0
    while position < len(arrivals) or finishing:
        if position < len(arrivals) and (not finishing or arrivals[position][0] <= finishing[0][0]):
            at, group, handle, _ = arrivals[position]
            clock.now = at
            conversation, _ = await ctx.service.start_conversation("sim", f"v{position}", skill=group)
            arrival_of[conversation.conversation_id] = f"c{position}"
            handles[conversation.conversation_id] = handle
            position += 1
            await route(at)
            continue
        at, _, cid, agent_id = heapq.heappop(finishing)
        clock.now = at
        await ctx.service.close(cid, "agent", agent_id)
        await route(at)
    await ctx.service.bot.stop()  # type: ignore[attr-defined]
    await ctx.records.database.close()
    return trace


def test_the_simulator_and_the_server_make_the_same_assignments() -> None:
    scenario = replace(load_scenario(SCENARIO), hours=1.0, warmup_hours=0.25)
    arrivals = [a[0] for a in workload(scenario, SEED) if a[0] < scenario.hours * 3600]
    # Equal places in line would be settled by conversation id, which the two runs name differently.
    assert len({round(at, 3) for at in arrivals}) == len(arrivals)
    simulated: list[tuple[float, str, str]] = []
    simulate(scenario, SEED, trace=simulated)
    served = asyncio.run(through_the_server(scenario, SEED))
    assert len(served) == len(arrivals) > 700
    assert served == simulated
    # and the routing really crossed groups: agents served their second skill too
    groups = [a[1] for a in workload(scenario, SEED)]
    second_skill = sum(1 for _, cid, agent in served if not agent.startswith(groups[int(cid[1:])].lower()))
    assert second_skill > 50
