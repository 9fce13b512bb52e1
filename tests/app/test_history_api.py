"""``GET /api/v1/history``: chats served and closed through the service,
archived by the archive pass, then browsed and searched over HTTP: who may
see what, filters, highlighting, paging and bad parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from starlette.applications import Starlette

from chatd.app import create_app
from chatd.model import Site
from chatd.records import MEMORY_URL
from chatd.settings import load_settings
from tests.app.support import add_team, api_client, new_chat

T0 = 1_780_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def app() -> AsyncIterator[Starlette]:
    clock = Clock()
    app = create_app(load_settings({}, database_url=MEMORY_URL, demo=False, secret="s"), clock=clock)
    store = app.state.chatd.store
    await store.put_site(Site(site_key="demo", name="Demo"))
    await add_team(store)
    yield app
    await app.state.chatd.service.bot.stop()
    await app.state.chatd.records.database.close()


async def _served(app: Starlette, cid: str, visitor: str, agent: str, lines: list[tuple[str, str]], at: float) -> None:
    ctx = app.state.chatd
    ctx.clock.now = at
    await new_chat(ctx.store, cid, visitor, at=at, skill="general")
    assert (await ctx.store.assign(cid, agent, at + 1)).ok
    for n, (role, body) in enumerate(lines):
        ctx.clock.now = at + 2 + n
        await ctx.service.send(cid, role, agent if role == "agent" else visitor, f"{cid}-{n}", body)
    ctx.clock.now = at + 30
    await ctx.service.close(cid, "agent", agent)


async def test_history_and_search_over_the_archive(app: Starlette) -> None:
    ctx = app.state.chatd
    await ctx.store.touch_presence("ana", "n1", T0 + 10**6)
    await ctx.store.touch_presence("bo", "n1", T0 + 10**6)
    await _served(app, "c1", "v1", "ana", [("visitor", "我的快递物流进度怎么查？"), ("agent", "物流显示明天送达")], T0)
    await _served(app, "c2", "v2", "bo", [("visitor", "I want a refund <now>"), ("agent", "Refunds take 3 days")],
                  T0 + 100)
    assert await ctx.archiver.run_pass() == 2
    sam, ana, bo = await api_client(app, "sam"), await api_client(app, "ana"), await api_client(app, "bo")

    listed = (await sam.get("/api/v1/history")).json()
    assert [c["conversation_id"] for c in listed["conversations"]] == ["c2", "c1"]
    assert listed["conversations"][1]["outcome"] == "human" and listed["conversations"][1]["agent_id"] == "ana"
    assert [c["conversation_id"] for c in (await sam.get("/api/v1/history?agent=bo")).json()["conversations"]] \
        == ["c2"]
    assert [c["conversation_id"] for c in (await sam.get(f"/api/v1/history?until={T0 + 50}")).json()[
        "conversations"]] == ["c1"]
    assert (await sam.get("/api/v1/history?limit=1&offset=1")).json()["conversations"][0]["conversation_id"] == "c1"

    found = (await sam.get("/api/v1/history", params={"q": "物流"})).json()
    assert found["terms"] == ["物流"] and [(h["conversation"]["conversation_id"], h["seq"]) for h in found["hits"]] \
        == [("c1", 4), ("c1", 3)]  # newest first; seqs 1 and 2 are the queued and assigned events
    assert found["hits"][0]["highlighted"] == "<mark>物流</mark>显示明天送达"
    assert found["hits"][0]["fragments"] == [{"text": "物流", "hit": True}, {"text": "显示明天送达", "hit": False}]
    english = (await sam.get("/api/v1/history", params={"q": "refund"})).json()["hits"]
    assert [h["highlighted"] for h in english] == ["<mark>Refund</mark>s take 3 days",
                                                   "I want a <mark>refund</mark> &lt;now&gt;"]

    # An agent sees their own conversations only.
    assert [c["conversation_id"] for c in (await ana.get("/api/v1/history")).json()["conversations"]] == ["c1"]
    assert (await ana.get("/api/v1/history", params={"q": "refund"})).json()["hits"] == []
    assert (await bo.get("/api/v1/history", params={"q": "refund"})).json()["hits"][-1]["seq"] == 3
    # ... and may read the transcripts of those, not of others'.
    assert (await ana.get("/api/v1/conversations/c1/messages")).status_code == 200
    assert (await ana.get("/api/v1/conversations/c2/messages")).status_code == 403
    refused = await ana.get("/api/v1/history?agent=bo")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

    for params in ({"rating": "9"}, {"since": "yesterday"}, {"since": "-5"}, {"outcome": "lost"}, {"limit": "0"},
                   {"offset": "x"}, {"q": "？！…"}, {"q": "物" * 201}):
        answer = await sam.get("/api/v1/history", params=params)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_request", params
    anonymous = await (await api_client(app)).get("/api/v1/history")
    assert anonymous.status_code == 401
