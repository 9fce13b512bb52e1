"""Queue order, aging, SLA boost, positions, wait estimates and shift schedules."""

from __future__ import annotations

import random
from datetime import datetime
from statistics import fmean
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from router import queueing
from router.model import ConversationRequest, SkillGroup
from router.queueing import (
    SLA_BOOST,
    ShiftSchedule,
    effective_priority,
    estimate_wait_seconds,
    is_on_shift,
    position_of,
    queue_order,
    queue_positions,
)


def request(conversation_id: str, *, skill: str = "sales", priority: int = 0,
            enqueued_at: float = 0.0, sla_deadline: float | None = None) -> ConversationRequest:
    return ConversationRequest(conversation_id, skill, priority=priority, enqueued_at=enqueued_at,
                               sla_deadline=sla_deadline)


def ids(requests: list[ConversationRequest]) -> list[str]:
    return [r.conversation_id for r in requests]


def local_epoch(text: str, zone: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_exports() -> None:
    assert set(queueing.__all__) == {
        "SLA_BOOST", "SLA_WINDOW_SECONDS", "ShiftSchedule", "ShiftWindow", "effective_priority",
        "estimate_wait_seconds", "is_on_shift", "position_of", "queue_key", "queue_order",
        "queue_positions", "sla_bonus",
    }


# --- order -----------------------------------------------------------------

def test_priority_first_then_longest_waiting_then_id() -> None:
    queued = [
        request("late", enqueued_at=30),
        request("vip", priority=2, enqueued_at=50),
        request("early", enqueued_at=10),
        request("tie-b", enqueued_at=20),
        request("tie-a", enqueued_at=20),
    ]
    assert ids(queue_order(queued, now=60)) == ["vip", "early", "tie-a", "tie-b", "late"]
    # The order does not depend on the input order.
    shuffled = queued[:]
    random.Random(4).shuffle(shuffled)
    assert ids(queue_order(shuffled, now=60)) == ids(queue_order(queued, now=60))


def test_effective_priority_ages_one_level_per_period() -> None:
    group = SkillGroup("sales", aging_seconds_per_priority=60)
    waiting = request("a", priority=1, enqueued_at=100)
    assert effective_priority(waiting, 100, group) == 1.0
    assert effective_priority(waiting, 190, group) == pytest.approx(2.5)
    assert effective_priority(waiting, 190, SkillGroup("sales")) == 1.0  # no aging configured
    assert effective_priority(waiting, 50, group) == 1.0  # clock before enqueue: no negative age


def test_aging_prevents_starvation_behind_a_stream_of_vips() -> None:
    """A priority-0 chat behind VIPs arriving every 10 s is served once it has aged enough."""
    aging = {"sales": SkillGroup("sales", aging_seconds_per_priority=60)}
    no_aging = {"sales": SkillGroup("sales")}
    old = request("old", priority=0, enqueued_at=0)

    def head(groups: dict[str, SkillGroup], now: float) -> str:
        fresh_vip = request(f"vip-{now}", priority=2, enqueued_at=now - 10)
        return queue_order([fresh_vip, old], now, groups)[0].conversation_id

    assert head(aging, 60) == "vip-60"
    # The old chat is at t/60 levels, a VIP that waited 10 s at 2 + 10/60: from t = 130 on the
    # old chat leads every newer VIP.
    assert all(head(aging, t) == "old" for t in range(131, 3600, 10))
    assert all(head(no_aging, t) != "old" for t in range(10, 3600, 10))


def test_sla_deadline_boost_ramps_up_and_stays() -> None:
    far = request("far", sla_deadline=1000)
    assert effective_priority(far, 0) == 0.0
    assert effective_priority(far, 1000 - 30, sla_window_seconds=60) == pytest.approx(SLA_BOOST / 2)
    assert effective_priority(far, 1000, sla_window_seconds=60) == SLA_BOOST
    assert effective_priority(far, 5000, sla_window_seconds=60) == SLA_BOOST


def test_sla_close_deadline_jumps_the_queue() -> None:
    queued = [
        request("waiting-long", enqueued_at=0),
        request("deadline-soon", enqueued_at=50, sla_deadline=110),
        request("deadline-later", enqueued_at=40, sla_deadline=400),
    ]
    assert ids(queue_order(queued, now=100)) == ["deadline-soon", "waiting-long", "deadline-later"]
    # A VIP whose priority exceeds the full SLA boost still comes first.
    vip = request("vip", priority=int(SLA_BOOST) + 1, enqueued_at=99)
    assert queue_order([*queued, vip], now=100)[0].conversation_id == "vip"


# --- positions and waits ---------------------------------------------------

def test_positions_are_per_skill_group() -> None:
    queued = [
        request("s1", enqueued_at=1), request("s2", enqueued_at=2),
        request("l1", skill="logistics", enqueued_at=3),
        request("s3", priority=1, enqueued_at=4),
    ]
    positions = queue_positions(queued, now=10)
    assert positions == {"s3": 1, "s1": 2, "s2": 3, "l1": 1}
    for conversation_id, position in positions.items():
        assert position_of(conversation_id, queued, now=10) == position
    assert position_of("missing", queued, now=10) is None


def test_estimate_wait_formula() -> None:
    # 3rd in line, 10 busy slots, mean handle 200 s: 3 completions at 10/200 per second.
    assert estimate_wait_seconds(3, 10, [100.0, 300.0]) == pytest.approx(60.0)
    # Two free slots take the first two in line at once.
    assert estimate_wait_seconds(2, 10, [200.0], free_slots=2) == 0.0
    assert estimate_wait_seconds(3, 10, [200.0], free_slots=2) == pytest.approx(20.0)


def test_estimate_wait_refuses_to_guess() -> None:
    assert estimate_wait_seconds(1, 0, [200.0]) is None  # nobody on shift
    assert estimate_wait_seconds(1, 5, []) is None  # no history
    assert estimate_wait_seconds(1, 5, [], default_handle_seconds=300) == pytest.approx(60.0)
    with pytest.raises(ValueError):
        estimate_wait_seconds(0, 5, [200.0])


def test_estimate_wait_is_the_mean_under_its_model() -> None:
    """All slots busy with exponential handle times: the k-th free slot comes at the estimate."""
    rng = random.Random(11)
    slots, mean_handle, position = 12, 240.0, 5
    waits = []
    for _ in range(20000):
        remaining = sorted(rng.expovariate(1 / mean_handle) for _ in range(slots))
        now = 0.0
        for _ in range(position):  # each freed slot takes the head of the queue
            now = remaining.pop(0)
            remaining.append(now + rng.expovariate(1 / mean_handle))
            remaining.sort()
        waits.append(now)
    estimate = estimate_wait_seconds(position, slots, [mean_handle])
    assert estimate is not None
    assert fmean(waits) == pytest.approx(estimate, rel=0.03)


# --- shift schedules -------------------------------------------------------

def test_office_hours_in_shanghai() -> None:
    schedule = ShiftSchedule.weekly("Asia/Shanghai", {"mon-fri": "09:00-12:00,13:00-18:00"})
    assert is_on_shift(schedule, local_epoch("2025-06-06T09:00", "Asia/Shanghai"))  # Friday
    assert is_on_shift(schedule, local_epoch("2025-06-06T17:59", "Asia/Shanghai"))
    assert not is_on_shift(schedule, local_epoch("2025-06-06T12:30", "Asia/Shanghai"))  # lunch
    assert not is_on_shift(schedule, local_epoch("2025-06-06T18:00", "Asia/Shanghai"))
    assert not is_on_shift(schedule, local_epoch("2025-06-07T10:00", "Asia/Shanghai"))  # Saturday
    # 09:30 in Shanghai is 01:30 UTC: the zone, not the server clock, decides.
    assert is_on_shift(schedule, datetime.fromisoformat("2025-06-06T01:30+00:00").timestamp())


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2025-06-06T21:59", False),  # Friday before the night shift
        ("2025-06-06T22:00", True),
        ("2025-06-06T23:59", True),
        ("2025-06-07T00:00", True),  # past midnight, still Friday's shift
        ("2025-06-07T05:59", True),
        ("2025-06-07T06:00", False),
        ("2025-06-07T23:00", False),  # Saturday night has no shift
        ("2025-06-09T03:00", True),  # Sunday's night shift runs into Monday
    ],
)
def test_night_shift_crossing_midnight(local: str, expected: bool) -> None:
    schedule = ShiftSchedule.weekly("Europe/Berlin", {"fri,sun": "22:00-06:00"})
    assert is_on_shift(schedule, local_epoch(local, "Europe/Berlin")) is expected


def test_wall_clock_hours_survive_daylight_saving() -> None:
    """New York clocks jump from 02:00 to 03:00 on 2024-03-10: 09:00 local moves in UTC."""
    schedule = ShiftSchedule.weekly("America/New_York", {"mon-sun": "09:00-17:00"})
    before = datetime.fromisoformat("2024-03-09T14:30+00:00").timestamp()  # 09:30 EST
    after = datetime.fromisoformat("2024-03-10T13:30+00:00").timestamp()  # 09:30 EDT
    same_utc_after = datetime.fromisoformat("2024-03-10T12:30+00:00").timestamp()  # 08:30 EDT
    assert is_on_shift(schedule, before)
    assert is_on_shift(schedule, after)
    assert not is_on_shift(schedule, same_utc_after)


def test_whole_day_and_24_hour_spans() -> None:
    schedule = ShiftSchedule.weekly("UTC", {"sat": "00:00-24:00", "sun": "08:00-08:00"})
    assert is_on_shift(schedule, local_epoch("2025-06-07T00:00", "UTC"))
    assert is_on_shift(schedule, local_epoch("2025-06-07T23:59", "UTC"))
    assert is_on_shift(schedule, local_epoch("2025-06-09T07:59", "UTC"))  # Sunday 08:00 + 24 h
    assert not is_on_shift(schedule, local_epoch("2025-06-09T08:00", "UTC"))


@pytest.mark.parametrize("days", ["fri-mon", "sat,sun"])
def test_day_ranges_wrap_the_week(days: str) -> None:
    schedule = ShiftSchedule.weekly("UTC", {days: "10:00-11:00"})
    assert is_on_shift(schedule, local_epoch("2025-06-08T10:30", "UTC"))  # Sunday


@pytest.mark.parametrize(("hours", "error"), [
    ({"funday": "09:00-17:00"}, ValueError),
    ({"mon": "9-17"}, ValueError),
    ({"mon": "09:00-25:00"}, ValueError),
])
def test_bad_schedules_fail_at_configuration(hours: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        ShiftSchedule.weekly("UTC", hours)


def test_unknown_time_zone() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        ShiftSchedule.weekly("Mars/Olympus_Mons", {"mon": "09:00-17:00"})
