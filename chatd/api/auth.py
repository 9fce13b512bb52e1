"""``/api/v1/auth``: agents log in with a password and get a short-lived token."""

from __future__ import annotations

import math

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
    settings, store = ctx.settings, ctx.store
    # Failures are counted per account and per client address (behind a proxy,
    # the address uvicorn takes from trusted forwarded headers). Either one
    # over its limit locks logins out for the rest of its window.
    subjects = ((f"agent:{agent_id[:100]}", settings.login_attempts),
                (f"address:{request.client.host if request.client else ''}", 4 * settings.login_attempts))
    for subject, limit in subjects:
        count, left = await store.login_failures(subject)
        if count >= limit:
            raise ChatdError("too_many_attempts", f"too many failed logins; try again in {math.ceil(left)} s")
    agent = await store.get_agent(agent_id)
    # The same answer, after the same work, for an unknown agent and a wrong password.
    matches = await check_password(None if agent is None else agent.password_hash, password)
    if agent is None or not matches:
        for subject, _limit in subjects:
            await store.count_login_failure(subject, settings.login_lockout_seconds)
        raise ChatdError("unauthorized", "wrong agent id or password")
    await store.clear_login_failures(subjects[0][0])
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
