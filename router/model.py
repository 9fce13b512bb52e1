"""Routing snapshot and decision records.

The policy (:mod:`router.policy`) decides from these immutable records only:
a driver loads agents, skill groups and a conversation request from the store,
calls the policy, and applies the returned :class:`Decision` atomically. Times
are epoch seconds from the driver's injected clock.

A skill group is named after the skill it routes: an agent belongs to group
``"logistics"`` when ``"logistics"`` is in its ``skills``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "AGENT_STATUSES",
    "ALGORITHMS",
    "OUTCOMES",
    "REASONS",
    "STAGES",
    "AgentIndex",
    "AgentSnapshot",
    "CandidateReport",
    "ConversationRequest",
    "Decision",
    "SkillGroup",
    "base_reason",
    "expand_record",
]

AGENT_STATUSES = ("online", "away", "offline")
ALGORITHMS = ("skills_load", "round_robin", "least_busy", "longest_idle")
OUTCOMES = ("offer", "queue")
STAGES = ("preferred", "group", "fallback")
# Candidate reason codes, in the order the filter checks them: an agent is
# reported with the first reason that drops it, or "kept".
REASONS = (
    "unknown_agent",
    "offline",
    "away",
    "off_shift",
    "no_skill",
    "at_capacity",
    "excluded_lapsed",
    "kept",
)


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    """One agent as the router sees it at decision time.

    ``skills`` maps skill name to proficiency 1..5 and is not copied: callers
    must not mutate it after building the snapshot. ``last_assigned_at`` is
    ``None`` for an agent never assigned (treated as idle the longest).
    """

    agent_id: str
    status: str = "online"
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: int = 1
    active: int = 0
    last_assigned_at: float | None = None
    on_shift: bool = True
    missed_offers: int = 0


@dataclass(frozen=True, slots=True)
class SkillGroup:
    """Routing settings of one skill group.

    ``sticky_budget_seconds``: how long a conversation may wait for its
    preferred (dedicated or last) agent before it is routed to the group, and
    before the fallback group is tried. ``offer_timeout_seconds``: how long an
    agent has to accept an offer (ignored when ``auto_accept``).
    ``away_after_misses``: after this many lapsed offers in a row the agent is
    set away (``None``: never).
    """

    name: str
    algorithm: str = "skills_load"
    fallback_group: str | None = None
    sticky_budget_seconds: float = 0.0
    offer_timeout_seconds: float = 30.0
    auto_accept: bool = False
    away_after_misses: int | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown routing algorithm {self.algorithm!r}")


@dataclass(frozen=True, slots=True)
class ConversationRequest:
    """A conversation that needs an agent with ``skill``.

    ``enqueued_at`` is when the visitor started waiting (what the sticky
    budget counts from). ``excluded_agent_ids`` holds the agents that let an
    offer of this conversation lapse or declined it in the current round;
    they are offered it again only when nobody else eligible is left.
    ``lapses`` counts every lapsed or declined offer of it (for the record).
    The order requests are decided in is the queue order
    (:func:`chatd.conversation.queue_key`), given by the driver.
    """

    conversation_id: str
    skill: str
    priority: int = 0
    sla_deadline: float | None = None
    preferred_agent_id: str | None = None
    enqueued_at: float = 0.0
    excluded_agent_ids: frozenset[str] = frozenset()
    lapses: int = 0


class CandidateReport(NamedTuple):
    """Why one agent was kept or dropped, and how a kept agent ranked.

    ``sort_key`` is the exact tuple the algorithm sorted on (smaller is
    better; its element names are :attr:`Decision.ordering`). ``score`` and
    ``components`` (weighted proficiency, free capacity and idle parts) are
    set by the ``skills_load`` algorithm only. ``rank`` is 1 for the chosen
    agent, 2 for the runner-up, and ``None`` for dropped agents.
    """
    # A named tuple, not a dataclass: a decision reports up to dozens of
    # candidates, and tuples are built (and msgpack-encoded) several times faster.


    agent_id: str
    stage: str
    kept: bool
    reason: str
    rank: int | None = None
    score: float | None = None
    components: tuple[float, float, float] | None = None
    sort_key: tuple[Any, ...] | None = None
    proficiency: int | None = None
    active: int = 0
    capacity: int = 0
    idle_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        components = None
        if self.components is not None:
            proficiency, free, idle = self.components
            components = {"proficiency": proficiency, "free_capacity": free, "idle": idle}
        return {
            "agent_id": self.agent_id,
            "stage": self.stage,
            "kept": self.kept,
            "reason": self.reason,
            "rank": self.rank,
            "score": self.score,
            "components": components,
            "sort_key": list(self.sort_key) if self.sort_key is not None else None,
            "proficiency": self.proficiency,
            "active": self.active,
            "capacity": self.capacity,
            "idle_seconds": self.idle_seconds,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CandidateReport:
        components = raw.get("components")
        sort_key = raw.get("sort_key")
        return cls(
            agent_id=raw["agent_id"],
            stage=raw["stage"],
            kept=raw["kept"],
            reason=raw["reason"],
            rank=raw.get("rank"),
            score=raw.get("score"),
            components=(
                (components["proficiency"], components["free_capacity"], components["idle"])
                if components is not None
                else None
            ),
            sort_key=tuple(sort_key) if sort_key is not None else None,
            proficiency=raw.get("proficiency"),
            active=raw.get("active", 0),
            capacity=raw.get("capacity", 0),
            idle_seconds=raw.get("idle_seconds"),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The routing decision for one conversation, with its explanation.

    ``outcome`` is ``"offer"`` (offer the conversation to ``agent_id``) or
    ``"queue"`` (``agent_id`` is ``None``). ``stage`` is where the search
    ended; ``group`` and ``algorithm`` are the skill group searched last.
    ``reason`` is a summary code: ``preferred_available``,
    ``waiting_for_preferred``, ``group_match``, ``fallback_match`` or
    ``no_eligible_agent``. ``reason_counts`` counts every considered agent by
    reason, even when ``candidates`` was truncated by a report limit.
    ``rr_cursor`` is the new round-robin cursor of ``group`` when its
    algorithm is ``round_robin`` and an agent was chosen; store it.
    ``new_round`` says everyone eligible had let the offer go, so offers go
    round again (clear the conversation's exclusions); ``lapses`` is how many
    offers of it lapsed or were declined before this decision.
    """

    conversation_id: str
    agent_id: str | None
    outcome: str
    stage: str
    group: str
    algorithm: str
    reason: str
    decided_at: float
    candidates: tuple[CandidateReport, ...] = ()
    ordering: tuple[str, ...] = ()
    reason_counts: Mapping[str, int] = field(default_factory=dict)
    rr_cursor: str | None = None
    new_round: bool = False
    lapses: int = 0

    def to_record(self) -> dict[str, Any]:
        """:meth:`to_dict` with the candidates as rows of
        :data:`CandidateReport` fields (named once, in ``candidate_fields``):
        the compact form the router stores. :func:`expand_record` turns it
        back into :meth:`to_dict`'s form."""
        return {**self._head(), "candidate_fields": CandidateReport._fields, "candidates": self.candidates}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (only str, int, float, bool, None, list, dict)."""
        return {**self._head(), "candidates": [candidate.to_dict() for candidate in self.candidates]}

    def _head(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "agent_id": self.agent_id,
            "outcome": self.outcome,
            "stage": self.stage,
            "group": self.group,
            "algorithm": self.algorithm,
            "reason": self.reason,
            "decided_at": self.decided_at,
            "ordering": list(self.ordering),
            "reason_counts": dict(self.reason_counts),
            "rr_cursor": self.rr_cursor,
            "new_round": self.new_round,
            "lapses": self.lapses,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Decision:
        """Rebuild a decision stored with :meth:`to_dict`."""
        return cls(
            conversation_id=raw["conversation_id"],
            agent_id=raw["agent_id"],
            outcome=raw["outcome"],
            stage=raw["stage"],
            group=raw["group"],
            algorithm=raw["algorithm"],
            reason=raw["reason"],
            decided_at=raw["decided_at"],
            candidates=tuple(CandidateReport.from_dict(c) for c in raw.get("candidates", ())),
            ordering=tuple(raw.get("ordering", ())),
            reason_counts=dict(raw.get("reason_counts", {})),
            rr_cursor=raw.get("rr_cursor"),
            new_round=raw.get("new_round", False),
            lapses=raw.get("lapses", 0),
        )


def expand_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored routing record in :meth:`Decision.to_dict`'s form: rows made
    by :meth:`Decision.to_record` become candidate dicts (fields the row does
    not have get their defaults). Other records are returned as they are."""
    fields = record.get("candidate_fields")
    if fields is None:
        return dict(record)
    defaults = CandidateReport._field_defaults
    candidates = []
    for row in record.get("candidates", ()):
        named = dict(zip(fields, row, strict=False))
        candidates.append(CandidateReport(*(named.get(name, defaults.get(name)) for name in CandidateReport._fields))
                          .to_dict())
    expanded = {key: value for key, value in record.items() if key != "candidate_fields"}
    expanded["candidates"] = candidates
    return expanded


def base_reason(agent: AgentSnapshot) -> str:
    """The request-independent filter verdict for an agent that holds the skill.

    ``"kept"`` when online, on shift and under capacity, else the first reason
    that drops the agent (in ``REASONS`` order).
    """
    if agent.status != "online":
        return "away" if agent.status == "away" else "offline"
    if not agent.on_shift:
        return "off_shift"
    if agent.active >= agent.capacity:
        return "at_capacity"
    return "kept"


class AgentIndex:
    """Agents of one snapshot indexed by id and by skill, with availability.

    Build it once per snapshot and pass it to :func:`router.policy.decide` for
    many requests: a decision then ranks only the *available* agents (online,
    on shift, under capacity) holding the requested skill, and reads the
    counts of the others from the index. A driver that keeps a live snapshot
    (the simulator does) may :meth:`update` one agent in place, in
    O(number of its skills), instead of rebuilding.

    The mappings and sequences the index returns are its own: do not mutate
    them.
    """

    __slots__ = ("_available", "_members", "_slots", "_unavailable", "base_reasons", "by_id")

    def __init__(self, agents: Iterable[AgentSnapshot]) -> None:
        self.by_id: dict[str, AgentSnapshot] = {}
        self._members: dict[str, list[AgentSnapshot]] = {}
        # agent_id -> [(skill, position in that skill's member list)]
        self._slots: dict[str, list[tuple[str, int]]] = {}
        self._available: dict[str, dict[str, AgentSnapshot]] = {}
        self._unavailable: dict[str, dict[str, int]] = {}
        self.base_reasons: dict[str, str] = {}  # agent_id -> base_reason()
        for agent in agents:
            if agent.agent_id in self.by_id:
                raise ValueError(f"duplicate agent {agent.agent_id!r} in snapshot")
            reason = base_reason(agent)
            self.by_id[agent.agent_id] = agent
            self.base_reasons[agent.agent_id] = reason
            slots = self._slots[agent.agent_id] = []
            for skill in agent.skills:
                members = self._members.setdefault(skill, [])
                slots.append((skill, len(members)))
                members.append(agent)
                available = self._available.setdefault(skill, {})
                counts = self._unavailable.setdefault(skill, {})
                if reason == "kept":
                    available[agent.agent_id] = agent
                else:
                    counts[reason] = counts.get(reason, 0) + 1

    def __len__(self) -> int:
        return len(self.by_id)

    def with_skill(self, skill: str) -> Sequence[AgentSnapshot]:
        """Agents holding ``skill`` (any proficiency), in snapshot order."""
        return self._members.get(skill, ())

    def available(self, skill: str) -> Mapping[str, AgentSnapshot]:
        """Agents holding ``skill`` that are online, on shift and under capacity."""
        return self._available.get(skill, {})

    def unavailable_counts(self, skill: str) -> Mapping[str, int]:
        """How many agents holding ``skill`` are not available, by reason."""
        return self._unavailable.get(skill, {})

    def update(self, agent: AgentSnapshot) -> None:
        """Replace the snapshot of an indexed agent, in O(number of its skills).

        The agent's skill names must be the ones it was indexed with; build a
        new index when skills change. Raises ``KeyError`` for an unknown agent.
        """
        agent_id = agent.agent_id
        old = self.by_id[agent_id]
        if old.skills is not agent.skills and old.skills.keys() != agent.skills.keys():
            raise ValueError("skills changed: build a new AgentIndex")
        self.by_id[agent_id] = agent
        old_reason, reason = self.base_reasons[agent_id], base_reason(agent)
        self.base_reasons[agent_id] = reason
        for skill, position in self._slots[agent_id]:
            self._members[skill][position] = agent
            available = self._available[skill]
            if reason == "kept":
                available[agent_id] = agent
            elif old_reason == "kept":
                del available[agent_id]
            if reason != old_reason:
                counts = self._unavailable[skill]
                if old_reason != "kept":
                    counts[old_reason] -= 1
                if reason != "kept":
                    counts[reason] = counts.get(reason, 0) + 1
