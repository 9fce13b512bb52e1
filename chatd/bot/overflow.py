"""Overflow rules per skill group: where a new chat goes when humans cannot take it.

Pure: the caller passes a queue snapshot and the current time (an aware datetime from
its injected clock); :func:`decide` returns an :class:`OverflowDecision` with an
action, a stable machine ``reason`` and a sentence for the routing explanation.

Rules are checked in this order, first match wins:

1. outside business hours (weekly schedule in an IANA time zone, holidays, extra
   opening days) -> ``leave_message`` (the form becomes a ticket);
2. no agent on shift -> ``leave_message``;
3. queue longer than ``max_queue`` -> ``bot_first``;
4. predicted wait over ``max_wait_seconds`` -> ``bot_first``;
5. inside a peak window (daily hours such as 20:00-24:00, or dates such as 11-11)
   -> ``bot_first``;
6. otherwise -> ``human``.

``bot_first`` means the bot greets the visitor; asking for a human still queues them.
Time ranges are ``HH:MM-HH:MM``; an end at or before the start runs past midnight
(22:00-02:00), and ``24:00`` is the end of the day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "ACTIONS",
    "OverflowDecision",
    "OverflowRule",
    "PeakWindows",
    "QueueSnapshot",
    "WeeklySchedule",
    "decide",
    "parse_time_range",
    "predict_wait",
    "rules_from_config",
]

ACTIONS = ("human", "bot_first", "leave_message")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Span = tuple[int, int]  # minutes since local midnight: [start, end), end may pass 1440


def parse_time_range(text: str) -> Span:
    """'09:00-18:00' -> (540, 1080); '22:00-02:00' -> (1320, 1560) (runs past midnight)."""
    try:
        start_text, end_text = (part.strip() for part in text.split("-"))
        start, end = _minutes(start_text), _minutes(end_text)
    except ValueError:
        raise ValueError(f"time range {text!r} must look like 09:00-18:00") from None
    if start >= 1440:
        raise ValueError(f"time range {text!r} cannot start at 24:00")
    return (start, end if end > start else end + 1440)


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    value = int(hours) * 60 + int(minutes)
    if not (0 <= int(minutes) < 60 and 0 <= value <= 1440):
        raise ValueError(text)
    return value


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _expand_days(key: str) -> list[int]:
    """'mon' -> [0]; 'mon-fri' -> [0..4]; 'sat-mon' wraps."""
    parts = key.lower().split("-")
    if len(parts) == 1 and parts[0] in _DAYS:
        return [_DAYS.index(parts[0])]
    if len(parts) == 2 and all(p in _DAYS for p in parts):
        first, last = _DAYS.index(parts[0]), _DAYS.index(parts[1])
        return [(first + i) % 7 for i in range((last - first) % 7 + 1)]
    raise ValueError(f"unknown day {key!r}; use mon..sun or a range like mon-fri")


def _local(now: datetime, zone: str) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (pass the injected clock's time)")
    return now.astimezone(ZoneInfo(zone))


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Opening hours per weekday (0 = Monday) in ``timezone``.

    ``closed`` dates (holidays) have no hours; ``extra`` dates replace the weekday's
    hours (a Saturday worked before a holiday).
    """

    timezone: str
    hours: Mapping[int, tuple[Span, ...]]
    closed: frozenset[date] = frozenset()
    extra: Mapping[date, tuple[Span, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises for an unknown zone

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WeeklySchedule:
        """Build from ``{"timezone": "Asia/Shanghai", "weekly": {"mon-fri": ["09:00-21:00"]},
        "closed": ["2025-10-01"], "extra": {"2025-09-28": ["09:00-18:00"]}}``."""
        hours: dict[int, tuple[Span, ...]] = {}
        for key, ranges in (config.get("weekly") or {}).items():
            spans = tuple(parse_time_range(r) for r in ranges)
            for day in _expand_days(key):
                hours[day] = hours.get(day, ()) + spans
        closed = frozenset(date.fromisoformat(d) for d in config.get("closed") or ())
        extra = {
            date.fromisoformat(d): tuple(parse_time_range(r) for r in ranges)
            for d, ranges in (config.get("extra") or {}).items()
        }
        return cls(config["timezone"], hours, closed, extra)

    def _spans(self, day: date) -> tuple[Span, ...]:
        if day in self.extra:
            return self.extra[day]
        if day in self.closed:
            return ()
        return self.hours.get(day.weekday(), ())

    def is_open(self, now: datetime) -> bool:
        """True when ``now`` falls in opening hours (including yesterday's late shift)."""
        local = _local(now, self.timezone)
        minute = local.hour * 60 + local.minute
        today, yesterday = local.date(), local.date() - timedelta(days=1)
        if any(start <= minute < end for start, end in self._spans(today)):
            return True
        return any(minute + 1440 < end for _, end in self._spans(yesterday))

    def next_opening(self, now: datetime) -> datetime | None:
        """When hours next begin after ``now`` (within two weeks), in the schedule's zone."""
        local = _local(now, self.timezone)
        zone = ZoneInfo(self.timezone)
        for offset in range(15):
            day = local.date() + timedelta(days=offset)
            for start, _ in sorted(self._spans(day)):
                moment = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=start)
                if moment > local:
                    return moment
        return None


def _month_day(text: str) -> tuple[int, int]:
    text = text.strip()
    if len(text) == 10:  # a full ISO date is accepted; the year is ignored
        text = text[5:]
    month, day = (int(p) for p in text.split("-"))
    date(2024, month, day)  # validates, leap day included
    return (month, day)


@dataclass(frozen=True, slots=True)
class PeakWindows:
    """Peak hours: ``daily`` time ranges and ``dates`` (month-day ranges, every year)."""

    timezone: str
    daily: tuple[Span, ...] = ()
    dates: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PeakWindows:
        """Build from ``{"timezone": ..., "daily": ["20:00-24:00"], "dates": ["11-11",
        "06-01..06-18"]}``."""
        daily = tuple(parse_time_range(r) for r in config.get("daily") or ())
        dates = []
        for item in config.get("dates") or ():
            first, _, last = str(item).partition("..")
            dates.append((_month_day(first), _month_day(last or first)))
        ZoneInfo(config["timezone"])
        return cls(config["timezone"], daily, tuple(dates))

    def active(self, now: datetime) -> str | None:
        """A description of the window ``now`` is in ('daily 20:00-24:00', 'date 11-11'), or None."""
        local = _local(now, self.timezone)
        minute = local.hour * 60 + local.minute
        for start, end in self.daily:
            if start <= minute < end or minute + 1440 < end:
                return f"daily {_hhmm(start)}-{_hhmm(end if end == 1440 else end % 1440)}"
        today = (local.month, local.day)
        for first, last in self.dates:
            inside = first <= today <= last if first <= last else (today >= first or today <= last)
            if inside:
                label = f"{first[0]:02d}-{first[1]:02d}"
                return "date " + (label if first == last else f"{label}..{last[0]:02d}-{last[1]:02d}")
        return None


@dataclass(frozen=True, slots=True)
class OverflowRule:
    """The overflow policy of one skill group; a None limit is not checked."""

    skill_group: str
    max_queue: int | None = None
    max_wait_seconds: float | None = None
    peak: PeakWindows | None = None
    business_hours: WeeklySchedule | None = None


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The skill group's queue at decision time."""

    skill_group: str
    waiting: int
    agents_on_shift: int | None = None
    predicted_wait_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class OverflowDecision:
    """Where the chat goes, why (stable ``reason`` code), and how to say it."""

    action: str
    reason: str
    message: str
    message_zh: str
    details: Mapping[str, Any] = field(default_factory=dict)


def predict_wait(waiting: int, agents_on_shift: int, average_handle_seconds: float, concurrency: int = 1) -> float:
    """A simple expected wait for the next chat: queue ahead divided by service rate."""
    slots = max(agents_on_shift, 0) * max(concurrency, 1)
    if slots == 0:
        return float("inf")
    return (waiting + 1) * average_handle_seconds / slots


def _clock(moment: datetime) -> str:
    return moment.strftime("%a %H:%M")


def decide(rule: OverflowRule, snapshot: QueueSnapshot, now: datetime) -> OverflowDecision:
    """Apply ``rule`` to ``snapshot`` at ``now`` (timezone-aware). See the module docstring."""
    group = rule.skill_group
    hours = rule.business_hours
    if hours is not None and not hours.is_open(now):
        opening = hours.next_opening(now)
        when = f" We are back {_clock(opening)} ({hours.timezone})." if opening else ""
        when_zh = f"下次上班时间：{opening:%m-%d %H:%M}（{hours.timezone}）。" if opening else ""
        return OverflowDecision(
            "leave_message",
            "outside_business_hours",
            f"Outside business hours for {group}; offering the leave-a-message form.{when}",
            f"{group} 技能组当前不在工作时间，请访客留言。{when_zh}",
            {"next_opening": opening.isoformat() if opening else None},
        )
    if snapshot.agents_on_shift == 0:
        return OverflowDecision(
            "leave_message",
            "no_agent_on_shift",
            f"No {group} agent is on shift; offering the leave-a-message form.",
            f"{group} 技能组当前无人值班，请访客留言。",
            {"agents_on_shift": 0},
        )
    if rule.max_queue is not None and snapshot.waiting > rule.max_queue:
        return OverflowDecision(
            "bot_first",
            "queue_too_long",
            f"{snapshot.waiting} chats are waiting for {group}, more than the limit of {rule.max_queue}; "
            "the bot answers first.",
            f"{group} 排队 {snapshot.waiting} 人，超过上限 {rule.max_queue}，先由机器人接待。",
            {"waiting": snapshot.waiting, "max_queue": rule.max_queue},
        )
    wait = snapshot.predicted_wait_seconds
    if rule.max_wait_seconds is not None and wait is not None and wait > rule.max_wait_seconds:
        return OverflowDecision(
            "bot_first",
            "wait_too_long",
            f"The predicted wait for {group} is {wait:.0f} s, over the limit of {rule.max_wait_seconds:.0f} s; "
            "the bot answers first.",
            f"{group} 预计等待 {wait:.0f} 秒，超过上限 {rule.max_wait_seconds:.0f} 秒，先由机器人接待。",
            {"predicted_wait_seconds": wait, "max_wait_seconds": rule.max_wait_seconds},
        )
    window = rule.peak.active(now) if rule.peak is not None else None
    if window is not None:
        return OverflowDecision(
            "bot_first",
            "peak_hours",
            f"Peak window ({window}) for {group}; the bot answers first.",
            f"{group} 处于高峰时段（{window}），先由机器人接待。",
            {"window": window},
        )
    return OverflowDecision(
        "human",
        "within_limits",
        f"{group} is within its limits; the chat goes to the queue for a human agent.",
        f"{group} 各项指标正常，进入人工排队。",
        {"waiting": snapshot.waiting},
    )


def rules_from_config(items: Iterable[Mapping[str, Any]]) -> dict[str, OverflowRule]:
    """Build rules keyed by skill group from plain config mappings."""
    rules = {}
    for item in items:
        rules[item["skill_group"]] = OverflowRule(
            skill_group=item["skill_group"],
            max_queue=item.get("max_queue"),
            max_wait_seconds=item.get("max_wait_seconds"),
            peak=PeakWindows.from_config(item["peak"]) if item.get("peak") else None,
            business_hours=WeeklySchedule.from_config(item["business_hours"]) if item.get("business_hours") else None,
        )
    return rules
