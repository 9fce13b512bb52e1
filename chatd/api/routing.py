"""``/api/v1/skill-groups`` and ``/api/v1/schedules``: routing settings per
skill group and shift schedules (排班) per agent or group."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import Response

from chatd.api.common import ApiError, context, json, read_json, require_role
from router.model import ALGORITHMS, SkillGroup
from router.worker import schedule_from_record, skill_group_from_record

__all__ = ["routing_routes", "validate_skill_group"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_NUMBERS = {"sticky_budget_seconds": (0, 86_400), "offer_timeout_seconds": (1, 3_600),
            "aging_seconds_per_priority": (1, 86_400)}


def validate_skill_group(name: str, body: dict[str, Any]) -> SkillGroup:
    """A skill group from a request body; raises ApiError naming the bad field."""
    if not _NAME.match(name):
        raise ApiError("bad_request", "a skill group name is lowercase letters, digits, '.', '_' or '-'")
    known = {f.name for f in dataclasses.fields(SkillGroup)} - {"name"}
    unknown = set(body) - known
    if unknown:
        raise ApiError("bad_request", f"unknown fields: {', '.join(sorted(unknown))}")
    if "algorithm" in body and body["algorithm"] not in ALGORITHMS:
        raise ApiError("bad_request", f"algorithm must be one of {', '.join(ALGORITHMS)}")
    fallback = body.get("fallback_group")
    if fallback is not None and (not isinstance(fallback, str) or not _NAME.match(fallback) or fallback == name):
        raise ApiError("bad_request", "fallback_group must name another skill group")
    for field, (low, high) in _NUMBERS.items():
        value = body.get(field)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                  or not low <= value <= high):
            raise ApiError("bad_request", f"{field} must be a number from {low} to {high}")
    if "auto_accept" in body and not isinstance(body["auto_accept"], bool):
        raise ApiError("bad_request", "auto_accept must be true or false")
    misses = body.get("away_after_misses")
    if misses is not None and (not isinstance(misses, int) or isinstance(misses, bool) or not 1 <= misses <= 100):
        raise ApiError("bad_request", "away_after_misses must be an integer from 1 to 100, or null")
    return SkillGroup(name=name, **body)


async def list_groups(request: Request) -> Response:
    await require_role(request)
    return json({"skill_groups": await context(request).store.list_records("skill_group")})


async def get_group(request: Request) -> Response:
    await require_role(request)
    name = request.path_params["name"]
    record = await context(request).store.get_record("skill_group", name)
    if record is None:
        raise ApiError("not_found", "no such skill group (unconfigured groups use skills+load and auto-accept)")
    return json(record)


async def put_group(request: Request) -> Response:
    await require_role(request, "admin")
    name = request.path_params["name"]
    group = validate_skill_group(name, await read_json(request))
    record = dataclasses.asdict(group)
    await context(request).store.put_record("skill_group", name, record)
    skill_group_from_record(record)  # what the router will read back
    return json(record)


async def delete_group(request: Request) -> Response:
    await require_role(request, "admin")
    if not await context(request).store.delete_record("skill_group", request.path_params["name"]):
        raise ApiError("not_found", "no such skill group")
    return json({"deleted": request.path_params["name"]})


async def list_schedules(request: Request) -> Response:
    await require_role(request, "supervisor", "admin")
    return json({"schedules": await context(request).store.list_records("schedule")})


async def put_schedule(request: Request) -> Response:
    """``owner`` is an agent id or ``group:<skill>``."""
    await require_role(request, "admin")
    owner = request.path_params["owner"]
    body = await read_json(request)
    hours = body.get("hours")
    if not isinstance(body.get("timezone"), str) or not isinstance(hours, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in hours.items()):
        raise ApiError("bad_request",
                       'a schedule is {"timezone": "Asia/Shanghai", "hours": {"mon-fri": "09:00-18:00"}}')
    record = {"owner": owner, "timezone": body["timezone"], "hours": hours}
    try:
        schedule_from_record(record)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise ApiError("bad_request", f"bad schedule: {exc}") from None
    await context(request).store.put_record("schedule", owner, record)
    return json(record)


async def delete_schedule(request: Request) -> Response:
    await require_role(request, "admin")
    if not await context(request).store.delete_record("schedule", request.path_params["owner"]):
        raise ApiError("not_found", "no such schedule")
    return json({"deleted": request.path_params["owner"]})


async def queue_stats(request: Request) -> Response:
    """Each queued skill group's length and predicted wait, as the router sees it now."""
    await require_role(request)
    ctx = context(request)
    skills = sorted(set(await ctx.store.queued_skills()) | {r["name"] for r in
                                                             await ctx.store.list_records("skill_group")})
    snap = await ctx.router.snapshot(ctx.clock())  # type: ignore[attr-defined]
    return json({"queues": [await ctx.router.queue_stats(s, snap) for s in skills]})  # type: ignore[attr-defined]


def routing_routes() -> list[tuple[str, Any, list[str]]]:
    """(path, handler, methods) rows for :func:`chatd.api.routes.api_routes`."""
    v1 = "/api/v1"
    return [
        (f"{v1}/skill-groups", list_groups, ["GET"]),
        (f"{v1}/skill-groups/{{name}}", get_group, ["GET"]),
        (f"{v1}/skill-groups/{{name}}", put_group, ["PUT"]),
        (f"{v1}/skill-groups/{{name}}", delete_group, ["DELETE"]),
        (f"{v1}/schedules", list_schedules, ["GET"]),
        (f"{v1}/schedules/{{owner}}", put_schedule, ["PUT"]),
        (f"{v1}/schedules/{{owner}}", delete_schedule, ["DELETE"]),
        (f"{v1}/queues", queue_stats, ["GET"]),
    ]
