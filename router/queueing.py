"""Wait estimates and shift schedules.

All functions are pure: they take figures, schedules and the current time
(epoch seconds) and return an answer; nothing is stored. The queue order
itself is chatd's: :func:`chatd.conversation.queue_key`, which every queue
in the store is sorted by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from statistics import fmean
from zoneinfo import ZoneInfo

__all__ = [
    "ShiftSchedule",
    "ShiftWindow",
    "estimate_wait_seconds",
    "is_on_shift",
]


def estimate_wait_seconds(
    position: int,
    agents_on_shift_capacity: int,
    recent_handle_times: Sequence[float],
    *,
    free_slots: int = 0,
    default_handle_seconds: float | None = None,
) -> float | None:
    """Expected wait of the conversation at queue ``position`` (1-based).

    Model: every on-shift chat slot (an agent with capacity K has K slots)
    completes chats at rate 1 / mean handle time, so the group frees slots
    at ``agents_on_shift_capacity / mean_handle`` per second. The conversation
    is answered when ``position - free_slots`` slots have freed up, which takes
    ``(position - free_slots) * mean_handle / agents_on_shift_capacity``
    seconds on average. This is the mean of the exact wait under exponential
    handle times with all slots busy; it ignores arrivals of higher priority
    and abandonment ahead (which shorten or lengthen the wait).

    Returns 0 when a free slot is waiting for this conversation, and ``None``
    when nobody is on shift or there is no handle-time history and no
    ``default_handle_seconds``: no honest estimate exists then.
    """
    if position < 1:
        raise ValueError("position is 1-based")
    if agents_on_shift_capacity <= 0:
        return None
    if position <= free_slots:
        return 0.0
    if recent_handle_times:
        mean_handle = fmean(recent_handle_times)
    elif default_handle_seconds is not None:
        mean_handle = default_handle_seconds
    else:
        return None
    return (position - max(free_slots, 0)) * mean_handle / agents_on_shift_capacity


# --- shift schedules -------------------------------------------------------

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class ShiftWindow:
    """Working hours starting on ``weekday`` (0 = Monday), in local wall time.

    When ``end <= start`` the window crosses midnight and ends on the next
    day at ``end`` (``end == start`` means 24 hours).
    """

    weekday: int
    start: time
    end: time

    def covers(self, weekday: int, clock: time) -> bool:
        """Whether the local ``weekday`` and wall ``clock`` fall in the window."""
        if self.start < self.end:
            return weekday == self.weekday and self.start <= clock < self.end
        if weekday == self.weekday:
            return clock >= self.start
        return weekday == (self.weekday + 1) % 7 and clock < self.end


@dataclass(frozen=True, slots=True)
class ShiftSchedule:
    """Weekly working hours of an agent or a skill group in an IANA time zone.

    Wall-clock times are interpreted in ``timezone``, so a shift of 09:00-18:00
    stays 09:00-18:00 local across daylight-saving changes.
    """

    timezone: str
    windows: tuple[ShiftWindow, ...]

    @classmethod
    def weekly(cls, timezone: str, hours: Mapping[str, str]) -> ShiftSchedule:
        """Build a schedule from a config-friendly mapping.

        Keys are days (``"mon"``), ranges (``"mon-fri"``) or lists
        (``"sat,sun"``); values are ``"HH:MM-HH:MM"`` spans, several separated
        by commas (``"09:00-12:00,13:00-18:00"``). ``"22:00-06:00"`` crosses
        midnight. Raises ``ValueError`` on a malformed key or span, and
        ``zoneinfo.ZoneInfoNotFoundError`` on an unknown time zone.
        """
        ZoneInfo(timezone)  # fail at configuration time, not on first use
        windows: list[ShiftWindow] = []
        for days, spans in hours.items():
            for weekday in _parse_days(days):
                for span in spans.split(","):
                    start, end = _parse_span(span)
                    windows.append(ShiftWindow(weekday, start, end))
        return cls(timezone, tuple(windows))


def _parse_days(days: str) -> list[int]:
    result: list[int] = []
    for part in days.lower().split(","):
        part = part.strip()
        first, _, last = part.partition("-")
        if first not in _WEEKDAYS or (last and last not in _WEEKDAYS):
            raise ValueError(f"bad weekday spec {days!r}")
        start = _WEEKDAYS.index(first)
        stop = _WEEKDAYS.index(last) if last else start
        result.extend((start + offset) % 7 for offset in range((stop - start) % 7 + 1))
    return result


def _parse_span(span: str) -> tuple[time, time]:
    match = _SPAN.match(span)
    if match is None:
        raise ValueError(f"bad time span {span!r}, expected HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    end = time(0, 0) if (h2, m2) == (24, 0) else time(h2, m2)
    return time(h1, m1), end


def is_on_shift(schedule: ShiftSchedule, now_utc_epoch: float) -> bool:
    """Whether ``now_utc_epoch`` falls in one of the schedule's windows."""
    local = datetime.fromtimestamp(now_utc_epoch, ZoneInfo(schedule.timezone))
    weekday, clock = local.weekday(), local.time()
    return any(window.covers(weekday, clock) for window in schedule.windows)
