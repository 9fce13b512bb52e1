"""Settings, read once from ``CHATD_*`` environment variables and CLI flags.

:func:`load_settings` is the only place that reads the environment; the
resulting frozen :class:`Settings` is passed explicitly to whatever needs it.
Flags win over environment variables, which win over defaults. Every
variable ``CHATD_X`` may instead be given as ``CHATD_X_FILE``, the path of a
file holding the value (for secrets mounted by an orchestrator).

Each field carries its help text and its rule (choices, lower bound), so a
bad value is refused with a message naming the variable, ``chatd serve
--help`` lists every variable with its default, and docs/configuration.md is
checked against the same table.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["ENV_PREFIX", "MIN_SECRET_LENGTH", "Settings", "describe", "load_settings", "serving_problems",
           "unknown_variables"]

ENV_PREFIX = "CHATD_"
MIN_SECRET_LENGTH = 32
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _opt(default: Any, help: str, *, choices: tuple[str, ...] = (), low: float | None = None,
         secret: bool = False) -> Any:
    return field(default=default, repr=not secret,
                 metadata={"help": help, "choices": choices, "low": low, "secret": secret})


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = _opt("127.0.0.1", "address to listen on")
    port: int = _opt(8080, "port to listen on", low=1)
    workers: int = _opt(1, "processes sharing the port (Redis engine only)", low=1)
    engine: str = _opt("memory", "memory (one process, nothing to install) or redis", choices=("memory", "redis"))
    redis_url: str = _opt("redis://127.0.0.1:6379/0", "the Redis server of the redis engine", secret=True)
    redis_prefix: str = _opt("chatd", "every Redis key and channel starts with it")
    redis_retry_seconds: float = _opt(5.0, "a store call keeps retrying this long across a lost Redis connection",
                                      low=0)
    demo: bool = _opt(False, "seed a demo site, agents and knowledge base into an empty store (trying chatd only)")
    secret: str = _opt("", f"signs tokens; at least {MIN_SECRET_LENGTH} characters, the same on every node "
                           "(required unless --demo, which makes one up per start)", secret=True)
    database_url: str = _opt("", "the record store (archive, tickets, configuration): postgresql+asyncpg://... in "
                                 "production; empty: SQLite in the data directory", secret=True)
    data_dir: str = _opt("data", "where the embedded SQLite database lives")
    live_retention: float = _opt(86_400.0, "seconds a closed conversation stays live in the engine "
                                                   "after it is archived; then only the archive has it", low=0)
    node_id: str = _opt("", "names this process in presence records; random when empty")
    log_retention: int = _opt(10_000, "entries kept per conversation log", low=1)
    max_frame_bytes: int = _opt(64 * 1024, "larger frames get frame_too_large", low=1024)
    rate_limit_per_second: float = _opt(20.0, "frames per second per connection, sustained", low=0.1)
    rate_limit_burst: int = _opt(40, "frames per connection at once", low=1)
    idle_timeout_seconds: float = _opt(75.0, "a connection silent this long (not even ping) is closed", low=1)
    heartbeat_seconds: float = _opt(25.0, "how often clients are told to ping", low=1)
    send_queue_limit: int = _opt(1000, "frames buffered for a slow client before it is cut off", low=1)
    agent_token_ttl_seconds: int = _opt(8 * 3600, "agent token lifetime (tokens are also revocable)", low=60)
    visitor_token_ttl_seconds: int = _opt(30 * 24 * 3600, "visitor session token lifetime", low=60)
    presence_ttl_seconds: float = _opt(60.0, "an agent's presence lapses this long after their node stops", low=1)
    agent_grace_seconds: float = _opt(60.0, "how long a dropped agent keeps their chats", low=0)
    drain_delay_seconds: float = _opt(5.0, "on SIGTERM, readiness answers 503 this long before connections close",
                                      low=0)
    drain_seconds: float = _opt(10.0, "bound on closing connections and finishing acks after the drain delay", low=0)
    login_attempts: int = _opt(5, "failed logins per account (and 4x per address) before a lockout", low=1)
    login_lockout_seconds: float = _opt(300.0, "how long a lockout lasts; the window failures are counted in",
                                        low=1)
    header_timeout_seconds: float = _opt(10.0, "an HTTP request (or WebSocket handshake) must arrive whole "
                                               "within this long", low=0.5)
    keep_alive_seconds: float = _opt(5.0, "idle keep-alive HTTP connections are closed after this long", low=0.5)
    customer_info_url: str = _opt("", "the customer-info webhook for a visitor's orders (the demo provider "
                                      "when empty and demo is on)")
    customer_info_timeout_seconds: float = _opt(2.0, "its timeout", low=0.1)
    log_level: str = _opt("info", "level of chatd's and uvicorn's logs", choices=LOG_LEVELS)
    log_format: str = _opt("text", "text (one line per record) or json (one object per line)",
                           choices=("text", "json"))
    access_log: bool = _opt(False, "log every HTTP request (method, path, status, time)")
    metrics_port: int = _opt(0, "serve /metrics on this port only (all workers' figures); 0: on the main port",
                             low=0)
    static_dir: str = _opt("", "override the bundled widget/console files (development)")
    root_files_dir: str = _opt("", "a directory whose .txt files are served at the root, e.g. the domain "
                                   "verification files of WeChat, Alipay or Douyin web-views")

    def record_store_url(self) -> str:
        """``database_url``, or the SQLite file in ``data_dir``."""
        return self.database_url or f"sqlite+aiosqlite:///{Path(self.data_dir) / 'chatd.db'}"

    def public(self) -> dict[str, Any]:
        """Settings safe to print (no secrets)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata["secret"]}


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every setting, in declaration order."""
    rows = []
    for f in fields(Settings):
        default = "" if f.default is MISSING else f.default
        rows.append((ENV_PREFIX + f.name.upper(), _show(default), f.metadata["help"]))
    return rows


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _coerce(kind: Any, raw: str) -> Any:
    if kind in (bool, "bool"):
        text = raw.strip().lower()
        if text not in _TRUE + _FALSE:
            raise ValueError(f"expected true or false, not {raw!r}")
        return text in _TRUE
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    return raw


def _raw_values(env: Mapping[str, str]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for f in fields(Settings):
        name = ENV_PREFIX + f.name.upper()
        if name in env:
            raw[f.name] = env[name]
        elif name + "_FILE" in env:
            path = Path(env[name + "_FILE"])
            try:
                raw[f.name] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return raw


def _check(name: str, value: Any) -> None:
    meta = Settings.__dataclass_fields__[name].metadata
    label = ENV_PREFIX + name.upper()
    if meta["choices"] and value not in meta["choices"]:
        raise ValueError(f"{label} must be one of {', '.join(meta['choices'])}, not {value!r}")
    if meta["low"] is not None and value < meta["low"]:
        raise ValueError(f"{label} must be at least {_show(meta['low'])}, not {value!r}")


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``env`` (default: ``os.environ``) and ``overrides``
    (CLI flags; ``None`` values are ignored). Raises ``ValueError`` naming the
    variable on a malformed or out-of-range value."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name, raw in _raw_values(env).items():
        try:
            values[name] = _coerce(Settings.__dataclass_fields__[name].type, raw)
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}{name.upper()}: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(values.get("log_level"), str):
        values["log_level"] = values["log_level"].lower()
    for name, value in values.items():
        _check(name, value)
    url = str(values.get("redis_url", "redis://"))
    if not url.startswith(("redis://", "rediss://", "unix://", "redis+sentinel://", "redis+cluster://")):
        raise ValueError(f"{ENV_PREFIX}REDIS_URL must be a redis://, rediss://, unix://, redis+sentinel:// or "
                         "redis+cluster:// URL")
    if url.startswith(("redis+sentinel://", "redis+cluster://")):
        from chatd.store.redis_wire import parse_cluster_url, parse_sentinel_url

        try:
            (parse_sentinel_url if url.startswith("redis+sentinel://") else parse_cluster_url)(url)
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}REDIS_URL: {exc}") from None
    if not values.get("node_id"):
        values["node_id"] = secrets.token_hex(4)
    return Settings(**values)


def serving_problems(settings: Settings) -> list[str]:
    """Why these settings must not serve: a deployment (no ``--demo``) needs
    a real shared secret, since a random one per start logs everyone out on
    every restart and differs between nodes."""
    problems = []
    if not settings.demo:
        if not settings.secret:
            problems.append(f"set {ENV_PREFIX}SECRET (or {ENV_PREFIX}SECRET_FILE) to a random value of at least "
                            f"{MIN_SECRET_LENGTH} characters, the same on every node; or pass --demo to try chatd")
        elif len(settings.secret) < MIN_SECRET_LENGTH:
            problems.append(f"{ENV_PREFIX}SECRET must be at least {MIN_SECRET_LENGTH} characters long")
    if settings.engine == "memory" and settings.workers > 1:
        problems.append("the memory engine runs in one process; use --engine redis with --workers")
    return problems


_NOT_SETTINGS = ("CHATD_TEST_",)  # the test suite's own variables


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """``CHATD_*`` variables that name no setting (a typo is otherwise silent)."""
    env = os.environ if env is None else env
    known = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}
    known |= {name + "_FILE" for name in known}
    return sorted(name for name in env
                  if name.startswith(ENV_PREFIX) and name not in known and not name.startswith(_NOT_SETTINGS))
