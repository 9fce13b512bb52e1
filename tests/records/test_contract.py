"""The record store's contract, on SQLite and on a real PostgreSQL: every
port of chatd.records.base, plus a random sequence of ticket writes and
queries checked against a plain model."""

from __future__ import annotations

import os
import random

import pytest
from sqlalchemy.exc import IntegrityError

from chatd.archive import summarize
from chatd.model import Conversation, LogEntry
from chatd.records import Records
from chatd.records.cache import read_cached

RANDOM_STEPS = int(os.environ.get("CHATD_RECORDS_RANDOM_STEPS", "150"))
SEED = int(os.environ.get("CHATD_RECORDS_SEED", "2026"))


async def test_keyed_configuration_stores(records: Records) -> None:
    groups = records.skill_groups
    await groups.put({"name": "logistics", "algorithm": "round_robin"})
    await groups.put({"name": "billing"})
    await groups.put({"name": "logistics", "algorithm": "skills_load", "auto_accept": True})  # replaces
    assert [g["name"] for g in await groups.list()] == ["billing", "logistics"]
    assert await groups.get("logistics") == {"name": "logistics", "algorithm": "skills_load", "auto_accept": True}
    assert await groups.get("nope") is None
    assert await groups.delete("billing") is True and await groups.delete("billing") is False
    schedules = records.schedules
    await schedules.put({"owner": "ana", "timezone": "Asia/Shanghai", "hours": {"mon-fri": "09:00-18:00"}})
    assert (await schedules.get("ana"))["hours"] == {"mon-fri": "09:00-18:00"}
    assert [s["owner"] for s in await schedules.list()] == ["ana"]
    assert await schedules.delete("ana") and await schedules.list() == []
    rules = records.overflow_rules
    await rules.put({"skill_group": "after_sales", "max_queue": 5, "peak": [{"days": "mon", "hours": "20:00-22:00"}]})
    assert (await rules.get("after_sales"))["peak"] == [{"days": "mon", "hours": "20:00-22:00"}]
    assert await rules.delete("after_sales") and await rules.get("after_sales") is None
    assert await records.bot_settings.get("shop") is None
    await records.bot_settings.put("shop", {"bot_first": True, "greeting": "您好！"})
    await records.bot_settings.put("shop", {"bot_first": False, "greeting": "您好！"})
    assert await records.bot_settings.get("shop") == {"bot_first": False, "greeting": "您好！"}


async def test_quick_replies_by_owner(records: Records) -> None:
    replies = records.quick_replies
    for reply_id, owner in (("q3", "ana"), ("q1", "team"), ("q2", "bo")):
        await replies.put({"id": reply_id, "owner": owner, "shortcut": "/" + reply_id, "text": "…"})
    assert [r["id"] for r in await replies.list()] == ["q1", "q2", "q3"]
    assert [r["id"] for r in await replies.list(("team", "ana"))] == ["q1", "q3"]
    assert await replies.list(()) == []
    await replies.put({"id": "q3", "owner": "team", "shortcut": "/q3", "text": "changed hands"})
    assert [r["id"] for r in await replies.list(("ana",))] == []
    assert await replies.delete("q3") and not await replies.delete("q3") and await replies.get("q3") is None


async def test_knowledge_base_changes_move_the_version_atomically(records: Records) -> None:
    kb = records.knowledge_base
    assert await kb.version() == "" and await kb.list() == []
    await kb.put({"id": "a", "question": "怎么退货"}, "v1")
    await kb.replace({"b": {"id": "b", "question": "发票"}, "c": {"id": "c", "question": "物流"}}, ["a"], "v2")
    assert [e["id"] for e in await kb.list()] == ["b", "c"] and await kb.version() == "v2"
    # A bad record in an import leaves everything as it was: entries and version.
    with pytest.raises((KeyError, IntegrityError)):
        await kb.replace({"d": {"id": "d"}, "e": {"question": "no id"}}, ["b"], "v3")
    assert [e["id"] for e in await kb.list()] == ["b", "c"] and await kb.version() == "v2"
    assert await kb.delete("b", "v4") and await kb.version() == "v4"
    assert not await kb.delete("b", "v5")
    assert await kb.get("c") == {"id": "c", "question": "物流"}


def _ticket(ticket_id: str, at: float, **fields: object) -> dict[str, object]:
    return {"ticket_id": ticket_id, "site_key": "shop", "visitor_id": "v1", "conversation_id": "", "category": "order",
            "status": "open", "created_at": at, "updated_at": at, "message": "订单没到", **fields}


async def test_tickets_are_queried_by_their_fields_newest_first(records: Records) -> None:
    tickets = records.tickets
    await tickets.put(_ticket("t1", 10))
    await tickets.put(_ticket("t2", 20, category="invoice", conversation_id="c9"))
    await tickets.put(_ticket("t3", 30, site_key="other", visitor_id="v2"))
    assert [t["ticket_id"] for t in await tickets.query()] == ["t3", "t2", "t1"]
    assert [t["ticket_id"] for t in await tickets.query(category="invoice")] == ["t2"]
    assert [t["ticket_id"] for t in await tickets.query(site_key="shop", visitor_id="v1")] == ["t2", "t1"]
    assert [t["ticket_id"] for t in await tickets.query(conversation_id="c9")] == ["t2"]
    assert [t["ticket_id"] for t in await tickets.query(limit=1)] == ["t3"]
    await tickets.put(_ticket("t1", 10, status="closed", updated_at=40))  # a change keeps its place in line
    assert [t["ticket_id"] for t in await tickets.query(status="closed")] == ["t1"]
    assert (await tickets.get("t1"))["updated_at"] == 40 and await tickets.get("t0") is None


async def test_a_random_sequence_of_ticket_writes_matches_a_model(records: Records) -> None:
    rng = random.Random(SEED)
    model: dict[str, dict[str, object]] = {}
    for step in range(RANDOM_STEPS):
        if rng.random() < 0.6 or not model:
            ticket_id = f"t{rng.randrange(40)}"
            created = model[ticket_id]["created_at"] if ticket_id in model else float(rng.randrange(1000))
            ticket = _ticket(ticket_id, created, status=rng.choice(["open", "closed"]),
                             category=rng.choice(["order", "invoice", "other"]), site_key=rng.choice(["a", "b"]),
                             visitor_id=rng.choice(["v1", "v2", "v3"]), updated_at=float(1000 + step))
            await records.tickets.put(ticket)
            model[ticket_id] = ticket
            continue
        filters = {name: rng.choice(values) for name, values in (
            ("status", ["", "open", "closed"]), ("category", ["", "order", "invoice"]), ("site_key", ["", "a", "b"]),
            ("visitor_id", ["", "v1", "v2"])) if rng.random() < 0.5}
        limit = rng.choice([1, 5, 100])
        expected = sorted((t for t in model.values() if all(t[k] == v for k, v in filters.items() if v)),
                          key=lambda t: (t["created_at"], t["ticket_id"]), reverse=True)[:limit]
        found = await records.tickets.query(**filters, limit=limit)
        assert [t["ticket_id"] for t in found] == [t["ticket_id"] for t in expected], (step, filters)
        assert found == expected


async def test_one_rating_per_conversation(records: Records) -> None:
    assert await records.ratings.get("c1") is None
    await records.ratings.put({"conversation_id": "c1", "score": 2, "comment": "慢", "agent_id": "ana",
                               "skill": "general", "site_key": "shop", "at": 100.0})
    await records.ratings.put({"conversation_id": "c1", "score": 5, "comment": "后来很好", "agent_id": "ana",
                               "skill": "general", "site_key": "shop", "at": 160.0})
    assert await records.ratings.get("c1") == {"conversation_id": "c1", "score": 5, "comment": "后来很好",
                                               "agent_id": "ana", "skill": "general", "site_key": "shop", "at": 160.0}


def _log(cid: str, count: int, t0: float = 1000.0) -> list[LogEntry]:
    entries = [LogEntry(conversation_id=cid, seq=1, kind="event", sender_role="visitor", sender_id="v1",
                        body="queued", ts=t0),
               LogEntry(conversation_id=cid, seq=2, kind="event", sender_role="agent", sender_id="ana",
                        body="assigned", ts=t0 + 5)]
    for seq in range(3, count + 1):
        role = "visitor" if seq % 2 else "agent"
        entries.append(LogEntry(conversation_id=cid, seq=seq, kind="message", sender_role=role,
                                sender_id="v1" if role == "visitor" else "ana", body=f"第{seq}条 message {seq}",
                                ts=t0 + seq, client_msg_id=f"m{seq}", data={"n": seq} if seq == 3 else {}))
    return entries


async def test_the_archive_keeps_one_copy_of_each_transcript(records: Records) -> None:
    archive = records.archive
    conversation = Conversation(conversation_id="c1", site_key="shop", visitor_id="v1", skill="general",
                                created_at=999.0, state="closed", agent_id="", last_agent_id="ana")
    first = _log("c1", 1200)  # more than one insert batch
    await archive.save(summarize(conversation, first, epoch="e1", archived_at=2000.0), first)
    await archive.save(summarize(conversation, first, epoch="e1", archived_at=2000.0), first)  # a retry
    assert await archive.count() == 1
    saved = await archive.get("c1")
    assert saved is not None and saved.conversation == conversation and saved.last_seq == 1200
    assert (saved.queued_at, saved.assigned_at, saved.first_response_at, saved.outcome) == (1000.0, 1005.0, 1004.0,
                                                                                           "human")
    assert [e.seq for e in await archive.entries("c1", limit=3)] == [1, 2, 3]
    assert (await archive.entries("c1", limit=3))[2] == first[2]
    assert [e.seq for e in await archive.entries("c1", after_seq=1198)] == [1199, 1200]
    assert [e.seq for e in await archive.entries("c1", before_seq=10, limit=3)] == [7, 8, 9]
    assert [e.seq for e in await archive.entries("c1", after_seq=4, before_seq=8)] == [5, 6, 7]
    assert [e.seq for e in await archive.entries("c1", before_seq=2**62, limit=1)] == [1200]  # any bound a client sends
    assert await archive.entries("c1", after_seq=2**62) == []
    # Reopened and closed again: the newer, longer transcript replaces the old one.
    longer = _log("c1", 1210)
    await archive.save(summarize(conversation, longer, epoch="e2", archived_at=3000.0), longer)
    assert await archive.count() == 1 and len(await archive.entries("c1", limit=5000)) == 1210
    assert (await archive.get("c1")).epoch == "e2"
    other = Conversation(conversation_id="c2", site_key="shop", visitor_id="v1", skill="general", created_at=5000.0,
                         state="closed")
    await archive.save(summarize(other, _log("c2", 4)), _log("c2", 4))
    assert [a.conversation.conversation_id for a in await archive.for_visitor("shop", "v1")] == ["c2", "c1"]
    assert await archive.for_visitor("shop", "v2") == [] and await archive.get("c3") is None


async def test_configuration_reads_are_cached_but_see_their_own_writes(cached_records: Records) -> None:
    groups = cached_records.skill_groups
    assert await groups.list() == []
    await groups.put({"name": "general"})
    assert [g["name"] for g in await groups.list()] == ["general"]  # this node's write: seen at once
    (await groups.list())[0]["name"] = "changed by a caller"
    assert [g["name"] for g in await groups.list()] == ["general"]
    await groups.delete("general")
    assert await groups.get("general") is None and await groups.list() == []


async def test_another_nodes_write_is_seen_once_the_cache_lapses(records: Records) -> None:
    now = [100.0]
    this_node = read_cached(records.skill_groups, seconds=2.0, clock=lambda: now[0])
    other_node = read_cached(records.skill_groups, seconds=2.0, clock=lambda: now[0])
    assert await this_node.list() == [] and await this_node.get("vip") is None
    await other_node.put({"name": "vip"})
    now[0] += 1.9
    assert await this_node.list() == [] and await this_node.get("vip") is None  # within the cache's seconds
    now[0] += 0.2
    assert [g["name"] for g in await this_node.list()] == ["vip"] and await this_node.get("vip") == {"name": "vip"}


async def _archive_chat(records: Records, cid: str, closed_at: float, lines: list[tuple[str, str]], *,
                        agent: str = "ana", skill: str = "general", site: str = "shop", visitor: str = "v1") -> None:
    conversation = Conversation(conversation_id=cid, site_key=site, visitor_id=visitor, skill=skill,
                                created_at=closed_at - 60, state="closed", last_agent_id=agent, agent_id=agent,
                                closed_at=closed_at)
    entries = [LogEntry(conversation_id=cid, seq=1, kind="event", sender_role="visitor", sender_id=visitor,
                        body="queued", ts=closed_at - 60)]
    for seq, (role, body) in enumerate(lines, start=2):
        entries.append(LogEntry(conversation_id=cid, seq=seq, kind="message", sender_role=role,
                                sender_id=agent if role == "agent" else visitor, body=body, ts=closed_at - 60 + seq))
    await records.archive.save(summarize(conversation, entries), entries)


async def test_history_filters_and_full_text_search_in_chinese_and_english(records: Records) -> None:
    from chatd.archive import HistoryFilter
    from chatd.search import query_terms

    await _archive_chat(records, "c1", 1000.0, [("visitor", "我的快递物流进度怎么查？订单 1001"),
                                                ("agent", "您好，物流已经在派送了")])
    await _archive_chat(records, "c2", 2000.0, [("visitor", "I want a refund for order 1002"),
                                                ("agent", "Refunds take 3 days")], agent="bo", skill="billing")
    await _archive_chat(records, "c3", 3000.0, [("visitor", "发票怎么开")], site="other", visitor="v2")
    await records.ratings.put({"conversation_id": "c2", "score": 5, "comment": "", "agent_id": "bo",
                               "skill": "billing", "site_key": "shop", "at": 2100.0})
    archive = records.archive
    everything = HistoryFilter()
    assert [c.conversation.conversation_id for c in await archive.history(everything)] == ["c3", "c2", "c1"]
    assert [c.conversation.conversation_id for c in await archive.history(everything, limit=1, offset=1)] == ["c2"]
    for filters, expected in ((HistoryFilter(agent_id="bo"), ["c2"]), (HistoryFilter(skill="general"), ["c3", "c1"]),
                              (HistoryFilter(site_key="other"), ["c3"]), (HistoryFilter(visitor_id="v1"), ["c2", "c1"]),
                              (HistoryFilter(since=1500, until=3000), ["c2"]), (HistoryFilter(rating=5), ["c2"]),
                              (HistoryFilter(rating=1), []), (HistoryFilter(outcome="human"), ["c2", "c1"])):
        assert [c.conversation.conversation_id for c in await archive.history(filters)] == expected, filters

    async def hits(query: str, filters: HistoryFilter = everything) -> list[tuple[str, int]]:
        return [(h.conversation.conversation_id, h.seq) for h in await archive.search(query_terms(query), filters)]

    assert await hits("物流") == [("c1", 3), ("c1", 2)]  # a sub-word of 物流进度, and the word itself
    assert await hits("物流进度") == [("c1", 2)]
    assert await hits("快递 1001") == [("c1", 2)]  # every term must match
    assert await hits("快递 1002") == []
    assert await hits("refund") == [("c2", 3), ("c2", 2)]  # "refund" and "Refunds" meet at one stem
    assert await hits("REFUNDS") == [("c2", 3), ("c2", 2)]
    assert await hits("order", HistoryFilter(agent_id="bo")) == [("c2", 2)]
    assert await hits("发票") == [("c3", 2)] and await hits("发票", HistoryFilter(site_key="shop")) == []
    assert await hits("") == [] and await hits("？！") == []
    found = (await archive.search(query_terms("发票"), everything))[0]
    assert (found.body, found.sender_role) == ("发票怎么开", "visitor")
    assert found.conversation.conversation.site_key == "other"
    # Archived again (reopened, closed again): its messages are indexed once, the newest transcript.
    await _archive_chat(records, "c3", 4000.0, [("visitor", "发票怎么开"), ("agent", "在订单页申请发票")],
                        site="other", visitor="v2")
    assert await hits("发票") == [("c3", 3), ("c3", 2)]
