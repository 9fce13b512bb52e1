"""``/api/v1/agents`` and ``/api/v1/sites``: managing agents and widget sites."""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from chatd.api.common import context, json, read_json, require_role
from chatd.auth import hash_password_off_loop
from chatd.errors import ChatdError
from chatd.events import EVENT_TYPES
from chatd.model import AGENT_STATUSES, ROLES, Agent, Site

__all__ = [
    "create_agent",
    "create_site",
    "delete_agent",
    "delete_site",
    "get_agent",
    "get_site",
    "list_agents",
    "list_sites",
    "site_deliveries",
    "update_agent",
    "update_site",
    "valid_id",
    "validate_agent_fields",
    "validate_site_fields",
]

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def valid_id(text: object) -> bool:
    """Whether ``text`` may name an agent, site or skill group."""
    return isinstance(text, str) and _ID.match(text) is not None


def _text(body: dict[str, Any], name: str, limit: int = 64) -> str:
    value = body[name]
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ChatdError("bad_request", f"{name} must be a string of 1 to {limit} characters")
    return value


async def validate_agent_fields(body: dict[str, Any], agent: Agent) -> Agent:
    """Apply the known fields of ``body`` to ``agent``; raises ChatdError naming the bad field."""
    if "name" in body:
        agent.name = _text(body, "name")
    if "password" in body:
        password = body["password"]
        if not isinstance(password, str) or not 8 <= len(password) <= 128:
            raise ChatdError("bad_request", "password must have 8 to 128 characters")
        agent.password_hash = await hash_password_off_loop(password)  # argon2 would stall every connection
    if "role" in body:
        if body["role"] not in ROLES:
            raise ChatdError("bad_request", f"role must be one of {', '.join(ROLES)}")
        agent.role = body["role"]
    if "status" in body:
        if body["status"] not in AGENT_STATUSES:
            raise ChatdError("bad_request", f"status must be one of {', '.join(AGENT_STATUSES)}")
        agent.status = body["status"]
    if "capacity" in body:
        capacity = body["capacity"]
        if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 50:
            raise ChatdError("bad_request", "capacity must be an integer from 1 to 50")
        agent.capacity = capacity
    if "skills" in body:
        skills = body["skills"]
        if isinstance(skills, list):
            skills = {name: 3 for name in skills}
        if not isinstance(skills, dict) or not all(
                isinstance(k, str) and _ID.match(k) and isinstance(v, int) and not isinstance(v, bool)
                and 1 <= v <= 5 for k, v in skills.items()):
            raise ChatdError("bad_request", "skills must map skill names to a proficiency from 1 to 5")
        agent.skills = dict(skills)
    return agent


def validate_site_fields(body: dict[str, Any], site: Site) -> Site:
    if "name" in body:
        site.name = _text(body, "name")
    if "allowed_origins" in body:
        origins = body["allowed_origins"]
        if not isinstance(origins, list) or not all(
                isinstance(o, str) and re.match(r"^https?://[^/\s]+$", o) for o in origins):
            raise ChatdError("bad_request", "allowed_origins must be a list like https://shop.example")
        site.allowed_origins = list(origins)
    if "secret" in body:
        site.secret = _text(body, "secret", 200)
    if "default_skill" in body:
        skill = body["default_skill"]
        if not isinstance(skill, str) or not _ID.match(skill):
            raise ChatdError("bad_request", "default_skill must be a skill name")
        site.default_skill = skill
    if "theme_color" in body:
        color = body["theme_color"]
        if not isinstance(color, str) or not _COLOR.match(color):
            raise ChatdError("bad_request", "theme_color must look like #1f6feb")
        site.theme_color = color
    if "events_url" in body:
        url = body["events_url"]
        if not isinstance(url, str) or (url and not re.match(r"^https?://[^\s]{1,500}$", url)):
            raise ChatdError("bad_request", "events_url must be an http(s) URL or empty")
        site.events_url = url
    if "events" in body:
        events = body["events"]
        if not isinstance(events, list) or not all(e in EVENT_TYPES for e in events):
            raise ChatdError("bad_request", f"events must be a list of {', '.join(EVENT_TYPES)}")
        site.events = sorted(set(events))
    if "events_secret" in body:
        site.events_secret = _text(body, "events_secret", 200)
    if site.events_url and not site.events_secret:
        site.events_secret = secrets.token_urlsafe(24)
    return site


async def list_agents(request: Request) -> Response:
    await require_role(request, "supervisor", "admin")
    ctx = context(request)
    runtime = await ctx.store.agent_runtime()
    return json({"agents": [{**a.public(), **runtime.get(a.agent_id, {})} for a in await ctx.store.list_agents()]})


async def create_agent(request: Request) -> Response:
    await require_role(request, "admin")
    ctx = context(request)
    body = await read_json(request)
    for required in ("agent_id", "name", "password"):
        if required not in body:
            raise ChatdError("bad_request", f"{required} is required")
    agent_id = body["agent_id"]
    if not isinstance(agent_id, str) or not _ID.match(agent_id):
        raise ChatdError("bad_request", "agent_id must be lowercase letters, digits, '.', '_' or '-' (max 32)")
    if await ctx.store.get_agent(agent_id) is not None:
        raise ChatdError("conflict", "an agent with this id exists")
    agent = await validate_agent_fields(body, Agent(agent_id=agent_id, name=agent_id))
    await ctx.store.put_agent(agent)
    ctx.service.skills_changed()
    return json(agent.public(), 201)


async def _agent(request: Request) -> Agent:
    agent = await context(request).store.get_agent(request.path_params["agent_id"])
    if agent is None:
        raise ChatdError("not_found", "no such agent")
    return agent


async def get_agent(request: Request) -> Response:
    await require_role(request, "supervisor", "admin")
    return json((await _agent(request)).public())


async def update_agent(request: Request) -> Response:
    await require_role(request, "admin")
    ctx = context(request)
    body = await read_json(request)
    agent = await validate_agent_fields(body, await _agent(request))
    await ctx.store.put_agent(agent)
    ctx.service.skills_changed()
    if "status" in body:
        await ctx.service.set_status(agent.agent_id, agent.status)
    return json(agent.public())


async def delete_agent(request: Request) -> Response:
    await require_role(request, "admin")
    ctx = context(request)
    agent = await _agent(request)
    if await ctx.store.agent_conversations(agent.agent_id):
        raise ChatdError("conflict", "the agent still has conversations; transfer or close them first")
    await ctx.store.delete_agent(agent.agent_id)
    return json({"deleted": agent.agent_id})


async def list_sites(request: Request) -> Response:
    await require_role(request, "admin")
    return json({"sites": [s.to_dict() for s in await context(request).store.list_sites()]})


async def create_site(request: Request) -> Response:
    await require_role(request, "admin")
    ctx = context(request)
    body = await read_json(request)
    site_key = body.get("site_key")
    if not isinstance(site_key, str) or not _ID.match(site_key):
        raise ChatdError("bad_request", "site_key must be lowercase letters, digits, '.', '_' or '-' (max 32)")
    if "name" not in body:
        raise ChatdError("bad_request", "name is required")
    if await ctx.store.get_site(site_key) is not None:
        raise ChatdError("conflict", "a site with this key exists")
    site = validate_site_fields(body, Site(site_key=site_key, name=site_key, secret=secrets.token_urlsafe(24)))
    await ctx.store.put_site(site)
    ctx.service.forget_site(site_key)
    return json(site.to_dict(), 201)


async def _site(request: Request) -> Site:
    site = await context(request).store.get_site(request.path_params["site_key"])
    if site is None:
        raise ChatdError("not_found", "no such site")
    return site


async def get_site(request: Request) -> Response:
    await require_role(request, "admin")
    return json((await _site(request)).to_dict())


async def update_site(request: Request) -> Response:
    await require_role(request, "admin")
    site = validate_site_fields(await read_json(request), await _site(request))
    await context(request).store.put_site(site)
    context(request).service.forget_site(site.site_key)
    return json(site.to_dict())


async def site_deliveries(request: Request) -> Response:
    """The site's event webhook deliveries, newest first (``?limit=`` 1-200)."""
    await require_role(request, "admin")
    site = await _site(request)
    raw = request.query_params.get("limit", "200")
    if not raw.isdigit() or not 1 <= int(raw) <= 200:
        raise ChatdError("bad_request", "limit must be an integer from 1 to 200")
    return json({"deliveries": await context(request).store.deliveries(site.site_key, int(raw))})


async def delete_site(request: Request) -> Response:
    await require_role(request, "admin")
    site = await _site(request)
    await context(request).store.delete_site(site.site_key)
    context(request).service.forget_site(site.site_key)
    return json({"deleted": site.site_key})
