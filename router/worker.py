"""The routing driver: loads a snapshot, asks the pure policy, applies each
decision with one atomic store transition, publishes. No policy lives here.

One worker routes at a time in a deployment: each node's worker tries to
hold the store's routing lease (:meth:`chatd.store.base.Store.claim_routing`)
and only the holder runs passes, so decisions, queue positions and
explanations are made and sent once, not once per node. Other nodes pass
their events on to it (``Publisher.wake_router``), and take over within a
lease when it stops or dies. Offers and assignments are still compare-and-set
in the store, so even two workers at once could never double-assign.

Each pass, driven by events and a periodic sweep, does:

1. transitions a dead node left half-done are completed (their events logged);
2. offers past their deadline lapse back into the queue at their place in
   line; an agent who let ``away_after_misses`` offers lapse in a row is set away;
3. the chats of an agent without a live connection for ``grace_seconds`` are
   requeued at their place in line (near the front: they keep their wait);
4. every queued conversation of every skill group is decided in the one
   queue order (:func:`chatd.conversation.queue_key`) by
   :func:`router.policy.decide_queue`: a freed agent takes the oldest chat it
   can serve, whichever group it waits in; every decision is recorded as the
   conversation's routing explanation;
5. waiting visitors are told their position and estimated wait when either
   changes, and the floor gets each queue's length and predicted wait.

:meth:`RoutingWorker.run_pass` is one pass at ``clock()``: tests and the
simulator drive it with an injected clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chatd import conversation as lifecycle
from chatd.errors import ChatdError
from chatd.model import Agent, Conversation
from chatd.records.base import ScheduleStore, SkillGroupStore
from chatd.routing import AgentLoad, Floor, QueueStats
from chatd.store.base import Store, agent_channel, conversation_channel, supervisor_channel
from chatd.tasks import cancel_and_wait
from router.config import check_schedule, check_skill_group, schedule_from_record, skill_group_from_record
from router.model import AgentIndex, AgentSnapshot, ConversationRequest, Decision, SkillGroup, expand_record
from router.policy import decide_queue, offer_expires_at, on_offer_timeout
from router.queueing import estimate_wait_seconds, is_on_shift

__all__ = ["Publisher", "RoutingWorker", "Snapshot"]

log = logging.getLogger("chatd.router")

DEFAULT_HANDLE_SECONDS = 180.0  # wait estimates before any handle time was measured
EXPLAIN_LIMIT = 20  # candidates listed per decision (counts by reason stay complete)
APPLY_BATCH = 200  # decisions applied per pipelined batch
LEASE_SECONDS = 3.0  # the routing lease: another node takes over this long after its holder stops renewing
UNLOGGED_GRACE_SECONDS = 2.0  # a transition's event unlogged this long is a dead node's: log it


class Publisher(Protocol):
    """Where the worker's news goes (the hub, in a node); each call is one round trip."""

    async def publish_assigned_many(self, assigned: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Tell each ``(agent_id, conversation)``'s agent of a new offer or assignment."""

    async def publish_signals(self, signals: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Send each ``(channel, frame)`` signal."""

    async def wake_router(self, announce: Sequence[str] = ()) -> None:
        """Tell whichever node holds the routing lease that there is work,
        and which conversations' visitors want their place told again."""


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
    scheduled: frozenset[str] = frozenset()  # agents whose shift schedule decides on_shift

    def group(self, skill: str) -> SkillGroup:
        return self.groups.get(skill) or default_group(skill)


class RoutingWorker:
    """Implements :class:`chatd.routing.Routing` on top of the pure policy."""

    def __init__(self, store: Store, publisher: Publisher, clock: Callable[[], float], *,
                 skill_groups: SkillGroupStore, schedules: ScheduleStore, grace_seconds: float = 60.0,
                 sweep_seconds: float = 1.0, node_id: str = "",
                 on_assigned: Callable[[str, float], None] | None = None) -> None:
        self.store = store
        self.skill_groups = skill_groups
        self.schedules = schedules
        self.publisher = publisher
        self.clock = clock
        self.grace_seconds = grace_seconds
        self.sweep_seconds = sweep_seconds
        self.node_id = node_id or secrets.token_hex(4)
        self.on_assigned = on_assigned
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rr_cursors: dict[str, str] = {}
        self._absent_since: dict[str, float] = {}
        self._announced: dict[str, tuple[int, int, int]] = {}
        self._explained: dict[str, tuple[str, str]] = {}
        self._pass_lock = asyncio.Lock()
        self._leading = False
        self._reannounce: set[str] = set()  # conversations whose visitor must be told their place again

    # --- Routing interface ----------------------------------------------------------
    @property
    def leading(self) -> bool:
        return self._leading

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._leading:
            with contextlib.suppress(Exception):  # let another node take over at once
                await self.store.release_routing(self.node_id)
            self._leading = False

    def conversation_waiting(self, conversation_id: str, skill: str) -> None:
        self._wakeup.set()

    def agent_available(self, agent_id: str) -> None:
        self._wakeup.set()

    def agent_gone(self, agent_id: str) -> None:
        self._wakeup.set()

    def visitor_waiting(self, conversation_id: str) -> None:
        self._reannounce.add(conversation_id)
        self._wakeup.set()

    def woken(self, announce: Sequence[str] = ()) -> None:
        """A node had routing work (see ``Publisher.wake_router``). Only the
        worker routing now takes it up: every node hears every wake-up, its
        own included, and passing them on would only echo them back."""
        if self._leading:
            self._reannounce.update(announce)
            self._wakeup.set()

    async def _run(self) -> None:
        while True:
            woken = False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.sweep_seconds)
                woken = True
            self._wakeup.clear()
            try:
                if await self.lead():
                    await self.run_pass()
                elif woken:
                    announce, self._reannounce = list(self._reannounce), set()
                    await self.publisher.wake_router(announce)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("routing pass failed; retrying on the next sweep")

    async def lead(self) -> bool:
        """Take or keep the routing lease; whether this worker routes now."""
        self._leading = await self.store.claim_routing(self.node_id, LEASE_SECONDS, self.clock())
        return self._leading

    # --- one pass ---------------------------------------------------------------------
    async def run_pass(self) -> int:
        """One routing pass at ``clock()``. Returns the number of conversations offered or assigned."""
        async with self._pass_lock:
            for conversation_id in self._reannounce:
                self._announced.pop(conversation_id, None)
            self._reannounce.clear()
            now = self.clock()
            await self.store.complete_transitions(now, UNLOGGED_GRACE_SECONDS)
            snapshot = await self.snapshot(now)
            await self._expire_offers(snapshot)
            await self._requeue_absent(snapshot)
            return await self._route(snapshot)

    async def snapshot(self, now: float) -> Snapshot:
        profiles = {agent.agent_id: agent for agent in await self.store.list_agents()}
        runtime = await self.store.agent_runtime()
        connected = await self.store.connected_agents(now)
        groups = {g.name: g for g in map(skill_group_from_record, await self.skill_groups.list())}
        schedules = {r["owner"]: schedule_from_record(r) for r in await self.schedules.list()}
        misses = await self.store.missed_offers()
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
        return Snapshot(now, profiles, AgentIndex(snapshots), groups, connected, loads,
                        frozenset(a for a in profiles if a in schedules))

    # --- offers that lapsed, agents who left --------------------------------------------
    async def _expire_offers(self, snap: Snapshot) -> None:
        for conversation in await self.store.list_conversations(("offered",)):
            if not conversation.offer_expires_at or conversation.offer_expires_at > snap.now:
                continue
            agent = snap.index.by_id.get(conversation.agent_id)
            group = snap.group(conversation.skill)
            try:
                change = lifecycle.lapse(conversation, "offer_timeout", now=snap.now)
                await self.store.transition(conversation.conversation_id, change, snap.now)
            except ChatdError:
                continue  # accepted or declined meanwhile
            await self.store.add_routing_record(conversation.conversation_id, {
                "at": snap.now, "kind": "offer_lapsed", "agent_id": conversation.agent_id,
                "reason": "offer_timeout", "lapses": conversation.lapses + 1})
            if agent is None:
                continue
            lapse = on_offer_timeout(self._request(conversation), agent, group)
            await self.store.set_missed_offers(agent.agent_id, lapse.missed_offers)
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
                    change = lifecycle.requeue(conversation, "agent_disconnected", now=snap.now)
                    await self.store.transition(conversation.conversation_id, change, snap.now)
                except ChatdError:
                    continue
                await self.store.add_routing_record(conversation.conversation_id, {
                    "at": snap.now, "kind": "requeued", "agent_id": agent_id, "reason": "agent_disconnected",
                    "grace_seconds": self.grace_seconds})
            self._absent_since.pop(agent_id, None)
            agent = snap.index.by_id.get(agent_id)
            if agent is not None:
                snap.index.update(dataclasses.replace(agent, active=0))

    # --- routing every queue ------------------------------------------------------------
    @staticmethod
    def _request(conversation: Conversation) -> ConversationRequest:
        return ConversationRequest(
            conversation_id=conversation.conversation_id, skill=conversation.skill,
            priority=conversation.priority, sla_deadline=conversation.sla_deadline or None,
            preferred_agent_id=conversation.preferred_agent_id or None,
            enqueued_at=conversation.waiting_since or conversation.queued_at,
            excluded_agent_ids=conversation.excluded(), lapses=conversation.lapses)

    async def _route(self, snap: Snapshot) -> int:
        """Decide every queued conversation, all skill groups together, in queue order.

        The policy decides them all on the snapshot (each offer counts
        against the agent at once); the decisions are then applied in
        batches of ``APPLY_BATCH``: the store transitions, each with its
        explanation, in two pipelined round trips
        (:meth:`Store.transition_many`), and the agents told in one more. A
        transition the store refuses (the conversation moved meanwhile, or
        the agent filled up) leaves that conversation for the next pass.
        """
        queues = {skill: await self.store.queue(skill) for skill in await self.store.queued_skills()}
        queues = {skill: queued for skill, queued in queues.items() if queued}
        if not queues:
            return 0
        in_line = list(heapq.merge(*queues.values(), key=lambda c: (c.queue_key, c.conversation_id)))
        by_id = {c.conversation_id: c for c in in_line}
        groups = {**{skill: default_group(skill) for skill in queues}, **snap.groups}
        requests = [self._request(c) for c in in_line]
        decisions = decide_queue(requests, snap.index, groups, snap.now, rr_cursors=self._rr_cursors,
                                 report_limit=EXPLAIN_LIMIT)
        offers = [decision for decision in decisions if decision.agent_id is not None]
        await self._explain([decision for decision in decisions if decision.agent_id is None])
        placed: set[str] = set()
        for start in range(0, len(offers), APPLY_BATCH):
            placed.update(await self._offer([(by_id[d.conversation_id], d) for d in offers[start:start + APPLY_BATCH]],
                                            snap))
        for skill, queued in queues.items():
            await self._announce(skill, [c for c in queued if c.conversation_id not in placed], snap)
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
            fields: dict[str, str | int | float] = {"offer_expires_at": expires or 0.0}
            if decision.new_round:
                fields["excluded_agents"] = ""  # everyone had their turn: a new round of offers
            record = {"kind": "decision", "action": action, "offer_expires_at": expires, **decision.to_record()}
            change = lifecycle.plan("queued", action, agent_id=decision.agent_id, fields=fields,
                                    data={"stage": decision.stage, "group": decision.group,
                                          "agent_name": profile.name if profile else ""})
            changes.append((conversation.conversation_id, dataclasses.replace(change, routing_record=record)))
        # The explanation is stored by the same atomic step as the change, so a
        # refusal leaves none.
        results = await self.store.transition_many(changes, snap.now)
        placed = [result[0] for result in results if not isinstance(result, ChatdError)]
        for updated in placed:
            self._explained.pop(updated.conversation_id, None)
            self._announced.pop(updated.conversation_id, None)
            if self.on_assigned is not None:  # (skill group, seconds it waited)
                self.on_assigned(updated.skill, snap.now - (updated.queued_at or snap.now))
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

    # --- what chatd asks of routing (chatd.routing.Routing) ------------------------------
    async def floor(self, skills: Iterable[str]) -> Floor:
        snap = await self.snapshot(self.clock())
        queues = {}
        for skill in skills:
            queued = await self.store.queue(skill)
            queues[skill] = await self._queue_stats(skill, len(queued), snap, _longest_wait(queued, snap.now))
        agents = tuple(AgentLoad(agent_id=agent_id, status=state.status, connected=agent_id in snap.connected,
                                 load=snap.loads.get(agent_id, 0), capacity=state.capacity, on_shift=state.on_shift,
                                 scheduled=agent_id in snap.scheduled, skills=dict(state.skills))
                       for agent_id, state in sorted(snap.index.by_id.items()))
        return Floor(snap.now, agents, queues)

    def explain(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return expand_record(record)

    def check_skill_group(self, name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        return check_skill_group(name, settings)

    def check_schedule(self, record: Mapping[str, Any]) -> None:
        check_schedule(record)

    async def _queue_stats(self, skill: str, length: int, snap: Snapshot, longest: float) -> QueueStats:
        capacity, free = self._serving(skill, snap)
        handle_times = await self.store.samples("handle_time", skill)
        wait = estimate_wait_seconds(length + 1, capacity, handle_times, free_slots=free,
                                     default_handle_seconds=DEFAULT_HANDLE_SECONDS)
        return QueueStats(skill=skill, length=length, predicted_wait_seconds=wait,
                          agents_on_shift=sum(1 for a in snap.index.by_id.values() if self._serves(a, skill)),
                          capacity_on_shift=capacity, longest_wait_seconds=longest)

    # --- telling visitors and the floor -----------------------------------------------------
    @staticmethod
    def _serves(agent: AgentSnapshot, skill: str) -> bool:
        return agent.status == "online" and agent.on_shift and skill in agent.skills

    def _serving(self, skill: str, snap: Snapshot) -> tuple[int, int]:
        serving = [a for a in snap.index.by_id.values() if self._serves(a, skill)]
        return sum(a.capacity for a in serving), sum(max(0, a.capacity - a.active) for a in serving)

    async def _announce(self, skill: str, waiting: list[Conversation], snap: Snapshot) -> None:
        """Tell each waiting visitor their position (1 = next) and estimated
        wait when either changed, and the floor the queue's figures."""
        capacity, free = self._serving(skill, snap)
        handle_times = await self.store.samples("handle_time", skill)
        length = len(waiting)
        sends = []
        for position, conversation in enumerate(waiting, start=1):
            wait = estimate_wait_seconds(position, capacity, handle_times, free_slots=free,
                                         default_handle_seconds=DEFAULT_HANDLE_SECONDS)
            eta = -1 if wait is None else round(wait)
            key = (position, length, eta)
            if self._announced.get(conversation.conversation_id) == key:
                continue
            self._announced[conversation.conversation_id] = key
            sends.append((conversation_channel(conversation.conversation_id), {
                "type": "queue", "conversation_id": conversation.conversation_id, "position": position,
                "length": length, "eta_seconds": None if wait is None else eta}))
            if len(sends) >= APPLY_BATCH:
                await self.publisher.publish_signals(sends)
                sends.clear()
        if len(self._announced) > 50_000:
            self._announced.clear()
        predicted = estimate_wait_seconds(length + 1, capacity, handle_times, free_slots=free,
                                          default_handle_seconds=DEFAULT_HANDLE_SECONDS)
        sends.append((supervisor_channel(), {"type": "queue_stats", "skill": skill, "length": length, "at": snap.now,
                                             "predicted_wait_seconds": predicted, "capacity_on_shift": capacity}))
        await self.publisher.publish_signals(sends)


def _longest_wait(queued: Sequence[Conversation], now: float) -> float:
    """How long the visitor who has waited longest has waited (since they first queued)."""
    oldest = min((c.waiting_since or c.queued_at for c in queued if c.waiting_since or c.queued_at), default=None)
    return round(now - oldest, 1) if oldest is not None else 0.0
