"""The archive pass on each engine (memory, Redis) and each database
(SQLite, PostgreSQL): closed conversations land in the archive exactly once,
also when a node dies between a close and its archive, when two nodes pass
at once, and along random sequences of opens, messages, closes and reopens."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis

from chatd.archiving import ArchiveBackedStore, Archiver
from chatd.conversation import plan
from chatd.records import Records
from chatd.settings import Settings
from chatd.store import open_engine
from chatd.store.base import Store
from tests.store.helpers import T0, act, add_agent, new_conversation
from tests.support import REDIS_URL, delete_redis_prefix, require_redis

RANDOM_STEPS = int(os.environ.get("CHATD_ARCHIVE_RANDOM_STEPS", "60"))
SEED = int(os.environ.get("CHATD_ARCHIVE_SEED", "7"))


@pytest_asyncio.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "redis":
        require_redis()
    prefix = f"chatdtest:{uuid.uuid4().hex[:12]}"
    engine = open_engine(Settings(engine=request.param, redis_url=REDIS_URL, redis_prefix=prefix))
    try:
        yield engine.store
    finally:
        await engine.broker.close()
        await engine.store.close()
        if request.param == "redis":
            delete_redis_prefix(prefix)


class Clock:
    def __init__(self) -> None:
        self.now = T0 + 1000

    def __call__(self) -> float:
        return self.now


async def _say(store: Store, cid: str, role: str, body: str, now: float) -> None:
    await store.append(cid, kind="message", sender_role=role, sender_id="ana" if role == "agent" else f"v-{cid}",
                       body=body, client_msg_id=uuid.uuid4().hex[:12], now=now)


async def _served_and_closed(store: Store, cid: str, at: float) -> None:
    await new_conversation(store, cid, created_at=at)
    await act(store, cid, "queue", at)
    await add_agent(store, "ana", capacity=100)
    await store.touch_presence("ana", "n1", at + 10**6)
    result = await store.assign(cid, "ana", at + 2)
    assert result.ok
    await _say(store, cid, "visitor", "我的快递到哪了", at + 3)
    await _say(store, cid, "agent", "您好，已经在派送了", at + 8)
    await act(store, cid, "close", at + 20, actor_role="agent", actor_id="ana")


async def test_a_closed_conversation_is_archived_once_with_its_timings(store: Store, records: Records) -> None:
    clock = Clock()
    archiver = Archiver(store, records.archive, clock)
    await _served_and_closed(store, "c1", T0)
    await new_conversation(store, "open", created_at=T0)  # still open: stays out
    assert await archiver.run_pass() == 1 and await archiver.run_pass() == 0
    saved = await records.archive.get("c1")
    assert saved is not None and await records.archive.get("open") is None
    assert (saved.outcome, saved.queued_at, saved.assigned_at, saved.first_response_at) == ("human", T0, T0 + 2,
                                                                                            T0 + 8)
    assert saved.conversation.closed_at == T0 + 20 and saved.archived_at == clock.now
    live = (await store.read("c1", 0)).entries
    assert await records.archive.entries("c1") == live and saved.last_seq == live[-1].seq
    # Reopened and closed again: archived again, the one copy replaced by the longer one.
    await act(store, "c1", "reopen", T0 + 30, actor_role="agent", actor_id="ana")
    assert await archiver.run_pass() == 0  # open again: nothing due
    await _say(store, "c1", "visitor", "还有一个问题", T0 + 31)
    await act(store, "c1", "close", T0 + 40, actor_role="visitor", actor_id="v-c1")
    assert await archiver.run_pass() == 1 and await records.archive.count() == 1
    assert await records.archive.entries("c1") == (await store.read("c1", 0)).entries


async def test_a_node_dying_between_close_and_archive_leaves_it_to_the_next(store: Store, records: Records) -> None:
    await _served_and_closed(store, "c1", T0)
    await _served_and_closed(store, "c2", T0 + 100)
    # A node saved c1 and died before marking it: the next pass saves it again, still one copy.
    first = Archiver(store, records.archive, Clock())
    conversation = (await first.due())[0]
    entries, epoch = await first.transcript(conversation.conversation_id)
    from chatd.archive import summarize

    await records.archive.save(summarize(conversation, entries, epoch), entries)
    other_node = Archiver(store, records.archive, Clock())
    assert await other_node.run_pass() == 2 and await records.archive.count() == 2
    assert len(await records.archive.entries("c1")) == len(entries)


async def test_two_nodes_passing_at_once_archive_each_conversation_once(store: Store, records: Records) -> None:
    for n in range(12):
        await _served_and_closed(store, f"c{n}", T0 + n)
    nodes = [Archiver(store, records.archive, Clock()) for _ in range(2)]
    await asyncio.gather(*(node.run_pass() for node in nodes), return_exceptions=True)  # a lost race may raise
    await nodes[0].run_pass()
    assert await nodes[1].run_pass() == 0
    assert await records.archive.count() == 12
    for n in range(12):
        assert await records.archive.entries(f"c{n}") == (await store.read(f"c{n}", 0)).entries


async def test_random_opens_messages_closes_and_reopens_end_archived_as_they_are(store: Store,
                                                                                 records: Records) -> None:
    rng = random.Random(SEED)
    nodes = [Archiver(store, records.archive, Clock()) for _ in range(2)]
    now = T0
    created: list[str] = []
    for step in range(RANDOM_STEPS):
        now += rng.uniform(0.5, 5)
        roll = rng.random()
        if roll < 0.2 or not created:
            cid = f"c{len(created)}"
            await new_conversation(store, cid, created_at=now)
            await act(store, cid, "queue", now)
            created.append(cid)
            continue
        cid = rng.choice(created)
        conversation = await store.get_conversation(cid)
        assert conversation is not None
        if roll < 0.55 and conversation.state != "closed":
            await _say(store, cid, "visitor", f"第{step}句", now)
        elif roll < 0.75 and conversation.state != "closed":
            await store.transition(cid, plan(conversation.state, "close", actor_role="visitor", actor_id="v",
                                             current_agent=conversation.agent_id), now)
        elif roll < 0.85 and conversation.state == "closed":
            await act(store, cid, "reopen", now, actor_role="visitor", actor_id=f"v-{cid}")
        else:
            await rng.choice(nodes).run_pass()
    await asyncio.gather(*(node.run_pass() for node in nodes), return_exceptions=True)
    await nodes[0].run_pass()
    closed = await store.list_conversations(("closed",))
    assert closed, "the walk closed nothing: raise CHATD_ARCHIVE_RANDOM_STEPS"
    assert await records.archive.count() >= len(closed)
    for conversation in closed:
        saved = await records.archive.get(conversation.conversation_id)
        assert saved is not None and saved.conversation.closed_at == conversation.closed_at
        assert await records.archive.entries(conversation.conversation_id) == (
            await store.read(conversation.conversation_id, 0)).entries


async def test_after_the_hold_the_live_engine_forgets_and_reads_come_from_the_archive(
        store: Store, records: Records) -> None:
    clock = Clock()
    archiver = Archiver(store, records.archive, clock, hold=3600)
    await _served_and_closed(store, "c1", T0)
    await new_conversation(store, "c2", visitor="v-c1", created_at=T0 + 50)  # the visitor's next one, open
    live = await store.read("c1", 0)
    epoch = (await store.log_epochs(["c1"]))["c1"]
    clock.now = T0 + 20 + 100
    assert await archiver.run_pass() == 1 and archiver.forgotten == 0  # archived, still held live
    assert await store.get_conversation("c1") is not None
    clock.now = T0 + 20 + 3600
    await archiver.run_pass()
    assert archiver.forgotten == 1 and await store.get_conversation("c1") is None
    assert (await store.read("c1", 0)).entries == [] and await store.archived_marks() == {}
    assert [c.conversation_id for c in await store.visitor_conversations("s1", "v-c1")] == ["c2"]
    assert [c.conversation_id for c in await store.list_conversations(("closed",))] == []
    keys = getattr(store, "_keys", None)
    if keys is not None:  # Redis: nothing of c1 is left but its archive
        client = redis.Redis.from_url(REDIS_URL)
        try:
            left = [k for k in client.scan_iter(match=f"{keys.prefix}:*") if b"{c:c1}" in k or k.endswith(b":c1")]
            assert left == [] and client.zscore(keys.state_index("closed"), "c1") is None
        finally:
            client.close()
    backed = ArchiveBackedStore(store, records.archive)
    archived = await backed.get_conversation("c1")
    assert archived is not None and archived.state == "closed" and archived.closed_at == T0 + 20
    read = await backed.read("c1", 0)
    assert (read.entries, read.last_seq, read.first_seq, read.epoch) == (live.entries, live.last_seq, 1, epoch)
    assert (await backed.read("c1", 3)).entries == live.entries[3:]
    assert (await backed.read_before("c1", 0, limit=2)).entries == live.entries[-2:]
    assert (await backed.read_before("c1", 3, limit=5)).entries == live.entries[:2]
    assert (await backed.log_epochs(["c1", "c2"]))["c1"] == epoch
    assert [c.conversation_id for c in await backed.visitor_conversations("s1", "v-c1")] == ["c2", "c1"]
    assert await backed.get_conversation("never") is None and (await backed.read("never", 0)).entries == []


async def test_a_conversation_reopened_within_the_hold_is_not_forgotten(store: Store, records: Records) -> None:
    clock = Clock()
    archiver = Archiver(store, records.archive, clock, hold=60)
    await _served_and_closed(store, "c1", T0)
    clock.now = T0 + 25
    assert await archiver.run_pass() == 1
    await act(store, "c1", "reopen", T0 + 30, actor_role="visitor", actor_id="v-c1")
    clock.now = T0 + 10_000
    await archiver.run_pass()
    assert archiver.forgotten == 0 and (await store.get_conversation("c1")).state != "closed"
    assert len((await store.read("c1", 0)).entries) > 0


async def test_reopening_a_forgotten_conversation_brings_it_back_live(store: Store, records: Records) -> None:
    clock = Clock()
    archiver = Archiver(store, records.archive, clock, hold=0)
    await _served_and_closed(store, "c1", T0)
    before = await store.read("c1", 0)
    await archiver.run_pass()
    assert await store.get_conversation("c1") is None
    backed = ArchiveBackedStore(store, records.archive)
    archived = await backed.get_conversation("c1")
    assert archived is not None
    change = plan("closed", "reopen", actor_role="visitor", actor_id="v-c1", record=archived, now=T0 + 500)
    reopened, _ = await backed.reopen_conversation("c1", change, T0 + 500)
    assert reopened.state != "closed" and (await store.get_conversation("c1")).state == reopened.state
    again = await store.read("c1", 0)
    assert again.entries[:len(before.entries)] == before.entries and again.last_seq == before.last_seq + 1
    # It goes on as any live conversation: a retried message is still a duplicate, a new one gets the next seq.
    old = next(e for e in before.entries if e.kind == "message")
    repeat = await store.append("c1", kind="message", sender_role=old.sender_role, sender_id=old.sender_id,
                                body=old.body, client_msg_id=old.client_msg_id, now=T0 + 501)
    assert repeat.duplicate and repeat.seq == old.seq
    await _say(store, "c1", "visitor", "我又回来了", T0 + 502)
    assert (await store.read("c1", 0)).last_seq == before.last_seq + 2
    assert [c.conversation_id for c in await store.visitor_conversations("s1", "v-c1")] == ["c1"]
    assert not await store.restore_conversation(archived, before.entries, "")  # it is live: refused
    # Closed again, it is archived again over its old copy.
    await act(store, "c1", "close", T0 + 600, actor_role="visitor", actor_id="v-c1")
    await archiver.run_pass()
    assert await records.archive.count() == 1
    assert (await records.archive.get("c1")).last_seq == before.last_seq + 3
