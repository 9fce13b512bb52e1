"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from chatd.api.common import context, json
from chatd.errors import ChatdError

__all__ = ["healthz", "metrics", "readyz"]


async def healthz(request: Request) -> Response:
    return json({"status": "ok"})


async def readyz(request: Request) -> Response:
    ctx = context(request)
    if ctx.leaving or ctx.hub.draining:
        return json({"status": "draining"}, 503)
    try:
        ok = await asyncio.wait_for(ctx.store.ping(), 1.0)
    except Exception:
        ok = False
    if not ok:
        return json({"status": "store_unreachable"}, 503)
    return json({"status": "ready", "engine": ctx.engine.name, "node": ctx.settings.node_id})


async def metrics(request: Request) -> Response:
    ctx = context(request)
    if ctx.settings.metrics_port:
        raise ChatdError("not_found", f"metrics are served on port {ctx.settings.metrics_port}")
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
