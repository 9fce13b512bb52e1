"""The routing driver: loads a snapshot, asks the policy, applies the decision
atomically, publishes. No policy lives here.

Every node runs one worker. Assignment needs no leader: the store's
``assign`` is one atomic compare-and-set (state ``queued``, agent under
capacity), so when two nodes pick the same conversation or the same last slot
of an agent, one wins and the other moves on. A periodic sweep picks up
queues that no local event touched (a conversation queued on another node,
an agent freed elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from typing import Any, Protocol

from chatd.store.base import Store, conversation_channel
from router.least_loaded import Candidate, pick_least_loaded

__all__ = ["Publisher", "QueueWorker"]

log = logging.getLogger("chatd.router")


class Publisher(Protocol):
    async def publish_assigned(self, agent_id: str, conversation: dict[str, Any]) -> None: ...

    async def publish_signal(self, channel: str, frame: dict[str, Any],
                             skip: tuple[str, str] | None = None) -> None: ...


class QueueWorker:
    """Drains skill-group queues onto agents with the least-loaded policy."""

    def __init__(self, store: Store, publisher: Publisher, clock: Callable[[], float],
                 sweep_seconds: float = 1.0, on_assigned: Callable[[], None] | None = None) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.sweep_seconds = sweep_seconds
        self.on_assigned = on_assigned
        self._pending: set[str] = set()
        self._sweep_all = True
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[str, tuple[int, int]] = {}

    # --- Router interface -----------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def conversation_waiting(self, conversation_id: str, skill: str) -> None:
        self._pending.add(skill)
        self._wakeup.set()

    def agent_available(self, agent_id: str) -> None:
        self._sweep_all = True
        self._wakeup.set()

    def agent_gone(self, agent_id: str) -> None:
        self._sweep_all = True
        self._wakeup.set()

    # --- the loop ------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.sweep_seconds)
            self._wakeup.clear()
            try:
                skills = set(self._pending)
                self._pending.clear()
                if self._sweep_all or not skills:
                    self._sweep_all = False
                    skills |= set(await self.store.queued_skills())
                for skill in sorted(skills):
                    await self.drain(skill)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("routing pass failed; retrying on the next sweep")

    async def drain(self, skill: str) -> int:
        """Assign as many queued conversations of ``skill`` as agents can take;
        then tell the rest their queue position. Returns the number assigned."""
        queue = await self.store.queue(skill)
        if not queue:
            return 0
        now = self.clock()
        agents = await self.store.list_agents()
        runtime = await self.store.agent_runtime()
        connected = await self.store.connected_agents(now)
        loads = {a.agent_id: int(runtime.get(a.agent_id, {}).get("load", 0)) for a in agents}
        assigned = 0
        remaining = []
        for conversation in queue:
            candidates = [
                Candidate(a.agent_id, str(runtime.get(a.agent_id, {}).get("status", a.status)),
                          a.agent_id in connected, frozenset(a.skills), a.capacity, loads[a.agent_id])
                for a in agents
            ]
            chosen, reasons = pick_least_loaded(candidates, skill)
            if chosen is None:
                remaining.append(conversation)
                continue
            result = await self.store.assign(conversation.conversation_id, chosen, now)
            await self.store.add_routing_record(conversation.conversation_id, {
                "at": now, "policy": "least_loaded", "skill": skill, "chosen": chosen if result.ok else None,
                "outcome": "assigned" if result.ok else result.reason, "candidates": reasons,
            })
            if result.ok and result.conversation is not None:
                loads[chosen] += 1
                assigned += 1
                if self.on_assigned is not None:
                    self.on_assigned()
                await self.publisher.publish_assigned(chosen, result.conversation.to_dict())
            elif result.reason == "at_capacity":
                # Another node filled the agent first: refresh loads and keep it queued.
                runtime = await self.store.agent_runtime()
                loads = {a.agent_id: int(runtime.get(a.agent_id, {}).get("load", 0)) for a in agents}
                remaining.append(conversation)
        await self._announce_positions(remaining, agents, connected, skill)
        return assigned

    async def _announce_positions(self, remaining: list[Any], agents: list[Any], connected: set[str],
                                  skill: str) -> None:
        """Push each waiting visitor's position when it changed. The estimate
        assumes one minute per chat per online agent with the skill (the
        placeholder until handle times are tracked)."""
        serving = sum(1 for a in agents if a.agent_id in connected and skill in a.skills) or 1
        length = len(remaining)
        for index, conversation in enumerate(remaining, start=1):
            key = conversation.conversation_id
            if self._positions.get(key) == (index, length):
                continue
            self._positions[key] = (index, length)
            eta = int(math.ceil(index / serving) * 60)
            await self.publisher.publish_signal(conversation_channel(key), {
                "type": "queue", "conversation_id": key, "position": index, "length": length, "eta_seconds": eta})
        if len(self._positions) > 10_000:
            self._positions.clear()
