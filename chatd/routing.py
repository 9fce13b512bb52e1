"""The port chatd needs from routing, and the figures routing reports.

chatd owns this contract; the ``router`` package implements it
(:class:`router.worker.RoutingWorker`) and only the composition root
(:mod:`chatd.app`) imports both. Notifications return at once: the router
works in its own task, so a slow decision never holds up message traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

__all__ = ["AgentLoad", "Floor", "QueueStats", "Routing"]


@dataclass(frozen=True, slots=True)
class AgentLoad:
    """One agent as routing sees them now. ``status`` is ``offline`` while the
    agent has no live connection, whatever they chose; ``scheduled`` says
    whether a shift schedule decides ``on_shift``."""

    agent_id: str
    status: str
    connected: bool
    load: int
    capacity: int
    on_shift: bool
    scheduled: bool
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A skill group's queue now. ``predicted_wait_seconds`` is the wait a new
    chat would have (``None``: nobody on shift, no honest estimate);
    ``longest_wait_seconds`` how long the first in line has waited."""

    skill: str
    length: int
    predicted_wait_seconds: float | None
    agents_on_shift: int
    capacity_on_shift: int
    longest_wait_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Floor:
    """Every agent and the queues asked for, from one snapshot."""

    at: float
    agents: tuple[AgentLoad, ...]
    queues: Mapping[str, QueueStats]


class Routing(Protocol):
    @property
    def leading(self) -> bool:
        """True while this process decides for the whole store (holds the routing lease)."""

    async def start(self) -> None:
        """Begin routing (start the worker task)."""

    async def stop(self) -> None:
        """Stop the worker task; queued conversations stay queued in the store."""

    def conversation_waiting(self, conversation_id: str, skill: str) -> None:
        """A conversation was queued (new, transferred to a group, requeued, lapsed)."""

    def agent_available(self, agent_id: str) -> None:
        """An agent connected, came online or freed capacity."""

    def agent_gone(self, agent_id: str) -> None:
        """An agent's last connection on this node closed."""

    def visitor_waiting(self, conversation_id: str) -> None:
        """A visitor (re)joined a queued conversation: tell them their place in
        line and wait again (queue frames are not replayed)."""

    def woken(self, announce: Sequence[str] = ()) -> None:
        """Another node passed on routing work (only one node routes at a
        time), with the conversations whose visitors want their place told again."""

    async def floor(self, skills: Iterable[str]) -> Floor:
        """Agents' loads and the queues of ``skills``, as routing sees them now."""

    def explain(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A stored routing explanation in the form the API shows."""

    def check_skill_group(self, name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """A skill group's routing settings as they will be stored; raises
        ``ChatdError("bad_request")`` naming the bad field."""

    def check_schedule(self, record: Mapping[str, Any]) -> None:
        """Raises ``ChatdError("bad_request")`` for a malformed shift schedule."""
