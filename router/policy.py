"""The routing policy: who gets a conversation.

Pure functions over the snapshot records of :mod:`router.model`. A driver
loads a snapshot and every queued conversation in the one queue order
(across all skill groups: whichever agent frees capacity takes the oldest
chat it can serve, so no group starves), calls :func:`decide_queue` (or
:func:`decide` for one), and applies each result atomically in the store;
nothing here performs I/O, reads a clock or draws a random number.

Pipeline of :func:`decide`:

1. **preferred**: if the request names a preferred (dedicated or last) agent
   who is eligible, offer to them. If they are not eligible for a passing
   reason (``WAITABLE_REASONS``: at capacity, away, offline) and the request
   has waited less than the group's ``sticky_budget_seconds``, queue and wait
   for them. Otherwise relax.
2. **group**: filter the agents holding the skill, rank the kept ones with the
   group's algorithm, offer to the best.
3. **fallback**: if nobody fits, the group has a ``fallback_group`` and the
   request has waited at least the sticky budget, do the same with the
   fallback group's skill and algorithm (one level, no chaining).
4. otherwise, if agents were dropped only because they let this offer lapse
   (or declined it) and nobody else is eligible, start another round: decide
   again without the exclusions (``Decision.new_round``; the driver clears
   the conversation's exclusions). An agent is skipped for a chat only while
   someone else eligible has not been tried, so no chat waits for ever.
5. otherwise queue, with every candidate and its reason.

Filter (first failing check wins, see ``router.model.REASONS``): status
online, on shift, holds the skill, ``active < capacity``, not in the request's
``excluded_agent_ids``.

Ranking (smaller key first; never random; ``agent_id`` settles full ties):

- ``skills_load``: ``(-score, load_ratio, ever_assigned, last_assigned_at,
  agent_id)`` where ``score`` weighs proficiency, free capacity and idle
  time (:class:`ScoreWeights`), rounded to 1e-9 so equal inputs tie exactly.
- ``least_busy``: ``(active, load_ratio, ever_assigned, last_assigned_at,
  agent_id)``.
- ``longest_idle``: ``(ever_assigned, last_assigned_at, load_ratio,
  agent_id)``; never-assigned agents count as idle the longest.
- ``round_robin``: ``(wrapped, agent_id)``: the first agent id after the
  group's cursor, wrapping around; the chosen id is the new cursor.

Explanation: ``Decision.candidates`` lists the agents holding the searched
skill (and the preferred agent, wherever they stand): the kept ones best
first with their rank, score and sort key, then the dropped ones by
``agent_id`` with their reason. ``Decision.reason_counts`` counts them all.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any

from router.model import (
    AgentIndex,
    AgentSnapshot,
    CandidateReport,
    ConversationRequest,
    Decision,
    SkillGroup,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "ORDERINGS",
    "WAITABLE_REASONS",
    "OfferLapse",
    "ScoreWeights",
    "decide",
    "decide_queue",
    "eligibility",
    "offer_expires_at",
    "on_offer_timeout",
]

# A preferred agent dropped for one of these reasons may be back soon, so a
# request within its sticky budget waits for them. Off shift, lapsed offers,
# a missing skill or an unknown agent will not change within the budget.
WAITABLE_REASONS = frozenset({"at_capacity", "away", "offline"})

ORDERINGS: Mapping[str, tuple[str, ...]] = {
    "skills_load": ("-score", "load_ratio", "ever_assigned", "last_assigned_at", "agent_id"),
    "least_busy": ("active", "load_ratio", "ever_assigned", "last_assigned_at", "agent_id"),
    "longest_idle": ("ever_assigned", "last_assigned_at", "load_ratio", "agent_id"),
    "round_robin": ("wrapped", "agent_id"),
}


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Weights of the ``skills_load`` score, each part normalised to 0..1.

    ``score = proficiency * (p - 1) / 4 + free_capacity * (1 - active/capacity)
    + idle * min(idle_seconds, idle_horizon_seconds) / idle_horizon_seconds``.
    """

    proficiency: float = 0.5
    free_capacity: float = 0.3
    idle: float = 0.2
    idle_horizon_seconds: float = 600.0


DEFAULT_WEIGHTS = ScoreWeights()


def eligibility(agent: AgentSnapshot, skill: str, request: ConversationRequest) -> str:
    """``"kept"`` or the first reason code that drops ``agent`` for ``skill``."""
    if agent.status != "online":
        return "away" if agent.status == "away" else "offline"
    if not agent.on_shift:
        return "off_shift"
    if skill not in agent.skills:
        return "no_skill"
    if agent.active >= agent.capacity:
        return "at_capacity"
    if agent.agent_id in request.excluded_agent_ids:
        return "excluded_lapsed"
    return "kept"


# A ranked entry: (sort_key, agent, score, components, idle_seconds).
_Ranked = tuple[tuple[Any, ...], AgentSnapshot, float | None, Any, float | None]


class _Search:
    """Reports and counts accumulated over the stages of one decision."""

    __slots__ = ("counts", "dropped", "kept", "limit")

    def __init__(self, limit: int | None) -> None:
        self.kept: list[CandidateReport] = []
        self.dropped: list[CandidateReport] = []
        self.counts: dict[str, int] = {}
        self.limit = limit

    def drop(self, agent: AgentSnapshot | None, agent_id: str, skill: str, stage: str,
             reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if self.limit is None or len(self.dropped) < self.limit:
            self.dropped.append(_dropped_report(agent, agent_id, skill, stage, reason))

    def keep(self, ranked: list[_Ranked], skill: str, stage: str) -> None:
        room = len(ranked) if self.limit is None else self.limit
        self.kept = [
            CandidateReport(
                agent.agent_id, stage, True, "kept", rank, score, components, key,
                agent.skills.get(skill), agent.active, agent.capacity, idle,
            )
            for rank, (key, agent, score, components, idle) in enumerate(ranked[:room], 1)
        ]

    def reports(self) -> tuple[CandidateReport, ...]:
        """Kept agents best first (the chosen one leads), then dropped ones."""
        if self.limit is None:
            return (*self.kept, *self.dropped)
        return (*self.kept, *self.dropped[: max(self.limit - len(self.kept), 0)])


def _dropped_report(agent: AgentSnapshot | None, agent_id: str, skill: str, stage: str,
                    reason: str) -> CandidateReport:
    if agent is None:
        return CandidateReport(agent_id, stage, False, reason)
    return CandidateReport(agent_id, stage, False, reason, proficiency=agent.skills.get(skill),
                           active=agent.active, capacity=agent.capacity)


def _rank(
    index: AgentIndex,
    request: ConversationRequest,
    skill: str,
    algorithm: str,
    stage: str,
    now: float,
    cursor: str | None,
    weights: ScoreWeights,
    search: _Search,
    skip_id: str | None,
) -> list[_Ranked]:
    """Filter the agents holding ``skill``; return the kept ones, best first.

    Only available agents are visited to rank them: the index already knows
    why the others are dropped. ``skip_id`` (a preferred agent already
    reported) is left out of ranking, counts and reports. With a report limit
    only the best ``limit`` entries are returned, sorted (enough to choose and
    to explain), but all kept agents are counted.
    """
    excluded = request.excluded_agent_ids
    ranked: list[_Ranked] = []
    append = ranked.append
    lapsed = 0
    w_prof, w_free, w_idle = weights.proficiency, weights.free_capacity, weights.idle
    horizon = weights.idle_horizon_seconds
    skills_load = algorithm == "skills_load"
    for agent in index.available(skill).values():
        agent_id = agent.agent_id
        if agent_id == skip_id:
            continue
        if excluded and agent_id in excluded:
            lapsed += 1
            continue
        active = agent.active
        load = active / agent.capacity
        last = agent.last_assigned_at
        if skills_load:
            level = agent.skills[skill]
            level = 1 if level < 1 else 5 if level > 5 else level
            if last is None:
                idle = None
                idle_share = 1.0
            else:
                idle = now - last
                idle_share = 1.0 if idle >= horizon else idle / horizon if idle > 0.0 else 0.0
            parts = (w_prof * (level - 1) / 4, w_free * (1.0 - load), w_idle * idle_share)
            score = round(parts[0] + parts[1] + parts[2], 9)
            if last is None:
                append(((-score, load, False, 0.0, agent_id), agent, score, parts, idle))
            else:
                append(((-score, load, True, last, agent_id), agent, score, parts, idle))
            continue
        idle = None if last is None else now - last
        ever = last is not None
        if algorithm == "least_busy":
            key: tuple[Any, ...] = (active, load, ever, last or 0.0, agent_id)
        elif algorithm == "longest_idle":
            key = (ever, last or 0.0, load, agent_id)
        else:  # round_robin
            key = (cursor is not None and agent_id <= cursor, agent_id)
        append((key, agent, None, None, idle))
    kept = len(ranked)
    limit = search.limit
    # Sort keys end with the unique agent_id, so entries compare by key alone.
    if limit is not None and limit < kept:
        ranked = heapq.nsmallest(max(limit, 1), ranked)
    else:
        ranked.sort()

    counts = search.counts
    dropped = lapsed
    for reason, count in index.unavailable_counts(skill).items():
        if count:
            counts[reason] = counts.get(reason, 0) + count
            dropped += count
    if skip_id is not None:
        skipped = index.by_id.get(skip_id)
        if skipped is not None and skill in skipped.skills:
            reason = index.base_reasons[skip_id]
            if reason != "kept":
                counts[reason] -= 1
                dropped -= 1
                if not counts[reason]:
                    del counts[reason]
    if lapsed:
        counts["excluded_lapsed"] = counts.get("excluded_lapsed", 0) + lapsed
    if kept:
        counts["kept"] = counts.get("kept", 0) + kept

    # Room for dropped agents once the kept ones (which lead the report) are in.
    room = None if limit is None else limit - len(search.dropped) - min(kept, limit)
    if dropped and (room is None or room > 0):
        # Dropped agents are reported by agent_id, so the explanation does
        # not depend on the order the snapshot was loaded in.
        base_reasons = index.base_reasons
        found = []
        for agent in index.with_skill(skill):
            agent_id = agent.agent_id
            reason = base_reasons[agent_id]
            if reason == "kept":
                if agent_id not in excluded:
                    continue
                reason = "excluded_lapsed"
            if agent_id != skip_id:
                found.append((agent_id, agent, reason))
        found.sort(key=itemgetter(0))
        search.dropped.extend([
            CandidateReport(agent_id, stage, False, reason, None, None, None, None,
                            agent.skills.get(skill), agent.active, agent.capacity)
            for agent_id, agent, reason in (found if room is None else found[:room])
        ])
    return ranked


def _score_one(agent: AgentSnapshot, skill: str, algorithm: str, now: float,
               weights: ScoreWeights) -> _Ranked:
    """The ranking entry of a single eligible agent (the preferred one)."""
    probe = AgentIndex((agent,))
    ranked = _rank(probe, ConversationRequest("", skill), skill, algorithm, "preferred", now,
                   None, weights, _Search(0), None)
    return ranked[0]


def decide(
    request: ConversationRequest,
    agents: AgentIndex | Iterable[AgentSnapshot],
    groups: Mapping[str, SkillGroup],
    now: float,
    *,
    rr_cursors: Mapping[str, str] | None = None,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    report_limit: int | None = None,
) -> Decision:
    """Decide whom to offer ``request`` to at ``now``, or to queue it.

    ``agents`` is the snapshot (an :class:`AgentIndex` built once per
    snapshot makes each call visit only the agents holding the skill).
    ``groups`` maps group name to settings; the request's group is
    ``groups[request.skill]`` (defaults apply to an unknown group) and its
    ``fallback_group`` must be in ``groups``. ``rr_cursors`` maps group name
    to the last round-robin pick (``Decision.rr_cursor``, stored by the
    driver). ``report_limit`` caps ``Decision.candidates`` (the chosen agent
    and the best kept ones come first; 0 reports none, as the simulator
    does); ``None`` reports every candidate. ``reason_counts`` is always
    complete.

    The decision does not change the snapshot: the driver must apply it
    (increment ``active``, set ``last_assigned_at``) before deciding the next
    request from the same snapshot.
    """
    index = agents if isinstance(agents, AgentIndex) else AgentIndex(agents)
    group = groups.get(request.skill) or SkillGroup(request.skill)
    cursors = rr_cursors or {}
    search = _Search(report_limit)
    waited = now - request.enqueued_at
    skip_id: str | None = None

    preferred_id = request.preferred_agent_id
    if preferred_id is not None:
        preferred = index.by_id.get(preferred_id)
        reason = "unknown_agent" if preferred is None else eligibility(
            preferred, request.skill, request)
        if preferred is not None and reason == "kept":
            ranked = [_score_one(preferred, request.skill, group.algorithm, now, weights)]
            search.counts["kept"] = 1
            search.keep(ranked, request.skill, "preferred")
            return _decision(request, preferred_id, "offer", "preferred", group, now,
                             "preferred_available", search, None)
        search.drop(preferred, preferred_id, request.skill, "preferred", reason)
        if reason in WAITABLE_REASONS and waited < group.sticky_budget_seconds:
            return _decision(request, None, "queue", "preferred", group, now,
                             "waiting_for_preferred", search, None)
        skip_id = preferred_id  # already reported; the group stage would repeat it

    stages = [("group", group)]
    if group.fallback_group is not None and waited >= group.sticky_budget_seconds:
        stages.append(("fallback", groups[group.fallback_group]))
    for stage, target in stages:
        ranked = _rank(index, request, target.name,
                       target.algorithm, stage, now, cursors.get(target.name),
                       weights, search, skip_id if stage == "group" else None)
        if ranked:
            search.keep(ranked, target.name, stage)
            chosen = ranked[0][1].agent_id
            cursor = chosen if target.algorithm == "round_robin" else None
            summary = "group_match" if stage == "group" else "fallback_match"
            return _decision(request, chosen, "offer", stage, target, now, summary,
                             search, cursor)
    if search.counts.get("excluded_lapsed"):
        # Everyone eligible has had this offer and let it go: another round
        # starts, in the usual order, instead of leaving the chat waiting for
        # agents who will never be asked again.
        again = decide(replace(request, excluded_agent_ids=frozenset()), index, groups, now,
                       rr_cursors=rr_cursors, weights=weights, report_limit=report_limit)
        if again.agent_id is not None:
            counts = dict(again.reason_counts)
            counts["excluded_lapsed"] = search.counts["excluded_lapsed"]
            return replace(again, new_round=True, reason_counts=counts)
    stage, target = stages[-1]
    return _decision(request, None, "queue", stage, target, now, "no_eligible_agent",
                     search, None)


def _decision(request: ConversationRequest, agent_id: str | None, outcome: str, stage: str,
              group: SkillGroup, now: float, reason: str, search: _Search,
              cursor: str | None) -> Decision:
    return Decision(
        request.conversation_id, agent_id, outcome, stage, group.name, group.algorithm,
        reason, now, search.reports(), ORDERINGS[group.algorithm], search.counts,
        cursor, lapses=request.lapses,
    )


# Algorithms whose ranking key depends only on the agent (not on the request
# or a cursor), so a ranking can be kept across the requests of one queue.
_LADDER_ALGORITHMS = frozenset({"skills_load", "least_busy", "longest_idle"})


class _Ladder:
    """The available agents of one skill, ranked, kept sorted while a queue
    is drained: an offer changes only the chosen agent's entry."""

    __slots__ = ("algorithm", "entries", "keys", "skill")

    def __init__(self, index: AgentIndex, skill: str, algorithm: str, now: float,
                 weights: ScoreWeights) -> None:
        self.skill, self.algorithm = skill, algorithm
        self.entries = _rank(index, _NO_REQUEST, skill, algorithm, "group", now, None, weights,
                             _Search(None), None)
        self.keys = {entry[1].agent_id: entry[0] for entry in self.entries}

    def refresh(self, agent: AgentSnapshot, available: bool, now: float, weights: ScoreWeights) -> None:
        old = self.keys.pop(agent.agent_id, None)
        if old is not None:
            del self.entries[bisect_left(self.entries, (old,))]
        if available:
            entry = _score_one(agent, self.skill, self.algorithm, now, weights)
            self.keys[agent.agent_id] = entry[0]
            insort(self.entries, entry)


_NO_REQUEST = ConversationRequest("", "")


def decide_queue(
    requests: Iterable[ConversationRequest],
    index: AgentIndex,
    groups: Mapping[str, SkillGroup],
    now: float,
    *,
    rr_cursors: dict[str, str] | None = None,
    weights: ScoreWeights = DEFAULT_WEIGHTS,
    report_limit: int | None = None,
) -> list[Decision]:
    """Decide a whole queue at ``now``, in the given order, as calling
    :func:`decide` for each request and applying every offer to ``index``
    (``active`` + 1, ``last_assigned_at`` = ``now``) before the next would.

    ``index`` is updated in place and ``rr_cursors`` too. The decisions are
    exactly those of that loop; it is faster on long queues: a request
    without a preferred or excluded agent, in a group ranked by agent alone,
    is answered from a ranking kept sorted across the queue (an offer moves
    only the chosen agent), and one that would fail as the previous such
    request failed, with nothing offered in between, reuses that answer.
    """
    cursors = rr_cursors if rr_cursors is not None else {}
    ladders: dict[str, _Ladder] = {}
    unmatched: dict[tuple[str, bool], Decision] = {}
    decisions: list[Decision] = []
    for request in requests:
        group = groups.get(request.skill) or SkillGroup(request.skill)
        plain = request.preferred_agent_id is None and not request.excluded_agent_ids
        fallback = group.fallback_group is not None and now - request.enqueued_at >= group.sticky_budget_seconds
        decision = None
        if plain:
            failed = unmatched.get((request.skill, fallback))
            if failed is not None:
                decision = replace(failed, conversation_id=request.conversation_id)
            elif group.algorithm in _LADDER_ALGORITHMS and report_limit is not None:
                decision = _from_ladder(request, group, index, ladders, now, weights, report_limit)
        if decision is None:
            decision = decide(request, index, groups, now, rr_cursors=cursors, weights=weights,
                              report_limit=report_limit)
        decisions.append(decision)
        if decision.agent_id is None:
            if plain:
                unmatched[(request.skill, fallback)] = decision
            continue
        unmatched.clear()
        chosen = index.by_id[decision.agent_id]
        chosen = replace(chosen, active=chosen.active + 1, last_assigned_at=now)
        index.update(chosen)
        for skill, ladder in ladders.items():
            if skill in chosen.skills:
                ladder.refresh(chosen, chosen.agent_id in index.available(skill), now, weights)
        if decision.rr_cursor is not None:
            cursors[decision.group] = decision.rr_cursor
    return decisions


def _from_ladder(request: ConversationRequest, group: SkillGroup, index: AgentIndex,
                 ladders: dict[str, _Ladder], now: float, weights: ScoreWeights,
                 limit: int) -> Decision | None:
    """The group-stage decision from the kept ranking, or ``None`` when
    :func:`decide` must answer (nobody available in the group, or too few
    kept agents to fill the report without listing dropped ones)."""
    ladder = ladders.get(group.name)
    if ladder is None or ladder.algorithm != group.algorithm:
        ladder = ladders[group.name] = _Ladder(index, group.name, group.algorithm, now, weights)
    kept = len(ladder.entries)
    if kept == 0 or kept < limit:
        return None
    search = _Search(limit)
    counts = search.counts
    for reason, count in index.unavailable_counts(group.name).items():
        if count:
            counts[reason] = count
    counts["kept"] = kept
    search.keep(ladder.entries, group.name, "group")
    return _decision(request, ladder.entries[0][1].agent_id, "offer", "group", group, now, "group_match",
                     search, None)


@dataclass(frozen=True, slots=True)
class OfferLapse:
    """Bookkeeping after an offer timed out.

    ``request`` is the conversation with the agent added to its exclusions
    (decide it again to re-offer); ``missed_offers`` the agent's new count of
    lapsed offers in a row; ``set_away`` whether the group's
    ``away_after_misses`` threshold is reached and the driver should set the
    agent away. The driver resets ``missed_offers`` to 0 when an offer is
    accepted.
    """

    request: ConversationRequest
    agent_id: str
    missed_offers: int
    set_away: bool


def on_offer_timeout(request: ConversationRequest, agent: AgentSnapshot,
                     group: SkillGroup) -> OfferLapse:
    """What to record when ``agent`` let the offer of ``request`` lapse."""
    missed = agent.missed_offers + 1
    threshold = group.away_after_misses
    return OfferLapse(
        request=replace(request,
                        excluded_agent_ids=request.excluded_agent_ids | {agent.agent_id}),
        agent_id=agent.agent_id,
        missed_offers=missed,
        set_away=threshold is not None and missed >= threshold,
    )


def offer_expires_at(group: SkillGroup, now: float) -> float | None:
    """When an offer made at ``now`` lapses; ``None`` for auto-accepting groups."""
    if group.auto_accept:
        return None
    return now + group.offer_timeout_seconds
