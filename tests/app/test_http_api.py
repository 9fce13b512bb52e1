"""The HTTP API in process (no sockets): auth, roles, admin CRUD, history access, health."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from starlette.applications import Starlette

from chatd.app import create_app
from chatd.conversation import plan
from chatd.model import Site
from chatd.records import MEMORY_URL
from chatd.settings import load_settings
from tests.app.support import PASSWORD, add_team, api_client, new_chat
from tests.support import free_port


@pytest_asyncio.fixture
async def app() -> AsyncIterator[Starlette]:
    app = create_app(load_settings({}, database_url=MEMORY_URL, demo=False, secret="s"))
    store = app.state.chatd.store
    await store.put_site(Site(site_key="demo", name="Demo"))
    await add_team(store)
    yield app
    await app.state.chatd.records.database.close()




async def test_login_logout_and_errors(app: Starlette) -> None:
    http = await api_client(app)
    for body, status, code in [
        ({"agent_id": "ana", "password": "nope"}, 401, "unauthorized"),
        ({"agent_id": "ghost", "password": PASSWORD}, 401, "unauthorized"),
        ({"agent_id": "ana"}, 400, "bad_request"),
    ]:
        answer = await http.post("/api/v1/auth/login", json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
    answer = await http.post("/api/v1/auth/login", content=b"{oops")
    assert answer.json()["error"]["code"] == "bad_request"
    answer = await http.post("/api/v1/auth/login", content=b"x" * (300 * 1024))
    assert (answer.status_code, answer.json()["error"]["code"]) == (413, "payload_too_large")
    ana = await api_client(app, "ana")
    me = await ana.get("/api/v1/me")
    assert me.json()["agent_id"] == "ana" and "password_hash" not in me.json()
    assert (await ana.post("/api/v1/auth/logout")).status_code == 200
    revoked = await ana.get("/api/v1/me")
    assert (revoked.status_code, revoked.json()["error"]["code"]) == (401, "token_revoked")
    assert (await http.get("/api/v1/me")).json()["error"]["code"] == "unauthorized"


async def test_admin_manages_agents_and_sites_and_others_cannot(app: Starlette) -> None:
    root, sam, ana = await api_client(app, "root"), await api_client(app, "sam"), await api_client(app, "ana")
    created = await root.post("/api/v1/agents", json={"agent_id": "cai", "name": "Cai 蔡", "password": "longenough",
                                                      "skills": {"logistics": 5, "general": 2}, "capacity": 4})
    assert created.status_code == 201 and created.json()["skills"] == {"logistics": 5, "general": 2}
    assert (await root.post("/api/v1/agents", json={"agent_id": "cai", "name": "x", "password": "longenough"}
                            )).status_code == 409
    for bad, field in [({"capacity": 0}, "capacity"), ({"skills": {"x": 9}}, "skills"), ({"role": "god"}, "role"),
                       ({"password": "short"}, "password")]:
        answer = await root.patch("/api/v1/agents/cai", json=bad)
        assert answer.status_code == 400 and field in answer.json()["error"]["message"]
    assert (await root.patch("/api/v1/agents/cai", json={"capacity": 6})).json()["capacity"] == 6
    assert (await root.get("/api/v1/agents/nobody")).status_code == 404
    listed = await sam.get("/api/v1/agents")
    assert listed.status_code == 200 and {"ana", "cai"} <= {a["agent_id"] for a in listed.json()["agents"]}
    for client, method, path in [(sam, "POST", "/api/v1/agents"), (ana, "GET", "/api/v1/agents"),
                                 (ana, "GET", "/api/v1/sites"), (sam, "DELETE", "/api/v1/agents/cai"),
                                 (ana, "POST", "/api/v1/sites")]:
        answer = await client.request(method, path, json={})
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden"), (method, path)
    site = await root.post("/api/v1/sites", json={"site_key": "shop", "name": "Shop",
                                                  "allowed_origins": ["https://shop.example"]})
    assert site.status_code == 201 and site.json()["secret"]
    bad = await root.patch("/api/v1/sites/shop", json={"allowed_origins": ["javascript:alert(1)"]})
    assert bad.status_code == 400
    assert (await root.patch("/api/v1/sites/shop", json={"theme_color": "#ff0000"})).json()["theme_color"] == "#ff0000"
    assert (await root.delete("/api/v1/agents/cai")).status_code == 200
    assert (await root.delete("/api/v1/sites/shop")).status_code == 200


async def test_who_may_read_which_conversation(app: Starlette) -> None:
    ctx = app.state.chatd
    store = ctx.store
    conversation = await new_chat(store, "c1", "v_1", at=1.0, skill="general")
    result = await store.assign("c1", "ana", 3.0)
    assert result.ok, result
    await store.append("c1", kind="message", sender_role="visitor", sender_id="v_1", body="hi",
                       client_msg_id="m1", now=4.0)
    visitor_token, _ = ctx.signer.issue("visitor", "v_1", 60, ctx.clock(), site="demo")
    stranger_token, _ = ctx.signer.issue("visitor", "v_2", 60, ctx.clock(), site="demo")
    ana, bo, sam = await api_client(app, "ana"), await api_client(app, "bo"), await api_client(app, "sam")
    visitor, stranger = await api_client(app), await api_client(app)
    visitor.headers["authorization"] = f"Bearer {visitor_token}"
    stranger.headers["authorization"] = f"Bearer {stranger_token}"
    path = f"/api/v1/conversations/{conversation.conversation_id}/messages"
    for client, status in [(ana, 200), (sam, 200), (visitor, 200), (bo, 403), (stranger, 403)]:
        assert (await client.get(path)).status_code == status
    assert (await bo.get("/api/v1/conversations/c1/routing")).status_code == 403
    assert (await visitor.get("/api/v1/conversations/c1/routing")).status_code == 403
    assert (await ana.get("/api/v1/conversations/nope")).status_code == 404
    assert [c["conversation_id"] for c in (await ana.get("/api/v1/conversations")).json()["conversations"]] == ["c1"]
    assert (await bo.get("/api/v1/conversations")).json()["conversations"] == []
    page = (await ana.get(path, params={"before": 0, "limit": 1})).json()
    assert [e["seq"] for e in page["entries"]] == [3] and page["last_seq"] == 3
    assert (await ana.get(path, params={"limit": "lots"})).status_code == 400
    assert (await ana.get("/api/v1/conversations/c1")).json()["rating"] is None
    await store.transition("c1", plan("assigned", "close", current_agent="ana"), 5.0)
    await ctx.service.rate("c1", "v_1", 4, "quick and kind")
    rated = (await sam.get("/api/v1/conversations/c1")).json()
    assert (rated["state"], rated["rating"]["score"], rated["rating"]["comment"]) == ("closed", 4, "quick and kind")
    assert (await bo.get("/api/v1/conversations/c1")).status_code == 403


async def test_metrics_and_readiness_with_an_unreachable_redis() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(load_settings({}, database_url=MEMORY_URL, demo=False, engine="redis", redis_url=dead))
    http = await api_client(app)
    answer = await http.get("/readyz")
    assert answer.status_code == 503 and answer.json()["status"] == "store_unreachable"
    assert (await http.get("/healthz")).status_code == 200
    text = (await http.get("/metrics")).text
    for name in ("chatd_connections", "chatd_messages_total", "chatd_ack_latency_seconds_bucket",
                 "chatd_errors_total", "chatd_assignments_total"):
        assert name in text
    await app.state.chatd.store.close()


async def test_the_conversation_list_is_paged_oldest_first(app: Starlette) -> None:
    store = app.state.chatd.store
    for i in range(7):
        await new_chat(store, f"c{i}", f"v_{i}", at=10.0 - i, skill="general")  # c6 is the oldest
    sam = await api_client(app, "sam")
    first = (await sam.get("/api/v1/conversations", params={"state": "queued", "limit": 3})).json()
    assert [c["conversation_id"] for c in first["conversations"]] == ["c6", "c5", "c4"]
    assert (first["total"], first["offset"], first["limit"]) == (7, 0, 3)
    rest = (await sam.get("/api/v1/conversations", params={"state": "queued", "limit": 3, "offset": 6})).json()
    assert [c["conversation_id"] for c in rest["conversations"]] == ["c0"]
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "all"}):
        answer = await sam.get("/api/v1/conversations", params=bad)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "bad_request"), bad
