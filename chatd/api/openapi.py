"""The OpenAPI 3.1 document of ``/api/v1``, generated from the route table.

Every route of :func:`chatd.api.routes.api_routes` under ``/api/v1`` is
listed with its methods, path parameters, summary (the handler's first
docstring line, or its name) and the one error shape; the request bodies of
the login and of the business endpoints are described field by field.
Served at ``GET /api/v1/openapi.json``; a test validates it with
openapi-spec-validator and checks that no route is missing.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd import __version__
from chatd.api.common import json
from chatd.errors import ERRORS
from chatd.model import API_SCOPES

__all__ = ["BODIES", "openapi_document", "serve_openapi"]

V1 = "/api/v1"


def _object(required: tuple[str, ...], **fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": fields, "additionalProperties": True}


_TEXT = {"type": "string"}

# (method, path) -> request body schema, for the calls integrators make most.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", f"{V1}/auth/login"): _object(("agent_id", "password"), agent_id=_TEXT, password=_TEXT),
    ("POST", f"{V1}/api-keys"): _object(
        ("name", "scopes"), name={"type": "string", "maxLength": 64},
        scopes={"type": "array", "minItems": 1, "items": {"enum": list(API_SCOPES)}}),
    ("POST", f"{V1}/conversations"): _object(
        ("site_key", "customer_id"), site_key=_TEXT, customer_id={"type": "string", "maxLength": 64},
        name={"type": "string", "maxLength": 100}, skill=_TEXT,
        message={"type": "string", "maxLength": 4000, "description": "opens the chat as a system line"}),
    ("POST", f"{V1}/conversations/{{conversation_id}}/messages"): _object(
        ("body",), body={"type": "string", "minLength": 1, "maxLength": 4000},
        **{"as": {"enum": ["bot", "system"], "default": "system"}},
        client_msg_id={"type": "string", "maxLength": 64, "description": "a repeat is stored once"}),
    ("POST", f"{V1}/conversations/{{conversation_id}}/close"): _object((), disposition=_TEXT),
    ("POST", f"{V1}/conversations/{{conversation_id}}/transfer"): _object(
        (), skill=_TEXT, agent_id=_TEXT, note={"type": "string", "maxLength": 500}),
}

_PUBLIC = {f"{V1}/auth/login"}  # callable without a token
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"enum": sorted(ERRORS)}, "message": _TEXT}}}}


def _summary(route: Route) -> str:
    doc = (route.endpoint.__doc__ or "").strip().splitlines()
    if doc and doc[0]:
        return doc[0].strip().rstrip(".")
    return route.endpoint.__name__.replace("_", " ").capitalize()


def openapi_document(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.path.startswith(V1) or route.methods is None:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            operation: dict[str, Any] = {
                "operationId": f"{method.lower()}_{route.endpoint.__name__}",
                "summary": _summary(route),
                "tags": [route.path.split("/")[3]],
                "responses": {
                    "200": {"description": "done", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "default": {"description": "refused: a stable error code",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                },
            }
            params = re.findall(r"{(\w+)}", route.path)
            if params:
                operation["parameters"] = [{"name": name, "in": "path", "required": True, "schema": _TEXT}
                                           for name in params]
            if route.path not in _PUBLIC:
                operation["security"] = [{"bearer": []}]
            body = BODIES.get((method, route.path))
            if body is None and method in ("POST", "PUT", "PATCH"):
                body = {"type": "object"}
            if body is not None:
                operation["requestBody"] = {"required": method != "POST" or bool(body.get("required")),
                                            "content": {"application/json": {"schema": body}}}
            paths.setdefault(route.path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatd API", "version": __version__,
                 "description": "Agents, supervisors and admins authenticate with a login token; business "
                                "backends with an API key (`Bearer chatd_…`, scopes "
                                + ", ".join(API_SCOPES) + "). See docs/api.md."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "an agent login token or an API key"}},
        },
    }


async def serve_openapi(request: Request) -> Response:
    """The OpenAPI document of this API."""
    from chatd.api.routes import api_routes

    return json(openapi_document(api_routes()))
