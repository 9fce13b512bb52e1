"""The store contract, run against every engine: profiles, conversations and the log."""

from __future__ import annotations

import asyncio

import pytest

from chatd.model import Agent, Conversation, Site
from chatd.store.base import Engine, StoreError

from .conftest import EngineFactory
from .helpers import T0, act, add_agent, new_conversation

pytestmark = pytest.mark.asyncio


# --- agents, sites, tokens, visitors -------------------------------------------

async def test_ping(engine: Engine) -> None:
    assert await engine.store.ping() is True


async def test_agents_crud(engine: Engine) -> None:
    store = engine.store
    assert await store.get_agent("ann") is None
    ann = Agent("ann", "Ann", role="supervisor", password_hash="h", skills={"billing": 5, "general": 2},
                capacity=4, status="away")
    await store.put_agent(ann)
    await add_agent(store, "bob")
    assert await store.get_agent("ann") == ann
    assert [a.agent_id for a in await store.list_agents()] == ["ann", "bob"]
    ann.name = "Ann B."
    ann.status = "online"
    await store.put_agent(ann)
    assert await store.get_agent("ann") == ann
    assert await store.delete_agent("ann") is True
    assert await store.delete_agent("ann") is False
    assert await store.get_agent("ann") is None
    assert [a.agent_id for a in await store.list_agents()] == ["bob"]


async def test_put_agent_keeps_runtime_state(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann", capacity=2)
    await new_conversation(store, "c1")
    assert (await store.assign("c1", "ann", T0 + 1, allowed_from=("open",))).ok
    await store.put_agent(Agent("ann", "Ann renamed", capacity=2, status="online"))
    runtime = await store.agent_runtime()
    assert runtime["ann"] == {"load": 1, "last_assigned_at": T0 + 1, "status": "online"}


async def test_agent_status(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann", status="offline")
    await store.set_agent_status("ann", "online")
    assert (await store.get_agent("ann")).status == "online"  # type: ignore[union-attr]
    assert (await store.agent_runtime())["ann"]["status"] == "online"
    with pytest.raises(StoreError) as err:
        await store.set_agent_status("nobody", "online")
    assert err.value.code == "unknown_agent"
    with pytest.raises(ValueError):
        await store.set_agent_status("ann", "napping")


async def test_sites_crud(engine: Engine) -> None:
    store = engine.store
    shop = Site("shop", "Shop", allowed_origins=["https://shop.example"], secret="s3", default_skill="sales")
    await store.put_site(shop)
    await store.put_site(Site("blog", "Blog"))
    assert await store.get_site("shop") == shop
    assert await store.get_site("nope") is None
    assert [s.site_key for s in await store.list_sites()] == ["blog", "shop"]
    assert await store.delete_site("blog") is True
    assert await store.delete_site("blog") is False
    assert [s.site_key for s in await store.list_sites()] == ["shop"]


async def test_token_revocation_expires(engine: Engine) -> None:
    store = engine.store
    await store.revoke_token("t1", expires_at=T0 + 3600, now=T0)
    await store.revoke_token("short", expires_at=T0 + 0.1, now=T0)
    await store.revoke_token("stale", expires_at=T0 - 1, now=T0)  # expired anyway: nothing to remember
    assert await store.is_token_revoked("t1")
    assert await store.is_token_revoked("short")
    assert not await store.is_token_revoked("stale")
    assert not await store.is_token_revoked("never")
    await asyncio.sleep(0.25)
    assert not await store.is_token_revoked("short")
    assert await store.is_token_revoked("t1")


async def test_visitor_attributes_merge(engine: Engine) -> None:
    store = engine.store
    assert await store.get_visitor("s1", "v1") == {}
    merged = await store.update_visitor("s1", "v1", {"name": "Vi", "plan": {"tier": "gold", "seats": 3}})
    assert merged == {"name": "Vi", "plan": {"tier": "gold", "seats": 3}}
    merged = await store.update_visitor("s1", "v1", {"name": "Vivian", "vip": True, "score": 1.5})
    assert merged == {"name": "Vivian", "plan": {"tier": "gold", "seats": 3}, "vip": True, "score": 1.5}
    assert await store.get_visitor("s1", "v1") == merged
    assert await store.get_visitor("s2", "v1") == {}


# --- conversations -----------------------------------------------------------------

async def test_create_and_get_conversation(engine: Engine) -> None:
    store = engine.store
    created = await store.create_conversation(Conversation(
        "c1", "s1", "v1", state="assigned", skill="billing", priority=2, agent_id="x", created_at=T0,
        visitor_name="Vi"))
    assert created.state == "open" and created.agent_id == ""
    assert await store.get_conversation("c1") == created
    assert await store.get_conversation("nope") is None
    with pytest.raises(StoreError) as err:
        await new_conversation(store, "c1")
    assert err.value.code == "bad_state"
    assert await store.get_conversation("c1") == created
    read = await store.read("c1", 0)
    assert (read.entries, read.first_seq, read.last_seq) == ([], 0, 0)


async def test_visitor_conversations_newest_first(engine: Engine) -> None:
    store = engine.store
    for n in range(5):
        await new_conversation(store, f"c{n}", created_at=T0 + n)
    await new_conversation(store, "other", visitor="v2", created_at=T0)
    found = await store.visitor_conversations("s1", "v1", limit=3)
    assert [c.conversation_id for c in found] == ["c4", "c3", "c2"]
    assert [c.conversation_id for c in await store.visitor_conversations("s1", "v2")] == ["other"]
    assert await store.visitor_conversations("s9", "v1") == []


async def test_list_conversations_by_state_oldest_first(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    for n, cid in enumerate(["a", "b", "c", "d"]):
        await new_conversation(store, cid, created_at=T0 + 10 - n)  # d is the oldest
    await act(store, "a", "queue", T0 + 20)
    await act(store, "c", "queue", T0 + 21)
    await act(store, "c", "assign", T0 + 22, agent_id="ann")
    await act(store, "d", "close", T0 + 23)
    assert [c.conversation_id for c in await store.list_conversations()] == ["c", "a"]
    assert [c.conversation_id for c in await store.list_conversations(["open", "closed"])] == ["d", "b"]
    assert await store.list_conversations([]) == []


# --- the message log -----------------------------------------------------------------

async def _say(engine: Engine, cid: str, body: str, cmid: str = "", now: float = T0, **data: object) -> int:
    result = await engine.store.append(cid, kind="message", sender_role="visitor", sender_id="v1",
                                       body=body, client_msg_id=cmid, now=now, data=dict(data) or None)
    assert not result.duplicate
    return result.seq


async def test_append_gives_gap_free_seqs(engine: Engine) -> None:
    await new_conversation(engine.store, "c1")
    seqs = [await _say(engine, "c1", f"m{n}", f"id{n}", now=T0 + n) for n in range(10)]
    assert seqs == list(range(1, 11))
    read = await engine.store.read("c1", 0)
    assert [e.seq for e in read.entries] == seqs
    assert [e.body for e in read.entries] == [f"m{n}" for n in range(10)]
    assert (read.first_seq, read.last_seq) == (1, 10)
    first = read.entries[0]
    assert (first.conversation_id, first.kind, first.sender_role, first.sender_id, first.client_msg_id,
            first.ts, first.data) == ("c1", "message", "visitor", "v1", "id0", T0, {})


async def test_concurrent_appends_are_gap_free(engine: Engine) -> None:
    await new_conversation(engine.store, "c1")
    seqs = await asyncio.gather(*(_say(engine, "c1", f"m{n}", f"id{n}") for n in range(50)))
    assert sorted(seqs) == list(range(1, 51))
    read = await engine.store.read("c1", 0)
    assert [e.seq for e in read.entries] == list(range(1, 51))


async def test_entry_data_round_trips(engine: Engine) -> None:
    await new_conversation(engine.store, "c1")
    data = {"attachment": {"url": "https://x.example/a.png", "size": 1024}, "score": 0.5, "tags": ["a", "b"]}
    await _say(engine, "c1", "hello ✓", "m1", now=T0 + 0.123456, **data)
    entry = (await engine.store.read("c1", 0)).entries[0]
    assert entry.data == data and entry.body == "hello ✓" and entry.ts == T0 + 0.123456


async def test_resend_after_lost_ack_stores_one_copy(engine: Engine) -> None:
    store = engine.store
    await new_conversation(store, "c1")
    first = await store.append("c1", kind="message", sender_role="visitor", sender_id="v1", body="hi",
                               client_msg_id="m1", now=T0)
    await _say(engine, "c1", "next", "m2", now=T0 + 1)
    again = await store.append("c1", kind="message", sender_role="visitor", sender_id="v1", body="hi",
                               client_msg_id="m1", now=T0 + 5)
    assert (first.seq, first.duplicate) == (1, False)
    assert (again.seq, again.ts, again.duplicate) == (1, T0, True)
    read = await store.read("c1", 0)
    assert [e.body for e in read.entries] == ["hi", "next"] and read.last_seq == 2
    # No client id: never deduplicated.
    assert await _say(engine, "c1", "x") == 3
    assert await _say(engine, "c1", "x") == 4


async def test_unknown_and_closed_conversations_refuse_appends(engine: Engine) -> None:
    store = engine.store
    with pytest.raises(StoreError) as err:
        await _say(engine, "nope", "hi", "m1")
    assert err.value.code == "unknown_conversation"
    await new_conversation(store, "c1")
    await _say(engine, "c1", "before", "m1")
    closed = await act(store, "c1", "close", T0 + 1)
    with pytest.raises(StoreError) as err:
        await _say(engine, "c1", "after", "m2")
    assert err.value.code == "conversation_closed"
    # A resend of a message stored before the close is still acknowledged.
    again = await store.append("c1", kind="message", sender_role="visitor", sender_id="v1", body="before",
                               client_msg_id="m1", now=T0 + 2)
    assert (again.seq, again.duplicate) == (1, True)
    read = await store.read("c1", 0)
    assert [(e.kind, e.body) for e in read.entries] == [("message", "before"), ("event", "closed")]
    assert await store.get_conversation("c1") == closed
    # Reopening accepts messages again.
    await act(store, "c1", "reopen", T0 + 3)
    assert await _say(engine, "c1", "back", "m3") == 4


async def test_read_after_and_limit(engine: Engine) -> None:
    await new_conversation(engine.store, "c1")
    for n in range(1, 21):
        await _say(engine, "c1", f"m{n}", f"id{n}")
    page = await engine.store.read("c1", 5, limit=4)
    assert [e.seq for e in page.entries] == [6, 7, 8, 9] and (page.first_seq, page.last_seq) == (1, 20)
    assert [e.seq for e in (await engine.store.read("c1", 18)).entries] == [19, 20]
    assert (await engine.store.read("c1", 20)).entries == []
    assert (await engine.store.read("nope", 0)).entries == []


async def test_read_before_pages_backwards(engine: Engine) -> None:
    await new_conversation(engine.store, "c1")
    for n in range(1, 13):
        await _say(engine, "c1", f"m{n}", f"id{n}")
    newest = await engine.store.read_before("c1", 0, limit=5)
    assert [e.seq for e in newest.entries] == [8, 9, 10, 11, 12]
    older = await engine.store.read_before("c1", newest.entries[0].seq, limit=5)
    assert [e.seq for e in older.entries] == [3, 4, 5, 6, 7]
    oldest = await engine.store.read_before("c1", older.entries[0].seq, limit=5)
    assert [e.seq for e in oldest.entries] == [1, 2]
    assert (await engine.store.read_before("c1", 1)).entries == []
    assert (oldest.first_seq, oldest.last_seq) == (1, 12)


async def test_retention_trims_and_reports_first_seq(make_engine: EngineFactory) -> None:
    engine = await make_engine(log_retention=5)
    store = engine.store
    await new_conversation(store, "c1")
    for n in range(1, 13):
        await _say(engine, "c1", f"m{n}", f"id{n}")
    read = await store.read("c1", 3)
    assert [e.seq for e in read.entries] == [8, 9, 10, 11, 12]
    assert (read.first_seq, read.last_seq) == (8, 12)
    assert 3 + 1 < read.first_seq  # the reader can tell that 4..7 were trimmed
    assert [e.seq for e in (await store.read_before("c1", 0, limit=50)).entries] == [8, 9, 10, 11, 12]
    # Kept entries are still deduplicated; trimmed ones are forgotten with them.
    again = await store.append("c1", kind="message", sender_role="visitor", sender_id="v1", body="m9",
                               client_msg_id="id9", now=T0)
    assert (again.seq, again.duplicate) == (9, True)
    assert await _say(engine, "c1", "m1 again", "id1") == 13
