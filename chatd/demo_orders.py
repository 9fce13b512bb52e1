"""The demo shop's customer-info provider: fake but stable orders per customer.

It answers the customer-info webhook contract (:mod:`chatd.customer_info`)
on ``POST /demo/customer-info`` when demo data is on, checking the request's
signature with the demo site's secret like a real provider would. With no
``customer_info_url`` configured, the demo calls :func:`demo_customer_info`
in process instead. Orders are derived from a hash of the visitor id, so the
same customer sees the same orders on every node and after restarts.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from chatd.customer_info import SIGNATURE_HEADER, TIMESTAMP_HEADER, CustomerQuery, verify

__all__ = ["DEMO_PRODUCTS", "demo_customer_info", "demo_orders", "demo_orders_endpoint"]

# title, price in CNY
DEMO_PRODUCTS = (
    ("无线蓝牙耳机 Wireless earbuds", 299.0),
    ("保温杯 500ml Thermos flask", 89.0),
    ("机械键盘 Mechanical keyboard", 459.0),
    ("运动鞋 Running shoes", 529.0),
    ("手机壳 Phone case", 39.9),
    ("空气炸锅 Air fryer", 399.0),
)
_STATUSES = ("paid", "shipped", "in_transit", "delivered", "refund_requested")
_DAY = 86_400.0


def demo_orders(visitor_id: str, now: float) -> list[dict[str, Any]]:
    """Two to four orders, newest first, the same for one visitor id."""
    digest = hashlib.sha256(visitor_id.encode()).digest()
    count = 2 + digest[0] % 3
    orders = []
    for index in range(count):
        title, price = DEMO_PRODUCTS[digest[1 + index] % len(DEMO_PRODUCTS)]
        quantity = 1 + digest[5 + index] % 2
        age_days = index * 9 + digest[9 + index] % 7
        order_id = "DS" + str(int.from_bytes(digest[12 + 3 * index:15 + 3 * index], "big")).zfill(8)
        orders.append({"order_id": order_id, "title": title, "status": _STATUSES[(digest[20 + index] + index) % 5]
                       if index else "in_transit", "amount": round(price * quantity, 2), "currency": "CNY",
                       "created_at": round(now - age_days * _DAY - digest[24 + index] * 60),
                       "url": f"https://shop.example.com/orders/{order_id}"})
    return orders


def demo_customer_info(query: CustomerQuery, now: float) -> dict[str, Any]:
    """The provider's whole answer for ``query``."""
    digest = hashlib.sha256(query.visitor_id.encode()).digest()
    return {"orders": demo_orders(query.visitor_id, now),
            "attributes": {"member_since": 2019 + digest[30] % 6, "points": 100 * (digest[31] % 50)}}


async def demo_orders_endpoint(request: Request) -> Response:
    """``POST /demo/customer-info``: checks the signature with the site's secret."""
    ctx = request.app.state.chatd
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("visitor_id"), str) or not body["visitor_id"]:
        return _error(400, "bad_request", "visitor_id is required")
    site = await ctx.store.get_site(str(body.get("site") or ""))
    if site is None or not verify(site.secret, request.headers.get(TIMESTAMP_HEADER),
                                  request.headers.get(SIGNATURE_HEADER), raw, ctx.clock()):
        return _error(401, "unauthorized", "unknown site, or a bad or stale signature")
    query = CustomerQuery(site=site.site_key, visitor_id=body["visitor_id"])
    return Response(orjson.dumps(demo_customer_info(query, ctx.clock())), media_type="application/json")


def _error(status: int, code: str, message: str) -> Response:
    return Response(orjson.dumps({"error": {"code": code, "message": message}}), status,
                    media_type="application/json")
