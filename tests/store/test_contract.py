"""The store contract, run against every engine: profiles, conversations and the log."""

from __future__ import annotations

import asyncio

import pytest

from chatd.conversation import plan, queue_key
from chatd.errors import ChatdError
from chatd.model import Agent, Conversation, Site
from chatd.store.base import Engine, conversation_channel, unpack_publication

from .conftest import EngineFactory
from .helpers import T0, act, add_agent, new_conversation, queued

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
    with pytest.raises(ChatdError) as err:
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


async def test_login_failures_are_counted_in_a_window_shared_by_nodes(make_engine: EngineFactory) -> None:
    one, two = await make_engine(), await make_engine()  # two nodes of one store
    assert await one.store.login_failures("agent:ana") == (0, 0.0)
    count, left = await one.store.count_login_failure("agent:ana", 0.3)
    assert count == 1 and 0 < left <= 0.3
    count, left = await two.store.count_login_failure("agent:ana", 0.3)  # the window is not extended
    assert count == 2 and 0 < left <= 0.3
    assert (await one.store.login_failures("agent:ana"))[0] == 2
    assert await two.store.login_failures("address:10.0.0.1") == (0, 0.0)
    await asyncio.sleep(0.35)
    assert await two.store.login_failures("agent:ana") == (0, 0.0)  # the window ended
    await one.store.count_login_failure("agent:bo", 60)
    await two.store.clear_login_failures("agent:bo")
    assert await one.store.login_failures("agent:bo") == (0, 0.0)


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

async def test_start_creates_and_gets_a_conversation(engine: Engine) -> None:
    store = engine.store
    created, new = await store.start_conversation(Conversation(
        "c1", "s1", "v1", state="assigned", skill="billing", priority=2, agent_id="x", created_at=T0,
        visitor_name="Vi"), None, T0)
    assert new and created.state == "open" and created.agent_id == ""
    assert await store.get_conversation("c1") == created
    assert await store.get_conversation("nope") is None
    with pytest.raises(ChatdError) as err:
        await new_conversation(store, "c1", visitor="someone-else")
    assert err.value.code == "bad_state"
    assert await store.get_conversation("c1") == created
    read = await store.read("c1", 0)
    assert (read.entries, read.first_seq, read.last_seq) == ([], 0, 0)


async def test_a_visitor_has_one_open_conversation_however_many_starts(engine: Engine) -> None:
    store = engine.store

    async def start(cid: str) -> tuple[Conversation, bool]:
        conversation = Conversation(cid, "s1", "v1", created_at=T0)
        return await store.start_conversation(conversation, plan("open", "queue", record=conversation, now=T0), T0)

    results = await asyncio.gather(*(start(f"c{n}") for n in range(10)))
    assert sum(created for _, created in results) == 1
    assert len({conversation.conversation_id for conversation, _ in results}) == 1
    first = results[0][0]
    assert [c.conversation_id for c in await store.queue("general")] == [first.conversation_id]
    entries = (await store.read(first.conversation_id, 0)).entries
    assert [(e.body, e.data["state"]) for e in entries] == [("queued", "queued")]
    await act(store, first.conversation_id, "close", T0 + 1)
    again, created = await start("later")
    assert created and again.conversation_id == "later" and again.state == "queued"


async def test_start_queues_in_the_same_step_with_its_place_in_line(engine: Engine) -> None:
    store = engine.store
    vip = Conversation("vip", "s1", "v2", priority=10, created_at=T0 + 60)
    await store.start_conversation(vip, plan("open", "queue", record=vip, now=T0 + 60), T0 + 60)
    await queued(store, "plain", now=T0)
    conversation = await store.get_conversation("vip")
    assert conversation is not None and conversation.state == "queued" and conversation.waiting_since == T0 + 60
    assert conversation.queue_key == queue_key(10, T0 + 60)
    # ten levels of priority are a head start of five minutes: the VIP goes first
    assert [c.conversation_id for c in await store.queue("general")] == ["vip", "plain"]


async def test_visitor_conversations_newest_first(engine: Engine) -> None:
    store = engine.store
    for n in range(5):
        await new_conversation(store, f"c{n}", visitor="v1", created_at=T0 + n)
        await act(store, f"c{n}", "close", T0 + n + 0.5)
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
    result = await engine.store.append(cid, kind="message", sender_role="visitor", sender_id=f"v-{cid}",
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
            first.ts, first.data) == ("c1", "message", "visitor", "v-c1", "id0", T0, {})


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
    first = await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="hi",
                               client_msg_id="m1", now=T0)
    await _say(engine, "c1", "next", "m2", now=T0 + 1)
    again = await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="hi",
                               client_msg_id="m1", now=T0 + 5)
    assert (first.seq, first.duplicate) == (1, False)
    assert (again.seq, again.ts, again.duplicate) == (1, T0, True)
    read = await store.read("c1", 0)
    assert [e.body for e in read.entries] == ["hi", "next"] and read.last_seq == 2
    # No client id: never deduplicated.
    assert await _say(engine, "c1", "x") == 3
    assert await _say(engine, "c1", "x") == 4


async def test_message_ids_are_unique_per_sender_not_per_conversation(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    await queued(store, "c1")
    await act(store, "c1", "assign", T0 + 1, agent_id="ann")
    from_visitor = await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="hi",
                                      client_msg_id="m-1", now=T0 + 2)
    from_agent = await store.append("c1", kind="message", sender_role="agent", sender_id="ann", body="hello",
                                    client_msg_id="m-1", now=T0 + 3)
    assert not from_visitor.duplicate and not from_agent.duplicate and from_agent.seq == from_visitor.seq + 1
    resent = await store.append("c1", kind="message", sender_role="agent", sender_id="ann", body="hello",
                                client_msg_id="m-1", now=T0 + 4)
    assert (resent.seq, resent.duplicate) == (from_agent.seq, True)
    assert [e.body for e in (await store.read("c1", 0)).entries if e.kind == "message"] == ["hi", "hello"]


async def test_only_who_takes_part_now_may_append(engine: Engine) -> None:
    store = engine.store
    await add_agent(store, "ann")
    await add_agent(store, "bo")
    await queued(store, "c1")

    async def send(role: str, sender: str, cmid: str) -> str:
        try:
            await store.append("c1", kind="message", sender_role=role, sender_id=sender, body="x",
                               client_msg_id=cmid, now=T0 + 5)
        except ChatdError as exc:
            return exc.code
        return "ok"

    assert await send("agent", "ann", "a1") == "forbidden"  # queued: nobody's yet
    await act(store, "c1", "assign", T0 + 1, agent_id="ann")
    assert (await send("agent", "ann", "a2"), await send("agent", "bo", "b1")) == ("ok", "forbidden")
    assert (await send("visitor", "v-c1", "v1"), await send("visitor", "v-other", "v2")) == ("ok", "forbidden")
    await act(store, "c1", "transfer_to_agent", T0 + 2, agent_id="bo")
    await act(store, "c1", "transfer_to_agent", T0 + 3, agent_id="ann")  # and back: ann's again
    assert (await send("agent", "ann", "a3"), await send("agent", "bo", "b2")) == ("ok", "forbidden")
    assert await send("bot", "bot", "") == "ok"


async def test_every_read_and_entry_names_the_log_epoch(engine: Engine) -> None:
    store = engine.store
    received: list[bytes] = []
    engine.broker.start(lambda channel, payload: received.append(payload))
    await new_conversation(store, "c1")
    await engine.broker.subscribe(conversation_channel("c1"))
    await _say(engine, "c1", "hi", "m1")
    page = await store.read("c1", 0)
    assert page.epoch and (await store.read_before("c1", 0)).epoch == page.epoch
    assert await store.log_epochs(["c1"]) == {"c1": page.epoch}
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.01)
    assert unpack_publication(received[0])["entry"]["epoch"] == page.epoch


async def test_one_node_holds_the_routing_lease_until_it_lapses_or_is_given_up(engine: Engine) -> None:
    store = engine.store
    assert await store.claim_routing("n1", 0.3, T0)
    assert not await store.claim_routing("n2", 0.3, T0 + 0.1)
    assert await store.claim_routing("n1", 0.3, T0 + 0.2)  # renewed
    await store.release_routing("n2")  # not n2's to give up
    assert not await store.claim_routing("n2", 0.3, T0 + 0.25)
    await store.release_routing("n1")
    assert await store.claim_routing("n2", 0.3, T0 + 0.3)
    await asyncio.sleep(0.35)  # the Redis engine keeps the lease's time itself
    assert await store.claim_routing("n1", 0.3, T0 + 1.0)


async def test_unknown_and_closed_conversations_refuse_appends(engine: Engine) -> None:
    store = engine.store
    with pytest.raises(ChatdError) as err:
        await _say(engine, "nope", "hi", "m1")
    assert err.value.code == "unknown_conversation"
    await new_conversation(store, "c1")
    await _say(engine, "c1", "before", "m1")
    closed = await act(store, "c1", "close", T0 + 1)
    with pytest.raises(ChatdError) as err:
        await _say(engine, "c1", "after", "m2")
    assert err.value.code == "conversation_closed"
    # A resend of a message stored before the close is still acknowledged.
    again = await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="before",
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
    again = await store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body="m9",
                               client_msg_id="id9", now=T0)
    assert (again.seq, again.duplicate) == (9, True)
    assert await _say(engine, "c1", "m1 again", "id1") == 13


async def test_the_event_outbox_hands_each_event_to_one_consumer_until_finished(make_engine: EngineFactory) -> None:
    one, two = (await make_engine()).store, (await make_engine()).store  # two nodes of one store
    await one.enqueue_events([{"id": f"ev{i}", "type": "message.created"} for i in range(5)])
    first = await one.claim_events("node:a", 3, stale_seconds=60)
    second = await two.claim_events("node:b", 10, stale_seconds=60)
    assert [e["id"] for _, e in first] == ["ev0", "ev1", "ev2"] and [e["id"] for _, e in second] == ["ev3", "ev4"]
    assert await two.claim_events("node:b", 10, stale_seconds=60) == []  # all claimed
    for outbox_id, _ in second:
        await two.finish_event(outbox_id)
    # node:a dies holding its three: after stale_seconds another node takes them over.
    await asyncio.sleep(0.3)
    taken = await two.claim_events("node:b", 10, stale_seconds=0.2)
    assert sorted(e["id"] for _, e in taken) == ["ev0", "ev1", "ev2"]
    # A failed delivery comes back when due, with what the dispatcher changed.
    outbox_id, event = taken[0]
    await two.retry_event(outbox_id, {**event, "attempt": 1}, due_at=T0 + 10)
    for outbox_id, _ in taken[1:]:
        await two.finish_event(outbox_id)
    assert await one.requeue_due(T0 + 9) == 0
    assert await one.claim_events("node:a", 10, stale_seconds=60) == []
    assert await one.requeue_due(T0 + 10) == 1
    again = await one.claim_events("node:a", 10, stale_seconds=60)
    assert [(e["id"], e["attempt"]) for _, e in again] == [("ev0", 1)]
    await one.finish_event(again[0][0])
    await asyncio.sleep(0.3)
    assert await two.claim_events("node:b", 10, stale_seconds=0.2) == []  # finished means gone


async def test_the_delivery_log_keeps_the_newest(engine: Engine) -> None:
    for n in range(5):
        await engine.store.add_delivery("shop", {"n": n}, keep=3)
    assert [d["n"] for d in await engine.store.deliveries("shop")] == [4, 3, 2]
    assert [d["n"] for d in await engine.store.deliveries("shop", limit=1)] == [4]
    assert await engine.store.deliveries("other") == []
