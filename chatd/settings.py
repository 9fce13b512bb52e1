"""Settings, read once from ``CHATD_*`` environment variables and CLI flags.

:func:`load_settings` is the only place that reads the environment; the
resulting frozen :class:`Settings` is passed explicitly to whatever needs it.
Flags win over environment variables, which win over defaults.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "CHATD_"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    engine: str = "memory"  # memory | redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "chatd"  # every Redis key starts with this (tests use their own)
    redis_retry_seconds: float = 5.0  # a store call keeps trying this long across a lost Redis connection
    demo: bool = True  # seed a demo site, agents and knowledge base when the store is empty
    secret: str = field(default="", repr=False)  # signs tokens; random per start when empty
    node_id: str = ""  # names this process in presence records; random when empty
    log_retention: int = 10_000  # entries kept per conversation log
    max_frame_bytes: int = 64 * 1024
    rate_limit_per_second: float = 20.0  # sustained frames per connection
    rate_limit_burst: int = 40
    idle_timeout_seconds: float = 75.0  # no frame (not even ping) for this long closes
    heartbeat_seconds: float = 25.0  # clients ping at least this often
    send_queue_limit: int = 1000  # frames buffered for a slow client before it is cut off
    agent_token_ttl_seconds: int = 8 * 3600
    visitor_token_ttl_seconds: int = 30 * 24 * 3600
    presence_ttl_seconds: float = 60.0
    agent_grace_seconds: float = 60.0  # an agent's chats wait this long after a drop
    drain_seconds: float = 10.0  # bound on graceful shutdown
    customer_info_url: str = ""  # customer-info webhook (orders etc.); the demo provider when empty and demo is on
    customer_info_timeout_seconds: float = 2.0
    log_level: str = "info"
    static_dir: str = ""  # override the bundled widget/console files (development)

    def public(self) -> dict[str, Any]:
        """Settings safe to print (no secret)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "secret"}


def _coerce(kind: Any, raw: str) -> Any:
    if kind in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    return raw


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``env`` (default: ``os.environ``) and ``overrides``
    (CLI flags; ``None`` values are ignored). Raises ``ValueError`` on a
    malformed value, naming the variable."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = ENV_PREFIX + f.name.upper()
        if name in env:
            try:
                values[f.name] = _coerce(f.type, env[name])
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("engine", "memory") not in ("memory", "redis"):
        raise ValueError(f"engine must be memory or redis, not {values['engine']!r}")
    if not values.get("secret"):
        values["secret"] = secrets.token_urlsafe(32)
    if not values.get("node_id"):
        values["node_id"] = secrets.token_hex(4)
    return Settings(**values)
