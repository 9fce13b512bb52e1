"""``/api/v1/conversations``: lists, history paged by seq, routing explanations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from chatd.api.common import Caller, caller, context, json
from chatd.conversation import STATES
from chatd.errors import ChatdError
from chatd.model import Conversation
from chatd.store.base import Store

__all__ = ["conversation_messages", "conversation_routing", "get_conversation", "list_conversations",
           "readable_conversation", "reopen_conversation"]


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ChatdError("bad_request", f"{name} must be an integer from {low} to {high}")
    return int(raw)


def may_read(who: Caller, conversation: Conversation) -> bool:
    """Visitors read their own; agents the ones assigned to them and the
    closed ones they handled last (their history); supervisors, admins and
    API keys with ``conversations:read`` all."""
    if who.kind == "visitor":
        return conversation.visitor_id == who.subject and conversation.site_key == who.site_key
    if who.kind == "api":
        return "conversations:read" in who.scopes
    if who.role in ("supervisor", "admin"):
        return True
    return conversation.agent_id == who.subject or (conversation.state == "closed"
                                                   and conversation.last_agent_id == who.subject)


async def readable_conversation(store: Store, who: Caller, conversation_id: str) -> Conversation:
    """The conversation, if ``who`` may read it; else ``not_found`` or ``forbidden``."""
    conversation = await store.get_conversation(conversation_id)
    if conversation is None:
        raise ChatdError("not_found", "no such conversation")
    if not may_read(who, conversation):
        raise ChatdError("forbidden", "you may not read this conversation")
    return conversation


async def _readable(request: Request) -> tuple[Caller, Conversation]:
    who = await caller(request)
    return who, await readable_conversation(context(request).store, who, request.path_params["conversation_id"])


async def list_conversations(request: Request) -> Response:
    ctx = context(request)
    who = await caller(request)
    if who.kind == "visitor":
        found = await ctx.store.visitor_conversations(who.site_key, who.subject)
    elif who.role in ("supervisor", "admin") or who.kind == "api":
        if who.kind == "api" and "conversations:read" not in who.scopes:
            raise ChatdError("forbidden", "this needs an API key with the scope conversations:read")
        states = [s for s in request.query_params.get("state", "queued,assigned").split(",") if s]
        if not all(s in STATES for s in states):
            raise ChatdError("bad_request", f"state must be a comma-separated list of {', '.join(STATES)}")
        found = await ctx.store.list_conversations(states)
    else:
        found = await ctx.store.agent_conversations(who.subject)
    # Oldest first, paged: ?limit=N (1-500, default 100) &offset=M.
    limit = _int_param(request, "limit", 100, 1, 500)
    offset = _int_param(request, "offset", 0, 0, 2**31)
    found = sorted(found, key=lambda c: (c.created_at, c.conversation_id))
    page = found[offset:offset + limit]
    return json({"conversations": [c.to_dict() for c in page], "total": len(found), "offset": offset,
                 "limit": limit})


async def get_conversation(request: Request) -> Response:
    _, conversation = await _readable(request)
    body = conversation.to_dict()
    body["rating"] = await context(request).records.ratings.get(conversation.conversation_id)
    return json(body)


async def conversation_messages(request: Request) -> Response:
    ctx = context(request)
    _, conversation = await _readable(request)
    limit = _int_param(request, "limit", 50, 1, 500)
    if "before" in request.query_params:
        page = await ctx.store.read_before(conversation.conversation_id,
                                           _int_param(request, "before", 0, 0, 2**62), limit)
    else:
        page = await ctx.store.read(conversation.conversation_id, _int_param(request, "after", 0, 0, 2**62), limit)
    return json({"conversation_id": conversation.conversation_id, "first_seq": page.first_seq,
                 "last_seq": page.last_seq, "epoch": page.epoch, "entries": [e.to_dict() for e in page.entries]})


async def conversation_routing(request: Request) -> Response:
    who, conversation = await _readable(request)
    if who.kind == "visitor":
        raise ChatdError("forbidden", "routing explanations are for agents")
    ctx = context(request)
    records = await ctx.store.routing_records(conversation.conversation_id)
    return json({"conversation_id": conversation.conversation_id,
                 "decisions": [ctx.router.explain(record) for record in records]})


async def reopen_conversation(request: Request) -> Response:
    """``POST /conversations/{id}/reopen``: supervisors and admins, or the agent who held it last."""
    ctx = context(request)
    who = await caller(request)
    conversation = await ctx.service.conversation(request.path_params["conversation_id"])
    if who.kind != "agent" or (who.role not in ("supervisor", "admin") and conversation.last_agent_id != who.subject):
        raise ChatdError("forbidden", "only supervisors and the agent who held it reopen a conversation")
    return json((await ctx.service.reopen(conversation.conversation_id, who.role, who.subject)).to_dict())
