"""Routing settings as they are stored: skill groups and shift schedules.

Admins edit them through chatd's API, which asks routing to check them
(:meth:`chatd.routing.Routing.check_skill_group`); the worker reads them back
into :class:`router.model.SkillGroup` and :class:`router.queueing.ShiftSchedule`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from chatd.errors import ChatdError
from router.model import ALGORITHMS, SkillGroup
from router.queueing import ShiftSchedule

__all__ = ["check_schedule", "check_skill_group", "schedule_from_record", "skill_group_from_record"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_NUMBERS = {"sticky_budget_seconds": (0, 86_400), "offer_timeout_seconds": (1, 3_600)}
_SETTINGS = frozenset(f.name for f in dataclasses.fields(SkillGroup)) - {"name"}


def check_skill_group(name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """A skill group's stored record from a request body; raises
    ``ChatdError("bad_request")`` naming the bad field."""
    if not _NAME.match(name):
        raise ChatdError("bad_request", "a skill group name is lowercase letters, digits, '.', '_' or '-'")
    unknown = set(body) - _SETTINGS
    if unknown:
        raise ChatdError("bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
    if "algorithm" in body and body["algorithm"] not in ALGORITHMS:
        raise ChatdError("bad_request", f"algorithm must be one of {', '.join(ALGORITHMS)}")
    fallback = body.get("fallback_group")
    if fallback is not None and (not isinstance(fallback, str) or not _NAME.match(fallback) or fallback == name):
        raise ChatdError("bad_request", "fallback_group must name another skill group")
    for field, (low, high) in _NUMBERS.items():
        value = body.get(field)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                  or not low <= value <= high):
            raise ChatdError("bad_request", f"{field} must be a number from {low} to {high}")
    if "auto_accept" in body and not isinstance(body["auto_accept"], bool):
        raise ChatdError("bad_request", "auto_accept must be true or false")
    misses = body.get("away_after_misses")
    if misses is not None and (not isinstance(misses, int) or isinstance(misses, bool) or not 1 <= misses <= 100):
        raise ChatdError("bad_request", "away_after_misses must be an integer from 1 to 100, or null")
    return dataclasses.asdict(SkillGroup(name=name, **body))


def skill_group_from_record(record: Mapping[str, Any]) -> SkillGroup:
    """A stored skill group (fields this version no longer knows are ignored)."""
    return SkillGroup(**{k: v for k, v in record.items() if k in _SETTINGS or k == "name"})


def check_schedule(record: Mapping[str, Any]) -> None:
    """Raises ``ChatdError("bad_request")`` unless ``record`` is
    ``{"owner", "timezone": "Asia/Shanghai", "hours": {"mon-fri": "09:00-18:00"}}``."""
    hours = record.get("hours")
    if not isinstance(record.get("timezone"), str) or not isinstance(hours, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in hours.items()):
        raise ChatdError("bad_request",
                         'a schedule is {"timezone": "Asia/Shanghai", "hours": {"mon-fri": "09:00-18:00"}}')
    try:
        schedule_from_record(record)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise ChatdError("bad_request", f"bad schedule: {exc}") from None


def schedule_from_record(record: Mapping[str, Any]) -> ShiftSchedule:
    return ShiftSchedule.weekly(record["timezone"], record["hours"])
