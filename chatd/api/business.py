"""The REST API for business backends (API keys, ``Authorization: Bearer chatd_…``).

Keys are made by admins (``/api/v1/api-keys``), carry scopes
(``conversations:read``, ``conversations:write``), are hashed at rest and
revocable. With them a backend starts a conversation for one of its
customers, posts into it as the bot or as the system, closes or transfers it,
and exports transcripts; reading also works with the agent endpoints
(``GET /conversations``, ``/conversations/{id}``, ``/messages``). Every
change goes through the same service as the sockets, so agents and the
visitor see it live.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from chatd.api.admin import valid_id
from chatd.api.common import Caller, context, json, read_json, require_role, require_scope
from chatd.api.conversations import readable_conversation
from chatd.auth import new_api_key
from chatd.errors import ChatdError
from chatd.model import API_SCOPES
from chatd.protocol import MAX_BODY as MAX_BODY_CHARS

__all__ = ["close_conversation", "create_api_key", "create_conversation", "list_api_keys", "post_message",
           "revoke_api_key", "transcript", "transfer_conversation"]

WRITE, READ = "conversations:write", "conversations:read"
_ROLES = ("supervisor", "admin")  # agents of these roles may do the same with their own token


def _actor(who: Caller) -> tuple[str, str]:
    """(role, id) recorded as who made a change."""
    return ("system", f"api:{who.subject}") if who.kind == "api" else (who.role, who.subject)


def _string(body: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value):
        raise ChatdError("bad_request", f"{name} must be a string of {'1' if required else '0'} to {limit} characters")
    return value


# --- keys ------------------------------------------------------------------------------
async def create_api_key(request: Request) -> Response:
    ctx = context(request)
    who = await require_role(request, "admin")
    body = await read_json(request)
    name = _string(body, "name", 64, required=True)
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(s in API_SCOPES for s in scopes):
        raise ChatdError("bad_request", f"scopes must be a non-empty list of {', '.join(API_SCOPES)}")
    token, key = new_api_key(name, sorted(set(scopes)), who.subject, ctx.clock())
    await ctx.store.put_api_key(key)
    return json({**key.public(), "token": token}, 201)


async def list_api_keys(request: Request) -> Response:
    ctx = context(request)
    await require_role(request, "admin")
    return json({"api_keys": [key.public() for key in await ctx.store.list_api_keys()]})


async def revoke_api_key(request: Request) -> Response:
    ctx = context(request)
    await require_role(request, "admin")
    key = await ctx.store.get_api_key(request.path_params["key_id"])
    if key is None:
        raise ChatdError("not_found", "no such API key")
    if not key.revoked_at:
        key.revoked_at = ctx.clock()
        await ctx.store.put_api_key(key)
    return json(key.public())


# --- conversations ------------------------------------------------------------------------
async def create_conversation(request: Request) -> Response:
    """Start (or return the open) conversation of a business's customer:
    ``{site_key, customer_id, name?, skill?, message?}``; ``message`` opens it
    as a system line the agent reads first (e.g. the order it is about)."""
    ctx = context(request)
    who = await require_scope(request, WRITE, *_ROLES)
    body = await read_json(request)
    site = await ctx.service.site(_string(body, "site_key", 64, required=True))
    if site is None:
        raise ChatdError("unknown_site")
    customer_id = _string(body, "customer_id", 64, required=True)
    skill = _string(body, "skill", 32) or site.default_skill
    if not valid_id(skill):
        raise ChatdError("bad_request", "skill must name a skill group")
    message = _string(body, "message", MAX_BODY_CHARS)
    conversation, start = await ctx.service.start_conversation(
        site.site_key, f"u:{customer_id}", skill=skill, visitor_name=_string(body, "name", 100))
    role, actor = _actor(who)
    if message and start is not None:
        await ctx.service.send(conversation.conversation_id, role, actor, "", message)
    return json({"conversation": conversation.to_dict(), "created": start is not None}, 201 if start else 200)


async def post_message(request: Request) -> Response:
    """``{body, as: "bot"|"system", client_msg_id?}``: a message in the
    conversation, live for its visitor and agent; a repeated
    ``client_msg_id`` is stored once."""
    ctx = context(request)
    who = await require_scope(request, WRITE, *_ROLES)
    body = await read_json(request)
    text = _string(body, "body", MAX_BODY_CHARS, required=True)
    sender = body.get("as", "system")
    if sender not in ("bot", "system"):
        raise ChatdError("bad_request", "as must be bot or system")
    client_msg_id = _string(body, "client_msg_id", 64)
    conversation = await ctx.service.conversation(request.path_params["conversation_id"])
    sender_id = "bot" if sender == "bot" else _actor(who)[1]
    result = await ctx.service.send(conversation.conversation_id, sender, sender_id, client_msg_id, text)
    return json({"seq": result.seq, "ts": result.ts, "duplicate": result.duplicate}, 200 if result.duplicate else 201)


async def close_conversation(request: Request) -> Response:
    ctx = context(request)
    who = await require_scope(request, WRITE, *_ROLES)
    body = await read_json(request)
    role, actor = _actor(who)
    updated = await ctx.service.close(request.path_params["conversation_id"], role, actor,
                                      _string(body, "disposition", 64))
    return json(updated.to_dict())


async def transfer_conversation(request: Request) -> Response:
    """``{skill}`` or ``{agent_id}``, with an optional ``note`` for the next agent."""
    ctx = context(request)
    who = await require_scope(request, WRITE, *_ROLES)
    body = await read_json(request)
    to_skill, to_agent = _string(body, "skill", 32), _string(body, "agent_id", 32)
    if bool(to_skill) == bool(to_agent):
        raise ChatdError("bad_request", "give exactly one of skill and agent_id")
    _role, actor = _actor(who)
    updated = await ctx.service.transfer(request.path_params["conversation_id"], actor, to_agent=to_agent,
                                         to_skill=to_skill, note=_string(body, "note", 500), actor_role="supervisor")
    return json(updated.to_dict())


TRANSCRIPT_COLUMNS = ("seq", "time", "kind", "role", "sender", "body", "event")


async def transcript(request: Request) -> Response:
    """The whole conversation as the visitor saw it (no internal notes):
    ``?format=json`` (default) or ``csv``."""
    ctx = context(request)
    who = await require_scope(request, READ, *_ROLES)
    conversation = await readable_conversation(ctx.store, who, request.path_params["conversation_id"])
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ChatdError("bad_request", "format must be json or csv")
    entries, after = [], 0
    while True:
        page = await ctx.store.read(conversation.conversation_id, after, 500)
        entries += [e.to_dict() for e in page.entries if e.kind != "note"]
        if not page.entries or page.entries[-1].seq >= page.last_seq:
            break
        after = page.entries[-1].seq
    if fmt == "json":
        return json({"conversation": conversation.to_dict(), "entries": entries})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TRANSCRIPT_COLUMNS)
    for e in entries:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e["ts"]))
        event = e["body"] if e["kind"] == "event" else ""
        writer.writerow([e["seq"], at, e["kind"], e["sender_role"], e["sender_id"],
                         "" if event else e["body"], event])
    name = f"transcript-{conversation.conversation_id}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{name}"'})
