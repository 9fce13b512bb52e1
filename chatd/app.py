"""Builds the ASGI application: engine, hub, router, service, routes.

``create_app(settings)`` is the uvicorn factory target; tests call it directly
with their own settings, engine and clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from chatd.admission import Admission
from chatd.api import api_routes
from chatd.api.common import error_response
from chatd.archiving import ArchiveBackedStore, Archiver
from chatd.auth import TokenSigner
from chatd.bot.runtime import BotRuntime
from chatd.context import Context
from chatd.demo import seed_demo
from chatd.demo_orders import demo_orders_endpoint
from chatd.errors import ChatdError
from chatd.events import EventedStore
from chatd.hub import Hub
from chatd.logs import RequestIds
from chatd.metrics import Metrics
from chatd.records import Records, open_records, prepare_records
from chatd.service import ChatService
from chatd.settings import Settings, load_settings
from chatd.sockets import agent_endpoint, serve_socket, visitor_endpoint
from chatd.static import WidgetFiles, root_file_endpoint
from chatd.store import open_engine
from chatd.store.base import Engine
from chatd.webhooks import WebhookDispatcher
from router.worker import RoutingWorker

__all__ = ["build_context", "create_app", "static_root"]

log = logging.getLogger("chatd")


def static_root(settings: Settings) -> Path:
    """Where the widget bundle and pages live (the repository's ``widget/``)."""
    if settings.static_dir:
        return Path(settings.static_dir)
    return Path(__file__).resolve().parent.parent / "widget"


def build_context(settings: Settings, engine: Engine | None = None,
                  clock: Callable[[], float] = time.time, records: Records | None = None) -> Context:
    engine = engine or open_engine(settings)
    records = records or open_records(settings.record_store_url())
    metrics = Metrics()
    if hasattr(engine.store, "timed"):
        engine.store.timed = metrics.store_call
    if not isinstance(engine.store, EventedStore):
        # reads of conversations the live engine forgot come from the archive;
        # every change a site subscribed to goes to the outbox
        backed = ArchiveBackedStore(engine.store, records.archive)
        engine = Engine(engine.name, EventedStore(backed, clock), engine.broker)  # type: ignore[arg-type]
    assert isinstance(engine.store, EventedStore)
    records = engine.store.watching(records)
    hub = Hub(settings, engine, clock, metrics)
    router = RoutingWorker(engine.store, hub, clock, skill_groups=records.skill_groups, schedules=records.schedules,
                           grace_seconds=settings.agent_grace_seconds,
                           node_id=settings.node_id, on_assigned=metrics.placed)
    bot = BotRuntime(engine.store, records, router, clock)
    bot.webhook.counted = lambda outcome: metrics.webhooks.labels("bot", outcome).inc()
    service = ChatService(engine.store, records, hub, router, clock, metrics, bot=bot)
    bot.attach(service)
    # --demo without a secret: one made up per start (serving_problems refuses that otherwise)
    signer = TokenSigner(settings.secret or secrets.token_urlsafe(32))
    admission = Admission(settings=settings, store=engine.store, hub=hub, service=service, routing=router,
                          signer=signer, clock=clock)
    webhooks = WebhookDispatcher(engine.store, service.site, clock, node_id=settings.node_id,
                                 counted=lambda outcome: metrics.webhooks.labels("events", outcome).inc())
    archiver = Archiver(engine.store, records.archive, clock, hold=settings.live_retention,
                        leading=lambda: router.leading)
    return Context(settings=settings, engine=engine, records=records, hub=hub, router=router, service=service,
                   admission=admission, signer=signer, metrics=metrics, clock=clock, webhooks=webhooks,
                   archiver=archiver)


STORE_SAMPLE_SECONDS = 5.0


async def sample_store_wide(ctx: Context) -> None:
    """Every few seconds, set the store-wide gauges (queues per skill group,
    agents online by status) from the store, and whether this node routes."""
    while True:
        ctx.metrics.flush_gc()
        try:
            now = ctx.clock()
            skills = await ctx.store.queued_skills()
            queues = {}
            for skill in skills:
                waiting = await ctx.store.queue(skill)
                oldest = min((c.queued_at for c in waiting if c.queued_at), default=now)
                queues[skill] = (len(waiting), max(0.0, now - oldest))
            runtime = await ctx.store.agent_runtime()
            statuses: dict[str, int] = {}
            for agent_id in await ctx.store.connected_agents(now):
                status = str(runtime.get(agent_id, {}).get("status", "online"))
                statuses[status] = statuses.get(status, 0) + 1
            ctx.metrics.store_wide(queues, statuses)
            ctx.metrics.routing_leader.set(1 if ctx.router.leading else 0)
        except Exception:  # a store outage: the gauges keep their last values, readiness says why
            log.debug("could not sample the store for metrics", exc_info=True)
        await asyncio.sleep(STORE_SAMPLE_SECONDS)


def _page(path: Path) -> Callable[..., object]:
    async def serve(request: object) -> Response:
        # FileResponse answers 404 itself when the page is missing; say why instead.
        if not _exists(path):
            return Response("the widget is not built: run `make run` or `npm run build` in widget/", 404)
        return FileResponse(path, media_type="text/html")
    return serve


def _exists(path: Path) -> bool:
    return path.is_file()


def _static_routes(settings: Settings) -> list[BaseRoute]:
    root = static_root(settings)
    routes: list[BaseRoute] = [
        Route("/", lambda request: RedirectResponse("/demo" if settings.demo else "/console/")),
        Route("/demo", _page(root / "pages" / "demo.html")),
        Route("/demo/hostile", _page(root / "pages" / "hostile.html")),
        Route("/chat", _page(root / "pages" / "chat.html")),
    ]
    if settings.demo:
        routes.append(Route("/demo/customer-info", demo_orders_endpoint, methods=["POST"]))
    routes.append(Mount("/widget", app=WidgetFiles(root / "dist"), name="widget"))
    console = Path(__file__).resolve().parent / "console"
    if console.is_dir():
        routes.append(Mount("/console", app=StaticFiles(directory=console, html=True), name="console"))
    if settings.root_files_dir:  # after every other route: only a path no other route takes
        routes.append(Route("/{name}", root_file_endpoint(Path(settings.root_files_dir))))
    return routes


_SOCKET_ROLES = {"/ws/visitor": "visitor", "/ws/agent": "agent"}


def create_app(settings: Settings | None = None, *, engine: Engine | None = None,
               clock: Callable[[], float] = time.time, records: Records | None = None) -> Starlette:
    settings = settings or load_settings()
    ctx = build_context(settings, engine, clock, records)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await prepare_records(ctx.records, migrate=settings.demo)
        if settings.demo:
            await seed_demo(ctx.store, ctx.records, settings)
        def agent_gone(agent_id: str) -> None:
            ctx.service.agents_changed()
            ctx.router.agent_gone(agent_id)

        def resynced() -> None:
            for session in list(ctx.hub.sessions):
                if session.role == "agent":
                    ctx.hub.spawn(ctx.admission.catch_up(session))

        ctx.hub.start(on_agent_gone=agent_gone, on_resync=resynced, on_router_wake=ctx.router.woken)
        ctx.hub.spawn(sample_store_wide(ctx))
        await ctx.router.start()
        await ctx.service.bot.start()
        ctx.webhooks.start()
        ctx.archiver.start()
        log.info("chatd node %s ready (engine %s)", settings.node_id, ctx.engine.name)
        try:
            yield
        finally:
            if not ctx.hub.draining:
                await ctx.hub.drain(settings.drain_seconds)
            await ctx.router.stop()
            await ctx.webhooks.stop()
            await ctx.archiver.stop()
            await ctx.service.bot.stop()  # type: ignore[attr-defined]
            await ctx.hub.stop()
            await ctx.engine.broker.close()
            await ctx.store.close()
            await ctx.records.database.close()

    routes: list[BaseRoute] = [
        # Reached only through Starlette's router when ChatdApp's shortcut is
        # bypassed (e.g. a mounted app); the same endpoints either way.
        WebSocketRoute("/ws/visitor", visitor_endpoint),
        WebSocketRoute("/ws/agent", agent_endpoint),
        *api_routes(),
        *_static_routes(settings),
    ]
    # Bearer tokens, never cookies, authenticate every call, so any origin may
    # call the API (the widget on customers' sites fetches history, posts messages).
    middleware = [Middleware(RequestIds),
                  Middleware(CORSMiddleware, allow_origins=["*"],
                             allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
                             allow_headers=["authorization", "content-type"], max_age=600)]
    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ChatdError)
        return error_response(exc)

    app = ChatdApp(routes=routes, lifespan=lifespan, middleware=middleware,
                   exception_handlers={ChatdError: refused})
    app.state.chatd = ctx
    return app


class ChatdApp(Starlette):
    """Starlette, with the two socket endpoints served directly.

    A connection lives for hours and sends every frame through the stack
    above its handler: Starlette's error and CORS middleware, router and
    exception wrapper add nine coroutine frames to hold per connection and a
    wrapper call per frame sent, and do nothing for these sockets (the
    handler answers errors itself; CORS does not apply to WebSockets)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            role = _SOCKET_ROLES.get(scope["path"])
            if role is not None:
                scope["app"] = self
                await serve_socket(WebSocket(scope, receive, send), role)
                return
        await super().__call__(scope, receive, send)
