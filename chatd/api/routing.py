"""``/api/v1/skill-groups`` and ``/api/v1/schedules``: routing settings per
skill group and shift schedules (排班) per agent or group."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from chatd.api.common import context, json, read_json, require_role
from chatd.errors import ChatdError

__all__ = ["routing_routes"]

async def list_groups(request: Request) -> Response:
    await require_role(request)
    return json({"skill_groups": await context(request).records.skill_groups.list()})


async def get_group(request: Request) -> Response:
    await require_role(request)
    name = request.path_params["name"]
    record = await context(request).records.skill_groups.get(name)
    if record is None:
        raise ChatdError("not_found", "no such skill group (unconfigured groups use skills+load and auto-accept)")
    return json(record)


async def put_group(request: Request) -> Response:
    await require_role(request, "admin")
    ctx = context(request)
    name = request.path_params["name"]
    record = ctx.router.check_skill_group(name, await read_json(request))
    await ctx.records.skill_groups.put(record)
    ctx.service.skills_changed()
    return json(record)


async def delete_group(request: Request) -> Response:
    await require_role(request, "admin")
    ctx = context(request)
    if not await ctx.records.skill_groups.delete(request.path_params["name"]):
        raise ChatdError("not_found", "no such skill group")
    ctx.service.skills_changed()
    return json({"deleted": request.path_params["name"]})


async def list_schedules(request: Request) -> Response:
    await require_role(request, "supervisor", "admin")
    return json({"schedules": await context(request).records.schedules.list()})


async def put_schedule(request: Request) -> Response:
    """``owner`` is an agent id or ``group:<skill>``."""
    await require_role(request, "admin")
    ctx = context(request)
    owner = request.path_params["owner"]
    body = await read_json(request)
    record = {"owner": owner, "timezone": body.get("timezone"), "hours": body.get("hours")}
    ctx.router.check_schedule(record)
    await ctx.records.schedules.put(record)
    return json(record)


async def delete_schedule(request: Request) -> Response:
    await require_role(request, "admin")
    if not await context(request).records.schedules.delete(request.path_params["owner"]):
        raise ChatdError("not_found", "no such schedule")
    return json({"deleted": request.path_params["owner"]})


async def queue_stats(request: Request) -> Response:
    """Each queued skill group's length and predicted wait, as the router sees it now."""
    await require_role(request)
    ctx = context(request)
    skills = sorted(set(await ctx.store.queued_skills()) | {r["name"] for r in await ctx.records.skill_groups.list()})
    floor = await ctx.router.floor(skills)
    return json({"queues": [floor.queues[s].to_dict() for s in skills]})


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
