from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chatd.bot.overflow import (
    OverflowRule,
    PeakWindows,
    QueueSnapshot,
    WeeklySchedule,
    decide,
    parse_time_range,
    predict_wait,
    rules_from_config,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS = WeeklySchedule.from_config(
    {
        "timezone": "Asia/Shanghai",
        "weekly": {"mon-fri": ["09:00-21:00"], "sat": ["10:00-18:00"], "fri": ["22:00-02:00"]},
        "closed": ["2025-10-01"],
        "extra": {"2025-09-28": ["09:00-18:00"]},  # a Sunday worked before the holiday
    }
)
PEAK = PeakWindows.from_config(
    {"timezone": "Asia/Shanghai", "daily": ["20:00-24:00"], "dates": ["11-11", "12-30..01-02"]}
)
RULE = OverflowRule("logistics", max_queue=10, max_wait_seconds=120, peak=PEAK, business_hours=HOURS)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def snapshot(waiting: int = 2, wait: float | None = 30.0, agents: int | None = 3) -> QueueSnapshot:
    return QueueSnapshot("logistics", waiting=waiting, agents_on_shift=agents, predicted_wait_seconds=wait)


def test_parse_time_range() -> None:
    assert parse_time_range("09:00-18:00") == (540, 1080)
    assert parse_time_range("20:00-24:00") == (1200, 1440)
    assert parse_time_range("22:00-02:00") == (1320, 1560)
    for bad in ("9-18", "25:00-26:00", "10:61-11:00", "24:00-01:00"):
        with pytest.raises(ValueError):
            parse_time_range(bad)


def test_within_limits_goes_to_a_human() -> None:
    decision = decide(RULE, snapshot(), at(2025, 9, 24, 10, 0))  # Wednesday 10:00
    assert (decision.action, decision.reason) == ("human", "within_limits")


def test_queue_too_long() -> None:
    decision = decide(RULE, snapshot(waiting=11), at(2025, 9, 24, 10, 0))
    assert (decision.action, decision.reason) == ("bot_first", "queue_too_long")
    assert "11 chats are waiting" in decision.message and "排队 11 人" in decision.message_zh
    assert decide(RULE, snapshot(waiting=10), at(2025, 9, 24, 10, 0)).action == "human"  # "longer than L"


def test_predicted_wait_too_long() -> None:
    decision = decide(RULE, snapshot(wait=121.0), at(2025, 9, 24, 10, 0))
    assert (decision.action, decision.reason) == ("bot_first", "wait_too_long")
    assert decision.details["predicted_wait_seconds"] == 121.0


def test_peak_windows() -> None:
    evening = decide(RULE, snapshot(), at(2025, 9, 24, 20, 30))
    assert (evening.action, evening.reason) == ("bot_first", "peak_hours")
    assert evening.details["window"] == "daily 20:00-24:00"
    singles_day = decide(RULE, snapshot(), at(2025, 11, 11, 10, 0))
    assert singles_day.details["window"] == "date 11-11"
    assert PEAK.active(at(2026, 1, 1, 12, 0)) == "date 12-30..01-02"  # wraps the new year
    assert PEAK.active(at(2025, 9, 24, 19, 59)) is None


def test_outside_business_hours_leaves_a_message() -> None:
    decision = decide(RULE, snapshot(), at(2025, 9, 24, 7, 0))
    assert (decision.action, decision.reason) == ("leave_message", "outside_business_hours")
    assert decision.details["next_opening"] == "2025-09-24T09:00:00+08:00"
    assert decide(RULE, snapshot(), at(2025, 9, 21, 12, 0)).action == "leave_message"  # Sunday
    assert decide(RULE, snapshot(), at(2025, 10, 1, 12, 0)).action == "leave_message"  # holiday
    assert decide(RULE, snapshot(), at(2025, 9, 28, 12, 0)).action == "human"  # extra working day


def test_overnight_shift() -> None:
    assert HOURS.is_open(at(2025, 9, 26, 23, 0))  # Friday 23:00
    assert HOURS.is_open(at(2025, 9, 27, 1, 30))  # Saturday 01:30, Friday's late shift
    assert not HOURS.is_open(at(2025, 9, 27, 2, 0))
    assert not HOURS.is_open(at(2025, 9, 26, 21, 30))


def test_time_zones_are_respected() -> None:
    # 01:30 UTC is 09:30 in Shanghai: open there, although the clock's zone says night.
    now = datetime(2025, 9, 24, 1, 30, tzinfo=UTC)
    assert decide(RULE, snapshot(), now).action == "human"
    berlin = WeeklySchedule.from_config({"timezone": "Europe/Berlin", "weekly": {"mon-fri": ["09:00-17:00"]}})
    assert not berlin.is_open(now)
    assert berlin.is_open(now + timedelta(hours=7))  # 10:30 in Berlin (CEST)
    # Across the daylight-saving change the local hours stay put.
    assert berlin.is_open(datetime(2025, 10, 27, 8, 30, tzinfo=UTC))  # 09:30 CET


def test_no_agent_on_shift() -> None:
    decision = decide(RULE, snapshot(agents=0), at(2025, 9, 24, 10, 0))
    assert (decision.action, decision.reason) == ("leave_message", "no_agent_on_shift")


def test_rules_without_limits_and_naive_time() -> None:
    assert decide(OverflowRule("general"), snapshot(waiting=999, wait=1e6), at(2025, 1, 1, 3, 0)).action == "human"
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(RULE, snapshot(), datetime(2025, 9, 24, 10, 0))


def test_predict_wait_and_config() -> None:
    assert predict_wait(waiting=3, agents_on_shift=2, average_handle_seconds=60, concurrency=2) == 60.0
    assert predict_wait(waiting=3, agents_on_shift=0, average_handle_seconds=60) == float("inf")
    config = {"skill_group": "presales", "max_queue": 5, "peak": {"timezone": "UTC", "daily": ["20:00-24:00"]}}
    rules = rules_from_config([config])
    assert rules["presales"].max_queue == 5 and rules["presales"].peak is not None
    with pytest.raises(ValueError, match="unknown day"):
        WeeklySchedule.from_config({"timezone": "UTC", "weekly": {"someday": ["09:00-10:00"]}})
