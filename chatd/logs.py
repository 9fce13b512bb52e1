"""One logging set-up for chatd and uvicorn: text or JSON lines on stderr.

What a record is about travels in context variables (:data:`request_id`,
:data:`connection_id`, :data:`conversation_id`), set by the HTTP middleware
and the socket driver and copied into every record logged meanwhile, so a
line can be followed to its request or conversation. Records never carry
credentials: anything that looks like a token in a message (a ``token=``
query parameter, a ``Bearer`` header, a signed ``v1.`` token) is masked.
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import sys
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestIds", "configure_logging", "connection_id", "conversation_id", "request_id"]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
connection_id: contextvars.ContextVar[str] = contextvars.ContextVar("connection_id", default="")
conversation_id: contextvars.ContextVar[str] = contextvars.ContextVar("conversation_id", default="")

_CONTEXT = (("request_id", request_id), ("connection_id", connection_id), ("conversation_id", conversation_id))
_SECRETS = re.compile(r"((?:token|identity|password|secret|api_key)=)[^&\s\"']+|(Bearer\s+)\S+|\bv1\.[\w-]+\.[\w-]+",
                      re.IGNORECASE)
_CONVERSATION_PATH = re.compile(r"^/api/v1/conversations/([\w-]{1,64})")
_LOGGERS = ("chatd", "router", "uvicorn", "uvicorn.error", "uvicorn.access")


def _mask(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or m.group(2) or "") + "***", text)


class _Context(logging.Filter):
    """Adds the context ids to each record and masks credentials in its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT:
            setattr(record, name, var.get())
        message = record.getMessage()
        masked = _mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s%(ids)s")

    def format(self, record: logging.LogRecord) -> str:
        record.ids = "".join(f" {name}={getattr(record, name)}" for name, _ in _CONTEXT
                             if getattr(record, name, ""))
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message,
    the context ids that are set, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        for name, _ in _CONTEXT:
            value = getattr(record, name, "")
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = _mask(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


def configure_logging(level: str, fmt: str, access_log: bool) -> None:
    """Send chatd's, the router's and uvicorn's records to one stderr handler
    at ``level`` in ``fmt`` (``text`` or ``json``). Idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_Context())
    numeric = logging.getLevelName(level.upper())
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler] if name in ("chatd", "router", "uvicorn") else []
        logger.propagate = name not in ("chatd", "router", "uvicorn")
        logger.setLevel(numeric)
    logging.getLogger("uvicorn.access").disabled = not access_log


class RequestIds:
    """ASGI middleware: every HTTP request gets an id (the caller's
    ``X-Request-ID`` when it is short and plain, else a new one), set in
    :data:`request_id` while it is handled and returned as ``X-Request-ID``;
    a request about one conversation sets :data:`conversation_id` too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if 0 < len(given) <= 64 and given.replace("-", "").isalnum() else secrets.token_hex(8)
        token = request_id.set(rid)
        about = _CONVERSATION_PATH.match(scope["path"])
        conversation_token = conversation_id.set(about.group(1) if about else "")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
            conversation_id.reset(conversation_token)
