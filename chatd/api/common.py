"""Shared pieces of the HTTP endpoints: JSON answers, errors, bodies, callers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from chatd.auth import API_KEY_PREFIX, AuthError, verify_api_key
from chatd.context import Context
from chatd.errors import ChatdError
from chatd.model import Agent

__all__ = ["MAX_BODY_BYTES", "Caller", "caller", "context", "error_response", "json", "read_json", "require_role",
           "require_scope"]

MAX_BODY_BYTES = 256 * 1024


@dataclass(slots=True, frozen=True)
class Caller:
    """Who is calling: an agent (with role) or a visitor of a site."""

    kind: str  # "agent" | "visitor" | "api" (a business backend's API key)
    subject: str
    role: str = ""
    scopes: tuple[str, ...] = ()
    site_key: str = ""
    token_id: str = ""
    expires_at: float = 0.0
    agent: Agent | None = None


def context(request: Request) -> Context:
    return request.app.state.chatd


def json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def error_response(error: ChatdError) -> Response:
    """The API's answer to a refused request: ``{"error": {code, message}}`` with the code's status."""
    return json({"error": {"code": error.code, "message": str(error)}}, error.status)


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object body; 413 past :data:`MAX_BODY_BYTES`, 400 if not an object."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ChatdError("payload_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise ChatdError("payload_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise ChatdError("bad_request", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ChatdError("bad_request", "the body must be a JSON object")
    return body


async def caller(request: Request) -> Caller:
    """Authenticate the bearer token (agent or visitor); raises :class:`ChatdError`."""
    ctx = context(request)
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise ChatdError("unauthorized", "send Authorization: Bearer <token>")
    token = header[7:].strip()
    if token.startswith(API_KEY_PREFIX):
        key = await verify_api_key(ctx.store, token)
        return Caller("api", key.key_id, role="api", scopes=tuple(key.scopes))
    now = ctx.clock()
    try:
        claims = ctx.signer.verify(token, "agent", now)
    except AuthError as first:
        try:
            claims = ctx.signer.verify(token, "visitor", now)
        except AuthError:
            raise first from None
        return Caller("visitor", claims["sub"], site_key=claims.get("site", ""), token_id=claims["jti"],
                      expires_at=claims["exp"])
    if await ctx.store.is_token_revoked(claims["jti"]):
        raise ChatdError("token_revoked", "the token has been revoked")
    agent = await ctx.store.get_agent(claims["sub"])
    if agent is None:
        raise ChatdError("unauthorized", "the agent no longer exists")
    return Caller("agent", agent.agent_id, role=agent.role, token_id=claims["jti"],
                  expires_at=claims["exp"], agent=agent)


async def require_scope(request: Request, scope: str, *roles: str) -> Caller:
    """An API key holding ``scope``, or an agent whose role is one of ``roles``."""
    who = await caller(request)
    if who.kind == "api":
        if scope not in who.scopes:
            raise ChatdError("forbidden", f"this needs an API key with the scope {scope}")
        return who
    if who.kind != "agent" or who.role not in roles:
        raise ChatdError("forbidden", f"this needs an API key with the scope {scope}"
                         + (f" or the role {' or '.join(roles)}" if roles else ""))
    return who


async def require_role(request: Request, *roles: str) -> Caller:
    """An agent caller whose role is one of ``roles`` (any agent role when empty)."""
    who = await caller(request)
    if who.kind != "agent":
        raise ChatdError("forbidden", "this needs an agent token")
    if roles and who.role not in roles:
        raise ChatdError("forbidden", f"this needs the role {' or '.join(roles)}")
    return who
