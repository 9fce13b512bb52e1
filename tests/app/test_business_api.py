"""The REST API for business backends: API keys (scoped, shown once, hashed,
revocable) and what a backend does with them, in process."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from starlette.applications import Starlette

from chatd.app import create_app
from chatd.model import Site
from chatd.records import MEMORY_URL
from chatd.settings import load_settings
from tests.app.support import add_team, api_client

V1 = "/api/v1"


@pytest_asyncio.fixture
async def app() -> AsyncIterator[Starlette]:
    app = create_app(load_settings({}, database_url=MEMORY_URL, demo=False, secret="s"))
    store = app.state.chatd.store
    await store.put_site(Site(site_key="shop", name="Shop", default_skill="general"))
    await add_team(store)
    yield app
    await app.state.chatd.records.database.close()


async def _key(app: Starlette, *scopes: str) -> httpx.AsyncClient:
    root = await api_client(app, "root")
    made = await root.post(f"{V1}/api-keys", json={"name": "orders backend", "scopes": list(scopes)})
    assert made.status_code == 201, made.text
    backend = await api_client(app)
    backend.headers["authorization"] = "Bearer " + made.json()["token"]
    return backend


def _code(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


async def test_keys_are_shown_once_stored_hashed_and_revocable(app: Starlette) -> None:
    root, sam = await api_client(app, "root"), await api_client(app, "sam")
    made = (await root.post(f"{V1}/api-keys", json={"name": "crm", "scopes": ["conversations:read"]})).json()
    token = made["token"]
    assert token.startswith("chatd_") and made["scopes"] == ["conversations:read"]
    stored = await app.state.chatd.store.get_api_key(made["key_id"])
    assert stored is not None and token.split(".", 1)[1] not in repr(stored.to_dict())  # only its hash is kept
    listed = (await root.get(f"{V1}/api-keys")).json()["api_keys"]
    assert [k["key_id"] for k in listed] == [made["key_id"]] and "token" not in listed[0]
    assert "secret_hash" not in listed[0]
    backend = await api_client(app)
    backend.headers["authorization"] = f"Bearer {token}"
    assert (await backend.get(f"{V1}/conversations")).status_code == 200
    for bad in (token[:-1] + "x", "chatd_nosuchkey.abc", "chatd_", "chatd_../..x"):
        backend.headers["authorization"] = f"Bearer {bad}"
        assert _code(await backend.get(f"{V1}/conversations")) == (401, "unauthorized"), bad
    assert (await root.delete(f"{V1}/api-keys/{made['key_id']}")).json()["revoked_at"] > 0
    backend.headers["authorization"] = f"Bearer {token}"
    assert _code(await backend.get(f"{V1}/conversations")) == (401, "token_revoked")
    # Only admins manage keys; a key cannot make keys; bad scopes are refused.
    assert _code(await sam.post(f"{V1}/api-keys", json={"name": "x", "scopes": ["conversations:read"]})) == \
        (403, "forbidden")
    assert _code(await backend.get(f"{V1}/api-keys")) in ((401, "token_revoked"), (403, "forbidden"))
    for body in ({"name": "x", "scopes": []}, {"name": "x", "scopes": ["admin"]}, {"scopes": ["conversations:read"]}):
        assert _code(await root.post(f"{V1}/api-keys", json=body)) == (400, "bad_request"), body
    assert _code(await root.delete(f"{V1}/api-keys/nope")) == (404, "not_found")


async def test_a_backend_starts_works_and_exports_a_customers_conversation(app: Starlette) -> None:
    backend = await _key(app, "conversations:read", "conversations:write")
    started = await backend.post(f"{V1}/conversations", json={
        "site_key": "shop", "customer_id": "42", "name": "Li Lei", "message": "About order #1001: late delivery"})
    assert started.status_code == 201 and started.json()["created"] is True
    conversation = started.json()["conversation"]
    cid = conversation["conversation_id"]
    assert (conversation["visitor_id"], conversation["state"], conversation["skill"]) == ("u:42", "queued", "general")
    again = await backend.post(f"{V1}/conversations", json={"site_key": "shop", "customer_id": "42"})
    assert again.status_code == 200 and again.json()["conversation"]["conversation_id"] == cid  # one open per customer

    bot = await backend.post(f"{V1}/conversations/{cid}/messages", json={"body": "We are on it.", "as": "bot"})
    assert bot.status_code == 201
    once = {"body": "Your parcel left the warehouse.", "client_msg_id": "ship-1001"}
    first = await backend.post(f"{V1}/conversations/{cid}/messages", json=once)
    repeat = await backend.post(f"{V1}/conversations/{cid}/messages", json=once)
    assert (first.status_code, repeat.status_code) == (201, 200) and repeat.json()["seq"] == first.json()["seq"]

    moved = await backend.post(f"{V1}/conversations/{cid}/transfer", json={"skill": "general", "note": "VIP"})
    assert _code(moved) == (400, "bad_request")  # already waiting there
    closed = await backend.post(f"{V1}/conversations/{cid}/close", json={"disposition": "answered by backend"})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"

    exported = (await backend.get(f"{V1}/conversations/{cid}/transcript")).json()
    bodies = [(e["sender_role"], e["body"]) for e in exported["entries"] if e["kind"] == "message"]
    assert bodies == [("system", "About order #1001: late delivery"), ("bot", "We are on it."),
                      ("system", "Your parcel left the warehouse.")]
    assert [e["body"] for e in exported["entries"] if e["kind"] == "event"][-1] == "closed"
    as_csv = await backend.get(f"{V1}/conversations/{cid}/transcript", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert as_csv.headers["content-type"].startswith("text/csv") and "attachment" in as_csv.headers[
        "content-disposition"]
    assert [r["body"] for r in rows if r["kind"] == "message"] == [b for _, b in bodies]
    assert rows[-1]["event"] == "closed"
    # The same conversation through the agent endpoints, with the read scope.
    assert (await backend.get(f"{V1}/conversations/{cid}")).json()["state"] == "closed"
    assert (await backend.get(f"{V1}/conversations/{cid}/messages")).status_code == 200


async def test_scopes_and_bad_requests_are_refused_with_stable_codes(app: Starlette) -> None:
    reader = await _key(app, "conversations:read")
    writer = await _key(app, "conversations:write")
    ana = await api_client(app, "ana")
    start = {"site_key": "shop", "customer_id": "7"}
    assert _code(await reader.post(f"{V1}/conversations", json=start)) == (403, "forbidden")
    assert _code(await ana.post(f"{V1}/conversations", json=start)) == (403, "forbidden")  # agents use the widget
    cid = (await writer.post(f"{V1}/conversations", json=start)).json()["conversation"]["conversation_id"]
    assert _code(await writer.get(f"{V1}/conversations/{cid}/transcript")) == (403, "forbidden")
    assert _code(await writer.get(f"{V1}/conversations")) == (403, "forbidden")
    for body, code in [({"site_key": "nope", "customer_id": "7"}, (404, "unknown_site")),
                       ({"site_key": "shop"}, (400, "bad_request")),
                       ({"site_key": "shop", "customer_id": "x" * 65}, (400, "bad_request")),
                       ({"site_key": "shop", "customer_id": "8", "skill": "Bad Skill"}, (400, "bad_request")),
                       ({"site_key": "shop", "customer_id": "8", "skill": "nosuchgroup"}, (404, "unknown_skill"))]:
        assert _code(await writer.post(f"{V1}/conversations", json=body)) == code, body
    for body in ({"body": ""}, {"body": "hi", "as": "agent"}, {"body": "x" * 4001}, {"body": 5}):
        assert _code(await writer.post(f"{V1}/conversations/{cid}/messages", json=body)) == (400, "bad_request")
    assert _code(await writer.post(f"{V1}/conversations/nope/messages", json={"body": "hi"}))[0] == 404
    assert _code(await writer.post(f"{V1}/conversations/{cid}/transfer", json={})) == (400, "bad_request")
    assert _code(await writer.post(f"{V1}/conversations/{cid}/transfer", json={"agent_id": "ghost"})) == \
        (404, "unknown_agent")
    assert (await writer.post(f"{V1}/conversations/{cid}/close", json={})).status_code == 200
    assert _code(await writer.post(f"{V1}/conversations/{cid}/messages", json={"body": "late"})) == \
        (409, "conversation_closed")
    assert _code(await reader.get(f"{V1}/conversations/{cid}/transcript", params={"format": "xml"})) == \
        (400, "bad_request")


async def test_the_openapi_document_is_valid_and_lists_every_route(app: Starlette) -> None:
    from openapi_spec_validator import validate

    from chatd.api.routes import api_routes

    http = await api_client(app)
    document = (await http.get(f"{V1}/openapi.json")).json()
    validate(document)
    listed = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    routed = {(method, route.path) for route in api_routes() if route.path.startswith(V1)
              for method in (route.methods or set()) - {"HEAD"}}
    assert listed == routed
    start = document["paths"][f"{V1}/conversations"]["post"]
    schema = start["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["site_key", "customer_id"] and start["security"] == [{"bearer": []}]
    assert "security" not in document["paths"][f"{V1}/auth/login"]["post"]
    error = document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert "too_many_attempts" in error and "unknown_site" in error


async def test_only_subscribed_events_reach_the_outbox(app: Starlette) -> None:
    store = app.state.chatd.store
    backend = await _key(app, "conversations:read", "conversations:write")
    cid = (await backend.post(f"{V1}/conversations", json={"site_key": "shop", "customer_id": "1"})).json()[
        "conversation"]["conversation_id"]
    await backend.post(f"{V1}/conversations/{cid}/messages", json={"body": "nobody listens"})
    assert await store.claim_events("test", 100, 60) == []  # no site subscribes: nothing is kept
    root = await api_client(app, "root")
    site = (await root.patch(f"{V1}/sites/shop", json={"events_url": "https://hooks.example/chatd",
                                                       "events": ["message.created"]})).json()
    assert site["events_secret"] and site["events"] == ["message.created"]
    await backend.post(f"{V1}/conversations/{cid}/messages", json={"body": "now it does", "as": "bot"})
    await backend.post(f"{V1}/conversations/{cid}/close", json={})  # not subscribed
    claimed = await store.claim_events("test", 100, 60)
    assert [(e["type"], e["data"]["body"], e["data"]["sender_role"]) for _, e in claimed] == [
        ("message.created", "now it does", "bot")]
    assert claimed[0][1]["site_key"] == "shop" and claimed[0][1]["conversation_id"] == cid


async def test_a_backend_opens_lists_and_closes_tickets_with_its_key(app: Starlette) -> None:
    store = app.state.chatd.store
    root = await api_client(app, "root")
    await root.patch(f"{V1}/sites/shop", json={"events_url": "https://hooks.example/chatd",
                                               "events": ["ticket.created", "ticket.updated"]})
    chats = await _key(app, "conversations:write")
    tickets = await _key(app, "tickets:read", "tickets:write")
    reader = await _key(app, "tickets:read")
    cid = (await chats.post(f"{V1}/conversations", json={"site_key": "shop", "customer_id": "5", "name": "Wu"})
           ).json()["conversation"]["conversation_id"]
    made = await tickets.post(f"{V1}/tickets", json={"conversation_id": cid, "category": "refund",
                                                      "message": "Refund order #77", "email": "wu@example.com"})
    assert made.status_code == 201, made.text
    ticket = made.json()["ticket"]
    assert ticket["created_by"].startswith("api:") and ticket["contact"]["name"] == "Wu"
    listed = (await reader.get(f"{V1}/tickets", params={"conversation_id": cid})).json()["tickets"]
    assert [t["ticket_id"] for t in listed] == [ticket["ticket_id"]]
    assert _code(await reader.patch(f"{V1}/tickets/{ticket['ticket_id']}", json={"status": "closed"})) == \
        (403, "forbidden")
    assert _code(await chats.get(f"{V1}/tickets")) == (403, "forbidden")
    closed = await tickets.patch(f"{V1}/tickets/{ticket['ticket_id']}", json={"status": "closed"})
    assert closed.json()["ticket"]["closed_by"].startswith("api:")
    assert _code(await tickets.post(f"{V1}/tickets", json={"conversation_id": "nope"}))[0] == 404
    events = [e for _, e in await store.claim_events("test", 100, 60) if e["type"].startswith("ticket.")]
    assert [(e["type"], e["data"]["ticket"]["status"]) for e in events] == [("ticket.created", "open"),
                                                                           ("ticket.updated", "closed")]
