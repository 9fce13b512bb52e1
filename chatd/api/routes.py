"""The route table of the HTTP API.

Plain Starlette routes: several routes may share a path with different
methods (Starlette answers 405 when only the path matches). A handler's
:class:`chatd.errors.ChatdError` becomes the JSON error answer through the
exception handler that :func:`chatd.app.create_app` installs.
"""

from __future__ import annotations

from starlette.routing import Route

from chatd.api import admin, auth, bot, business, console, conversations, health, history, openapi, routing

__all__ = ["api_routes"]


def api_routes() -> list[Route]:
    v1 = "/api/v1"
    table = [
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
        (f"{v1}/sites/{{site_key}}/deliveries", admin.site_deliveries, ["GET"]),
        (f"{v1}/conversations", conversations.list_conversations, ["GET"]),
        (f"{v1}/history", history.history, ["GET"]),
        (f"{v1}/conversations", business.create_conversation, ["POST"]),
        (f"{v1}/conversations/{{conversation_id}}/messages", business.post_message, ["POST"]),
        (f"{v1}/conversations/{{conversation_id}}/close", business.close_conversation, ["POST"]),
        (f"{v1}/conversations/{{conversation_id}}/transfer", business.transfer_conversation, ["POST"]),
        (f"{v1}/conversations/{{conversation_id}}/transcript", business.transcript, ["GET"]),
        (f"{v1}/api-keys", business.list_api_keys, ["GET"]),
        (f"{v1}/api-keys", business.create_api_key, ["POST"]),
        (f"{v1}/api-keys/{{key_id}}", business.revoke_api_key, ["DELETE"]),
        (f"{v1}/openapi.json", openapi.serve_openapi, ["GET"]),
        (f"{v1}/conversations/{{conversation_id}}", conversations.get_conversation, ["GET"]),
        (f"{v1}/conversations/{{conversation_id}}/messages", conversations.conversation_messages, ["GET"]),
        (f"{v1}/conversations/{{conversation_id}}/routing", conversations.conversation_routing, ["GET"]),
        (f"{v1}/conversations/{{conversation_id}}/reopen", conversations.reopen_conversation, ["POST"]),
        ("/healthz", health.healthz, ["GET"]),
        ("/readyz", health.readyz, ["GET"]),
        ("/metrics", health.metrics, ["GET"]),
        *routing.routing_routes(),
        *bot.bot_routes(),
        *console.console_routes(),
    ]
    return [Route(path, handler, methods=methods) for path, handler, methods in table]
