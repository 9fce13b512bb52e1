"""The console's HTTP API in process: the floor, reassign, the customer panel
and the customer-info webhook client (with the demo provider over ASGI)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from chatd.api.console import start_of_day
from chatd.app import create_app
from chatd.conversation import plan
from chatd.customer_info import CustomerInfoClient, CustomerQuery, parse_customer_info, sign, verify
from chatd.demo_orders import demo_orders
from chatd.errors import ChatdError
from chatd.model import Site
from chatd.records import MEMORY_URL
from chatd.settings import load_settings
from tests.app.support import add_team, api_client, new_chat

T0 = 1_763_884_800.0  # 2025-11-23 08:00 UTC


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture
async def app(clock: Clock) -> AsyncIterator[Starlette]:
    app = create_app(load_settings({}, database_url=MEMORY_URL, demo=True, secret="s"), clock=clock)
    store = app.state.chatd.store
    await store.put_site(Site(site_key="demo", name="Demo", secret="site-secret"))
    await add_team(store)
    yield app
    await app.state.chatd.records.database.close()


async def _chat(app: Starlette, cid: str, visitor: str, *, agent: str = "", at: float = T0) -> None:
    store = app.state.chatd.store
    await new_chat(store, cid, visitor, at=at, visitor_name="Li Lei", skill="general")
    if agent:
        assert (await store.assign(cid, agent, at + 1)).ok
    await store.append(cid, kind="message", sender_role="visitor", sender_id=visitor, body=f"hello from {cid}",
                       client_msg_id=f"m-{cid}", now=at + 2)


async def test_floor_shows_queues_loads_and_todays_counts_to_supervisors_only(app: Starlette, clock: Clock) -> None:
    await _chat(app, "c1", "v_1", agent="ana")
    await _chat(app, "c2", "v_2", at=T0 + 5)
    await _chat(app, "c3", "v_3", agent="ana")
    await _chat(app, "c4", "v_4")
    ctx = app.state.chatd
    clock.now = T0 + 65
    await ctx.service.close("c3", "agent", "ana")
    await ctx.service.close("c4", "visitor", "v_4")  # left while waiting
    sam, root, ana = await api_client(app, "sam"), await api_client(app, "root"), await api_client(app, "ana")
    assert (await ana.get("/api/v1/floor")).json()["error"]["code"] == "forbidden"
    answer = await sam.get("/api/v1/floor", params={"tz": "Asia/Shanghai"})
    assert answer.status_code == 200, answer.text
    floor = answer.json()
    general = next(q for q in floor["queues"] if q["skill"] == "general")
    assert general["length"] == 1 and general["longest_wait_seconds"] == 60.0
    assert [c["conversation_id"] for c in general["conversations"]] == ["c2"]
    agents = {a["agent_id"]: a for a in floor["agents"]}
    assert agents["ana"]["load"] == 1 and [c["conversation_id"] for c in agents["ana"]["conversations"]] == ["c1"]
    assert agents["ana"]["today"] == {"closed": 1} and agents["bo"]["today"] == {"closed": 0}
    assert general["abandoned_today"] == 1
    assert floor["totals"] == {"queued": 1, "active": 1, "closed_today": 1, "abandoned_today": 1}
    assert (await root.get("/api/v1/floor")).status_code == 200
    for tz in ("Mars/Olympus", "../etc", "a b"):
        bad = await sam.get("/api/v1/floor", params={"tz": tz})
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "bad_request"), tz


def test_start_of_day_follows_the_time_zone() -> None:
    assert start_of_day(T0, "UTC") == T0 - 8 * 3600
    assert start_of_day(T0, "Asia/Shanghai") == T0 - 16 * 3600  # 16:00 in Shanghai


async def test_reassign_moves_chats_with_a_note_and_refuses_bad_requests(app: Starlette) -> None:
    await _chat(app, "c1", "v_1", agent="ana")
    await _chat(app, "c2", "v_2")
    sam, ana = await api_client(app, "sam"), await api_client(app, "ana")
    denied = await ana.post("/api/v1/conversations/c1/reassign", json={"to_agent": "bo"})
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "forbidden")
    for body, status, code in [({}, 400, "bad_request"), ({"to_agent": "bo", "to_skill": "x"}, 400, "bad_request"),
                               ({"to_agent": 7}, 400, "bad_request"), ({"to_agent": "ghost"}, 404, "unknown_agent"),
                               ({"to_agent": "bo", "note": "x" * 1001}, 400, "bad_request")]:
        answer = await sam.post("/api/v1/conversations/c1/reassign", json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), body
    assert (await sam.post("/api/v1/conversations/nope/reassign", json={"to_agent": "bo"})).status_code == 404
    targets = (await ana.get("/api/v1/transfer-targets")).json()
    assert {"ana", "bo", "sam"} <= {a["agent_id"] for a in targets["agents"]} and "general" in targets["skill_groups"]
    moved = await sam.post("/api/v1/conversations/c1/reassign", json={"to_agent": "bo", "note": "VIP, be quick"})
    assert moved.status_code == 200 and moved.json()["agent_id"] == "bo"
    log = (await sam.get("/api/v1/conversations/c1/messages")).json()["entries"]
    assert log[-1]["body"] == "transferred" and log[-1]["data"]["note"] == "VIP, be quick"
    assert log[-1]["sender_role"] == "supervisor" and log[-1]["data"]["from_agent"] == "ana"
    routing = (await sam.get("/api/v1/conversations/c1/routing")).json()["decisions"]
    assert routing[-1]["kind"] == "reassigned" and routing[-1]["by"] == "sam"
    # A queued chat moves to another group (not to the one it waits in) or goes straight to an agent.
    same = await sam.post("/api/v1/conversations/c2/reassign", json={"to_skill": "general"})
    assert (same.status_code, same.json()["error"]["code"]) == (400, "bad_request")
    unknown = await sam.post("/api/v1/conversations/c2/reassign", json={"to_skill": "billing", "note": "invoice"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_skill")  # nobody's group
    root = await api_client(app, "root")
    assert (await root.put("/api/v1/skill-groups/billing", json={})).status_code == 200
    regrouped = await sam.post("/api/v1/conversations/c2/reassign", json={"to_skill": "billing", "note": "invoice"})
    assert regrouped.status_code == 200, regrouped.text
    assert (regrouped.json()["state"], regrouped.json()["skill"]) == ("queued", "billing")
    store = app.state.chatd.store
    assert [c.conversation_id for c in await store.queue("billing")] == ["c2"] and not await store.queue("general")
    given = await sam.post("/api/v1/conversations/c2/reassign", json={"to_agent": "ana"})
    assert given.status_code == 200 and given.json()["state"] == "assigned" and given.json()["agent_id"] == "ana"
    again = await sam.post("/api/v1/conversations/c2/reassign", json={"to_agent": "ana"})
    assert again.json()["error"]["code"] == "bad_request"  # already with ana
    await app.state.chatd.service.close("c2", "agent", "ana")
    closed = await sam.post("/api/v1/conversations/c2/reassign", json={"to_agent": "bo"})
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "bad_state")


async def test_reassign_withdraws_an_offer(app: Starlette) -> None:
    store = app.state.chatd.store
    sam = await api_client(app, "sam")
    for cid in ("c1", "c2"):
        await _chat(app, cid, f"v_{cid}")
        offer = dataclasses.replace(plan("queued", "offer", agent_id="ana"), fields={"offer_expires_at": T0 + 30})
        await store.transition(cid, offer, T0 + 1)
    assert (await store.agent_runtime())["ana"]["load"] == 2
    # An agent may not pass on a chat only offered to them; a supervisor may.
    refused = await api_client(app, "ana")
    assert (await refused.post("/api/v1/conversations/c1/reassign", json={"to_agent": "bo"})).status_code == 403
    with pytest.raises(ChatdError) as caught:
        await app.state.chatd.service.transfer("c1", "ana", to_agent="bo")
    assert caught.value.code == "bad_state"
    moved = await sam.post("/api/v1/conversations/c1/reassign", json={"to_agent": "bo", "note": "bo knows"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["state"], moved.json()["agent_id"], moved.json()["offer_expires_at"]) == ("assigned", "bo", 0)
    root = await api_client(app, "root")
    assert (await root.put("/api/v1/skill-groups/billing", json={})).status_code == 200
    regrouped = await sam.post("/api/v1/conversations/c2/reassign", json={"to_skill": "billing"})
    assert regrouped.status_code == 200, regrouped.text
    assert (regrouped.json()["state"], regrouped.json()["agent_id"], regrouped.json()["skill"]) == (
        "queued", "", "billing")
    runtime = await store.agent_runtime()
    assert (runtime["ana"]["load"], runtime["bo"]["load"]) == (0, 1)
    log = (await sam.get("/api/v1/conversations/c1/messages")).json()["entries"]
    assert log[-1]["body"] == "transferred" and log[-1]["data"]["from_agent"] == "ana"
    assert log[-1]["data"]["note"] == "bo knows"


async def test_customer_panel_profile_history_and_demo_orders(app: Starlette) -> None:
    store = app.state.chatd.store
    await store.update_visitor("demo", "u:42", {"name": "Han Meimei", "vip": 2, "email": "han@example.com",
                                                "page_url": "https://shop.example/cart", "plan": "gold"})
    await _chat(app, "old", "u:42", agent="bo")
    await app.state.chatd.service.close("old", "agent", "bo")
    await _chat(app, "c1", "u:42", agent="ana")
    await _chat(app, "other", "v_9", agent="bo")
    ana, bo, sam = await api_client(app, "ana"), await api_client(app, "bo"), await api_client(app, "sam")
    answer = await ana.get("/api/v1/conversations/c1/customer")
    assert answer.status_code == 200, answer.text
    panel = answer.json()
    visitor = panel["visitor"]
    assert (visitor["name"], visitor["vip"], visitor["email"], visitor["user_id"], visitor["verified"]) == (
        "Han Meimei", 2, "han@example.com", "42", True)
    assert visitor["current_page"] == "https://shop.example/cart" and visitor["attributes"] == {"plan": "gold"}
    assert [h["conversation_id"] for h in panel["history"]] == ["old"]
    info = panel["customer_info"]
    assert info["status"] == "ok" and info["orders"] == demo_orders("u:42", T0)
    past = await ana.get("/api/v1/conversations/c1/customer/conversations/old")
    assert past.status_code == 200 and past.json()["entries"][-2]["body"] == "hello from old"
    # Only this customer's conversations, and only for who may read the current one.
    assert (await ana.get("/api/v1/conversations/c1/customer/conversations/other")).status_code == 404
    assert (await bo.get("/api/v1/conversations/c1/customer")).json()["error"]["code"] == "forbidden"
    assert (await bo.get("/api/v1/conversations/c1/customer/conversations/old")).status_code == 403
    assert (await sam.get("/api/v1/conversations/c1/customer")).status_code == 200
    visitor_token, _ = app.state.chatd.signer.issue("visitor", "u:42", 60, T0, site="demo")
    as_visitor = await api_client(app)
    as_visitor.headers["authorization"] = f"Bearer {visitor_token}"
    assert (await as_visitor.get("/api/v1/conversations/c1/customer")).status_code == 403


async def test_customer_info_client_signs_bounds_time_and_reports_failures(app: Starlette, clock: Clock) -> None:
    query = CustomerQuery(site="demo", visitor_id="v_1")
    provider = httpx.ASGITransport(app=app)  # the demo provider checks the signature with the site's secret
    ok = await CustomerInfoClient("http://chatd/demo/customer-info", 2.0, clock=clock, transport=provider).fetch(
        query, "site-secret")
    assert ok.status == "ok" and ok.orders == demo_orders("v_1", T0) and "points" in ok.attributes
    forged = await CustomerInfoClient("http://chatd/demo/customer-info", 2.0, clock=clock, transport=provider).fetch(
        query, "wrong-secret")
    assert (forged.status, forged.detail) == ("error", "the provider answered HTTP 401")

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"orders": []})

    timed_out = await CustomerInfoClient("http://provider/info", 0.2, clock=clock,
                                         transport=httpx.MockTransport(slow)).fetch(query, "s")
    assert timed_out.status == "timeout" and timed_out.orders == []
    for reply in (httpx.Response(500), httpx.Response(200, content=b"<html>"), httpx.Response(200, json=[1])):
        failed = await CustomerInfoClient("http://provider/info", 1.0, clock=clock,
                                          transport=httpx.MockTransport(lambda r, reply=reply: reply)).fetch(query, "s")
        assert failed.status == "error" and failed.detail
    refused = await CustomerInfoClient("http://127.0.0.1:9/info", 1.0, clock=clock).fetch(query, "s")
    assert refused.status == "error"
    disabled = await CustomerInfoClient("", 1.0, clock=clock).fetch(query, "s")
    assert disabled.status == "disabled"


def test_provider_answers_are_kept_to_the_documented_shape() -> None:
    raw = orjson.dumps({"orders": [{"order_id": "A1", "title": "x" * 500, "amount": "lots", "url": "javascript:1",
                                    "extra": "dropped"}, {"title": "no id"}] + [{"order_id": f"B{i}"}
                                                                                 for i in range(30)],
                        "attributes": {"tier": "gold", "nested": {"a": 1}}})
    info = parse_customer_info(raw)
    first = info.orders[0]
    assert len(info.orders) == 19 and first["url"] == "" and first["amount"] is None and len(first["title"]) == 200
    assert "extra" not in first and info.attributes == {"tier": "gold"}
    with pytest.raises(ValueError):
        parse_customer_info(b'{"orders": "none"}')
    body = b'{"visitor_id":"v"}'
    signature = sign("k", 100, body)
    assert verify("k", "100", signature, body, 150) and not verify("k", "100", signature, body, 1000)
    assert not verify("k", "100", signature, body + b" ", 150) and not verify("", "100", signature, body, 150)
    assert demo_orders("v_1", T0) == demo_orders("v_1", T0) != demo_orders("v_2", T0)
