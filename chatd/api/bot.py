"""The bot's HTTP API: tickets and the leave-a-message form, agents' quick replies,
the knowledge base, overflow rules, per-site bot settings and the external bot's
replies. Validation lives in :mod:`chatd.bot` (pure); these handlers check who may
call, store records and tell the runtime. See docs/bot.md."""

from __future__ import annotations

import re
import secrets
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from chatd.api.common import Caller, caller, context, json, read_json, require_role, require_scope
from chatd.api.conversations import readable_conversation
from chatd.bot.config import (
    BotSettings,
    ConfigError,
    quick_reply_from_record,
    validate_overflow_rule,
    validate_quick_reply,
)
from chatd.bot.kb import (
    KnowledgeBaseError,
    entries_from_csv,
    entries_from_json,
    entries_to_csv,
    entries_to_json,
    entry_from_dict,
    entry_to_dict,
    validate_entries,
)
from chatd.bot.quick_replies import QuickReplyBook, render
from chatd.bot.runtime import new_kb_version
from chatd.bot.tickets import (
    TicketError,
    close_or_reopen,
    contact_from,
    leave_message_ticket,
    new_ticket_id,
    validate_category,
)
from chatd.bot.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, parse_reply, verify
from chatd.errors import ChatdError
from chatd.model import ROLES

__all__ = ["bot_routes"]

_MAX_LIST = 500


def _limit(request: Request, default: int = 100) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_LIST:
        raise ChatdError("bad_request", f"limit must be an integer from 1 to {_MAX_LIST}")
    return int(raw)


# --- tickets and the leave-a-message form --------------------------------------------------

async def leave_message(request: Request) -> Response:
    """The widget's offline form: no agent token; the site key and Origin are checked."""
    ctx = context(request)
    body = await read_json(request)
    site_key = body.get("site")
    if not isinstance(site_key, str) or not site_key:
        raise ChatdError("bad_request", "site is required")
    site = await ctx.store.get_site(site_key)
    if site is None:
        raise ChatdError("unknown_site", "no such site")
    if not site.allows_origin(request.headers.get("origin")):
        raise ChatdError("origin_not_allowed", "this origin may not embed the site")
    visitor_id, conversation_id = "", ""
    if request.headers.get("authorization"):
        # A visitor token links the ticket to the visitor; a stale one must not lose the message.
        try:
            who = await caller(request)
        except ChatdError:
            who = None
        if who is not None and who.kind == "visitor" and who.site_key == site_key:
            visitor_id = who.subject
            recent = await ctx.store.visitor_conversations(site_key, visitor_id, limit=1)
            conversation_id = recent[0].conversation_id if recent else ""
    try:
        ticket = leave_message_ticket(body, site_key=site_key, visitor_id=visitor_id,
                                      conversation_id=conversation_id, now=ctx.clock())
    except TicketError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    if not ctx.leave_messages.allow(request.client.host if request.client else "", ctx.clock()):
        raise ChatdError("rate_limited", "too many messages from this address; try again in a minute")
    await ctx.records.tickets.put(ticket)
    return json({"ticket": _public_ticket(ticket)}, 201)


def _actor_id(who: Caller) -> str:
    """Who a ticket change is recorded as: the agent, or ``api:<key id>``."""
    return who.subject if who.kind == "agent" else f"api:{who.subject}"


def _public_ticket(ticket: dict[str, Any]) -> dict[str, Any]:
    return dict(ticket)


async def create_ticket(request: Request) -> Response:
    """An agent (or a backend's API key with ``tickets:write``) escalates a
    conversation: the ticket carries the visitor's contact."""
    who = await require_scope(request, "tickets:write", *ROLES)
    ctx = context(request)
    body = await read_json(request)
    unknown = sorted(set(body) - {"conversation_id", "category", "message", "name", "phone", "email"})
    if unknown:
        raise ChatdError("bad_request", f"unknown field(s) {', '.join(unknown)}")
    conversation_id = body.get("conversation_id")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise ChatdError("bad_request", "conversation_id is required")
    conversation = (await ctx.service.conversation(conversation_id) if who.kind == "api"
                    else await readable_conversation(ctx.store, who, conversation_id))
    message = body.get("message") or ""
    if not isinstance(message, str) or len(message) > 4000:
        raise ChatdError("bad_request", "message must be a string of at most 4000 characters")
    profile = await ctx.store.get_visitor(conversation.site_key, conversation.visitor_id)
    try:
        category = validate_category(body.get("category"))
        known = {"name": profile.get("name") or conversation.visitor_name, "phone": profile.get("phone"),
                 "email": profile.get("email")}
        given = {k: body[k] for k in ("name", "phone", "email") if body.get(k)}
        contact = contact_from({k: str(v) for k, v in {**known, **given}.items() if v}, require=False)
    except TicketError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    now = ctx.clock()
    ticket = {"ticket_id": new_ticket_id(now), "site_key": conversation.site_key,
              "visitor_id": conversation.visitor_id, "conversation_id": conversation_id, "category": category,
              "contact": contact, "message": message.strip(), "status": "open", "created_at": now,
              "created_by": _actor_id(who), "source": "conversation", "locale": "", "page_url": "",
              "attributes": {}, "updated_at": now, "closed_by": "", "skill": conversation.skill}
    await ctx.records.tickets.put(ticket)
    return json({"ticket": _public_ticket(ticket)}, 201)


async def list_tickets(request: Request) -> Response:
    """Tickets, newest first; ``status``, ``category``, ``site`` and ``conversation_id`` filter."""
    await require_scope(request, "tickets:read", *ROLES)
    ctx = context(request)
    filters = {name: request.query_params[param] for param, name in
               (("status", "status"), ("category", "category"), ("site", "site_key"),
                ("conversation_id", "conversation_id")) if request.query_params.get(param)}
    if filters.get("status") not in (None, "open", "closed"):
        raise ChatdError("bad_request", "status must be open or closed")
    tickets = await ctx.records.tickets.query(**filters, limit=_limit(request))
    return json({"tickets": [_public_ticket(t) for t in tickets]})


async def _ticket(request: Request) -> dict[str, Any]:
    ticket = await context(request).records.tickets.get(request.path_params["ticket_id"])
    if ticket is None:
        raise ChatdError("not_found", "no such ticket")
    return ticket


async def get_ticket(request: Request) -> Response:
    await require_scope(request, "tickets:read", *ROLES)
    return json({"ticket": _public_ticket(await _ticket(request))})


async def update_ticket(request: Request) -> Response:
    who = await require_scope(request, "tickets:write", *ROLES)
    ctx = context(request)
    body = await read_json(request)
    try:
        updated = close_or_reopen(await _ticket(request), body, _actor_id(who), ctx.clock())
    except TicketError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    await ctx.records.tickets.put(updated)
    return json({"ticket": _public_ticket(updated)})


# --- agents' quick replies --------------------------------------------------------------------

def _may_edit(who: Caller, reply: dict[str, Any]) -> bool:
    """Team replies: supervisors and admins. Personal replies: their owner only."""
    if reply.get("owner", "team") == "team":
        return who.role in ("supervisor", "admin")
    return reply.get("owner") == who.subject


async def _visible_replies(ctx: Any, agent_id: str) -> list[dict[str, Any]]:
    return await ctx.records.quick_replies.list(("team", agent_id))


async def list_quick_replies(request: Request) -> Response:
    """Team replies and the caller's own; ``prefix`` matches shortcuts, ``q`` any text."""
    who = await require_role(request)
    ctx = context(request)
    records = await _visible_replies(ctx, who.subject)
    by_id = {r["id"]: r for r in records}
    book = QuickReplyBook(quick_reply_from_record(r) for r in records)
    limit = _limit(request, 50)
    prefix = request.query_params.get("prefix", "")
    text = request.query_params.get("q", "")
    if len(prefix) > 33 or len(text) > 200:
        raise ChatdError("bad_request", "prefix is at most 33 and q at most 200 characters")
    if prefix:
        found = book.search(who.subject, prefix if prefix.startswith("/") else "/" + prefix, limit=_MAX_LIST)
    else:
        found = book.visible_to(who.subject)
    if text:
        wanted = {r.id for r in book.search(who.subject, text, limit=_MAX_LIST)}
        found = [r for r in found if r.id in wanted]
    return json({"quick_replies": [by_id[r.id] for r in found[:limit]]})


async def create_quick_reply(request: Request) -> Response:
    who = await require_role(request)
    ctx = context(request)
    body = await read_json(request)
    scope = body.get("scope", "personal")
    if scope not in ("personal", "team"):
        raise ChatdError("bad_request", "scope must be personal or team")
    if scope == "team" and who.role not in ("supervisor", "admin"):
        raise ChatdError("forbidden", "team quick replies need the role supervisor or admin")
    owner = "team" if scope == "team" else who.subject
    try:
        record = validate_quick_reply(body, reply_id="qr_" + secrets.token_hex(6), owner=owner)
    except ConfigError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    record.pop("scope", None)
    await _check_unique(ctx, record)
    await ctx.records.quick_replies.put(record)
    return json(record, 201)


async def _check_unique(ctx: Any, record: dict[str, Any]) -> None:
    for other in await ctx.records.quick_replies.list((record["owner"],)):
        if (other["id"] != record["id"] and other.get("owner") == record["owner"]
                and other["shortcut"].lower() == record["shortcut"].lower()):
            raise ChatdError("conflict", f"the shortcut {record['shortcut']} is taken ({other['id']})")


async def _quick_reply(request: Request, who: Caller) -> dict[str, Any]:
    record = await context(request).records.quick_replies.get(request.path_params["reply_id"])
    # Another agent's personal reply is answered as missing: its existence is private too.
    if record is None or record.get("owner") not in ("team", who.subject):
        raise ChatdError("not_found", "no such quick reply")
    return record


async def get_quick_reply(request: Request) -> Response:
    who = await require_role(request)
    return json(await _quick_reply(request, who))


async def update_quick_reply(request: Request) -> Response:
    who = await require_role(request)
    ctx = context(request)
    current = await _quick_reply(request, who)
    if not _may_edit(who, current):
        raise ChatdError("forbidden", "team quick replies need the role supervisor or admin")
    try:
        record = validate_quick_reply(await read_json(request), current)
    except ConfigError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    await _check_unique(ctx, record)
    await ctx.records.quick_replies.put(record)
    return json(record)


async def delete_quick_reply(request: Request) -> Response:
    who = await require_role(request)
    current = await _quick_reply(request, who)
    if not _may_edit(who, current):
        raise ChatdError("forbidden", "team quick replies need the role supervisor or admin")
    await context(request).records.quick_replies.delete(current["id"])
    return json({"deleted": current["id"]})


async def render_quick_reply(request: Request) -> Response:
    """The reply's text with ``{visitor.name}``, ``{agent.name}`` ... filled in for a conversation."""
    who = await require_role(request)
    ctx = context(request)
    record = await _quick_reply(request, who)
    body = await read_json(request)
    conversation_id = body.get("conversation_id")
    values: dict[str, str | None] = {"agent.name": who.agent.name if who.agent else who.subject,
                                     "agent.id": who.subject}
    if conversation_id is not None:
        if not isinstance(conversation_id, str):
            raise ChatdError("bad_request", "conversation_id must be a string")
        conversation = await readable_conversation(ctx.store, who, conversation_id)
        profile = await ctx.store.get_visitor(conversation.site_key, conversation.visitor_id)
        site = await ctx.store.get_site(conversation.site_key)
        values.update({"visitor.name": str(profile.get("name") or conversation.visitor_name or ""),
                       "visitor.email": str(profile.get("email") or ""),
                       "visitor.phone": str(profile.get("phone") or ""),
                       "order.id": str(profile.get("order_id") or ""),
                       "site.name": site.name if site else "", "conversation.id": conversation_id})
    return json({"id": record["id"], "text": render(record["text"], values)})


# --- the knowledge base (admins edit; every agent may read and search) ------------------------------

_MAX_IMPORT_BYTES = 4 * 1024 * 1024
_ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


async def _entries(ctx: Any) -> list[Any]:
    return list(await ctx.service.bot.knowledge.entries())


async def list_entries(request: Request) -> Response:
    """Entries ordered by id; ``category`` and ``locale`` filter."""
    await require_role(request)
    ctx = context(request)
    records = await ctx.records.knowledge_base.list()
    for name in ("category", "locale"):
        if request.query_params.get(name):
            records = [r for r in records if r.get(name) == request.query_params[name]]
    return json({"entries": records})


async def get_entry(request: Request) -> Response:
    await require_role(request)
    record = await context(request).records.knowledge_base.get(request.path_params["entry_id"])
    if record is None:
        raise ChatdError("not_found", "no such knowledge-base entry")
    return json(record)


async def _save_entry(ctx: Any, raw: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validate one entry against the whole base (unique id, related ids exist), store it, bump the version."""
    try:
        entry = entry_from_dict(raw)
    except KnowledgeBaseError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    if not _ENTRY_ID.match(entry.id):
        raise ChatdError("bad_request", "id must be letters, digits, '.', '_' or '-' (at most 64)")
    if creating and await ctx.records.knowledge_base.get(entry.id) is not None:
        raise ChatdError("conflict", f"an entry with id {entry.id!r} exists")
    others = [e for e in await _entries(ctx) if e.id != entry.id]
    try:
        validate_entries([*others, entry])
    except KnowledgeBaseError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    record = entry_to_dict(entry)
    await ctx.records.knowledge_base.put(record, new_kb_version())
    return record


async def create_entry(request: Request) -> Response:
    await require_role(request, "admin")
    ctx = context(request)
    body = await read_json(request)
    if not body.get("id"):
        body["id"] = "kb_" + secrets.token_hex(5)
    return json(await _save_entry(ctx, body, creating=True), 201)


async def update_entry(request: Request) -> Response:
    await require_role(request, "admin")
    ctx = context(request)
    entry_id = request.path_params["entry_id"]
    current = await ctx.records.knowledge_base.get(entry_id)
    if current is None:
        raise ChatdError("not_found", "no such knowledge-base entry")
    body = await read_json(request)
    if body.get("id", entry_id) != entry_id:
        raise ChatdError("bad_request", "an entry's id cannot change; create a new entry instead")
    return json(await _save_entry(ctx, {**current, **body, "id": entry_id}, creating=False))


async def delete_entry(request: Request) -> Response:
    await require_role(request, "admin")
    ctx = context(request)
    entry_id = request.path_params["entry_id"]
    if await ctx.records.knowledge_base.get(entry_id) is None:
        raise ChatdError("not_found", "no such knowledge-base entry")
    users = [e.id for e in await _entries(ctx) if entry_id in e.related]
    if users:
        raise ChatdError("conflict", f"entries {', '.join(users)} list it as related; edit them first")
    await ctx.records.knowledge_base.delete(entry_id, new_kb_version())
    return json({"deleted": entry_id})


def _format(request: Request) -> str:
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ChatdError("bad_request", "format must be json or csv")
    return fmt


async def export_entries(request: Request) -> Response:
    await require_role(request, "supervisor", "admin")
    ctx = context(request)
    entries = sorted(await _entries(ctx), key=lambda e: e.id)
    if _format(request) == "csv":
        # A BOM so that spreadsheet programs read the Chinese text as UTF-8.
        return Response("\ufeff" + entries_to_csv(entries), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="knowledge-base.csv"'})
    return Response(entries_to_json(entries), media_type="application/json",
                    headers={"content-disposition": 'attachment; filename="knowledge-base.json"'})


async def _raw_body(request: Request) -> bytes:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_IMPORT_BYTES:
            raise ChatdError("payload_too_large", f"imports are limited to {_MAX_IMPORT_BYTES} bytes")
    return raw


async def import_entries(request: Request) -> Response:
    """Import JSON or CSV. ``mode=merge`` (default) adds and replaces entries by id;
    ``mode=replace`` makes the import the whole base. All or nothing: one bad row
    and nothing is stored."""
    await require_role(request, "admin")
    ctx = context(request)
    fmt = _format(request)
    mode = request.query_params.get("mode", "merge")
    if mode not in ("merge", "replace"):
        raise ChatdError("bad_request", "mode must be merge or replace")
    raw = await _raw_body(request)
    try:
        text = raw.decode("utf-8")
        imported = entries_from_csv(text) if fmt == "csv" else entries_from_json(text)
    except UnicodeDecodeError:
        raise ChatdError("bad_request", "the file must be UTF-8 text") from None
    except KnowledgeBaseError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    if not imported:
        raise ChatdError("bad_request", "the file has no entries")
    bad_ids = [e.id for e in imported if not _ENTRY_ID.match(e.id)]
    if bad_ids:
        raise ChatdError("bad_request", f"ids must be letters, digits, '.', '_' or '-': {', '.join(bad_ids[:5])}")
    current = await _entries(ctx)
    new_ids = {e.id for e in imported}
    kept = [] if mode == "replace" else [e for e in current if e.id not in new_ids]
    try:
        validate_entries([*kept, *imported])
    except KnowledgeBaseError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    removed = [e.id for e in current if e.id not in new_ids] if mode == "replace" else []
    # One atomic write: a failed import leaves the knowledge base as it was.
    version = new_kb_version()
    await ctx.records.knowledge_base.replace({entry.id: entry_to_dict(entry) for entry in imported}, removed, version)
    return json({"imported": len(imported), "removed": len(removed), "total": len(kept) + len(imported),
                 "version": version})


async def search_entries(request: Request) -> Response:
    """What the bot would answer: ranked matches with confidences and the decision."""
    await require_role(request)
    ctx = context(request)
    query = request.query_params.get("q", "")
    if not 0 < len(query.strip()) <= 500:
        raise ChatdError("bad_request", "q must be 1 to 500 characters")
    kb, _ = await ctx.service.bot.knowledge.current()
    answer = kb.answer(query)
    return json({"q": query, "threshold": kb.threshold,
                 "answer": None if answer is None else {"entry_id": answer.entry.id,
                                                        "confidence": answer.confidence,
                                                        "related": [e.id for e in answer.related]},
                 "matches": [{"entry": entry_to_dict(m.entry), "score": m.score, "confidence": m.confidence}
                             for m in kb.search(query, limit=_limit(request, 5))]})


# --- overflow rules and bot settings ---------------------------------------------------------------

_SKILL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


async def list_overflow_rules(request: Request) -> Response:
    await require_role(request)
    return json({"overflow_rules": await context(request).records.overflow_rules.list()})


async def get_overflow_rule(request: Request) -> Response:
    await require_role(request)
    ctx = context(request)
    skill = request.path_params["skill_group"]
    record = await ctx.records.overflow_rules.get(skill)
    if record is None:
        raise ChatdError("not_found", "no overflow rule for this skill group")
    decided = await ctx.service.bot.decide_overflow(skill)
    preview = None
    if decided is not None:
        decision, stats = decided
        preview = {"action": decision.action, "reason": decision.reason, "explanation": decision.message,
                   "details": dict(decision.details), "queue": stats}
    return json({**record, "now": preview})


async def put_overflow_rule(request: Request) -> Response:
    await require_role(request, "admin")
    skill = request.path_params["skill_group"]
    if not _SKILL.match(skill):
        raise ChatdError("bad_request", "a skill group name is lowercase letters, digits, '.', '_' or '-'")
    try:
        record = validate_overflow_rule(skill, await read_json(request))
    except ConfigError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    await context(request).records.overflow_rules.put(record)
    return json(record)


async def delete_overflow_rule(request: Request) -> Response:
    await require_role(request, "admin")
    if not await context(request).records.overflow_rules.delete(request.path_params["skill_group"]):
        raise ChatdError("not_found", "no overflow rule for this skill group")
    return json({"deleted": request.path_params["skill_group"]})


async def _site_key(request: Request) -> str:
    site_key = request.path_params["site_key"]
    if await context(request).store.get_site(site_key) is None:
        raise ChatdError("not_found", "no such site")
    return site_key


async def get_bot_settings(request: Request) -> Response:
    await require_role(request, "supervisor", "admin")
    site_key = await _site_key(request)
    return json(BotSettings.from_record(site_key, await context(request).records.bot_settings.get(site_key))
                .public())


async def put_bot_settings(request: Request) -> Response:
    """Change the listed fields; the webhook secret is write-only."""
    await require_role(request, "admin")
    ctx = context(request)
    site_key = await _site_key(request)
    current = BotSettings.from_record(site_key, await ctx.records.bot_settings.get(site_key))
    try:
        updated = current.updated(await read_json(request))
    except ConfigError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    if updated.webhook_url and not updated.webhook_secret:
        raise ChatdError("bad_request", "a webhook_url needs a webhook_secret of 16 to 200 characters")
    await ctx.records.bot_settings.put(site_key, updated.to_record())
    return json(updated.public())


# --- the external bot's replies -----------------------------------------------------------------------

async def external_bot_message(request: Request) -> Response:
    """An external bot answers (late, or on its own): signed like the webhook, with the
    site's webhook secret over ``"<timestamp>.<body>"``. Body: ``{"text", "buttons"}``
    or ``{"replies": [...], "handoff": null | true | {...}}``."""
    ctx = context(request)
    raw = await _raw_body(request)
    if len(raw) > 64 * 1024:
        raise ChatdError("payload_too_large", "bot replies are limited to 64 KiB")
    conversation = await ctx.store.get_conversation(request.path_params["conversation_id"])
    if conversation is None:
        raise ChatdError("not_found", "no such conversation")
    settings = BotSettings.from_record(conversation.site_key,
                                       await ctx.records.bot_settings.get(conversation.site_key))
    try:
        verify(settings.webhook_secret, request.headers.get(TIMESTAMP_HEADER),
               request.headers.get(SIGNATURE_HEADER), raw, ctx.clock())
    except SignatureError as exc:
        raise ChatdError("unauthorized", str(exc)) from None
    try:
        reply = parse_reply(orjson.loads(raw or b"{}"))
    except orjson.JSONDecodeError:
        raise ChatdError("bad_request", "the body is not valid JSON") from None
    except ValueError as exc:
        raise ChatdError("bad_request", str(exc)) from None
    if reply.empty:
        raise ChatdError("bad_request", "send text, replies or a handoff")
    if conversation.state == "closed":
        raise ChatdError("conversation_closed", "the conversation is closed")
    if conversation.state == "assigned":
        raise ChatdError("bad_state", "an agent has joined: the bot stays silent")
    await ctx.service.bot.external_reply(conversation, reply)
    return json({"conversation_id": conversation.conversation_id, "posted": len(reply.messages),
                 "handoff": reply.handoff is not None})


def bot_routes() -> list[tuple[str, Any, list[str]]]:
    """(path, handler, methods) rows for :func:`chatd.api.routes.api_routes`."""
    v1 = "/api/v1"
    return [
        (f"{v1}/leave-message", leave_message, ["POST"]),
        (f"{v1}/tickets", list_tickets, ["GET"]),
        (f"{v1}/tickets", create_ticket, ["POST"]),
        (f"{v1}/tickets/{{ticket_id}}", get_ticket, ["GET"]),
        (f"{v1}/tickets/{{ticket_id}}", update_ticket, ["PATCH"]),
        (f"{v1}/quick-replies", list_quick_replies, ["GET"]),
        (f"{v1}/quick-replies", create_quick_reply, ["POST"]),
        (f"{v1}/quick-replies/{{reply_id}}", get_quick_reply, ["GET"]),
        (f"{v1}/quick-replies/{{reply_id}}", update_quick_reply, ["PATCH"]),
        (f"{v1}/quick-replies/{{reply_id}}", delete_quick_reply, ["DELETE"]),
        (f"{v1}/quick-replies/{{reply_id}}/render", render_quick_reply, ["POST"]),
        (f"{v1}/kb/entries", list_entries, ["GET"]),
        (f"{v1}/kb/entries", create_entry, ["POST"]),
        (f"{v1}/kb/entries/{{entry_id}}", get_entry, ["GET"]),
        (f"{v1}/kb/entries/{{entry_id}}", update_entry, ["PATCH", "PUT"]),
        (f"{v1}/kb/entries/{{entry_id}}", delete_entry, ["DELETE"]),
        (f"{v1}/kb/export", export_entries, ["GET"]),
        (f"{v1}/kb/import", import_entries, ["POST"]),
        (f"{v1}/kb/search", search_entries, ["GET"]),
        (f"{v1}/overflow-rules", list_overflow_rules, ["GET"]),
        (f"{v1}/overflow-rules/{{skill_group}}", get_overflow_rule, ["GET"]),
        (f"{v1}/overflow-rules/{{skill_group}}", put_overflow_rule, ["PUT"]),
        (f"{v1}/overflow-rules/{{skill_group}}", delete_overflow_rule, ["DELETE"]),
        (f"{v1}/sites/{{site_key}}/bot", get_bot_settings, ["GET"]),
        (f"{v1}/sites/{{site_key}}/bot", put_bot_settings, ["PUT", "PATCH"]),
        (f"{v1}/bot/conversations/{{conversation_id}}/messages", external_bot_message, ["POST"]),
    ]
