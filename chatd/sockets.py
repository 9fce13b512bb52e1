"""The visitor and agent WebSocket endpoints: a thin driver that reads
frames, hands ``hello`` to :class:`chatd.admission.Admission` and every other
frame to :class:`chatd.service.ChatService`, and queues the answers on the
session's writer. Every refusal is a :class:`chatd.errors.ChatdError`,
answered with an error frame (and a close when its code says so)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from chatd.context import Context
from chatd.errors import ChatdError
from chatd.logs import connection_id as logged_connection
from chatd.logs import conversation_id as logged_conversation
from chatd.protocol import choose_format, decode, error_frame, parse
from chatd.session import Session

__all__ = ["agent_endpoint", "serve_socket", "visitor_endpoint"]

log = logging.getLogger("chatd.sockets")
HELLO_TIMEOUT = 15.0


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
    logged_connection.set(f"{role}:{session.sid}")
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
                    self._error(ChatdError("hello_required", "no hello in time"))
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
                    raise ChatdError("frame_too_large", f"frames are limited to {limit} bytes")
                if not session.allow_frame(now):
                    raise ChatdError("rate_limited")
                frame = parse(decode(payload, session.fmt), session.role)
                ref = frame.get("ref")
                logged_conversation.set(frame.get("conversation_id") or "")  # what this frame's log lines are about
                ctx.hub.in_flight += 1
                try:
                    await self.dispatch(frame)
                finally:
                    ctx.hub.in_flight -= 1
            except ChatdError as exc:
                if exc.ref is None:
                    exc.ref = ref
                self._error(exc)
            except (WebSocketDisconnect, asyncio.CancelledError):
                raise
            except Exception:
                _log_failure(now)
                # A hello that failed leaves nothing to go on with: the client
                # reconnects at once instead of waiting out the hello timeout.
                self._error(ChatdError("internal_error" if self.hello_done else "unavailable", ref=ref))

    def _error(self, exc: ChatdError) -> None:
        self.ctx.metrics.errors.labels(exc.code).inc()
        self.session.push(error_frame(exc.code, str(exc), exc.ref, exc.conversation_id))
        if exc.close_code:
            self.session.close_soon(exc.close_code)

    # --- dispatch ---------------------------------------------------------------------
    async def dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        ref = frame.get("ref")
        ctx, session, service = self.ctx, self.session, self.ctx.service
        if kind == "ping":
            session.push({"type": "pong", "ts": frame.get("ts")})
            return
        if kind == "hello":
            if self.hello_done:
                raise ChatdError("already_hello")
            if session.role == "visitor":
                await ctx.admission.visitor(session, frame, query_site=self.ws.query_params.get("site", ""),
                                            origin=self.ws.headers.get("origin"))
            else:
                await ctx.admission.agent(session, frame)
            self.hello_done = True
            return
        if not self.hello_done:
            raise ChatdError("hello_required")
        if kind == "start":
            await service.visitor_start(session, skill=frame.get("skill") or "", attributes=frame.get("attributes"),
                                        ref=ref)
            return
        if kind == "status":
            await service.set_status(session.principal_id, frame["status"])
            session.push({"type": "status", "status": frame["status"]})
            return
        if kind == "suggest":
            items = await service.bot.suggest(session.site_key, frame["text"])
            session.push({"type": "suggestions", "text": frame["text"], "items": items})
            return
        conversation_id = frame["conversation_id"]
        if kind == "watch":
            watched = await service.watch(session, conversation_id)
            if watched is not None:
                session.push({"type": "conversation", "conversation": watched.to_dict(), "watching": True})
                await ctx.hub.attach(session, conversation_id, 0)
            return
        if kind == "unwatch":
            service.unwatch(session, conversation_id)
            return
        await service.join(session, conversation_id)
        if kind == "send":
            started = ctx.clock()
            result = await service.send(conversation_id, session.role, session.principal_id,
                                        frame["client_msg_id"], frame["body"], internal=bool(frame.get("internal")))
            ack = {"type": "ack", "conversation_id": conversation_id, "client_msg_id": frame["client_msg_id"],
                   "seq": result.seq, "ts": result.ts, "duplicate": result.duplicate}
            if ref is not None:
                ack["ref"] = ref
            session.push(ack)
            ctx.metrics.ack_latency.observe(ctx.clock() - started)
        elif kind == "typing":
            if session.typing_changed(conversation_id, frame["active"], ctx.clock()):
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
            rated = {"type": "rated", "conversation_id": conversation_id, "score": frame["score"]}
            if ref is not None:
                rated["ref"] = ref
            session.push(rated)
        elif kind == "transfer":
            await service.transfer(conversation_id, session.principal_id, to_agent=frame.get("to_agent") or "",
                                   to_skill=frame.get("to_skill") or "", note=frame.get("note") or "")
