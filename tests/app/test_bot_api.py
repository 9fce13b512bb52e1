"""The bot's HTTP API in process: tickets and leave-a-message, quick replies with role
checks, the knowledge base's import/export, overflow rules, bot settings, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest_asyncio
from starlette.applications import Starlette

from chatd.app import create_app
from chatd.auth import hash_password
from chatd.bot.kb import entries_from_csv
from chatd.bot.runtime import seed_bot_demo
from chatd.model import Agent, Site
from chatd.records import MEMORY_URL
from chatd.settings import load_settings
from tests.app.support import PASSWORD, add_team, api_client, new_chat


@pytest_asyncio.fixture
async def app() -> AsyncIterator[Starlette]:
    app = create_app(load_settings({}, database_url=MEMORY_URL, demo=False, secret="s"))
    store = app.state.chatd.store
    await store.put_site(Site(site_key="demo", name="Demo Shop", allowed_origins=["https://shop.example"]))
    await add_team(store)
    yield app
    await app.state.chatd.records.database.close()




def _code(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


async def test_leave_message_becomes_a_ticket_agents_list_and_close(app: Starlette) -> None:
    http, ana = await api_client(app), await api_client(app, "ana")
    form = {"site": "demo", "name": "王小明", "phone": "+86 138-0000-0000", "email": "",
            "body": "发票抬头开错了，请联系我",
            "locale": "zh-CN", "page_url": "https://shop.example/orders", "attributes": {"plan": "gold"}}
    created = await http.post("/api/v1/leave-message", json=form, headers={"origin": "https://shop.example"})
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert ticket["status"] == "open" and ticket["source"] == "leave_message" and ticket["created_by"] == "visitor"
    assert ticket["contact"] == {"name": "王小明", "phone": "+86 138-0000-0000", "email": ""}
    assert ticket["message"] == "发票抬头开错了，请联系我" and ticket["site_key"] == "demo"
    assert (await http.get("/api/v1/tickets")).status_code == 401  # listing needs an agent
    listed = (await ana.get("/api/v1/tickets?status=open")).json()["tickets"]
    assert [t["ticket_id"] for t in listed] == [ticket["ticket_id"]]
    closed = await ana.patch(f"/api/v1/tickets/{ticket['ticket_id']}", json={"status": "closed"})
    assert closed.json()["ticket"]["status"] == "closed" and closed.json()["ticket"]["closed_by"] == "ana"
    assert (await ana.get("/api/v1/tickets?status=open")).json()["tickets"] == []
    assert len((await ana.get("/api/v1/tickets?status=closed")).json()["tickets"]) == 1


async def test_leave_message_bad_input_stores_nothing(app: Starlette) -> None:
    http, ana = await api_client(app), await api_client(app, "ana")
    good = {"site": "demo", "name": "Li", "email": "li@example.com", "body": "call me back"}
    for body, headers, expected in [
        ({**good, "site": "nope"}, {}, (404, "unknown_site")),
        ({k: v for k, v in good.items() if k != "site"}, {}, (400, "bad_request")),
        (good, {"origin": "https://evil.example"}, (403, "origin_not_allowed")),
        ({**good, "body": ""}, {}, (400, "bad_request")),
        ({**good, "body": "x" * 4001}, {}, (400, "bad_request")),
        ({**good, "email": "not-an-email"}, {}, (400, "bad_request")),
        ({"site": "demo", "name": "Li", "body": "no way to reach me"}, {}, (400, "bad_request")),
        ({**good, "attributes": {"nested": {"a": 1}}}, {}, (400, "bad_request")),
        ({**good, "surprise": 1}, {}, (400, "bad_request")),
    ]:
        assert _code(await http.post("/api/v1/leave-message", json=body, headers=headers)) == expected, body
    answer = await http.post("/api/v1/leave-message", content=b"[1, 2")
    assert _code(answer) == (400, "bad_request")
    assert (await ana.get("/api/v1/tickets")).json()["tickets"] == []
    # A stale visitor token never loses the message.
    kept = await http.post("/api/v1/leave-message", json=good, headers={"authorization": "Bearer junk"})
    assert kept.status_code == 201 and kept.json()["ticket"]["visitor_id"] == ""


async def test_agent_creates_ticket_from_a_conversation(app: Starlette) -> None:
    ctx = app.state.chatd
    await ctx.store.update_visitor("demo", "v1", {"name": "Zhang", "phone": "13800000000"})
    await new_chat(ctx.store, "c1", "v1", at=1.0, queue=False, skill="general")
    ana, sam = await api_client(app, "ana"), await api_client(app, "sam")
    # ana does not hold c1; a supervisor may read every conversation.
    assert _code(await ana.post("/api/v1/tickets", json={"conversation_id": "c1", "category": "invoices"})) == (
        403, "forbidden")
    assert _code(await sam.post("/api/v1/tickets", json={"conversation_id": "nope"})) == (404, "not_found")
    assert _code(await sam.post("/api/v1/tickets", json={"conversation_id": "c1", "category": "Bad Cat"})) == (
        400, "bad_request")
    created = await sam.post("/api/v1/tickets", json={"conversation_id": "c1", "category": "invoices",
                                                      "message": "second line: reissue the invoice"})
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert ticket["contact"]["name"] == "Zhang" and ticket["contact"]["phone"] == "13800000000"
    assert ticket["created_by"] == "sam" and ticket["conversation_id"] == "c1" and ticket["category"] == "invoices"
    assert _code(await sam.patch(f"/api/v1/tickets/{ticket['ticket_id']}", json={"status": "done"})) == (
        400, "bad_request")
    assert _code(await sam.patch("/api/v1/tickets/t_nope", json={"status": "closed"})) == (404, "not_found")
    listed = (await ana.get("/api/v1/tickets?conversation_id=c1")).json()["tickets"]
    assert [t["ticket_id"] for t in listed] == [ticket["ticket_id"]]


async def test_quick_replies_scopes_roles_search_and_render(app: Starlette) -> None:
    ctx = app.state.chatd
    ana, bo, sam = await api_client(app, "ana"), await api_client(app, "bo"), await api_client(app, "sam")
    team = {"shortcut": "/refund", "title": "退款时效",
            "text": "您好 {visitor.name|亲}，我是{agent.name}，退款1-3个工作日到账。",
            "category": "refunds", "scope": "team"}
    assert _code(await ana.post("/api/v1/quick-replies", json=team)) == (403, "forbidden")
    created = await sam.post("/api/v1/quick-replies", json=team)
    assert created.status_code == 201 and created.json()["owner"] == "team"
    team_id = created.json()["id"]
    assert _code(await sam.post("/api/v1/quick-replies", json=team)) == (409, "conflict")
    mine = await ana.post("/api/v1/quick-replies", json={"shortcut": "ref2", "title": "My refund", "text": "hi",
                                                         "category": "refunds"})
    assert mine.status_code == 201 and mine.json()["owner"] == "ana" and mine.json()["shortcut"] == "/ref2"
    mine_id = mine.json()["id"]
    await bo.post("/api/v1/quick-replies", json={"shortcut": "/bye", "title": "Bye", "text": "bye"})
    # Each agent sees team replies and their own, never a colleague's.
    seen = (await ana.get("/api/v1/quick-replies?prefix=/re")).json()["quick_replies"]
    assert {r["id"] for r in seen} == {team_id, mine_id}
    assert [r["shortcut"] for r in (await ana.get("/api/v1/quick-replies?prefix=bye")).json()["quick_replies"]] == []
    assert [r["id"] for r in (await ana.get("/api/v1/quick-replies?q=退款时效")).json()["quick_replies"]] == [team_id]
    # Roles: ana cannot edit team replies nor bo's personal one; bo's is "not found" to her.
    assert _code(await ana.patch(f"/api/v1/quick-replies/{team_id}", json={"text": "x"})) == (403, "forbidden")
    assert _code(await ana.delete(f"/api/v1/quick-replies/{team_id}")) == (403, "forbidden")
    bo_id = (await bo.get("/api/v1/quick-replies?prefix=/bye")).json()["quick_replies"][0]["id"]
    assert _code(await ana.patch(f"/api/v1/quick-replies/{bo_id}", json={"text": "x"})) == (404, "not_found")
    assert _code(await sam.delete(f"/api/v1/quick-replies/{bo_id}")) == (404, "not_found")
    assert (await ana.patch(f"/api/v1/quick-replies/{mine_id}", json={"text": "hello"})).json()["text"] == "hello"
    for bad in ({"shortcut": "/has space"}, {"text": ""}, {"title": 5}, {"owner": "bo"}, {"scope": "team"}):
        assert _code(await ana.patch(f"/api/v1/quick-replies/{mine_id}", json=bad)) == (400, "bad_request"), bad
    assert _code(await ana.post("/api/v1/quick-replies", json={"shortcut": "/x"})) == (400, "bad_request")
    # Rendering fills the visitor's and the agent's names for a conversation the agent may read.
    await ctx.store.update_visitor("demo", "v1", {"name": "王小明"})
    await new_chat(ctx.store, "c1", "v1", at=1.0, queue=False, skill="general")
    rendered = await sam.post(f"/api/v1/quick-replies/{team_id}/render", json={"conversation_id": "c1"})
    assert rendered.json()["text"] == "您好 王小明，我是Sam，退款1-3个工作日到账。"
    assert _code(await ana.post(f"/api/v1/quick-replies/{team_id}/render", json={"conversation_id": "c1"})) == (
        403, "forbidden")
    assert (await ana.post(f"/api/v1/quick-replies/{team_id}/render", json={})).json()["text"] == (
        "您好 亲，我是Ana，退款1-3个工作日到账。")
    assert (await ana.delete(f"/api/v1/quick-replies/{mine_id}")).status_code == 200
    assert _code(await ana.get(f"/api/v1/quick-replies/{mine_id}")) == (404, "not_found")


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now


SHANGHAI = ZoneInfo("Asia/Shanghai")
WEDNESDAY_10 = datetime(2025, 6, 11, 10, 0, tzinfo=SHANGHAI)
SATURDAY_10 = datetime(2025, 6, 14, 10, 0, tzinfo=SHANGHAI)


@pytest_asyncio.fixture
async def timed() -> AsyncIterator[tuple[Starlette, Clock]]:
    clock = Clock(WEDNESDAY_10)
    app = create_app(load_settings({}, database_url=MEMORY_URL, demo=False, secret="s"), clock=clock)
    store = app.state.chatd.store
    await store.put_site(Site(site_key="demo", name="Demo Shop"))
    await store.put_site(Site(site_key="botty", name="Bot first shop"))
    for agent_id, role in (("ana", "agent"), ("sam", "supervisor"), ("root", "admin")):
        await store.put_agent(Agent(agent_id=agent_id, name=agent_id.title(), role=role,
                                    skills={"general": 3, "after_sales": 3}, password_hash=hash_password(PASSWORD)))
    await seed_bot_demo(app.state.chatd.records, ["botty"], "botty")
    await app.state.chatd.records.overflow_rules.delete("after_sales")
    yield app, clock
    await app.state.chatd.service.bot.stop()
    await app.state.chatd.records.database.close()


async def _log(app: Starlette, conversation_id: str) -> list[dict[str, Any]]:
    await app.state.chatd.service.bot.idle()
    return [e.to_dict() for e in (await app.state.chatd.store.read(conversation_id, 0)).entries]


async def test_overflow_sends_new_chats_to_the_bot_or_the_leave_message_form(
        timed: tuple[Starlette, Clock]) -> None:
    app, clock = timed
    service = app.state.chatd.service
    root, sam, http = await api_client(app, "root"), await api_client(app, "sam"), await api_client(app)
    for bad in ({"max_queue": -1}, {"max_wait_seconds": "soon"}, {"business_hours": {"timezone": "Mars/Base"}},
                {"peak": {"timezone": "Asia/Shanghai", "daily": ["25:00-26:00"]}}, {"skill_group": "other"},
                {"surprise": True}):
        assert _code(await root.put("/api/v1/overflow-rules/general", json=bad)) == (400, "bad_request"), bad
    assert _code(await sam.put("/api/v1/overflow-rules/general", json={"max_queue": 1})) == (403, "forbidden")
    rule = {"max_queue": 1, "business_hours": {"timezone": "Asia/Shanghai", "weekly": {"mon-fri": ["09:00-18:00"]}}}
    assert (await root.put("/api/v1/overflow-rules/general", json=rule)).status_code == 200
    # Wednesday 10:00: the first two chats queue for a human, the third finds the queue over its limit.
    starts = [await service.start_conversation("demo", f"v{i}", skill="general") for i in range(3)]
    assert [(s.mode, s.queue, c.state) for c, s in starts] == [
        ("human", True, "queued"), ("human", True, "queued"), ("bot", True, "queued")]
    third = starts[2][0].conversation_id
    routing = (await sam.get(f"/api/v1/conversations/{third}/routing")).json()["decisions"]
    overflow = next(r for r in routing if r["kind"] == "overflow")
    assert overflow["action"] == "bot_first" and overflow["reason"] == "queue_too_long"
    assert overflow["queue"]["length"] == 2 and "more than the limit of 1" in overflow["explanation"]
    log = await _log(app, third)
    assert [e["sender_role"] for e in log if e["kind"] == "message"] == ["bot"]  # the bot greets at once
    # The visitor keeps the queue place and may still ask for a human: it stays queued with the context.
    await service.send(third, "visitor", "v2", "m1", "人工")
    await service.bot.idle()
    assert (await service.conversation(third)).state == "queued"
    assert any(r["kind"] == "handoff" for r in await app.state.chatd.store.routing_records(third))
    preview = (await sam.get("/api/v1/overflow-rules/general")).json()["now"]
    assert preview["action"] == "bot_first" and preview["queue"]["length"] == 3
    # Saturday: outside business hours, the visitor is offered the leave-a-message form.
    clock.set(SATURDAY_10)
    root, sam = await api_client(app, "root"), await api_client(app, "sam")  # Wednesday's tokens expired
    conversation, start = await service.start_conversation("demo", "v9", skill="general")
    assert (start.mode, start.queue, conversation.state) == ("leave_message", False, "open")
    routing = (await sam.get(f"/api/v1/conversations/{conversation.conversation_id}/routing")).json()["decisions"]
    assert [r["reason"] for r in routing if r["kind"] == "overflow"] == ["outside_business_hours"]
    log = await _log(app, conversation.conversation_id)
    assert log[-1]["data"]["action"] == "leave_message"
    visitor_token, _ = app.state.chatd.signer.issue("visitor", "v9", 600, clock(), site="demo")
    form = {"site": "demo", "name": "Wang", "phone": "13800000000", "body": "周末没人，请回电"}
    ticket = (await http.post("/api/v1/leave-message", json=form,
                              headers={"authorization": f"Bearer {visitor_token}"})).json()["ticket"]
    assert ticket["visitor_id"] == "v9" and ticket["conversation_id"] == conversation.conversation_id
    assert ticket["created_at"] == SATURDAY_10.timestamp()
    listed = (await sam.get("/api/v1/tickets?status=open")).json()["tickets"]
    assert [t["ticket_id"] for t in listed] == [ticket["ticket_id"]]
    # A request for a human outside hours points to the form instead of queueing.
    await service.send(conversation.conversation_id, "visitor", "v9", "m2", "转人工")
    log = await _log(app, conversation.conversation_id)
    assert log[-1]["sender_role"] == "bot" and log[-1]["data"]["action"] == "leave_message"
    assert (await service.conversation(conversation.conversation_id)).state == "open"
    assert (await root.delete("/api/v1/overflow-rules/general")).status_code == 200
    assert _code(await root.delete("/api/v1/overflow-rules/general")) == (404, "not_found")


async def test_bot_first_answers_hands_off_with_context_and_goes_silent(timed: tuple[Starlette, Clock]) -> None:
    app, _ = timed
    ctx = app.state.chatd
    conversation, start = await ctx.service.start_conversation("botty", "v1", skill="general")
    cid = conversation.conversation_id
    assert (start.mode, start.queue, conversation.state) == ("bot", False, "open")
    await ctx.service.send(cid, "visitor", "v1", "m1", "退款多久能到账啊")
    answer = (await _log(app, cid))[-1]
    assert answer["sender_role"] == "bot" and answer["data"]["entry_id"] == "refunds-time"
    assert answer["data"]["buttons"] and all(b["kind"] == "question" for b in answer["data"]["buttons"])
    # Tapping a related question (the widget sends its label) answers that entry.
    button = answer["data"]["buttons"][0]
    await ctx.service.send(cid, "visitor", "v1", "m2", button["label"])
    assert (await _log(app, cid))[-1]["data"]["entry_id"] == button["entry_id"]
    await ctx.service.send(cid, "visitor", "v1", "m3", "我的快递三天没动了，转人工")
    log = await _log(app, cid)
    queued = next(e for e in log if e["kind"] == "event" and e["body"] == "queued")
    handoff = queued["data"]["handoff"]
    assert handoff["skill_group"] == "logistics" and handoff["intent"] == "logistics"
    assert handoff["asked"][0] == "退款多久能到账啊" and "refunds-time" in handoff["matched_entry_ids"]
    note = next(e for e in log if e["kind"] == "note")
    assert "退款多久能到账啊" in note["body"] and note["data"]["handoff"] == handoff
    current = await ctx.service.conversation(cid)
    assert (current.state, current.skill) == ("queued", "logistics")
    await ctx.store.touch_presence("ana", "n1", ctx.clock() + 60)
    result = await ctx.store.assign(cid, "ana", ctx.clock())
    assert result.ok
    before = len(await _log(app, cid))
    await ctx.service.send(cid, "visitor", "v1", "m4", "发票怎么开")
    after = await _log(app, cid)
    assert len(after) == before + 1 and after[-1]["sender_role"] == "visitor"  # the bot said nothing
    # Closing forgets the bot's state of the conversation.
    assert await ctx.store.bot_state(cid) is not None
    await ctx.service.close(cid, "agent", "ana")
    await ctx.service.bot.idle()
    assert await ctx.store.bot_state(cid) is None


async def test_unsure_bot_offers_a_human(timed: tuple[Starlette, Clock]) -> None:
    app, _ = timed
    ctx = app.state.chatd
    conversation, _ = await ctx.service.start_conversation("botty", "v1", skill="general")
    await ctx.service.send(conversation.conversation_id, "visitor", "v1", "m1", "你们食堂今天中午吃什么")
    reply = (await _log(app, conversation.conversation_id))[-1]
    assert reply["data"]["kind"] == "not_sure" and reply["data"]["buttons"][-1]["kind"] == "handoff"
    await ctx.service.send(conversation.conversation_id, "visitor", "v1", "m2", reply["data"]["buttons"][-1]["label"])
    await ctx.service.bot.idle()
    assert (await ctx.service.conversation(conversation.conversation_id)).state == "queued"


async def test_knowledge_base_import_export_edits_are_live_on_every_node(timed: tuple[Starlette, Clock]) -> None:
    app, clock = timed
    other_node = create_app(load_settings({}, database_url=MEMORY_URL, demo=False, secret="s"),
                            engine=app.state.chatd.engine, records=app.state.chatd.records, clock=clock)
    root, ana = await api_client(app, "root"), await api_client(app, "ana")
    exported = await root.get("/api/v1/kb/export?format=csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert len(entries_from_csv(exported.text.lstrip("\ufeff"))) == 78
    as_json = (await root.get("/api/v1/kb/export?format=json")).json()["entries"]
    assert {e["locale"] for e in as_json} == {"zh-CN", "en"} and len(as_json) == 78
    # Round trip: replacing the base with its own CSV export changes nothing.
    replaced = await root.post("/api/v1/kb/import?format=csv&mode=replace", content=exported.content)
    assert replaced.json()["total"] == 78 and replaced.json()["removed"] == 0
    assert (await root.get("/api/v1/kb/export?format=json")).json()["entries"] == as_json
    # Bad input: nothing changes.
    bad_csv = "id,question,answer,category\nx1,Q,A,service\nx2,,A,service\n"
    answer = await root.post("/api/v1/kb/import?format=csv", content=bad_csv.encode())
    assert _code(answer) == (400, "bad_request") and "row 2" in answer.json()["error"]["message"]
    for path, body in [("/api/v1/kb/import?format=xml", b"{}"), ("/api/v1/kb/import?format=json", b"[1"),
                       ("/api/v1/kb/import?format=json&mode=wipe", b"[]"), ("/api/v1/kb/import?format=json", b"[]")]:
        assert _code(await root.post(path, content=body)) == (400, "bad_request"), path
    assert _code(await ana.post("/api/v1/kb/import?format=csv", content=exported.content)) == (403, "forbidden")
    assert _code(await root.post("/api/v1/kb/entries", json={"id": "x", "question": "q", "answer": "a",
                                                             "category": "service", "related": ["nope"]})) == (
        400, "bad_request")
    assert _code(await root.post("/api/v1/kb/entries", json={**as_json[0]})) == (409, "conflict")
    assert _code(await root.delete("/api/v1/kb/entries/refunds-time")) == (409, "conflict")  # others relate to it
    assert len((await root.get("/api/v1/kb/entries")).json()["entries"]) == 78
    # An edit on one node is what the other node's bot answers next.
    http_b = httpx.AsyncClient(transport=httpx.ASGITransport(app=other_node), base_url="http://chatd",
                               headers={"authorization": ana.headers["authorization"]})
    found = (await http_b.get("/api/v1/kb/search", params={"q": "以旧换新怎么参加"})).json()
    assert found["answer"] is None
    created = await root.post("/api/v1/kb/entries", json={
        "id": "trade-in", "question": "以旧换新怎么参加？", "answer": "在商品页选择「以旧换新」并估价即可。",
        "category": "orders", "keywords": ["以旧换新", "旧机回收"]})
    assert created.status_code == 201, created.text
    found = (await http_b.get("/api/v1/kb/search", params={"q": "以旧换新怎么参加"})).json()
    assert found["answer"]["entry_id"] == "trade-in"
    await root.patch("/api/v1/kb/entries/trade-in", json={"answer": "估价后在结算页抵扣。"})
    assert (await http_b.get("/api/v1/kb/entries/trade-in")).json()["answer"] == "估价后在结算页抵扣。"
    suggestions = await other_node.state.chatd.service.bot.suggest("botty", "以旧")
    assert suggestions[0]["entry_id"] == "trade-in"
    assert (await root.delete("/api/v1/kb/entries/trade-in")).status_code == 200
    assert (await http_b.get("/api/v1/kb/search", params={"q": "以旧换新怎么参加"})).json()["answer"] is None


async def test_bot_settings_per_site(timed: tuple[Starlette, Clock]) -> None:
    app, _ = timed
    root, sam = await api_client(app, "root"), await api_client(app, "sam")
    assert (await sam.get("/api/v1/sites/demo/bot")).json()["bot_first"] is False
    assert _code(await sam.put("/api/v1/sites/demo/bot", json={"bot_first": True})) == (403, "forbidden")
    assert _code(await root.put("/api/v1/sites/nope/bot", json={"bot_first": True})) == (404, "not_found")
    for bad in ({"bot_first": "yes"}, {"webhook_url": "ftp://x"}, {"webhook_url": "https://bot.example/hook"},
                {"webhook_secret": "short"}, {"fallback": "pray"}, {"locale": "fr"}, {"surprise": 1},
                {"skill_by_category": {"refunds": "Bad Skill"}}):
        assert _code(await root.put("/api/v1/sites/demo/bot", json=bad)) == (400, "bad_request"), bad
    saved = await root.put("/api/v1/sites/demo/bot", json={
        "bot_first": True, "webhook_url": "https://bot.example/hook", "webhook_secret": "s" * 20, "locale": "en"})
    assert saved.status_code == 200 and saved.json()["webhook_secret_set"] is True
    assert "webhook_secret" not in saved.json()
    shown = (await sam.get("/api/v1/sites/demo/bot")).json()
    assert shown["bot_first"] is True and shown["locale"] == "en" and "webhook_secret" not in shown


LEAVE_MESSAGE_BURST = 5  # offline messages one address may leave at once


async def test_leave_message_is_rate_limited_per_address(app: Starlette) -> None:
    form = {"site": "demo", "name": "Li", "phone": "", "email": "li@example.com", "body": "call me back"}
    first = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 5000)),
                              base_url="http://chatd")
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.8", 5000)),
                              base_url="http://chatd")
    answers = [(await first.post("/api/v1/leave-message", json=form)).status_code
               for _ in range(LEAVE_MESSAGE_BURST + 2)]
    assert answers == [201] * LEAVE_MESSAGE_BURST + [429, 429]
    assert _code(await first.post("/api/v1/leave-message", json=form)) == (429, "rate_limited")
    assert (await other.post("/api/v1/leave-message", json=form)).status_code == 201
    ana = await api_client(app, "ana")
    assert len((await ana.get("/api/v1/tickets")).json()["tickets"]) == LEAVE_MESSAGE_BURST + 1
