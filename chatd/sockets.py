"""The visitor and agent WebSocket endpoints: a thin driver that reads
frames, checks who may do what, calls :class:`chatd.service.ChatService`
and queues answers on the session's writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chatd.auth import AuthError, verify_identity
from chatd.context import Context
from chatd.protocol import (
    ERRORS,
    PROTOCOL_VERSION,
    ProtocolError,
    choose_format,
    decode,
    error_frame,
    parse,
)
from chatd.service import ServiceError
from chatd.session import Session
from chatd.store.base import agent_channel, conversation_channel, supervisor_channel, visitor_channel

__all__ = ["agent_endpoint", "serve_socket", "visitor_endpoint"]

log = logging.getLogger("chatd.sockets")
HELLO_TIMEOUT = 15.0
MAX_NAME_CHARS = 100  # a visitor's display name


async def visitor_endpoint(websocket: WebSocket) -> None:
    await serve_socket(websocket, "visitor")


async def agent_endpoint(websocket: WebSocket) -> None:
    await serve_socket(websocket, "agent")


async def serve_socket(ws: WebSocket, role: str) -> None:
    """One visitor or agent connection, from accept to close (``ws.app.state.chatd`` is the context)."""
    ctx: Context = ws.app.state.chatd
    fmt, subprotocol = choose_format(list(ws.scope.get("subprotocols", [])))
    await ws.accept(subprotocol=subprotocol)
    if ctx.hub.draining:
        await ws.close(1012)
        return

    async def send(data: str | bytes) -> None:
        if isinstance(data, str):
            await ws.send({"type": "websocket.send", "text": data})
        else:
            await ws.send({"type": "websocket.send", "bytes": data})

    async def close(code: int) -> None:
        await ws.close(code)

    settings = ctx.settings
    session = Session(ctx.hub.next_sid(), role, fmt, send, ctx.store, queue_limit=settings.send_queue_limit,
                      rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst,
                      now=ctx.clock(), close=close)
    session.start()
    handler = _Connection(ctx, ws, session)
    try:
        await handler.run()
    except WebSocketDisconnect:
        pass
    finally:
        await ctx.hub.unregister(session)
        if session.closed and session.writer is not None and not session.writer.done():
            # a close was requested: let the writer flush it
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(session.writer), 1.0)
        session.stop()


_failures = {"logged_at": float("-inf"), "since": 0}
FAILURE_LOG_SECONDS = 10.0  # under overload every frame may fail: one traceback per this long


def _log_failure(now: float) -> None:
    """Log the current exception, but at most one traceback per
    ``FAILURE_LOG_SECONDS`` (formatting thousands a second deepens an overload)."""
    if now - _failures["logged_at"] < FAILURE_LOG_SECONDS:
        _failures["since"] += 1
        return
    log.exception("frame handling failed (%d more failures not logged since the last one)", _failures["since"])
    _failures.update(logged_at=now, since=0)


class _Connection:
    """Reads one connection's frames until it ends."""

    __slots__ = ("ctx", "hello_done", "session", "ws")

    def __init__(self, ctx: Context, ws: WebSocket, session: Session) -> None:
        self.ctx = ctx
        self.ws = ws
        self.session = session
        self.hello_done = False

    async def run(self) -> None:
        ctx, session = self.ctx, self.session
        limit = ctx.settings.max_frame_bytes
        while not session.closed:
            if self.hello_done:
                message = await self.ws.receive()
            else:
                try:
                    message = await asyncio.wait_for(self.ws.receive(), HELLO_TIMEOUT)
                except TimeoutError:
                    self._error(ProtocolError("hello_required", "no hello in time"))
                    session.close_soon(4008)
                    return
            if message["type"] == "websocket.disconnect":
                return
            payload = message.get("text")
            if payload is None:
                payload = message.get("bytes") or b""
            now = ctx.clock()
            session.last_seen = now
            ref = None
            try:
                if len(payload) > limit:
                    raise ProtocolError("frame_too_large", f"frames are limited to {limit} bytes")
                if not session.allow_frame(now):
                    raise ProtocolError("rate_limited")
                frame = parse(decode(payload, session.fmt), session.role)
                ref = frame.get("ref")
                ctx.hub.in_flight += 1
                try:
                    await self.dispatch(frame)
                finally:
                    ctx.hub.in_flight -= 1
            except ProtocolError as exc:
                self._error(exc)
            except ServiceError as exc:
                self._error(ProtocolError(exc.code if exc.code in ERRORS else "internal_error", str(exc), ref=ref))
            except (WebSocketDisconnect, asyncio.CancelledError):
                raise
            except Exception:
                _log_failure(now)
                self._error(ProtocolError("internal_error", ref=ref))

    def _error(self, exc: ProtocolError) -> None:
        self.ctx.metrics.errors.labels(exc.code).inc()
        self.session.push(error_frame(exc.code, str(exc), exc.ref, exc.conversation_id))
        if exc.close_code:
            self.session.close_soon(exc.close_code)

    # --- dispatch ---------------------------------------------------------------------
    async def dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        ref = frame.get("ref")
        if kind == "ping":
            self.session.push({"type": "pong", "ts": frame.get("ts")})
            return
        if kind == "hello":
            if self.hello_done:
                raise ProtocolError("already_hello", ref=ref)
            if self.session.role == "visitor":
                await self._visitor_hello(frame)
            else:
                await self._agent_hello(frame)
            self.hello_done = True
            return
        if not self.hello_done:
            raise ProtocolError("hello_required", ref=ref)
        if kind == "start":
            await self._start(frame)
            return
        if kind == "status":
            await self.ctx.service.set_status(self.session.principal_id, frame["status"])
            self.session.push({"type": "status", "status": frame["status"]})
            return
        if kind == "suggest":
            items = await self.ctx.service.bot.suggest(self.session.site_key, frame["text"])
            self.session.push({"type": "suggestions", "text": frame["text"], "items": items})
            return
        conversation_id = frame["conversation_id"]
        if kind in ("watch", "unwatch"):
            await self._watch(kind, conversation_id, ref)
            return
        await self._check_member(conversation_id, ref)
        service, session = self.ctx.service, self.session
        if kind == "send":
            started = self.ctx.clock()
            result = await service.send(conversation_id, session.role, session.principal_id,
                                        frame["client_msg_id"], frame["body"], internal=bool(frame.get("internal")))
            ack = {"type": "ack", "conversation_id": conversation_id, "client_msg_id": frame["client_msg_id"],
                   "seq": result.seq, "ts": result.ts, "duplicate": result.duplicate}
            if ref is not None:
                ack["ref"] = ref
            session.push(ack)
            self.ctx.metrics.ack_latency.observe(self.ctx.clock() - started)
        elif kind == "typing":
            if session.typing_changed(conversation_id, frame["active"], self.ctx.clock()):
                service.signal(conversation_id, {"type": "typing", "conversation_id": conversation_id,
                                                 "active": frame["active"]}, session.role, session.principal_id)
        elif kind == "read":
            service.signal(conversation_id, {"type": "read", "conversation_id": conversation_id,
                                             "seq": frame["seq"]}, session.role, session.principal_id)
        elif kind == "close":
            await service.close(conversation_id, session.role, session.principal_id,
                                disposition=frame.get("disposition") or "")
        elif kind == "accept":
            await service.accept(conversation_id, session.principal_id)
        elif kind == "decline":
            await service.decline(conversation_id, session.principal_id)
        elif kind == "rate":
            await service.rate(conversation_id, session.principal_id, frame["score"], frame.get("comment") or "")
            reply = {"type": "rated", "conversation_id": conversation_id, "score": frame["score"]}
            if ref is not None:
                reply["ref"] = ref
            session.push(reply)
        elif kind == "transfer":
            await service.transfer(conversation_id, session.principal_id, to_agent=frame.get("to_agent") or "",
                                   to_skill=frame.get("to_skill") or "", note=frame.get("note") or "")

    async def _watch(self, kind: str, conversation_id: str, ref: str | None) -> None:
        """Supervisors monitor any conversation read-only."""
        session = self.session
        if session.agent_role not in ("supervisor", "admin"):
            raise ProtocolError("forbidden", "only supervisors watch conversations", ref=ref)
        if kind == "unwatch":
            if conversation_id in session.watching:
                session.watching.discard(conversation_id)
                session.delivered.pop(conversation_id, None)
                await self.ctx.hub.leave(session, conversation_channel(conversation_id))
            return
        conversation = await self.ctx.store.get_conversation(conversation_id)
        if conversation is None:
            raise ProtocolError("unknown_conversation", ref=ref, conversation_id=conversation_id)
        if conversation_channel(conversation_id) in session.channels:
            return
        session.watching.add(conversation_id)
        session.push({"type": "conversation", "conversation": _summary(conversation), "watching": True})
        await self.ctx.hub.attach(session, conversation_id, 0)

    async def _check_member(self, conversation_id: str, ref: str | None) -> None:
        if conversation_id in self.session.watching:
            raise ProtocolError("forbidden", "you watch this conversation read-only", ref=ref,
                                conversation_id=conversation_id)
        if conversation_channel(conversation_id) in self.session.channels:
            return
        known = await self.ctx.store.get_conversation(conversation_id)
        code = "forbidden" if known is not None else "unknown_conversation"
        raise ProtocolError(code, ref=ref, conversation_id=conversation_id)

    # --- hello ------------------------------------------------------------------------
    async def _visitor_hello(self, frame: dict[str, Any]) -> None:
        ctx, session = self.ctx, self.session
        now = ctx.clock()
        site_key = frame.get("site") or self.ws.query_params.get("site", "")
        site = await ctx.service.site(site_key) if site_key else None
        if site is None:
            raise ProtocolError("unknown_site")
        origin = self.ws.headers.get("origin")
        if origin and site.allowed_origins and origin not in site.allowed_origins:
            raise ProtocolError("origin_not_allowed")
        visitor_id = ""
        name = frame.get("name") or ""
        if len(name) > MAX_NAME_CHARS:
            raise ProtocolError("bad_request", f"name must have at most {MAX_NAME_CHARS} characters")
        verified: dict[str, Any] = {}
        try:
            if frame.get("identity"):
                claims = verify_identity(frame["identity"], site_key, site.secret, now)
                visitor_id = "u:" + claims["user_id"]
                name = str(claims.get("name") or name)
                verified = {k: claims[k] for k in ("vip", "dedicated_agent", "email", "phone") if k in claims}
            elif frame.get("token"):
                try:
                    claims = ctx.signer.verify(frame["token"], "visitor", now)
                except AuthError:
                    claims = {}  # a stale or foreign-format token starts a new visitor
                if claims and claims.get("site") != site_key:
                    raise AuthError("unauthorized", "the token belongs to another site")
                visitor_id = claims.get("sub", "")
        except AuthError as exc:
            raise ProtocolError(exc.code, str(exc)) from None
        if not visitor_id:
            visitor_id = "v_" + secrets.token_urlsafe(12)
        token, _ = ctx.signer.issue("visitor", visitor_id, ctx.settings.visitor_token_ttl_seconds, now, site=site_key)
        session.principal_id, session.site_key, session.name = visitor_id, site_key, name
        if name or verified:
            await ctx.store.update_visitor(site_key, visitor_id, {**({"name": name} if name else {}), **verified})
        conversations = await ctx.store.visitor_conversations(site_key, visitor_id, limit=5)
        on_duty = await ctx.service.on_duty()
        ctx.hub.register(session)
        session.push({"type": "welcome", "protocol": PROTOCOL_VERSION, "role": "visitor",
                      "visitor_id": visitor_id, "token": token, "site": site.public(),
                      "node": ctx.settings.node_id,
                      "heartbeat_seconds": ctx.settings.heartbeat_seconds,
                      "max_frame_bytes": ctx.settings.max_frame_bytes, "on_duty": on_duty,
                      "conversations": [_summary(c) for c in conversations]})
        await ctx.hub.join(session, visitor_channel(site_key, visitor_id))
        resume = frame.get("resume") or {}
        for conversation in conversations:
            await ctx.hub.attach(session, conversation.conversation_id, resume.get(conversation.conversation_id, 0))

    async def _agent_hello(self, frame: dict[str, Any]) -> None:
        ctx, session = self.ctx, self.session
        now = ctx.clock()
        try:
            claims = ctx.signer.verify(frame.get("token") or "", "agent", now)
            if await ctx.store.is_token_revoked(claims["jti"]):
                raise AuthError("token_revoked")
        except AuthError as exc:
            raise ProtocolError(exc.code, str(exc)) from None
        agent = await ctx.store.get_agent(claims["sub"])
        if agent is None:
            raise ProtocolError("unauthorized", "the agent no longer exists")
        session.principal_id, session.name, session.agent_role = agent.agent_id, agent.name, agent.role
        ctx.hub.register(session)
        await ctx.store.touch_presence(agent.agent_id, ctx.settings.node_id, now + ctx.settings.presence_ttl_seconds)
        ctx.service.agents_changed()
        status = frame.get("status") or "online"
        if status in ("online", "away", "offline") and status != agent.status:
            await ctx.store.set_agent_status(agent.agent_id, status)
            agent.status = status
        conversations = await ctx.store.agent_conversations(agent.agent_id)
        session.push({"type": "welcome", "protocol": PROTOCOL_VERSION, "role": agent.role,
                      "agent": agent.public(), "node": ctx.settings.node_id,
                      "heartbeat_seconds": ctx.settings.heartbeat_seconds,
                      "max_frame_bytes": ctx.settings.max_frame_bytes,
                      "conversations": [_summary(c) for c in conversations]})
        await ctx.hub.join(session, agent_channel(agent.agent_id))
        if agent.role in ("supervisor", "admin"):  # queue stats for the supervisor view
            await ctx.hub.join(session, supervisor_channel())
        resume = frame.get("resume") or {}
        for conversation in conversations:
            await ctx.hub.attach(session, conversation.conversation_id, resume.get(conversation.conversation_id, 0))
            await ctx.hub.publish_signal(conversation_channel(conversation.conversation_id), {
                "type": "presence", "conversation_id": conversation.conversation_id,
                "agent_id": agent.agent_id, "online": True})
        ctx.router.agent_available(agent.agent_id)

    async def _start(self, frame: dict[str, Any]) -> None:
        ctx, session = self.ctx, self.session
        if session.role != "visitor":
            raise ProtocolError("unknown_type", "only visitors start conversations", ref=frame.get("ref"))
        site = await ctx.service.site(session.site_key)
        skill = frame.get("skill") or (site.default_skill if site else "general")
        if frame.get("attributes"):
            await ctx.store.update_visitor(session.site_key, session.principal_id, _attributes(frame["attributes"]))
        profile = await ctx.store.get_visitor(session.site_key, session.principal_id)
        # The name from hello (or the signed identity), else one the visitor gave in a pre-chat form.
        name = session.name or str(profile.get("name") or "")[:MAX_NAME_CHARS]
        conversation, start = await ctx.service.start_conversation(
            session.site_key, session.principal_id, skill=skill, visitor_name=name,
            priority=10 if profile.get("vip") else 0, preferred_agent_id=str(profile.get("dedicated_agent") or ""))
        reply: dict[str, Any] = {"type": "conversation", "conversation": _summary(conversation)}
        if start is not None:
            reply["mode"] = start.mode
            if start.message:
                reply["message"] = start.message
        if frame.get("ref") is not None:
            reply["ref"] = frame["ref"]
        session.push(reply)
        if conversation_channel(conversation.conversation_id) not in session.channels:
            await ctx.hub.attach(session, conversation.conversation_id, 0)


def _attributes(raw: dict[str, Any]) -> dict[str, Any]:
    """Visitor attributes from the widget: short scalar values only, and
    never the fields a host's signed identity vouches for."""
    if len(raw) > 30:
        raise ProtocolError("bad_request", "at most 30 attributes")
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or len(key) > 40 or key in ("vip", "dedicated_agent"):
            raise ProtocolError("bad_request", f"attribute {key!r} is not allowed")
        if not isinstance(value, (str, int, float, bool)) or (isinstance(value, str) and len(value) > 500):
            raise ProtocolError("bad_request", f"attribute {key!r} must be a short string, number or boolean")
        clean[key] = value
    return clean


def _summary(conversation: Any) -> dict[str, Any]:
    return conversation.to_dict()
