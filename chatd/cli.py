"""``chatd serve``: run chatd under uvicorn (uvloop, httptools, websockets).

With ``--workers N`` the parent binds the socket once and runs N worker
processes on it (Redis engine only: the memory engine lives in one process).
Each worker drains on SIGTERM: readiness turns 503, in-flight acks finish,
clients are closed with 1012 so they reconnect elsewhere, and the process
exits within ``drain_seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

from chatd.settings import ENV_PREFIX, Settings, load_settings

__all__ = ["main", "uvicorn_config"]

WS_HARD_LIMIT = 1024 * 1024  # frames beyond this close the socket (1009); smaller ones get an error frame


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, loop="uvloop", http="httptools",
        ws="websockets-sansio", ws_per_message_deflate=False, ws_max_size=WS_HARD_LIMIT,
        # Clients ping at least every heartbeat and silent ones are closed by the
        # idle sweep: protocol-level pings from the server would only cost CPU.
        ws_ping_interval=None, ws_ping_timeout=None,
        lifespan="on", log_level=settings.log_level, access_log=False,
        timeout_graceful_shutdown=max(1, int(settings.drain_seconds)), server_header=False,
    )


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM/SIGINT drains chatd before uvicorn shuts down."""

    def __init__(self, config: uvicorn.Config, app: Any) -> None:
        super().__init__(config)
        self._chatd_app = app
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGINT/SIGTERM to :meth:`handle_exit`. Unlike uvicorn's own,
        the signal is not re-raised afterwards: a drained exit is a clean exit (0)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)
        # What is loaded by now (modules, demo data) lives as long as the
        # process: keep it out of the collector's full passes.
        gc.collect()
        gc.freeze()
        self._chatd_app.state.chatd.metrics.watch_gc()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        ctx = self._chatd_app.state.chatd
        ctx.metrics.draining.set(1)

        async def drain_then_exit() -> None:
            try:
                await ctx.hub.drain(ctx.settings.drain_seconds)
            finally:
                super(DrainingServer, self).handle_exit(sig, frame)

        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(drain_then_exit()))  # type: ignore[union-attr]


# A full collection walks every live object (about 70 per connection) while
# every connection waits: at 1,000 conversations one took 40-150 ms, the p99
# of the chat benchmark. Young collections stay as they are; full ones are
# considered after 100 middle-generation passes instead of 10.
GC_THRESHOLDS = (700, 10, 100)


def _run_one(sockets: list[socket.socket] | None = None) -> None:
    from chatd.app import create_app

    gc.set_threshold(*GC_THRESHOLDS)

    settings = load_settings()
    app = create_app(settings)
    server = DrainingServer(uvicorn_config(app, settings), app)
    server.run(sockets=sockets)


def _serve(settings: Settings) -> int:
    if settings.workers <= 1:
        _run_one()
        return 0
    config = uvicorn_config(None, settings)
    sock = config.bind_socket()
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_run_one, args=([sock],), name=f"chatd-worker-{i}")
               for i in range(settings.workers)]
    for worker in workers:
        worker.start()

    def forward(sig: int, _frame: FrameType | None) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.join()
    return max((w.exitcode or 0) for w in workers)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatd", description="Real-time customer-service chat server.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--engine", choices=("memory", "redis"))
    serve.add_argument("--redis-url")
    serve.add_argument("--redis-prefix")
    serve.add_argument("--workers", type=int)
    serve.add_argument("--no-demo", dest="demo", action="store_false", default=None,
                       help="do not seed demo data")
    serve.add_argument("--log-level")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    try:
        settings = load_settings(**flags)
    except ValueError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 2
    if settings.engine == "memory" and settings.workers > 1:
        print("chatd: the memory engine runs in one process; use --engine redis with --workers", file=sys.stderr)
        return 2
    # Workers read their settings from the environment, so hand them the
    # resolved values (including the one shared secret) that way.
    for name, value in settings.public().items():
        if name not in ("node_id",):
            os.environ[ENV_PREFIX + name.upper()] = str(value)
    os.environ[ENV_PREFIX + "SECRET"] = settings.secret
    print(f"chatd serving on http://{settings.host}:{settings.port} (engine {settings.engine}, "
          f"workers {settings.workers}); widget demo at /demo, console at /console", flush=True)
    return _serve(settings)


if __name__ == "__main__":
    raise SystemExit(main())
