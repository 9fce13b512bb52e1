"""Two chatd processes on one Redis and one PostgreSQL: chats closed on
either node land in the archive exactly once, also when the node that closed
one is killed before it could archive it; after the hold their Redis keys are
gone, and history, resume and the visitor's list read the archive."""

from __future__ import annotations

import httpx
import redis

from chatd.client import ChatClient
from chatd.records import open_records
from tests.support import REDIS_URL, ChatdProcess, alogin, eventually, postgres_database, require_redis

HOLD = "4"  # seconds a closed conversation stays live after it is archived


async def _chat(visitor_url: str, agent: ChatClient, text: str) -> tuple[ChatClient, str]:
    visitor = ChatClient(visitor_url, "visitor")
    await visitor.connect()
    cid = (await visitor.start())["conversation_id"]
    await agent.expect("conversation", timeout=10, where=lambda f: f["conversation"]["conversation_id"] == cid)
    await visitor.send(cid, text)
    await agent.send(cid, "您好，这就帮您查 " + text)
    await eventually(lambda: len(visitor.messages(cid)) >= 2 and not visitor.outbox and not agent.outbox)
    return visitor, cid


async def test_chats_closed_on_two_nodes_are_archived_once_then_read_from_the_archive() -> None:
    require_redis()
    async with postgres_database() as database_url:
        env = {"CHATD_DATABASE_URL": database_url, "CHATD_LIVE_RETENTION": HOLD}
        node_a = ChatdProcess("redis", env=env).start()
        node_b = ChatdProcess("redis", prefix=node_a.prefix, env={**env, "CHATD_DEMO": "false"}).start()
        records = open_records(database_url)
        client = redis.Redis.from_url(REDIS_URL)
        try:
            token = await alogin(node_b.url, "ana", node_a.passwords["ana"])
            agent = ChatClient(node_b.ws_url, "agent", token=token)
            await agent.connect()
            first, on_a = await _chat(node_a.ws_url, agent, "订单 1001 到哪了")
            second, on_b = await _chat(node_b.ws_url, agent, "order 1002 is late")
            await agent.send_frame({"type": "close", "conversation_id": on_b})
            # The second is closed through node A, which is killed at once: it never archives it.
            await first.send_frame({"type": "close", "conversation_id": on_a})
            await first.expect("event", timeout=10, where=lambda f: f["event"] == "closed")
            node_a.kill()
            await eventually(records.archive.count, timeout=30)

            async def both_archived() -> bool:
                return await records.archive.count() == 2
            await eventually(both_archived, timeout=30)
            for cid in (on_a, on_b):
                saved = await records.archive.get(cid)
                assert saved is not None and saved.outcome == "human" and saved.first_response_at is not None
                bodies = [e.body for e in await records.archive.entries(cid) if e.kind == "message"]
                assert len(bodies) == 2 and bodies[1].startswith("您好")

            # After the hold the live engine lets go of both: no key of theirs is left in Redis.
            def gone() -> bool:
                return not [k for k in client.scan_iter(match=f"{node_a.prefix}:*")
                            if any(cid.encode() in k for cid in (on_a, on_b))]
            await eventually(gone, timeout=30)
            assert await records.archive.count() == 2  # still exactly once

            # History over HTTP, as the visitor and as a supervisor, comes from the archive.
            visitor_token = first.token
            supervisor = await alogin(node_b.url, "sam", node_a.passwords["sam"])
            async with httpx.AsyncClient(base_url=node_b.url, timeout=10) as http:
                for bearer in (visitor_token, supervisor):
                    page = (await http.get(f"/api/v1/conversations/{on_a}/messages",
                                           headers={"authorization": f"Bearer {bearer}"})).json()
                    assert "entries" in page, page
                    assert next(e["body"] for e in page["entries"] if e["kind"] == "message") == "订单 1001 到哪了"
                    assert page["last_seq"] == (await records.archive.get(on_a)).last_seq
                record = (await http.get(f"/api/v1/conversations/{on_a}",
                                         headers={"authorization": f"Bearer {visitor_token}"})).json()
                assert record["state"] == "closed"
            # Resume after expiry: the visitor comes back on the other node and is told the whole chat.
            resumed = ChatClient(node_b.ws_url, "visitor", token=visitor_token)
            await resumed.connect()  # its resume point is 0: everything is sent again
            await eventually(lambda: len(resumed.messages(on_a)) == 2, timeout=10)
            # Reopened by the agent who had it, it comes back live and goes on where it stopped.
            async with httpx.AsyncClient(base_url=node_b.url, timeout=10) as http:
                reopened = await http.post(f"/api/v1/conversations/{on_a}/reopen",
                                           headers={"authorization": f"Bearer {token}"})
            assert reopened.status_code == 200, reopened.text
            await agent.expect("conversation", timeout=15, where=lambda f: f["conversation"]["conversation_id"] == on_a
                               and f["conversation"]["state"] == "assigned")
            await agent.send(on_a, "我们又见面了")
            await eventually(lambda: [m["body"] for m in resumed.messages(on_a)][-1:] == ["我们又见面了"], timeout=10)
            seqs = [m["seq"] for m in resumed.messages(on_a)]
            assert seqs == sorted(set(seqs))  # one history, no seq given twice
            await resumed.close()
            await agent.close()
            await second.close()
        finally:
            client.close()
            await records.database.close()
            node_b.cleanup()
            node_a.cleanup()
