"""Queue order, queue positions, wait estimates and shift schedules.

All functions are pure: they take the queued requests, the skill groups and
the current time (epoch seconds) and return an answer; nothing is stored.

Queue order: highest *effective priority* first, then longest waiting, then
``conversation_id`` (so the order is total and never random). The effective
priority is the request's priority plus

- aging: one level per ``SkillGroup.aging_seconds_per_priority`` seconds of
  waiting, so a low-priority conversation cannot starve behind a stream of
  VIPs;
- an SLA boost that ramps linearly from 0 to ``sla_boost`` levels over the
  ``sla_window_seconds`` before the request's ``sla_deadline`` (and stays at
  ``sla_boost`` once the deadline has passed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from statistics import fmean
from zoneinfo import ZoneInfo

from router.model import ConversationRequest, SkillGroup

__all__ = [
    "SLA_BOOST",
    "SLA_WINDOW_SECONDS",
    "ShiftSchedule",
    "ShiftWindow",
    "effective_priority",
    "estimate_wait_seconds",
    "is_on_shift",
    "position_of",
    "queue_key",
    "queue_order",
    "queue_positions",
    "sla_bonus",
]

SLA_WINDOW_SECONDS = 60.0
SLA_BOOST = 5.0


def effective_priority(
    request: ConversationRequest,
    now: float,
    group: SkillGroup | None = None,
    *,
    sla_window_seconds: float = SLA_WINDOW_SECONDS,
    sla_boost: float = SLA_BOOST,
) -> float:
    """Priority plus aging (from ``group``) plus the SLA boost, at ``now``."""
    priority = float(request.priority)
    if group is not None and group.aging_seconds_per_priority:
        waited = now - request.enqueued_at
        if waited > 0:
            priority += waited / group.aging_seconds_per_priority
    if request.sla_deadline is not None:
        priority += sla_bonus(request.sla_deadline, now, sla_window_seconds, sla_boost)
    return priority


def sla_bonus(deadline: float, now: float, sla_window_seconds: float = SLA_WINDOW_SECONDS,
              sla_boost: float = SLA_BOOST) -> float:
    """Priority levels added for an SLA ``deadline``: 0 outside the window, then a
    linear ramp to ``sla_boost`` at the deadline, and ``sla_boost`` after it."""
    remaining = deadline - now
    if remaining <= 0 or sla_window_seconds <= 0:
        return sla_boost
    if remaining < sla_window_seconds:
        return sla_boost * (1.0 - remaining / sla_window_seconds)
    return 0.0


def queue_key(
    request: ConversationRequest,
    now: float,
    group: SkillGroup | None = None,
    *,
    sla_window_seconds: float = SLA_WINDOW_SECONDS,
    sla_boost: float = SLA_BOOST,
) -> tuple[float, float, str]:
    """Sort key of ``request`` in its queue at ``now``; smaller is served first.

    ``(-effective_priority, enqueued_at, conversation_id)``.
    """
    priority = effective_priority(
        request, now, group, sla_window_seconds=sla_window_seconds, sla_boost=sla_boost
    )
    return (-priority, request.enqueued_at, request.conversation_id)


def queue_order(
    requests: Iterable[ConversationRequest],
    now: float,
    groups: Mapping[str, SkillGroup] | None = None,
    *,
    sla_window_seconds: float = SLA_WINDOW_SECONDS,
    sla_boost: float = SLA_BOOST,
) -> list[ConversationRequest]:
    """``requests`` in serving order at ``now`` (see the module docstring).

    ``groups`` supplies each request's aging rate (looked up by
    ``request.skill``); requests of unknown groups do not age.
    """
    groups = groups or {}

    def key(request: ConversationRequest) -> tuple[float, float, str]:
        return queue_key(
            request,
            now,
            groups.get(request.skill),
            sla_window_seconds=sla_window_seconds,
            sla_boost=sla_boost,
        )

    return sorted(requests, key=key)


def position_of(
    conversation_id: str,
    requests: Iterable[ConversationRequest],
    now: float,
    groups: Mapping[str, SkillGroup] | None = None,
) -> int | None:
    """1-based position of a conversation in its skill group's queue.

    Counts the queued requests of the same skill that are served before it, in
    one pass. ``None`` when the conversation is not queued.
    """
    groups = groups or {}
    requests = list(requests)
    target = next((r for r in requests if r.conversation_id == conversation_id), None)
    if target is None:
        return None
    target_key = queue_key(target, now, groups.get(target.skill))
    ahead = 0
    for request in requests:
        if request.skill == target.skill and request is not target:
            if queue_key(request, now, groups.get(request.skill)) < target_key:
                ahead += 1
    return ahead + 1


def queue_positions(
    requests: Iterable[ConversationRequest],
    now: float,
    groups: Mapping[str, SkillGroup] | None = None,
) -> dict[str, int]:
    """Position (1-based, per skill group) of every queued conversation.

    One sort for all, so a driver can push position updates to every waiting
    visitor at once.
    """
    positions: dict[str, int] = {}
    seen_per_skill: dict[str, int] = {}
    for request in queue_order(requests, now, groups):
        position = seen_per_skill.get(request.skill, 0) + 1
        seen_per_skill[request.skill] = position
        positions[request.conversation_id] = position
    return positions


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
