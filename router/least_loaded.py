"""Placeholder assignment policy: the least-loaded routable agent.

Pure. An agent is routable for a skill when their status is online, they
have a live connection, they have the skill and they are under capacity.
Ties break on (load ratio, active count, agent id), never at random.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Candidate", "pick_least_loaded"]


@dataclass(slots=True, frozen=True)
class Candidate:
    agent_id: str
    status: str
    connected: bool
    skills: frozenset[str]
    capacity: int
    load: int


def pick_least_loaded(candidates: Iterable[Candidate], skill: str) -> tuple[str | None, list[dict[str, object]]]:
    """The chosen agent id (or None) and, per candidate, why it was kept or dropped."""
    reasons: list[dict[str, object]] = []
    best: tuple[float, int, str] | None = None
    for c in candidates:
        if c.status != "online":
            reason = c.status
        elif not c.connected:
            reason = "not_connected"
        elif skill not in c.skills:
            reason = "no_skill"
        elif c.load >= c.capacity:
            reason = "at_capacity"
        else:
            reason = "kept"
            key = (c.load / c.capacity, c.load, c.agent_id)
            if best is None or key < best:
                best = key
        reasons.append({"agent_id": c.agent_id, "reason": reason, "load": c.load, "capacity": c.capacity})
    return (best[2] if best else None), reasons
