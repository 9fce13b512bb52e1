"""``/api/v1/auth``: agents log in with a password and get a short-lived token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from chatd.api.common import context, json, read_json, require_role
from chatd.auth import check_password
from chatd.errors import ChatdError

__all__ = ["login", "logout", "me"]


async def login(request: Request) -> Response:
    ctx = context(request)
    body = await read_json(request)
    agent_id, password = body.get("agent_id"), body.get("password")
    if not isinstance(agent_id, str) or not isinstance(password, str):
        raise ChatdError("bad_request", "agent_id and password are required strings")
    agent = await ctx.store.get_agent(agent_id)
    # The same answer, after the same work, for an unknown agent and a wrong password.
    matches = await check_password(None if agent is None else agent.password_hash, password)
    if agent is None or not matches:
        raise ChatdError("unauthorized", "wrong agent id or password")
    token, claims = ctx.signer.issue("agent", agent.agent_id, ctx.settings.agent_token_ttl_seconds,
                                     ctx.clock(), role=agent.role)
    return json({"token": token, "expires_at": claims["exp"], "agent": agent.public()})


async def logout(request: Request) -> Response:
    ctx = context(request)
    who = await require_role(request)
    await ctx.store.revoke_token(who.token_id, who.expires_at, ctx.clock())
    return json({"revoked": True})


async def me(request: Request) -> Response:
    who = await require_role(request)
    assert who.agent is not None
    return json(who.agent.public())
