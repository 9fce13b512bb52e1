"""The customer-info webhook: what the business knows about a customer
(orders, membership, anything else) shown beside the chat in the console.

Contract (docs/console.md):

- chatd sends ``POST <customer_info_url>`` with the JSON body
  ``{"site": ..., "visitor_id": ..., "user_id": ..., "name": ..., "email": ..., "phone": ...}``
  (``user_id`` is the host site's id of a logged-in customer, "" for an
  anonymous visitor) and the headers ``X-Chatd-Timestamp: <unix seconds>``
  and ``X-Chatd-Signature: sha256=<hex HMAC-SHA256(site secret, "<timestamp>.<body>")>``.
- The provider answers within ``customer_info_timeout_seconds`` with ``200``
  and ``{"orders": [{"order_id", "title", "status", "amount", "currency",
  "created_at", "url"}], "attributes": {...}}``. Anything else (an error
  status, invalid JSON, a timeout, a refused connection) shows the agent
  "orders unavailable" with the reason; the panel never waits longer.

:func:`sign`, :func:`verify` and :func:`parse_customer_info` are pure;
:class:`CustomerInfoClient` is the only I/O, with the transport injectable
as in httpx.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "CustomerInfo",
    "CustomerInfoClient",
    "CustomerQuery",
    "parse_customer_info",
    "sign",
    "verify",
]

log = logging.getLogger("chatd.customer_info")

TIMESTAMP_HEADER = "X-Chatd-Timestamp"
SIGNATURE_HEADER = "X-Chatd-Signature"
TOLERANCE_SECONDS = 300  # a provider refuses signed requests further than this from its clock
MAX_ORDERS = 20
MAX_ATTRIBUTES = 30
_MAX_RESPONSE_BYTES = 256 * 1024
_ORDER_TEXT = ("order_id", "title", "status", "currency", "url")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Chatd-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> bool:
    """True when a request carries a fresh, correct signature of ``body``."""
    if not secret or not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


@dataclass(slots=True, frozen=True)
class CustomerQuery:
    """Who the console asks about."""

    site: str
    visitor_id: str
    user_id: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""

    def body(self) -> bytes:
        return orjson.dumps({"site": self.site, "visitor_id": self.visitor_id, "user_id": self.user_id,
                             "name": self.name, "email": self.email, "phone": self.phone})


@dataclass(slots=True)
class CustomerInfo:
    """The answer as the console shows it. ``status`` is ``ok``, ``disabled``
    (no provider configured), ``timeout`` or ``error`` (``detail`` says why)."""

    status: str
    orders: list[dict[str, Any]] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    elapsed_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "orders": self.orders, "attributes": self.attributes,
                "detail": self.detail, "elapsed_ms": self.elapsed_ms}


def _scalar(value: Any, limit: int = 200) -> str | int | float | bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value
    return str(value)[:limit]


def parse_customer_info(raw: bytes) -> CustomerInfo:
    """A provider's answer, kept to the documented shape and sizes: unknown
    fields dropped, strings cut, at most :data:`MAX_ORDERS` orders. Raises
    ``ValueError`` when it is not a JSON object with a list of orders."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("the answer is not JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("the answer is not a JSON object")
    orders_in = payload.get("orders", [])
    if not isinstance(orders_in, list):
        raise ValueError("orders must be a list")
    orders: list[dict[str, Any]] = []
    for item in orders_in[:MAX_ORDERS]:
        if not isinstance(item, dict) or not item.get("order_id"):
            continue
        order: dict[str, Any] = {name: str(item.get(name) or "")[:200] for name in _ORDER_TEXT}
        amount = item.get("amount")
        order["amount"] = amount if isinstance(amount, (int, float)) and not isinstance(amount, bool) else None
        created = item.get("created_at")
        order["created_at"] = created if isinstance(created, (int, float)) and not isinstance(created, bool) else None
        if not order["url"].startswith(("https://", "http://")):
            order["url"] = ""  # never a javascript: link in the console
        orders.append(order)
    attributes_in = payload.get("attributes") or {}
    attributes = {str(k)[:40]: _scalar(v) for k, v in list(attributes_in.items())[:MAX_ATTRIBUTES]
                  if v is None or isinstance(v, (str, int, float, bool))} if isinstance(attributes_in, dict) else {}
    return CustomerInfo("ok", orders, attributes)


LocalProvider = Callable[[CustomerQuery], Awaitable[dict[str, Any]]]


class CustomerInfoClient:
    """Asks the configured provider, bounded by ``timeout`` seconds.

    With no ``url``, ``local`` (the demo provider, in process) answers when
    given; otherwise the status is ``disabled``. ``transport`` replaces the
    network in tests, as in httpx."""

    def __init__(self, url: str, timeout: float, *, clock: Callable[[], float],
                 local: LocalProvider | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.clock = clock
        self.local = local
        self.transport = transport

    async def fetch(self, query: CustomerQuery, secret: str) -> CustomerInfo:
        started = self.clock()
        if not self.url:
            if self.local is None:
                return CustomerInfo("disabled", detail="no customer_info_url is configured")
            info = parse_customer_info(orjson.dumps(await self.local(query)))
            return info
        body = query.body()
        timestamp = int(self.clock())
        headers = {"content-type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(secret, timestamp, body)}
        try:
            # httpx bounds each phase; the panel needs a bound on the whole call.
            async with asyncio.timeout(self.timeout), httpx.AsyncClient(
                    transport=self.transport, timeout=self.timeout, follow_redirects=False) as http:
                response = await http.post(self.url, content=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            return self._failed("timeout", f"no answer within {self.timeout:g} s", started)
        except httpx.HTTPError as exc:
            return self._failed("error", f"could not reach the provider ({type(exc).__name__})", started)
        if response.status_code != 200:
            return self._failed("error", f"the provider answered HTTP {response.status_code}", started)
        if len(response.content) > _MAX_RESPONSE_BYTES:
            return self._failed("error", "the answer is too large", started)
        try:
            info = parse_customer_info(response.content)
        except ValueError as exc:
            return self._failed("error", str(exc), started)
        info.elapsed_ms = round((self.clock() - started) * 1000)
        return info

    def _failed(self, status: str, detail: str, started: float) -> CustomerInfo:
        log.warning("customer info %s: %s", status, detail)
        return CustomerInfo(status, detail=detail, elapsed_ms=round((self.clock() - started) * 1000))
