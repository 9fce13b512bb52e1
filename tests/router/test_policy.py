"""The routing policy: filter reasons, algorithms, tie-breaks, stickiness, fallback, offers."""

from __future__ import annotations

import json
import random
from typing import Any

import msgpack
import pytest

from router import model, policy
from router.model import (
    AgentIndex,
    AgentSnapshot,
    CandidateReport,
    ConversationRequest,
    Decision,
    SkillGroup,
    expand_record,
)
from router.policy import (
    ORDERINGS,
    ScoreWeights,
    decide,
    decide_queue,
    eligibility,
    offer_expires_at,
    on_offer_timeout,
)

NOW = 10_000.0


def agent(agent_id: str, **fields: Any) -> AgentSnapshot:
    fields.setdefault("skills", {"sales": 3})
    fields.setdefault("capacity", 2)
    return AgentSnapshot(agent_id, **fields)


def request(conversation_id: str = "c1", **fields: Any) -> ConversationRequest:
    fields.setdefault("skill", "sales")
    fields.setdefault("enqueued_at", NOW)
    return ConversationRequest(conversation_id, **fields)


def groups(*extra: SkillGroup, **sales: Any) -> dict[str, SkillGroup]:
    found = {group.name: group for group in extra}
    found.setdefault("sales", SkillGroup("sales", **sales))
    return found


def reasons(decision: Decision) -> dict[str, str]:
    return {c.agent_id: c.reason for c in decision.candidates}


def test_exports() -> None:
    assert set(policy.__all__) == {
        "DEFAULT_WEIGHTS", "ORDERINGS", "OfferLapse", "ScoreWeights", "WAITABLE_REASONS",
        "decide", "decide_queue", "eligibility", "offer_expires_at", "on_offer_timeout",
    }
    assert set(model.__all__) == {
        "AGENT_STATUSES", "ALGORITHMS", "OUTCOMES", "REASONS", "STAGES", "AgentIndex",
        "AgentSnapshot", "CandidateReport", "ConversationRequest", "Decision", "SkillGroup",
        "base_reason", "expand_record",
    }


# --- filter ----------------------------------------------------------------

FILTER_CASES = [
    # (agent fields, request fields, expected reason)
    ({}, {}, "kept"),
    ({"status": "offline"}, {}, "offline"),
    ({"status": "away"}, {}, "away"),
    ({"status": "on_break"}, {}, "offline"),  # unknown statuses never receive chats
    ({"on_shift": False}, {}, "off_shift"),
    ({"skills": {"support": 5}}, {}, "no_skill"),
    ({"active": 2}, {}, "at_capacity"),
    ({"active": 3}, {}, "at_capacity"),
    ({"capacity": 0}, {}, "at_capacity"),
    ({}, {"excluded_agent_ids": frozenset({"ana"})}, "excluded_lapsed"),
    # The first failing check is the reason reported.
    ({"status": "away", "on_shift": False, "active": 2}, {}, "away"),
    ({"on_shift": False, "skills": {}}, {}, "off_shift"),
    ({"skills": {}, "active": 2}, {}, "no_skill"),
    ({"active": 2}, {"excluded_agent_ids": frozenset({"ana"})}, "at_capacity"),
]


@pytest.mark.parametrize(("agent_fields", "request_fields", "expected"), FILTER_CASES)
def test_filter_reason(agent_fields: dict[str, Any], request_fields: dict[str, Any],
                       expected: str) -> None:
    ana = agent("ana", **agent_fields)
    chat = request(**request_fields)
    assert eligibility(ana, "sales", chat) == expected
    # decide() reports the same reason (through the preferred stage, which sees every agent).
    decision = decide(request(**request_fields, preferred_agent_id="ana"), [ana], groups(), NOW)
    if expected == "excluded_lapsed":
        # ana is the only one who could take it: offers go round again.
        assert (decision.agent_id, decision.new_round, decision.reason_counts["excluded_lapsed"]) == ("ana", True, 1)
        return
    assert decision.candidates[0].reason == expected
    assert decision.candidates[0].kept is (expected == "kept")
    assert decision.outcome == ("offer" if expected == "kept" else "queue")


def test_nobody_fits_queues_with_every_candidate_and_reason() -> None:
    agents = [
        agent("a-off", status="offline"),
        agent("b-away", status="away"),
        agent("c-shift", on_shift=False),
        agent("d-full", active=2),
        agent("e-lapsed", active=2),
        agent("f-other", skills={"support": 4}),
    ]
    chat = request(excluded_agent_ids=frozenset({"e-lapsed"}))
    decision = decide(chat, agents, groups(), NOW)
    assert (decision.outcome, decision.agent_id, decision.stage, decision.reason) == (
        "queue", None, "group", "no_eligible_agent")
    assert reasons(decision) == {
        "a-off": "offline", "b-away": "away", "c-shift": "off_shift", "d-full": "at_capacity",
        "e-lapsed": "at_capacity",
    }  # f-other is not in the sales group, so not a candidate
    assert dict(decision.reason_counts) == {"offline": 1, "away": 1, "off_shift": 1, "at_capacity": 2}
    assert [c.agent_id for c in decision.candidates] == sorted(reasons(decision))  # snapshot order


def test_unknown_preferred_agent() -> None:
    decision = decide(request(preferred_agent_id="ghost"), [agent("ana")], groups(), NOW)
    assert decision.agent_id == "ana"
    assert reasons(decision)["ghost"] == "unknown_agent"


# --- algorithms and tie-breaks ----------------------------------------------

EQUAL_WEIGHTS = ScoreWeights(proficiency=1.0, free_capacity=1.0, idle=0.0)

TIE_BREAK_CASES = [
    # (algorithm, weights, agents, expected winner, why)
    ("skills_load", None,
     [agent("a", skills={"sales": 3}), agent("b", skills={"sales": 5})], "b",
     "higher proficiency"),
    ("skills_load", None,
     [agent("a", active=1), agent("b", active=0)], "b", "lower load"),
    ("skills_load", None,
     [agent("a", last_assigned_at=NOW - 60), agent("b", last_assigned_at=NOW - 300)], "b",
     "longer idle"),
    ("skills_load", EQUAL_WEIGHTS,
     # a: 1.0 + 0.5 = 1.5, b: 0.5 + 1.0 = 1.5: equal scores, lower load ratio wins.
     [agent("a", skills={"sales": 5}, active=1), agent("b", skills={"sales": 3})], "b",
     "score tie -> load ratio"),
    ("skills_load", EQUAL_WEIGHTS,
     [agent("a", last_assigned_at=NOW - 5), agent("b", last_assigned_at=None)], "b",
     "score and load tie -> never assigned first"),
    ("skills_load", EQUAL_WEIGHTS,
     [agent("a", last_assigned_at=NOW - 5), agent("b", last_assigned_at=NOW - 50)], "b",
     "score and load tie -> assigned longest ago"),
    ("skills_load", None,
     # Both idle past the idle horizon: equal scores, equal loads, same instant.
     [agent("b", last_assigned_at=0.0), agent("a", last_assigned_at=0.0)], "a",
     "full tie -> agent_id"),
    ("least_busy", None,
     [agent("a", active=1, capacity=2), agent("b", active=2, capacity=10)], "a",
     "fewest active chats, even at a higher load ratio"),
    ("least_busy", None,
     [agent("a", active=1, capacity=2), agent("b", active=1, capacity=4)], "b",
     "active tie -> load ratio"),
    ("least_busy", None,
     [agent("a", last_assigned_at=NOW - 9), agent("b", last_assigned_at=None)], "b",
     "load tie -> never assigned first"),
    ("least_busy", None,
     [agent("a", last_assigned_at=NOW - 9), agent("b", last_assigned_at=NOW - 90)], "b",
     "load tie -> assigned longest ago"),
    ("least_busy", None,
     [agent("b", last_assigned_at=NOW), agent("a", last_assigned_at=NOW)], "a",
     "full tie -> agent_id"),
    ("longest_idle", None,
     [agent("a", last_assigned_at=NOW - 5000), agent("b", last_assigned_at=None, active=1)], "b",
     "never assigned beats any idle time, whatever the load"),
    ("longest_idle", None,
     [agent("a", last_assigned_at=NOW - 50), agent("b", last_assigned_at=NOW - 500, active=1)],
     "b", "oldest assignment, whatever the load"),
    ("longest_idle", None,
     [agent("a", last_assigned_at=NOW, active=1), agent("b", last_assigned_at=NOW)], "b",
     "idle tie -> load ratio"),
    ("longest_idle", None,
     [agent("b", last_assigned_at=NOW), agent("a", last_assigned_at=NOW)], "a",
     "full tie -> agent_id"),
    ("round_robin", None,
     [agent("c"), agent("a", active=1, skills={"sales": 5}), agent("b")], "a",
     "no cursor: smallest agent_id, load and skill ignored"),
]


@pytest.mark.parametrize(("algorithm", "weights", "agents", "winner", "why"), TIE_BREAK_CASES,
                         ids=[case[-1] for case in TIE_BREAK_CASES])
def test_algorithm_ranking(algorithm: str, weights: ScoreWeights | None,
                           agents: list[AgentSnapshot], winner: str, why: str) -> None:
    kwargs = {"weights": weights} if weights else {}
    for ordering in (agents, agents[::-1]):  # input order never matters
        decision = decide(request(), ordering, groups(algorithm=algorithm), NOW, **kwargs)
        assert decision.agent_id == winner, why
        assert decision.algorithm == algorithm
        assert decision.ordering == ORDERINGS[algorithm]
        ranks = [c.rank for c in decision.candidates if c.kept]
        assert ranks == list(range(1, len(ranks) + 1))
        assert decision.candidates[0].agent_id == winner


def test_skills_load_score_components_are_reported() -> None:
    ana = agent("ana", skills={"sales": 5}, active=1, capacity=4, last_assigned_at=NOW - 300)
    report = decide(request(), [ana], groups(), NOW).candidates[0]
    weights = policy.DEFAULT_WEIGHTS
    expected = (weights.proficiency * 1.0, weights.free_capacity * 0.75, weights.idle * 0.5)
    assert report.components == pytest.approx(expected)
    assert report.score == pytest.approx(sum(expected))
    assert (report.proficiency, report.active, report.capacity, report.idle_seconds) == (5, 1, 4, 300.0)
    assert report.sort_key == (-report.score, 0.25, True, NOW - 300, "ana")


def test_round_robin_rotates_with_the_cursor() -> None:
    agents = [agent(name) for name in ("carla", "ana", "bo", "dan")]
    agents[3] = agent("dan", status="away")
    cursors: dict[str, str] = {}
    picks = []
    for n in range(7):
        decision = decide(request(f"c{n}"), agents, groups(algorithm="round_robin"), NOW,
                          rr_cursors=cursors)
        assert decision.rr_cursor == decision.agent_id
        cursors[decision.group] = decision.rr_cursor
        picks.append(decision.agent_id)
    assert picks == ["ana", "bo", "carla", "ana", "bo", "carla", "ana"]
    # A cursor pointing at an agent who left, or past the end, still finds the next one.
    assert decide(request(), agents, groups(algorithm="round_robin"), NOW,
                  rr_cursors={"sales": "bz"}).agent_id == "carla"
    assert decide(request(), agents, groups(algorithm="round_robin"), NOW,
                  rr_cursors={"sales": "zz"}).agent_id == "ana"


def test_only_round_robin_returns_a_cursor() -> None:
    for algorithm in ("skills_load", "least_busy", "longest_idle"):
        assert decide(request(), [agent("a")], groups(algorithm=algorithm), NOW).rr_cursor is None


def test_decisions_are_deterministic() -> None:
    rng = random.Random(5)
    agents = [agent(f"a{n:02d}", skills={"sales": rng.randint(1, 5)}, active=rng.randint(0, 2),
                    last_assigned_at=rng.choice([None, NOW - rng.randint(0, 900)]))
              for n in range(40)]
    first = decide(request(), agents, groups(), NOW).to_dict()
    for _ in range(5):
        rng.shuffle(agents)
        assert decide(request(), agents, groups(), NOW).to_dict() == first
        assert decide(request(), AgentIndex(agents), groups(), NOW).to_dict() == first


# --- stickiness ---------------------------------------------------------------

def sticky(**fields: Any) -> dict[str, SkillGroup]:
    return groups(sticky_budget_seconds=60, **fields)


def test_preferred_agent_gets_the_chat_even_when_others_score_better() -> None:
    agents = [agent("ana", skills={"sales": 1}, active=1), agent("bo", skills={"sales": 5})]
    decision = decide(request(preferred_agent_id="ana"), agents, sticky(), NOW)
    assert (decision.agent_id, decision.stage, decision.reason) == (
        "ana", "preferred", "preferred_available")
    assert [c.agent_id for c in decision.candidates] == ["ana"]


@pytest.mark.parametrize("busy", [{"active": 2}, {"status": "away"}, {"status": "offline"}])
@pytest.mark.parametrize(("waited", "expected"), [
    (0.0, "wait"), (59.9, "wait"), (60.0, "relax"), (600.0, "relax"),
])
def test_sticky_budget_before_and_after(busy: dict[str, Any], waited: float, expected: str) -> None:
    agents = [agent("ana", **busy), agent("bo")]
    chat = request(preferred_agent_id="ana", enqueued_at=NOW - waited)
    decision = decide(chat, agents, sticky(), NOW)
    if expected == "wait":
        assert (decision.outcome, decision.stage, decision.reason) == (
            "queue", "preferred", "waiting_for_preferred")
        assert [c.agent_id for c in decision.candidates] == ["ana"]
    else:
        assert (decision.outcome, decision.agent_id, decision.stage) == ("offer", "bo", "group")
        # The preferred agent is reported once, at the preferred stage.
        assert [(c.agent_id, c.stage) for c in decision.candidates] == [
            ("bo", "group"), ("ana", "preferred")]


@pytest.mark.parametrize(("preferred", "reason"), [
    (agent("ana", on_shift=False), "off_shift"),
    (agent("ana", skills={"support": 3}), "no_skill"),
    (None, "unknown_agent"),
])
def test_no_waiting_for_an_agent_who_cannot_come(preferred: AgentSnapshot | None,
                                                 reason: str) -> None:
    agents = [agent("bo")] + ([preferred] if preferred else [])
    decision = decide(request(preferred_agent_id="ana"), agents, sticky(), NOW)
    assert decision.agent_id == "bo"
    assert reasons(decision)["ana"] == reason


def test_no_waiting_for_an_agent_who_let_the_offer_lapse() -> None:
    chat = request(preferred_agent_id="ana", excluded_agent_ids=frozenset({"ana"}))
    decision = decide(chat, [agent("ana"), agent("bo")], sticky(), NOW)
    assert decision.agent_id == "bo"
    assert reasons(decision)["ana"] == "excluded_lapsed"


# --- fallback -----------------------------------------------------------------

def fallback_groups(algorithm: str = "skills_load") -> dict[str, SkillGroup]:
    return {
        "sales": SkillGroup("sales", fallback_group="general", sticky_budget_seconds=30),
        "general": SkillGroup("general", algorithm=algorithm),
    }


FALLBACK_AGENTS = [
    agent("ana", active=2),  # the only sales agent, busy
    agent("gus", skills={"general": 2}),
    agent("gil", skills={"general": 4}),
]


def test_fallback_group_after_the_budget() -> None:
    decision = decide(request(enqueued_at=NOW - 30), FALLBACK_AGENTS, fallback_groups(), NOW)
    assert (decision.outcome, decision.agent_id, decision.stage, decision.reason) == (
        "offer", "gil", "fallback", "fallback_match")
    assert decision.group == "general"
    report = {c.agent_id: c for c in decision.candidates}
    assert report["gil"].proficiency == 4  # scored on the fallback skill
    assert (report["ana"].stage, report["ana"].reason) == ("group", "at_capacity")


def test_no_fallback_within_the_budget() -> None:
    decision = decide(request(enqueued_at=NOW - 10), FALLBACK_AGENTS, fallback_groups(), NOW)
    assert (decision.outcome, decision.stage) == ("queue", "group")
    assert set(reasons(decision)) == {"ana"}


def test_fallback_unused_when_the_group_has_someone() -> None:
    agents = [agent("ana"), *FALLBACK_AGENTS[1:]]
    decision = decide(request(enqueued_at=NOW - 300), agents, fallback_groups(), NOW)
    assert (decision.agent_id, decision.stage) == ("ana", "group")


def test_fallback_uses_its_own_algorithm_and_cursor() -> None:
    decision = decide(request(enqueued_at=NOW - 30), FALLBACK_AGENTS,
                      fallback_groups("round_robin"), NOW, rr_cursors={"general": "gil"})
    assert (decision.agent_id, decision.algorithm, decision.rr_cursor) == (
        "gus", "round_robin", "gus")


def test_queue_after_fallback_lists_both_stages() -> None:
    agents = [agent("ana", active=2), agent("gus", skills={"general": 2}, status="away")]
    decision = decide(request(enqueued_at=NOW - 30), agents, fallback_groups(), NOW)
    assert (decision.outcome, decision.stage, decision.group) == ("queue", "fallback", "general")
    assert [(c.agent_id, c.stage, c.reason) for c in decision.candidates] == [
        ("ana", "group", "at_capacity"), ("gus", "fallback", "away")]


def test_stickiness_then_group_then_fallback() -> None:
    """The whole relaxation path of one conversation as its wait grows."""
    agents = [agent("ana", active=2), agent("gus", skills={"general": 2})]
    settings = fallback_groups()
    stages = []
    for waited in (0, 29, 30):
        chat = request(preferred_agent_id="ana", enqueued_at=NOW - waited)
        decision = decide(chat, agents, settings, NOW)
        stages.append((decision.outcome, decision.stage))
    assert stages == [("queue", "preferred"), ("queue", "preferred"), ("offer", "fallback")]


# --- offers -------------------------------------------------------------------

def test_lapsed_offer_excludes_the_agent_and_reoffers() -> None:
    agents = [agent("ana", skills={"sales": 5}), agent("bo", skills={"sales": 2})]
    chat = request()
    first = decide(chat, agents, groups(), NOW)
    assert first.agent_id == "ana"
    lapse = on_offer_timeout(chat, agents[0], groups()["sales"])
    assert lapse.request.excluded_agent_ids == frozenset({"ana"})
    assert chat.excluded_agent_ids == frozenset()  # the original is untouched
    second = decide(lapse.request, agents, groups(), NOW + 30)
    assert second.agent_id == "bo"
    assert reasons(second)["ana"] == "excluded_lapsed"


@pytest.mark.parametrize(("threshold", "missed_before", "set_away"), [
    (None, 0, False), (None, 50, False),
    (3, 0, False), (3, 1, False), (3, 2, True), (3, 7, True),
    (1, 0, True),
])
def test_away_after_misses(threshold: int | None, missed_before: int, set_away: bool) -> None:
    group = SkillGroup("sales", away_after_misses=threshold)
    lapse = on_offer_timeout(request(), agent("ana", missed_offers=missed_before), group)
    assert lapse.missed_offers == missed_before + 1
    assert lapse.set_away is set_away
    assert lapse.agent_id == "ana"


def test_offer_deadline() -> None:
    assert offer_expires_at(SkillGroup("sales", offer_timeout_seconds=20), NOW) == NOW + 20
    assert offer_expires_at(SkillGroup("sales", auto_accept=True), NOW) is None


# --- explanations -------------------------------------------------------------

def test_decision_round_trips_through_json() -> None:
    agents = [agent("ana", last_assigned_at=NOW - 40), agent("bo", active=2), agent("cy")]
    decision = decide(request(preferred_agent_id="bo", enqueued_at=NOW - 100), agents,
                      sticky(), NOW)
    text = json.dumps(decision.to_dict(), allow_nan=False)
    assert Decision.from_dict(json.loads(text)) == decision


def test_the_stored_record_expands_to_the_dict_form() -> None:
    agents = [agent("ana", last_assigned_at=NOW - 40), agent("bo", active=2), agent("cy", status="away")]
    decision = decide(request(preferred_agent_id="bo", enqueued_at=NOW - 100), agents, sticky(), NOW)
    assert len(decision.candidates) == 3
    stored = msgpack.unpackb(msgpack.packb(decision.to_record()), strict_map_key=False)
    assert expand_record(stored) == decision.to_dict()
    # A row without a field (an older or newer layout) gets the default; plain records pass through.
    assert expand_record({"candidate_fields": ["agent_id", "stage", "kept", "reason"],
                          "candidates": [["ana", "group", False, "offline"]]})["candidates"] == [
        CandidateReport("ana", "group", False, "offline").to_dict()]
    assert expand_record({"kind": "requeued"}) == {"kind": "requeued"}


def test_report_limit_keeps_the_best_and_complete_counts() -> None:
    agents = [agent(f"k{n}", skills={"sales": 1 + n % 5}) for n in range(6)]
    agents += [agent(f"x{n}", active=2) for n in range(6)]
    full = decide(request(), agents, groups(), NOW)
    limited = decide(request(), agents, groups(), NOW, report_limit=3)
    assert len(full.candidates) == 12
    assert limited.candidates == full.candidates[:3]
    assert limited.reason_counts == full.reason_counts == {"kept": 6, "at_capacity": 6}
    assert limited.agent_id == full.agent_id
    silent = decide(request(), agents, groups(), NOW, report_limit=0)
    assert (silent.candidates, silent.agent_id) == ((), full.agent_id)
    few_kept = decide(request(), agents[4:], groups(), NOW, report_limit=4)
    assert [c.kept for c in few_kept.candidates] == [True, True, False, False]


def test_unknown_algorithm_is_rejected() -> None:
    with pytest.raises(ValueError):
        SkillGroup("sales", algorithm="random")


# --- the agent index ------------------------------------------------------------

def test_index_tracks_availability_through_updates() -> None:
    index = AgentIndex([agent("ana"), agent("bo", skills={"sales": 2, "support": 4})])
    assert set(index.available("sales")) == {"ana", "bo"}
    index.update(agent("bo", skills={"sales": 2, "support": 4}, active=2))
    assert set(index.available("sales")) == {"ana"}
    assert set(index.available("support")) == set()
    assert index.unavailable_counts("support") == {"at_capacity": 1}
    index.update(agent("bo", skills={"sales": 2, "support": 4}, status="away"))
    assert dict(index.unavailable_counts("sales")) == {"at_capacity": 0, "away": 1}
    index.update(agent("bo", skills={"sales": 2, "support": 4}))
    assert set(index.available("support")) == {"bo"}
    assert index.base_reasons["bo"] == "kept"
    assert [a.agent_id for a in index.with_skill("sales")] == ["ana", "bo"]
    with pytest.raises(ValueError):
        index.update(agent("bo", skills={"sales": 2}))
    with pytest.raises(KeyError):
        index.update(agent("zed"))
    with pytest.raises(ValueError):
        AgentIndex([agent("ana"), agent("ana")])


def test_decide_from_a_live_index_matches_a_fresh_snapshot() -> None:
    rng = random.Random(9)
    agents = {f"a{n}": agent(f"a{n}", skills={"sales": 3, "support": 2}) for n in range(12)}
    index = AgentIndex(agents.values())
    for step in range(200):
        name = f"a{rng.randrange(12)}"
        updated = agent(name, skills=agents[name].skills, active=rng.randint(0, 2),
                        status=rng.choice(["online", "online", "away", "offline"]),
                        on_shift=rng.random() > 0.1, last_assigned_at=NOW - rng.randint(0, 900))
        agents[name] = updated
        index.update(updated)
        chat = request(f"c{step}", skill=rng.choice(["sales", "support"]))
        assert decide(chat, index, groups(), NOW) == decide(chat, list(agents.values()), groups(), NOW)


# --- every queue in the one order ------------------------------------------------

def queued(conversation_id: str, **fields: Any) -> ConversationRequest:
    fields.setdefault("enqueued_at", NOW - 100)
    return request(conversation_id, **fields)


def test_a_freed_agent_takes_the_oldest_chat_it_can_serve_across_its_skills() -> None:
    """The driver decides every queue together in queue order: a slot that
    frees goes to the first chat in line that the agent can serve, whichever
    group it waits in, so no group starves behind another."""
    ana = agent("ana", skills={"sales": 3, "support": 3}, capacity=1)
    in_line = [queued("support-old", skill="support"), queued("sales-new", enqueued_at=NOW - 20)]
    decisions = decide_queue(in_line, AgentIndex([ana]), groups(SkillGroup("support")), NOW)
    assert [(d.conversation_id, d.agent_id) for d in decisions] == [("support-old", "ana"), ("sales-new", None)]


def test_a_chat_the_agent_cannot_serve_does_not_hold_up_the_ones_behind_it() -> None:
    ana = agent("ana", capacity=1)
    in_line = [queued("billing", skill="billing"), queued("sales")]
    decisions = decide_queue(in_line, AgentIndex([ana]), groups(SkillGroup("billing")), NOW)
    assert [(d.conversation_id, d.agent_id) for d in decisions] == [("billing", None), ("sales", "ana")]


# --- lapses: another round when everyone eligible let the offer go -------------------

def test_an_agent_who_let_the_offer_go_is_skipped_while_someone_else_can_take_it() -> None:
    agents = [agent("ana", skills={"sales": 5}), agent("bo", skills={"sales": 2})]
    decision = decide(request(excluded_agent_ids=frozenset({"ana"}), lapses=1), agents, groups(), NOW)
    assert decision.agent_id == "bo" and not decision.new_round and decision.lapses == 1


def test_when_everyone_eligible_let_the_offer_go_it_goes_round_again() -> None:
    agents = [agent("ana", skills={"sales": 5}), agent("bo", skills={"sales": 2}),
              agent("cy", skills={"sales": 4}, status="away")]
    chat = request(excluded_agent_ids=frozenset({"ana", "bo"}), lapses=2)
    decision = decide(chat, agents, groups(), NOW)
    # the round starts again in the usual order: the best agent first
    assert (decision.agent_id, decision.new_round, decision.lapses) == ("ana", True, 2)
    assert decision.reason_counts["excluded_lapsed"] == 2
    assert decision.to_record()["new_round"] is True


def test_the_only_agent_on_duty_is_offered_the_chat_again_after_a_miss() -> None:
    ana = agent("ana")
    decisions = decide_queue([queued("c1", excluded_agent_ids=frozenset({"ana"}), lapses=1)], AgentIndex([ana]),
                             groups(), NOW)
    assert (decisions[0].agent_id, decisions[0].new_round) == ("ana", True)


def test_no_new_round_while_the_excluded_agents_could_not_take_it_anyway() -> None:
    busy = agent("ana", active=2)
    decision = decide(request(excluded_agent_ids=frozenset({"ana"})), [busy], groups(), NOW)
    assert decision.agent_id is None and not decision.new_round
