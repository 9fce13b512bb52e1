"""The route table of the HTTP API; every handler's ApiError becomes a JSON error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api import admin, auth, bot, console, conversations, health, routing
from chatd.api.common import ApiError

__all__ = ["api_routes"]

Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    @wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
    return run


def api_routes() -> list[Route]:
    v1 = "/api/v1"
    table: list[tuple[str, Handler, list[str]]] = [
        (f"{v1}/auth/login", auth.login, ["POST"]),
        (f"{v1}/auth/logout", auth.logout, ["POST"]),
        (f"{v1}/me", auth.me, ["GET"]),
        (f"{v1}/agents", admin.list_agents, ["GET"]),
        (f"{v1}/agents", admin.create_agent, ["POST"]),
        (f"{v1}/agents/{{agent_id}}", admin.get_agent, ["GET"]),
        (f"{v1}/agents/{{agent_id}}", admin.update_agent, ["PATCH", "PUT"]),
        (f"{v1}/agents/{{agent_id}}", admin.delete_agent, ["DELETE"]),
        (f"{v1}/sites", admin.list_sites, ["GET"]),
        (f"{v1}/sites", admin.create_site, ["POST"]),
        (f"{v1}/sites/{{site_key}}", admin.get_site, ["GET"]),
        (f"{v1}/sites/{{site_key}}", admin.update_site, ["PATCH", "PUT"]),
        (f"{v1}/sites/{{site_key}}", admin.delete_site, ["DELETE"]),
        (f"{v1}/conversations", conversations.list_conversations, ["GET"]),
        (f"{v1}/conversations/{{conversation_id}}", conversations.get_conversation, ["GET"]),
        (f"{v1}/conversations/{{conversation_id}}/messages", conversations.conversation_messages, ["GET"]),
        (f"{v1}/conversations/{{conversation_id}}/routing", conversations.conversation_routing, ["GET"]),
        ("/healthz", health.healthz, ["GET"]),
        ("/readyz", health.readyz, ["GET"]),
        ("/metrics", health.metrics, ["GET"]),
    ]
    table += routing.routing_routes()
    table += bot.bot_routes()
    table += console.console_routes()
    # Starlette matches the first route per path, so merge methods of one path into one route.
    merged: dict[str, dict[str, Handler]] = {}
    for path, handler, methods in table:
        for method in methods:
            merged.setdefault(path, {})[method] = handler
    return [Route(path, _dispatcher(handlers), methods=list(handlers)) for path, handlers in merged.items()]


def _dispatcher(handlers: dict[str, Handler]) -> Handler:
    guarded = {method: _guarded(h) for method, h in handlers.items()}

    async def dispatch(request: Request) -> Response:
        handler = guarded.get(request.method) or guarded["GET"]  # HEAD is served as GET
        return await handler(request)
    return dispatch
