"""Wait estimates and shift schedules (the queue order is chatd.conversation.queue_key's)."""

from __future__ import annotations

import random
from datetime import datetime
from statistics import fmean
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from router import queueing
from router.queueing import ShiftSchedule, estimate_wait_seconds, is_on_shift


def local_epoch(text: str, zone: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_exports() -> None:
    assert set(queueing.__all__) == {"ShiftSchedule", "ShiftWindow", "estimate_wait_seconds", "is_on_shift"}


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
