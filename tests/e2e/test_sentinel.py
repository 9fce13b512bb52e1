"""chatd on Redis Sentinel (a primary, a replica, three Sentinels, all real
servers of the test's own): it finds the primary through the Sentinels, and
when the primary dies mid-chat it follows the failover, so the chat goes on
and every message acknowledged after the failover is stored and delivered.
What an asynchronous replica may lose (writes acknowledged by the old
primary but not yet copied) is counted and reported, not assumed away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.redis_server import SentinelGroup
from tests.e2e.conftest import BURSTY
from tests.support import ChatdProcess, agent_and_visitor, alogin, eventually, require_redis


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    require_redis()
    with SentinelGroup(tmp_path / "sentinel", down_after_ms=1000) as group:
        yield group


async def test_a_primary_failover_during_a_chat(sentinels: SentinelGroup) -> None:
    env = {**BURSTY, "CHATD_REDIS_URL": sentinels.url, "CHATD_REDIS_RETRY_SECONDS": "15"}
    node = ChatdProcess("redis", env=env).start()
    try:
        agent, visitor, cid = await agent_and_visitor(node)
        sent: list[tuple[str, str, float]] = []  # (client_msg_id, body, when sent)
        killed_at = 0.0
        for n in range(120):  # 50 ms apart: about 6 s, with the primary killed after 1.5 s
            body = f"message {n}"
            sent.append((await visitor.send(cid, body), body, time.monotonic()))
            if n == 30:
                sentinels.primary.kill()
                killed_at = time.monotonic()
            await asyncio.sleep(0.05)
        await asyncio.to_thread(sentinels.wait_until, lambda: sentinels.primary_port() == sentinels.replica.port,
                                "the failover")
        await eventually(lambda: all(cmid in visitor.acks for cmid, _, _ in sent), timeout=30)
        failed_over = time.monotonic()

        token = await alogin(node.url, "ana", node.passwords["ana"])
        async with httpx.AsyncClient() as http:
            page = (await http.get(f"{node.url}/api/v1/conversations/{cid}/messages", params={"limit": 500},
                                   headers={"authorization": f"Bearer {token}"}, timeout=10)).json()
        stored = [e["body"] for e in page["entries"] if e["kind"] == "message"]
        lost = [body for _, body, _ in sent if body not in stored]
        print(f"sentinel failover: {len(sent)} acknowledged, {len(lost)} lost {lost}, "
              f"{failed_over - killed_at:.1f} s from the kill until every send was acknowledged")
        # Whatever was lost was acknowledged by the old primary before it died.
        assert all(when <= killed_at for _, body, when in sent if body in lost)
        assert len(lost) <= 5
        # Nothing stored twice or out of order, and the agent has exactly what is stored.
        assert stored == sorted(set(stored), key=stored.index)
        assert stored == [b for _, b, _ in sent if b in stored]
        await eventually(lambda: [m["body"] for m in agent.messages(cid)][-len(stored):] == stored, timeout=20)
        assert agent.violations == [] and visitor.violations == []
        # The chat goes on on the new primary.
        await agent.send(cid, "still here")
        await eventually(lambda: any(m["body"] == "still here" for m in visitor.messages(cid)), timeout=10)
        for client in (agent, visitor):
            await client.close()
    finally:
        node.stop()
        node._release()
