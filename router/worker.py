"""The routing driver: loads a snapshot, asks the pure policy, applies each
decision with one atomic store transition, publishes. No policy lives here.

Every node runs one worker and none is a leader: an offer or assignment is a
compare-and-set in the store (state ``queued``, agent under capacity), so when
two nodes pick the same conversation or the last slot of an agent, one wins
and the other moves on. Each pass, driven by local events and a periodic
sweep (which picks up work queued or freed on other nodes), does:

1. offers past their deadline lapse back to the front of the queue, never to
   be offered to the same agent again; an agent who let ``away_after_misses``
   offers lapse in a row is set away;
2. the chats of an agent without a live connection for ``grace_seconds`` are
   requeued at the front of their group;
3. every queue is drained in queue order (priority, wait with aging, SLA),
   each conversation decided by :func:`router.policy.decide`; every decision
   is recorded as the conversation's routing explanation;
4. waiting visitors are told their position and estimated wait when either
   changes, and the floor gets each queue's length and predicted wait.

:meth:`RoutingWorker.run_pass` is one pass at ``clock()``: tests drive it with
an injected clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chatd import conversation as lifecycle
from chatd.model import Agent, Conversation
from chatd.store.base import Store, StoreError, agent_channel, conversation_channel, supervisor_channel
from router.model import AgentIndex, AgentSnapshot, ConversationRequest, Decision, SkillGroup
from router.policy import decide_queue, offer_expires_at, on_offer_timeout
from router.queueing import ShiftSchedule, estimate_wait_seconds, is_on_shift, queue_order

__all__ = [
    "FRONT_BOOST",
    "Publisher",
    "RoutingWorker",
    "Snapshot",
    "schedule_from_record",
    "skill_group_from_record",
]

log = logging.getLogger("chatd.router")

FRONT_BOOST = 100_000  # priority added to requeued-at-front conversations so they lead their queue
DEFAULT_HANDLE_SECONDS = 180.0  # wait estimates before any handle time was measured
EXPLAIN_LIMIT = 20  # candidates listed per decision (counts by reason stay complete)
APPLY_BATCH = 200  # decisions applied per pipelined batch while draining a queue


class Publisher(Protocol):
    """Where the worker's news goes (the hub, in a node); each call is one round trip."""

    async def publish_assigned_many(self, assigned: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Tell each ``(agent_id, conversation)``'s agent of a new offer or assignment."""

    async def publish_signals(self, signals: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Send each ``(channel, frame)`` signal."""


def skill_group_from_record(record: dict[str, Any]) -> SkillGroup:
    names = {f.name for f in dataclasses.fields(SkillGroup)}
    return SkillGroup(**{k: v for k, v in record.items() if k in names})


def schedule_from_record(record: dict[str, Any]) -> ShiftSchedule:
    return ShiftSchedule.weekly(record["timezone"], record["hours"])


def default_group(skill: str) -> SkillGroup:
    """Groups nobody configured: skills+load, agents auto-accept."""
    return SkillGroup(name=skill, auto_accept=True)


@dataclass(slots=True)
class Snapshot:
    """What one pass decides from."""

    now: float
    profiles: dict[str, Agent]
    index: AgentIndex
    groups: dict[str, SkillGroup]
    connected: set[str]
    loads: dict[str, int]

    def group(self, skill: str) -> SkillGroup:
        return self.groups.get(skill) or default_group(skill)


class RoutingWorker:
    """Implements :class:`router.base.Router` on top of the pure policy."""

    def __init__(self, store: Store, publisher: Publisher, clock: Callable[[], float], *,
                 grace_seconds: float = 60.0, sweep_seconds: float = 1.0,
                 on_assigned: Callable[[], None] | None = None) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.grace_seconds = grace_seconds
        self.sweep_seconds = sweep_seconds
        self.on_assigned = on_assigned
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rr_cursors: dict[str, str] = {}
        self._absent_since: dict[str, float] = {}
        self._announced: dict[str, tuple[int, int, int]] = {}
        self._explained: dict[str, tuple[str, str]] = {}
        self._pass_lock = asyncio.Lock()

    # --- Router interface ---------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def conversation_waiting(self, conversation_id: str, skill: str) -> None:
        self._wakeup.set()

    def agent_available(self, agent_id: str) -> None:
        self._wakeup.set()

    def agent_gone(self, agent_id: str) -> None:
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.sweep_seconds)
            self._wakeup.clear()
            try:
                await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("routing pass failed; retrying on the next sweep")

    # --- one pass ---------------------------------------------------------------------
    async def run_pass(self) -> int:
        """One routing pass at ``clock()``. Returns the number of conversations offered or assigned."""
        async with self._pass_lock:
            snapshot = await self.snapshot(self.clock())
            await self._expire_offers(snapshot)
            await self._requeue_absent(snapshot)
            routed = 0
            for skill in sorted(await self.store.queued_skills()):
                routed += await self._drain(skill, snapshot)
            return routed

    async def snapshot(self, now: float) -> Snapshot:
        profiles = {agent.agent_id: agent for agent in await self.store.list_agents()}
        runtime = await self.store.agent_runtime()
        connected = await self.store.connected_agents(now)
        groups = {g.name: g for g in map(skill_group_from_record, await self.store.list_records("skill_group"))}
        schedules = {r["owner"]: schedule_from_record(r) for r in await self.store.list_records("schedule")}
        misses = {r["agent_id"]: int(r["count"]) for r in await self.store.list_records("missed_offers")}
        snapshots = []
        loads: dict[str, int] = {}
        for agent_id, agent in profiles.items():
            state = runtime.get(agent_id, {})
            loads[agent_id] = int(state.get("load", 0))
            status = str(state.get("status", agent.status))
            schedule = schedules.get(agent_id)
            snapshots.append(AgentSnapshot(
                agent_id=agent_id, status=status if agent_id in connected else "offline", skills=agent.skills,
                capacity=agent.capacity, active=loads[agent_id],
                last_assigned_at=float(state["last_assigned_at"]) if state.get("last_assigned_at") else None,
                on_shift=schedule is None or is_on_shift(schedule, now), missed_offers=misses.get(agent_id, 0)))
        return Snapshot(now, profiles, AgentIndex(snapshots), groups, connected, loads)

    # --- offers that lapsed, agents who left --------------------------------------------
    async def _expire_offers(self, snap: Snapshot) -> None:
        for conversation in await self.store.list_conversations(("offered",)):
            if not conversation.offer_expires_at or conversation.offer_expires_at > snap.now:
                continue
            agent = snap.index.by_id.get(conversation.agent_id)
            group = snap.group(conversation.skill)
            try:
                change = lifecycle.lapse("offered", conversation.agent_id, conversation.excluded(), "offer_timeout")
                await self.store.transition(conversation.conversation_id, change, snap.now)
            except StoreError:
                continue  # accepted or lapsed on another node in the meantime
            await self.store.add_routing_record(conversation.conversation_id, {
                "at": snap.now, "kind": "offer_lapsed", "agent_id": conversation.agent_id,
                "reason": "offer_timeout"})
            if agent is None:
                continue
            lapse = on_offer_timeout(self._request(conversation), agent, group)
            await self.store.put_record("missed_offers", agent.agent_id,
                                        {"agent_id": agent.agent_id, "count": lapse.missed_offers})
            released = dataclasses.replace(agent, active=max(0, agent.active - 1),
                                           missed_offers=lapse.missed_offers)
            if lapse.set_away:
                await self.store.set_agent_status(agent.agent_id, "away")
                await self.publisher.publish_signals([(agent_channel(agent.agent_id), {
                    "type": "status", "status": "away", "reason": "missed_offers"})])
                released = dataclasses.replace(released, status="away")
            snap.index.update(released)

    async def _requeue_absent(self, snap: Snapshot) -> None:
        for agent_id, load in snap.loads.items():
            if agent_id in snap.connected or load == 0:
                self._absent_since.pop(agent_id, None)
                continue
            since = self._absent_since.setdefault(agent_id, snap.now)
            if snap.now - since < self.grace_seconds:
                continue
            for conversation in await self.store.agent_conversations(agent_id):
                try:
                    change = lifecycle.requeue(conversation.state, agent_id, "agent_disconnected")
                    await self.store.transition(conversation.conversation_id, change, snap.now)
                except (StoreError, lifecycle.IllegalTransition):
                    continue
                await self.store.add_routing_record(conversation.conversation_id, {
                    "at": snap.now, "kind": "requeued", "agent_id": agent_id, "reason": "agent_disconnected",
                    "grace_seconds": self.grace_seconds})
            self._absent_since.pop(agent_id, None)
            agent = snap.index.by_id.get(agent_id)
            if agent is not None:
                snap.index.update(dataclasses.replace(agent, active=0))

    # --- draining a queue ---------------------------------------------------------------
    def _request(self, conversation: Conversation) -> ConversationRequest:
        return ConversationRequest(
            conversation_id=conversation.conversation_id, skill=conversation.skill,
            priority=conversation.priority + (FRONT_BOOST if conversation.queue_front else 0),
            sla_deadline=conversation.sla_deadline or None,
            preferred_agent_id=conversation.preferred_agent_id or None,
            enqueued_at=conversation.queued_at, excluded_agent_ids=conversation.excluded())

    async def _drain(self, skill: str, snap: Snapshot) -> int:
        """Decide every queued conversation of ``skill`` in queue order.

        The policy decides the whole queue on the snapshot (each offer counts
        against the agent at once); the decisions are then applied in batches
        of ``APPLY_BATCH``: the store transitions, each with its explanation,
        in two pipelined round trips (:meth:`Store.transition_many`), and the
        agents told in one more. A transition the store refuses (another node took the
        slot or the conversation) leaves that conversation waiting for the
        next pass.
        """
        queued = await self.store.queue(skill)
        if not queued:
            return 0
        by_id = {c.conversation_id: c for c in queued}
        groups = {**{s: default_group(s) for s in {skill}}, **snap.groups}
        order = queue_order([self._request(c) for c in queued], snap.now, groups)
        decisions = decide_queue(order, snap.index, groups, snap.now, rr_cursors=self._rr_cursors,
                                 report_limit=EXPLAIN_LIMIT)
        offers = [decision for decision in decisions if decision.agent_id is not None]
        await self._explain([decision for decision in decisions if decision.agent_id is None])
        placed: set[str] = set()
        for start in range(0, len(offers), APPLY_BATCH):
            placed.update(await self._offer([(by_id[d.conversation_id], d) for d in offers[start:start + APPLY_BATCH]],
                                            snap))
        waiting = [request for request in order if request.conversation_id not in placed]
        await self._announce(skill, waiting, snap)
        return len(placed)

    async def _offer(self, batch: list[tuple[Conversation, Decision]], snap: Snapshot) -> set[str]:
        """Apply decisions (the snapshot already counts them against their
        agents); returns the conversations placed."""
        changes = []
        for conversation, decision in batch:
            group = snap.group(decision.group or conversation.skill)
            expires = offer_expires_at(group, snap.now)
            action = "assign" if expires is None else "offer"
            profile = snap.profiles.get(decision.agent_id or "")
            change = lifecycle.plan("queued", action, agent_id=decision.agent_id,
                                    data={"stage": decision.stage, "group": decision.group,
                                          "agent_name": profile.name if profile else ""})
            record = {"kind": "decision", "action": action, "offer_expires_at": expires, **decision.to_record()}
            changes.append((conversation.conversation_id, dataclasses.replace(
                change, fields={"queue_front": 0, "offer_expires_at": expires or 0.0}, routing_record=record)))
        # The explanation is stored by the same atomic step as the change, so a
        # refusal (another node took the slot or the conversation) leaves none.
        results = await self.store.transition_many(changes, snap.now)
        placed = [result[0] for result in results if not isinstance(result, StoreError)]
        for updated in placed:
            self._explained.pop(updated.conversation_id, None)
            self._announced.pop(updated.conversation_id, None)
            if self.on_assigned is not None:
                self.on_assigned()
        await self.publisher.publish_assigned_many([(updated.agent_id, updated.to_dict()) for updated in placed])
        return {updated.conversation_id for updated in placed}

    async def _explain(self, decisions: list[Decision]) -> None:
        """Record why conversations still wait, where the reason changed."""
        records = []
        for decision in decisions:
            key = (decision.stage, decision.reason)
            if self._explained.get(decision.conversation_id) == key:
                continue
            self._explained[decision.conversation_id] = key
            records.append((decision.conversation_id, {"kind": "decision", "action": "queue", **decision.to_record()}))
        if len(self._explained) > 50_000:
            self._explained.clear()
        await self.store.add_routing_records(records)

    # --- telling visitors and the floor -----------------------------------------------------
    async def queue_stats(self, skill: str, snap: Snapshot | None = None) -> dict[str, Any]:
        """Length and predicted wait of a skill group's queue (for the floor and overflow rules)."""
        snap = snap or await self.snapshot(self.clock())
        length = len(await self.store.queue(skill))
        capacity, free = self._serving(skill, snap)
        handle_times = await self.store.samples("handle_time", skill)
        wait = estimate_wait_seconds(length + 1, capacity, handle_times, free_slots=free,
                                     default_handle_seconds=DEFAULT_HANDLE_SECONDS)
        return {"skill": skill, "length": length, "predicted_wait_seconds": wait,
                "agents_on_shift": sum(1 for a in snap.index.by_id.values() if self._serves(a, skill)),
                "capacity_on_shift": capacity}

    @staticmethod
    def _serves(agent: AgentSnapshot, skill: str) -> bool:
        return agent.status == "online" and agent.on_shift and skill in agent.skills

    def _serving(self, skill: str, snap: Snapshot) -> tuple[int, int]:
        serving = [a for a in snap.index.by_id.values() if self._serves(a, skill)]
        return sum(a.capacity for a in serving), sum(max(0, a.capacity - a.active) for a in serving)

    async def _announce(self, skill: str, waiting: list[ConversationRequest], snap: Snapshot) -> None:
        capacity, free = self._serving(skill, snap)
        handle_times = await self.store.samples("handle_time", skill)
        length = len(waiting)
        sends = []
        for position, request in enumerate(waiting, start=1):
            wait = estimate_wait_seconds(position, capacity, handle_times, free_slots=free,
                                         default_handle_seconds=DEFAULT_HANDLE_SECONDS)
            eta = -1 if wait is None else round(wait)
            key = (position, length, eta)
            if self._announced.get(request.conversation_id) == key:
                continue
            self._announced[request.conversation_id] = key
            sends.append((conversation_channel(request.conversation_id), {
                "type": "queue", "conversation_id": request.conversation_id, "position": position,
                "length": length, "eta_seconds": None if wait is None else eta}))
            if len(sends) >= APPLY_BATCH:
                await self.publisher.publish_signals(sends)
                sends.clear()
        await self.publisher.publish_signals(sends)
        if len(self._announced) > 50_000:
            self._announced.clear()
        predicted = estimate_wait_seconds(length + 1, capacity, handle_times, free_slots=free,
                                          default_handle_seconds=DEFAULT_HANDLE_SECONDS)
        stats = {"type": "queue_stats", "skill": skill, "length": length, "at": snap.now,
                 "predicted_wait_seconds": predicted, "capacity_on_shift": capacity}
        await self.publisher.publish_signals([(supervisor_channel(), stats)])
