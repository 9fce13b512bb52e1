"""HTTP endpoints behind the agent console (``/console``):

- ``GET /api/v1/floor``: the supervisor view: every skill group's queue
  (length, longest wait, predicted wait, chats abandoned today), every
  agent's status, load, current chats and today's counts;
- ``POST /api/v1/conversations/{id}/reassign``: a supervisor moves a chat
  (queued, offered or assigned) to another agent or skill group, with a note;
- ``GET /api/v1/transfer-targets``: colleagues (status, load) and skill
  groups an agent may transfer a chat to;
- ``GET /api/v1/conversations/{id}/customer``: the customer panel: profile,
  current page, past conversations and orders from the customer-info webhook;
- ``GET /api/v1/conversations/{id}/customer/conversations/{past_id}``: the
  transcript of one of that customer's past conversations.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import Response

from chatd.api.common import Caller, caller, context, json, read_json, require_role
from chatd.api.conversations import readable_conversation
from chatd.context import Context
from chatd.conversation import plan
from chatd.customer_info import CustomerInfoClient, CustomerQuery
from chatd.demo_orders import demo_customer_info
from chatd.errors import ChatdError
from chatd.model import Conversation
from chatd.service import ABANDONED_SAMPLES

__all__ = ["CLOSED_SAMPLES", "console_routes", "customer_panel", "floor", "past_transcript", "reassign",
           "start_of_day", "transfer_targets"]

CLOSED_SAMPLES = "closed_by_agent"  # samples: close times per agent (today's counts on the floor)
PROFILE_FIELDS = ("name", "email", "phone", "vip", "dedicated_agent")
PAGE_FIELDS = ("page_url", "current_page", "url")
HISTORY_LIMIT = 10
TRANSCRIPT_LIMIT = 200
_NOTE_LIMIT = 1000
_TZ = re.compile(r"^[A-Za-z_]+(?:/[A-Za-z0-9_+-]+){0,2}$|^UTC$")


def start_of_day(now: float, tz_name: str) -> float:
    """Epoch seconds of the last midnight in ``tz_name`` before ``now``."""
    zone = ZoneInfo(tz_name)
    local = dt.datetime.fromtimestamp(now, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _zone(request: Request) -> str:
    name = request.query_params.get("tz", "UTC")
    if not _TZ.match(name):
        raise ChatdError("bad_request", "tz must be an IANA time zone such as Asia/Shanghai")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ChatdError("bad_request", f"unknown time zone {name!r}") from None
    return name


# --- the floor ---------------------------------------------------------------------

async def floor(request: Request) -> Response:
    """The supervisor view, as the router sees it now."""
    await require_role(request, "supervisor", "admin")
    ctx = context(request)
    now = ctx.clock()
    midnight = start_of_day(now, _zone(request))
    profiles = {agent.agent_id: agent for agent in await ctx.store.list_agents()}
    active = await ctx.store.list_conversations(("offered", "assigned"))
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for conversation in active:
        by_agent.setdefault(conversation.agent_id, []).append({
            "conversation_id": conversation.conversation_id, "state": conversation.state,
            "skill": conversation.skill, "visitor_name": conversation.visitor_name,
            "since": conversation.assigned_at or conversation.created_at})
    skills = set(await ctx.store.queued_skills())
    skills |= {r["name"] for r in await ctx.records.skill_groups.list()}
    for agent in profiles.values():
        skills |= set(agent.skills)
    floor_now = await ctx.router.floor(sorted(skills))
    queues = []
    for skill in sorted(skills):
        queued = await ctx.store.queue(skill)
        stats = floor_now.queues[skill].to_dict()
        stats["conversations"] = [{"conversation_id": c.conversation_id, "visitor_name": c.visitor_name,
                                   "priority": c.priority, "queued_at": c.queued_at} for c in queued[:20]]
        abandoned = await ctx.store.samples(ABANDONED_SAMPLES, skill)
        stats["abandoned_today"] = sum(1 for at in abandoned if at >= midnight)
        queues.append(stats)
    loads = {load.agent_id: load for load in floor_now.agents}
    agents = []
    for agent_id, agent in sorted(profiles.items()):
        routing = loads.get(agent_id)
        closes = await ctx.store.samples(CLOSED_SAMPLES, agent_id)
        agents.append({
            "agent_id": agent_id, "name": agent.name, "role": agent.role, "skills": agent.skills,
            "status": routing.status if routing is not None else "offline",
            "connected": routing is not None and routing.connected, "load": routing.load if routing else 0,
            "capacity": agent.capacity, "conversations": by_agent.get(agent_id, []),
            "today": {"closed": sum(1 for at in closes if at >= midnight)}})
    return json({"at": now, "day_starts_at": midnight, "queues": queues, "agents": agents,
                 "totals": {"queued": sum(q["length"] for q in queues), "active": len(active),
                            "closed_today": sum(a["today"]["closed"] for a in agents),
                            "abandoned_today": sum(q["abandoned_today"] for q in queues)}})


# --- reassign ------------------------------------------------------------------------

async def reassign(request: Request) -> Response:
    """``{"to_agent": id}`` or ``{"to_skill": group}``, with an optional ``note``.

    Assigned and offered chats are transferred (the note travels with them;
    an offer is withdrawn); a queued chat may be given to an agent directly
    or moved to another group (capacity still holds)."""
    who = await require_role(request, "supervisor", "admin")
    ctx = context(request)
    body = await read_json(request)
    to_agent, to_skill, note = body.get("to_agent") or "", body.get("to_skill") or "", body.get("note") or ""
    if not all(isinstance(v, str) for v in (to_agent, to_skill, note)) or bool(to_agent) == bool(to_skill):
        raise ChatdError("bad_request", "send exactly one of to_agent and to_skill (strings), and an optional note")
    if len(note) > _NOTE_LIMIT or len(to_agent) > 64 or len(to_skill) > 32:
        raise ChatdError("bad_request", f"the note is limited to {_NOTE_LIMIT} characters")
    conversation = await ctx.store.get_conversation(request.path_params["conversation_id"])
    if conversation is None:
        raise ChatdError("not_found", "no such conversation")
    if to_agent and await ctx.store.get_agent(to_agent) is None:
        raise ChatdError("unknown_agent", "no such agent")
    if conversation.state == "queued" and to_agent:
        updated = await _assign_queued(ctx, conversation, to_agent, who, note)
    elif conversation.state in ("queued", "offered", "assigned"):
        updated = await ctx.service.transfer(conversation.conversation_id, who.subject, to_agent=to_agent,
                                             to_skill=to_skill, note=note, actor_role=who.role)
    else:
        raise ChatdError("bad_state", f"a {conversation.state} conversation cannot be reassigned")
    await ctx.store.add_routing_record(conversation.conversation_id, {
        "at": ctx.clock(), "kind": "reassigned", "by": who.subject, "from_agent": conversation.agent_id,
        "to_agent": to_agent, "to_skill": to_skill, "note": note})
    return json(updated.to_dict())


async def _assign_queued(ctx: Context, conversation: Conversation, to_agent: str, who: Caller,
                         note: str) -> Conversation:
    change = plan("queued", "assign", agent_id=to_agent, note=note, actor_role=who.role, actor_id=who.subject,
                  data={"stage": "supervisor"})
    updated, _ = await ctx.store.transition(conversation.conversation_id, change, ctx.clock())
    await ctx.hub.publish_assigned(to_agent, updated.to_dict())
    return updated


# --- the customer panel -------------------------------------------------------------------

async def _readable(request: Request) -> tuple[Caller, Conversation]:
    who = await caller(request)
    if who.kind != "agent":
        raise ChatdError("forbidden", "the customer panel is for agents")
    return who, await readable_conversation(context(request).store, who, request.path_params["conversation_id"])


def customer_info_client(ctx: Context) -> CustomerInfoClient:
    settings = ctx.settings

    async def local(query: CustomerQuery) -> dict[str, Any]:
        return demo_customer_info(query, ctx.clock())

    return CustomerInfoClient(settings.customer_info_url, settings.customer_info_timeout_seconds, clock=ctx.clock,
                              local=local if settings.demo else None)


async def customer_panel(request: Request) -> Response:
    ctx = context(request)
    _, conversation = await _readable(request)
    site = await ctx.store.get_site(conversation.site_key)
    profile = await ctx.store.get_visitor(conversation.site_key, conversation.visitor_id)
    page = next((str(profile[f]) for f in PAGE_FIELDS if profile.get(f)), "")
    attributes = {k: v for k, v in profile.items() if k not in PROFILE_FIELDS and k not in PAGE_FIELDS}
    verified = conversation.visitor_id.startswith("u:")
    visitor = {"visitor_id": conversation.visitor_id, "site_key": conversation.site_key,
               "user_id": conversation.visitor_id[2:] if verified else "", "verified": verified,
               "name": str(profile.get("name") or conversation.visitor_name or ""),
               "email": str(profile.get("email") or ""), "phone": str(profile.get("phone") or ""),
               "vip": profile.get("vip") or 0, "dedicated_agent": str(profile.get("dedicated_agent") or ""),
               "current_page": page, "attributes": attributes}
    past = await ctx.store.visitor_conversations(conversation.site_key, conversation.visitor_id,
                                                 limit=HISTORY_LIMIT + 1)
    history = [{"conversation_id": c.conversation_id, "state": c.state, "skill": c.skill,
                "created_at": c.created_at, "closed_at": c.closed_at}
               for c in past if c.conversation_id != conversation.conversation_id][:HISTORY_LIMIT]
    query = CustomerQuery(site=conversation.site_key, visitor_id=conversation.visitor_id,
                          user_id=visitor["user_id"], name=visitor["name"], email=visitor["email"],
                          phone=visitor["phone"])
    info = await customer_info_client(ctx).fetch(query, site.secret if site is not None else "")
    ctx.metrics.webhooks.labels("customer_info", info.status).inc()
    return json({"conversation_id": conversation.conversation_id, "visitor": visitor,
                 "site": site.public() if site is not None else None, "history": history,
                 "customer_info": info.to_dict()})


async def past_transcript(request: Request) -> Response:
    """One past conversation of the same customer, readable by whoever may read the current one."""
    ctx = context(request)
    _, conversation = await _readable(request)
    past = await ctx.store.get_conversation(request.path_params["past_id"])
    if past is None or (past.site_key, past.visitor_id) != (conversation.site_key, conversation.visitor_id):
        raise ChatdError("not_found", "no such conversation of this customer")
    page = await ctx.store.read_before(past.conversation_id, 0, TRANSCRIPT_LIMIT)
    return json({"conversation": past.to_dict(), "first_seq": page.first_seq, "last_seq": page.last_seq,
                 "entries": [e.to_dict() for e in page.entries]})


async def transfer_targets(request: Request) -> Response:
    """Colleagues and skill groups an agent may transfer a chat to (any agent role)."""
    await require_role(request)
    ctx = context(request)
    now = ctx.clock()
    agents = await ctx.store.list_agents()
    runtime = await ctx.store.agent_runtime()
    connected = await ctx.store.connected_agents(now)
    groups = {r["name"] for r in await ctx.records.skill_groups.list()}
    for agent in agents:
        groups |= set(agent.skills)
    return json({"agents": [{"agent_id": a.agent_id, "name": a.name, "skills": a.skills, "capacity": a.capacity,
                             "status": str(runtime.get(a.agent_id, {}).get("status", a.status))
                             if a.agent_id in connected else "offline",
                             "load": int(runtime.get(a.agent_id, {}).get("load", 0))}
                            for a in agents if a.role != "admin" or a.skills],
                 "skill_groups": sorted(groups)})


def console_routes() -> list[tuple[str, Any, list[str]]]:
    """(path, handler, methods) rows for :func:`chatd.api.routes.api_routes`."""
    v1 = "/api/v1"
    return [
        (f"{v1}/floor", floor, ["GET"]),
        (f"{v1}/transfer-targets", transfer_targets, ["GET"]),
        (f"{v1}/conversations/{{conversation_id}}/reassign", reassign, ["POST"]),
        (f"{v1}/conversations/{{conversation_id}}/customer", customer_panel, ["GET"]),
        (f"{v1}/conversations/{{conversation_id}}/customer/conversations/{{past_id}}", past_transcript, ["GET"]),
    ]
