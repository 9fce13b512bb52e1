"""The bench's own bookkeeping, without a network: seq tracking, loss and
duplicate counting, the message body format, ramp plans, backoff."""

from __future__ import annotations

import time

from bench.chatload import check_chat_target, held
from bench.ledger import (
    Ledger,
    SeqTracker,
    delivery_summary,
    merge_tallies,
    message_body,
    parse_body,
)
from bench.peers import backoff
from bench.scenarios.ramp import rates


def test_seq_tracker_classifies_gaps_duplicates_and_late_arrivals() -> None:
    seqs = SeqTracker()
    assert [seqs.observe("c1", n) for n in (1, 2, 3)] == ["new", "new", "new"]
    assert seqs.gaps == 0
    assert seqs.observe("c1", 3) == "duplicate"
    assert seqs.observe("c1", 6) == "new"  # 4 and 5 skipped
    assert seqs.gaps == 2
    assert seqs.missing() == 2
    assert seqs.observe("c1", 5) == "late"
    assert seqs.observe("c1", 5) == "duplicate"
    assert seqs.missing() == 1
    assert seqs.observe("c2", 1) == "new"  # streams are independent
    assert seqs.last("c1") == 6
    assert seqs.last("c2") == 1
    assert seqs.last("c3") == 0


def _one_process(ledger: Ledger, step: int = 1) -> dict:
    return merge_tallies([ledger.export([step])[str(step)]])


def test_summary_counts_an_injected_loss_and_duplicate() -> None:
    ledger = Ledger()
    now = time.monotonic_ns()
    for _ in range(3):
        ledger.on_sent(1, "visitor_to_agent")
        ledger.on_acked(1, "c1", "visitor_to_agent", now)
    ledger.on_delivered(1, "c1", "visitor_to_agent", now)
    ledger.on_delivered(1, "c1", "visitor_to_agent", now)  # the third acked message never arrives
    ledger.count(1, "duplicates")
    summary = delivery_summary(_one_process(ledger), seconds=1.0, offered_rate=3)
    assert summary["sent"] == 3
    assert summary["acked"] == 3
    assert summary["delivered"] == 2
    assert summary["lost"] == 1
    assert summary["duplicated"] == 1
    assert summary["latency_ms"]["visitor_to_agent"]["count"] == 2
    assert summary["latency_ms"]["agent_to_visitor"]["count"] == 0
    assert summary["latency_ms"]["all"]["count"] == 2


def test_summary_is_clean_when_everything_arrived_once() -> None:
    ledger = Ledger()
    now = time.monotonic_ns()
    for conversation in ("c1", "c2"):
        for direction in ("visitor_to_agent", "agent_to_visitor"):
            ledger.on_sent(1, direction)
            ledger.on_acked(1, conversation, direction, now)
            ledger.on_delivered(1, conversation, direction, now)
    summary = delivery_summary(_one_process(ledger), seconds=2.0, offered_rate=2)
    assert (summary["lost"], summary["duplicated"], summary["out_of_order"]) == (0, 0, 0)
    assert summary["delivered_msgs_per_s"] == 2.0
    assert check_chat_target(summary, p99_ms=60_000, min_rate=2)["met"]


def test_merging_processes_adds_their_counts() -> None:
    first, second = Ledger(), Ledger()
    now = time.monotonic_ns()
    first.on_acked(1, "c1", "agent_to_visitor", now)  # acked in one process ...
    second.on_delivered(1, "c1", "agent_to_visitor", now)  # ... delivered in the other
    second.on_acked(1, "c2", "agent_to_visitor", now)
    merged = merge_tallies([first.export([1])["1"], second.export([1])["1"]])
    summary = delivery_summary(merged, seconds=1.0, offered_rate=2)
    assert summary["acked"] == 2
    assert summary["lost"] == 1  # c2's message


def test_target_check_fails_on_loss_and_on_a_missed_rate() -> None:
    ledger = Ledger()
    now = time.monotonic_ns()
    ledger.on_acked(1, "c1", "visitor_to_agent", now)
    summary = delivery_summary(_one_process(ledger), seconds=1.0, offered_rate=100)
    check = check_chat_target(summary, p99_ms=60_000, min_rate=100)
    assert not check["met"]
    assert not check["no_loss"]
    assert not check["rate_reached"]
    assert not held(summary, 60_000)


def test_message_body_round_trip() -> None:
    body = message_body(3, 123456789, 42, "xxxx")
    assert parse_body(body) == (3, 123456789, 42)
    assert parse_body("hello from a person") == (-1, 0, 0)
    assert parse_body("a:b:c") == (-1, 0, 0)


def test_ramp_plan_is_geometric_and_bounded() -> None:
    assert rates(100, 2, 1000, 10) == [100, 200, 400, 800]
    assert rates(100, 2, 10_000, 3) == [100, 200, 400]


def test_backoff_is_full_jitter_and_capped() -> None:
    assert backoff(0, rand=lambda: 1.0) == 0.5
    assert backoff(3, rand=lambda: 1.0) == 4.0
    assert backoff(30, rand=lambda: 1.0) == 30.0
    assert backoff(5, rand=lambda: 0.0) == 0.0


def test_deliveries_after_the_window_are_late_and_left_out_of_the_rate() -> None:
    ledger = Ledger()
    now = time.monotonic_ns()
    ledger.on_delivered(1, "c1", "visitor_to_agent", now)
    ledger.step(1).window_end_ns = time.monotonic_ns() - 1  # the window closed
    ledger.on_delivered(1, "c1", "visitor_to_agent", now)
    for _ in range(2):
        ledger.on_acked(1, "c1", "visitor_to_agent", now)
    summary = delivery_summary(_one_process(ledger), seconds=1.0, offered_rate=2)
    assert summary["delivered"] == 2
    assert summary["delivered_late"] == 1
    assert summary["delivered_msgs_per_s"] == 1.0
    assert summary["lost"] == 0
