"""``chatd serve``: run chatd under uvicorn (uvloop, httptools, websockets).

With ``--workers N`` the parent binds the socket once and runs N worker
processes on it (Redis engine only: the memory engine lives in one process).
Each worker drains on SIGTERM: readiness turns 503 at once and stays so for
``drain_delay_seconds`` while the node still serves (so a load balancer
stops sending it new connections), then in-flight acks finish, clients are
closed with 1012 so they reconnect elsewhere, and the process exits within
``drain_seconds`` more.

``chatd db upgrade`` migrates the record store (``serve`` refuses to start
on a schema behind the code); ``chatd admin create`` makes the first admin of
a deployment; ``chatd secret`` prints a value for ``CHATD_SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import logging
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from prometheus_client import start_http_server
from prometheus_client.multiprocess import mark_process_dead

from chatd.http_guard import guarded_http
from chatd.logs import configure_logging
from chatd.metrics import MULTIPROCESS_ENV, multiprocess_registry
from chatd.settings import ENV_PREFIX, Settings, describe, load_settings, serving_problems, unknown_variables

__all__ = ["main", "uvicorn_config"]

log = logging.getLogger("chatd.serve")
WS_HARD_LIMIT = 1024 * 1024  # frames beyond this close the socket (1009); smaller ones get an error frame


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, loop="uvloop", http=guarded_http(settings.header_timeout_seconds),
        ws="websockets-sansio", ws_per_message_deflate=False, ws_max_size=WS_HARD_LIMIT,
        # Clients ping at least every heartbeat and silent ones are closed by the
        # idle sweep: protocol-level pings from the server would only cost CPU.
        ws_ping_interval=None, ws_ping_timeout=None,
        # chatd.logs configures every logger, uvicorn's included.
        lifespan="on", log_config=None, log_level=settings.log_level, access_log=settings.access_log,
        timeout_keep_alive=settings.keep_alive_seconds,  # type: ignore[arg-type]
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
        ctx.leaving = True  # readiness answers 503 from now on
        log.info("draining: readiness is 503; connections close in %g s", ctx.settings.drain_delay_seconds)

        async def drain_then_exit() -> None:
            try:
                # Give load balancers time to see readiness fail and send
                # new connections elsewhere; until then this node serves.
                await asyncio.sleep(ctx.settings.drain_delay_seconds)
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
    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    app = create_app(settings)
    if settings.metrics_port and settings.workers <= 1:
        start_http_server(settings.metrics_port, settings.host, registry=app.state.chatd.metrics.registry)
    server = DrainingServer(uvicorn_config(app, settings), app)
    server.run(sockets=sockets)


def _serve(settings: Settings) -> int:
    if settings.workers <= 1:
        _run_one()
        return 0
    config = uvicorn_config(None, settings)
    sock = config.bind_socket()
    # Every worker keeps its metric values in files here, so any of them (and
    # the metrics port, served by this parent) reports the whole node.
    metrics_dir = tempfile.mkdtemp(prefix="chatd-metrics-")
    os.environ[MULTIPROCESS_ENV] = metrics_dir
    if settings.metrics_port:
        start_http_server(settings.metrics_port, settings.host, registry=multiprocess_registry())
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
    try:
        for worker in workers:
            worker.join()
            if worker.pid is not None:
                mark_process_dead(worker.pid, metrics_dir)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return max((w.exitcode or 0) for w in workers)


def _variables() -> str:
    rows = describe()
    width = max(len(name) for name, _default, _help in rows)
    lines = ["settings (environment; each also as <NAME>_FILE, a file holding the value):"]
    lines += [f"  {name:<{width}}  {help}" + (f" [default: {default}]" if default else "")
              for name, default, help in rows]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatd", description="Real-time customer-service chat server.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server", epilog=_variables(),
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Run chatd. Flags win over CHATD_* variables, which win over defaults.")
    defaults = Settings()
    serve.add_argument("--host", help=f"address to listen on [default: {defaults.host}]")
    serve.add_argument("--port", type=int, help=f"port [default: {defaults.port}]")
    serve.add_argument("--engine", choices=("memory", "redis"), help=f"[default: {defaults.engine}]")
    serve.add_argument("--redis-url", help="[default: redis://127.0.0.1:6379/0]")
    serve.add_argument("--redis-prefix", help=f"[default: {defaults.redis_prefix}]")
    serve.add_argument("--workers", type=int, help=f"processes sharing the port [default: {defaults.workers}]")
    serve.add_argument("--demo", dest="demo", action="store_true", default=None,
                       help="seed demo data and allow a made-up secret: for trying chatd, never for a deployment")
    serve.add_argument("--log-level", help=f"[default: {defaults.log_level}]")
    serve.add_argument("--log-format", choices=("text", "json"), help=f"[default: {defaults.log_format}]")
    serve.add_argument("--metrics-port", type=int, help="serve /metrics on this port only [default: the main port]")
    serve.add_argument("--database-url", help="the record store [default: SQLite in the data directory]")

    db = commands.add_parser("db", help="the record store's schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    for name, text in (("upgrade", "migrate the record store to this release's schema (run after every upgrade); "
                                    "also moves records older releases kept in Redis"),
                       ("status", "print the schema's revision and whether it is this release's")):
        command = db_commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("--database-url", help="[default: CHATD_DATABASE_URL, else SQLite in the data directory]")

    admin = commands.add_parser("admin", help="manage agents from the command line")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser(
        "create", help="create an admin (the first one of a deployment)",
        description="Create an admin in the store named by the CHATD_* settings (Redis engine). "
                    "Without --password-file a random password is made up and printed once.")
    create.add_argument("--id", required=True, dest="agent_id", help="the login id (a-z, 0-9, _ . -)")
    create.add_argument("--name", help="the name agents see [default: the id]")
    create.add_argument("--password-file", help="a file holding the password (8 to 128 characters)")
    commands.add_parser("secret", help=f"print a new random value for {ENV_PREFIX}SECRET")
    return parser


async def _create_admin(settings: Settings, agent_id: str, name: str, password: str) -> str:
    from chatd.api.admin import valid_id, validate_agent_fields
    from chatd.errors import ChatdError
    from chatd.model import Agent
    from chatd.store import open_engine

    if not valid_id(agent_id):
        return "the id must be 1 to 32 of a-z, 0-9, _ . - (starting with a letter or digit)"
    engine = open_engine(settings)
    try:
        if not await engine.store.ping():
            return f"the store does not answer ({settings.engine})"
        if await engine.store.get_agent(agent_id) is not None:
            return f"an agent {agent_id!r} exists already; change it in the console"
        try:
            agent = await validate_agent_fields({"name": name, "password": password, "role": "admin"},
                                                Agent(agent_id=agent_id, name=agent_id, capacity=1))
        except ChatdError as exc:
            return str(exc)
        await engine.store.put_agent(agent)
        return ""
    finally:
        await engine.store.close()


def _admin_create(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 2
    if settings.engine == "memory":
        print("chatd: the memory engine keeps agents inside the serving process; set CHATD_ENGINE=redis "
              "(and CHATD_REDIS_URL) to create an admin for a deployment", file=sys.stderr)
        return 2
    made_up = args.password_file is None
    if made_up:
        password = secrets.token_urlsafe(15)
    else:
        try:
            password = Path(args.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            print(f"chatd: cannot read {args.password_file}: {exc.strerror}", file=sys.stderr)
            return 2
    problem = asyncio.run(_create_admin(settings, args.agent_id, args.name or args.agent_id, password))
    if problem:
        print(f"chatd: {problem}", file=sys.stderr)
        return 1
    print(f"created admin {args.agent_id!r}" + (f"; password (shown once): {password}" if made_up else ""))
    return 0


async def _db_upgrade(settings: Settings) -> str:
    from chatd.records import open_records
    from chatd.records.legacy import LEGACY_KINDS, move_legacy_records
    from chatd.records.migrate import upgrade
    from chatd.store import open_engine

    records = open_records(settings.record_store_url())
    try:
        revision = await upgrade(records.database)
        print(f"record store at {revision} ({records.database.dialect})")
        if settings.engine != "redis":
            return ""
        engine = open_engine(settings)
        try:
            store: Any = engine.store
            found = await store.legacy_records(LEGACY_KINDS)
            if found:
                moved = await move_legacy_records(found, records, store)
                await store.drop_legacy_records(found)
                print("moved from Redis: " + ", ".join(f"{count} {kind}" for kind, count in sorted(moved.items())))
        finally:
            await engine.store.close()
        return ""
    finally:
        await records.database.close()


async def _db_status(settings: Settings) -> str:
    from chatd.records import open_records
    from chatd.records.migrate import SchemaError, current_revision, head_revision, require_current

    records = open_records(settings.record_store_url())
    try:
        print(f"schema {await current_revision(records.database) or 'empty'}; this release needs {head_revision()}")
        try:
            await require_current(records.database)
        except SchemaError as exc:
            return str(exc)
        return ""
    finally:
        await records.database.close()


def _check_schema(settings: Settings) -> str:
    """Why ``serve`` must not start on this record store ("" when it may)."""
    from chatd.records import open_records
    from chatd.records.migrate import SchemaError, require_current

    async def check() -> str:
        records = open_records(settings.record_store_url())
        try:
            if records.database.memory:
                return ""
            await require_current(records.database)
            return ""
        except SchemaError as exc:
            return str(exc)
        finally:
            await records.database.close()
    return asyncio.run(check())


def _db(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(**({"database_url": args.database_url} if args.database_url else {}))
    except ValueError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    run = _db_upgrade if args.db_command == "upgrade" else _db_status
    problem = asyncio.run(run(settings))
    if problem:
        print(f"chatd: {problem}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in unknown_variables():
        print(f"chatd: warning: {name} is not a chatd setting (see chatd serve --help)", file=sys.stderr)
    if args.command == "secret":
        print(secrets.token_urlsafe(48))
        return 0
    if args.command == "admin":
        return _admin_create(args)
    if args.command == "db":
        return _db(args)
    flags = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    try:
        settings = load_settings(**flags)
    except ValueError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 2
    problems = serving_problems(settings)
    if problems:
        for problem in problems:
            print(f"chatd: {problem}", file=sys.stderr)
        return 2
    if not settings.demo:  # --demo migrates the record store itself
        problem = _check_schema(settings)
        if problem:
            print(f"chatd: {problem}", file=sys.stderr)
            return 2
    if not settings.secret:  # --demo: one made-up secret, shared with the workers below
        settings = dataclasses.replace(settings, secret=secrets.token_urlsafe(32))
    # Workers read their settings from the environment, so hand them the
    # resolved values (including the one shared secret) that way.
    for name, value in dataclasses.asdict(settings).items():
        if name != "node_id":
            os.environ.pop(ENV_PREFIX + name.upper() + "_FILE", None)
            os.environ[ENV_PREFIX + name.upper()] = "true" if value is True else "false" if value is False \
                else str(value)
    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    print(f"chatd serving on http://{settings.host}:{settings.port} (engine {settings.engine}, "
          f"workers {settings.workers}" + (", demo data" if settings.demo else "") + ")"
          + ("; widget demo at /demo, console at /console" if settings.demo else "; console at /console"),
          flush=True)
    return _serve(settings)


if __name__ == "__main__":
    raise SystemExit(main())
