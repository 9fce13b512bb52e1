"""The routing driver with an injected clock (no sleeping): offers and their
timeouts, stickiness budget, grace then requeue at the front, shifts, queue
positions and wait estimates, explanations. Runs on the memory engine; the
same store contract holds for Redis (tests/store)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from chatd.conversation import plan
from chatd.model import Agent, Conversation
from chatd.records import MEMORY_URL, Records, open_records
from chatd.settings import Settings
from chatd.store import open_engine
from chatd.store.base import Store
from router.model import expand_record
from router.worker import RoutingWorker

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # a Monday, 10:00 in Shanghai


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Captures what the worker publishes."""

    def __init__(self) -> None:
        self.assigned: list[tuple[str, str]] = []
        self.signals: list[tuple[str, dict[str, Any]]] = []

    async def publish_assigned_many(self, assigned: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self.assigned += [(agent_id, conversation["conversation_id"]) for agent_id, conversation in assigned]

    async def publish_signals(self, signals: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self.signals += signals

    async def wake_router(self, announce: Sequence[str] = ()) -> None:
        return None

    def queue_frames(self, cid: str) -> list[dict[str, Any]]:
        return [f for _, f in self.signals if f["type"] == "queue" and f["conversation_id"] == cid]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> Store:
    return open_engine(Settings(engine="memory")).store


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest_asyncio.fixture
async def records() -> AsyncIterator[Records]:
    records = open_records(MEMORY_URL)
    yield records
    await records.database.close()


@pytest.fixture
def worker(store: Store, records: Records, recorder: Recorder, clock: Clock) -> RoutingWorker:
    return RoutingWorker(store, recorder, clock, skill_groups=records.skill_groups, schedules=records.schedules,
                         grace_seconds=60)


async def agent(store: Store, agent_id: str, *, capacity: int = 2, skills: dict[str, int] | None = None,
                connected: bool = True, status: str = "online") -> None:
    await store.put_agent(Agent(agent_id=agent_id, name=agent_id, skills=skills or {"general": 3},
                                capacity=capacity, status=status))
    if connected:
        await store.touch_presence(agent_id, "node-1", T0 + 10**8)


async def waiting(store: Store, cid: str, at: float, **fields: Any) -> None:
    conversation = Conversation(conversation_id=cid, site_key="demo", visitor_id="v-" + cid, created_at=at, **fields)
    await store.start_conversation(conversation, plan("open", "queue", skill=conversation.skill, record=conversation,
                                                      now=at), at)


async def state(store: Store, cid: str) -> tuple[str, str]:
    conversation = await store.get_conversation(cid)
    assert conversation is not None
    return conversation.state, conversation.agent_id


async def test_offer_lapses_to_the_next_agent_and_the_lapser_goes_away(
        store: Store, records: Records, worker: RoutingWorker, recorder: Recorder, clock: Clock) -> None:
    await records.skill_groups.put({"name": "general", "auto_accept": False, "offer_timeout_seconds": 30,
                                    "away_after_misses": 1})
    await agent(store, "ana", skills={"general": 5})
    await agent(store, "bo", skills={"general": 3})
    await waiting(store, "c1", T0)
    assert await worker.run_pass() == 1
    assert await state(store, "c1") == ("offered", "ana")  # the more proficient agent
    offered = await store.get_conversation("c1")
    assert offered is not None and offered.offer_expires_at == T0 + 30
    clock.now = T0 + 29
    assert await worker.run_pass() == 0 and await state(store, "c1") == ("offered", "ana")
    clock.now = T0 + 31
    assert await worker.run_pass() == 1
    assert await state(store, "c1") == ("offered", "bo")  # re-offered, never back to ana
    conversation = await store.get_conversation("c1")
    assert conversation is not None and conversation.excluded() == {"ana"}
    assert (await store.agent_runtime())["ana"]["status"] == "away"
    assert ("agent:ana", {"type": "status", "status": "away", "reason": "missed_offers"}) in recorder.signals
    kinds = [r["kind"] for r in await store.routing_records("c1")]
    assert kinds[-2:] == ["offer_lapsed", "decision"] and recorder.assigned == [("ana", "c1"), ("bo", "c1")]
    # bo accepts in time: it stays with bo after the deadline.
    await store.transition("c1", plan("offered", "accept", current_agent="bo"), T0 + 40)
    clock.now = T0 + 100
    await worker.run_pass()
    assert await state(store, "c1") == ("assigned", "bo")


async def test_stickiness_waits_within_the_budget_then_relaxes(
        store: Store, records: Records, worker: RoutingWorker, clock: Clock) -> None:
    await records.skill_groups.put({"name": "general", "sticky_budget_seconds": 60, "auto_accept": True})
    await agent(store, "ana", capacity=1)
    await agent(store, "bo", capacity=1)
    await waiting(store, "busy", T0 - 10)
    await store.assign("busy", "bo", T0 - 5)  # bo, the customer's last agent, is full
    await waiting(store, "c2", T0, preferred_agent_id="bo")
    clock.now = T0 + 10
    await worker.run_pass()
    assert await state(store, "c2") == ("queued", "")
    why = (await store.routing_records("c2"))[-1]
    assert (why["stage"], why["reason"]) == ("preferred", "waiting_for_preferred")
    clock.now = T0 + 61
    await worker.run_pass()
    assert await state(store, "c2") == ("assigned", "ana")
    decision = expand_record((await store.routing_records("c2"))[-1])
    assert decision["stage"] == "group" and decision["agent_id"] == "ana"
    reasons = {c["agent_id"]: c["reason"] for c in decision["candidates"]}
    assert reasons == {"ana": "kept", "bo": "at_capacity"}


async def test_a_dropped_agent_keeps_chats_for_the_grace_then_they_lead_the_queue(
        store: Store, worker: RoutingWorker, clock: Clock) -> None:
    await agent(store, "ana", capacity=1)
    await agent(store, "bo", capacity=1, connected=False)
    await waiting(store, "c1", T0 - 300)
    await worker.run_pass()
    assert await state(store, "c1") == ("assigned", "ana")
    await waiting(store, "c2", T0 - 200)  # waits longer than c1 will have, after its requeue
    await store.drop_presence("ana", "node-1")
    clock.now = T0 + 59
    await worker.run_pass()
    assert await state(store, "c1") == ("assigned", "ana")  # within the grace period
    clock.now = T0 + 121
    await worker.run_pass()
    assert await state(store, "c1") == ("queued", "")
    assert [c.conversation_id for c in await store.queue("general")] == ["c1", "c2"]  # at the front
    await store.touch_presence("bo", "node-1", T0 + 10**8)
    await worker.run_pass()
    assert await state(store, "c1") == ("assigned", "bo") and await state(store, "c2") == ("queued", "")
    requeued = [r for r in await store.routing_records("c1") if r["kind"] == "requeued"]
    assert requeued and requeued[0]["reason"] == "agent_disconnected"


async def test_shift_schedules_decide_who_is_on_duty(store: Store, records: Records, worker: RoutingWorker,
                                                     clock: Clock) -> None:
    await agent(store, "ana", skills={"general": 5})
    await agent(store, "bo", skills={"general": 1})
    await records.schedules.put({"owner": "ana", "timezone": "Asia/Shanghai", "hours": {"mon-fri": "09:00-18:00"}})
    clock.now = datetime(2026, 11, 28, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # Saturday
    await waiting(store, "sat", clock.now)
    await worker.run_pass()
    assert await state(store, "sat") == ("assigned", "bo")
    latest = expand_record((await store.routing_records("sat"))[-1])
    reasons = {c["agent_id"]: c["reason"] for c in latest["candidates"]}
    assert reasons["ana"] == "off_shift"
    clock.now = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # Monday
    await waiting(store, "mon", clock.now)
    await worker.run_pass()
    assert await state(store, "mon") == ("assigned", "ana")


async def test_queue_positions_and_wait_estimates_are_pushed_when_they_change(
        store: Store, worker: RoutingWorker, recorder: Recorder, clock: Clock) -> None:
    await agent(store, "ana", capacity=1)
    for value in (100.0, 140.0):
        await store.add_sample("handle_time", "general", value)
    await waiting(store, "busy", T0 - 50)
    await worker.run_pass()  # ana takes "busy" and is full
    for i, cid in enumerate(("q1", "q2", "q3")):
        await waiting(store, cid, T0 + i)
    await worker.run_pass()
    frames = {cid: recorder.queue_frames(cid)[-1] for cid in ("q1", "q2", "q3")}
    assert [(f["position"], f["length"]) for f in frames.values()] == [(1, 3), (2, 3), (3, 3)]
    # one slot of capacity, mean handle 120 s: 120 s per position
    assert [f["eta_seconds"] for f in frames.values()] == [120, 240, 360]
    count = len(recorder.signals)
    await worker.run_pass()
    assert not [f for _, f in recorder.signals[count:] if f["type"] == "queue"]  # nothing changed, nothing sent
    await store.transition("busy", dataclasses.replace(plan("assigned", "close")), T0 + 10)
    await worker.run_pass()
    assert await state(store, "q1") == ("assigned", "ana")
    assert (recorder.queue_frames("q2")[-1]["position"], recorder.queue_frames("q3")[-1]["position"]) == (1, 2)
    stats = [f for channel, f in recorder.signals if channel == "floor"][-1]
    assert stats["type"] == "queue_stats" and stats["length"] == 2
    # nobody serving: no honest estimate rather than a made-up one
    await store.drop_presence("ana", "node-1")
    await waiting(store, "q4", T0 + 20)
    await worker.run_pass()
    assert recorder.queue_frames("q4")[-1]["eta_seconds"] is None


async def test_algorithms_per_group_are_applied(store: Store, records: Records, worker: RoutingWorker) -> None:
    await records.skill_groups.put({"name": "general", "algorithm": "round_robin"})
    for agent_id in ("a1", "a2", "a3"):
        await agent(store, agent_id, capacity=5)
    for i in range(6):
        await waiting(store, f"c{i}", T0 + i)
    await worker.run_pass()
    owners = [(await state(store, f"c{i}"))[1] for i in range(6)]
    assert owners == ["a1", "a2", "a3", "a1", "a2", "a3"]


async def test_a_visitor_who_rejoins_is_told_their_place_again(
        store: Store, worker: RoutingWorker, recorder: Recorder) -> None:
    await agent(store, "ana", capacity=1)
    await waiting(store, "busy", T0 - 50)
    await waiting(store, "q1", T0)
    await worker.run_pass()
    assert len(recorder.queue_frames("q1")) == 1
    await worker.run_pass()
    assert len(recorder.queue_frames("q1")) == 1  # nothing changed: nothing sent
    worker.visitor_waiting("q1")  # the visitor reconnected: queue frames are not replayed
    await worker.run_pass()
    assert len(recorder.queue_frames("q1")) == 2 and recorder.queue_frames("q1")[-1]["position"] == 1
    assert await worker.lead()
    worker.woken(["q1"])  # the same, passed on by another node to the one routing
    await worker.run_pass()
    assert len(recorder.queue_frames("q1")) == 3


async def test_the_routing_lease_lets_one_worker_route_at_a_time(store: Store, records: Records, recorder: Recorder,
                                                                 clock: Clock) -> None:
    config = {"skill_groups": records.skill_groups, "schedules": records.schedules}
    first = RoutingWorker(store, recorder, clock, node_id="n1", **config)
    second = RoutingWorker(store, recorder, clock, node_id="n2", **config)
    assert await first.lead() and not await second.lead()
    clock.now += 10  # n1 stopped renewing (it died)
    assert await second.lead() and not await first.lead()
    await second.stop()  # a drain gives the lease up at once
    assert await first.lead()
