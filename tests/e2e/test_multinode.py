"""Two chatd processes on one Redis (and on a real three-primary Redis
Cluster): the visitor on one node, the agent on the other, both dropping and
reconnecting (to either node) at random moments. Every acknowledged message
arrives exactly once and in order on both sides."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx

from bench.redis_server import ClusterGroup
from chatd.client import ChatClient
from tests.e2e.conftest import BURSTY
from tests.support import ChatdProcess, alogin, eventually, require_redis

MESSAGES = 1000


async def _talk(client: ChatClient, cid: str, label: str, urls: list[str], rng: random.Random) -> int:
    reconnects = 0
    for i in range(MESSAGES):
        if rng.random() < 0.015:
            await client.drop()
            await asyncio.sleep(rng.random() * 0.05)
            client.url = rng.choice(urls)
            await client.connect()
            reconnects += 1
        await client.send(cid, f"{label}-{i}")
        if i % 20 == 0:
            await asyncio.sleep(0.005)
    return reconnects


async def test_two_nodes_exactly_once_in_order_through_random_reconnects() -> None:
    require_redis()
    await _two_nodes(BURSTY)


async def test_two_nodes_on_a_redis_cluster(tmp_path: Path) -> None:
    require_redis()
    with ClusterGroup(tmp_path / "cluster") as cluster:
        await _two_nodes({**BURSTY, "CHATD_REDIS_URL": cluster.url})


async def _two_nodes(env: dict[str, str]) -> None:
    node_a = ChatdProcess("redis", env=env).start()
    node_b = ChatdProcess("redis", prefix=node_a.prefix, env={**env, "CHATD_DEMO": "false"}).start()
    try:
        urls = [node_a.ws_url, node_b.ws_url]
        token = await alogin(node_b.url, "ana", node_a.passwords["ana"])
        agent = ChatClient(node_b.ws_url, "agent", token=token)
        visitor = ChatClient(node_a.ws_url, "visitor")
        await agent.connect()
        await visitor.connect()
        cid = (await visitor.start())["conversation_id"]
        await agent.expect("conversation", timeout=10)

        reconnects = await asyncio.gather(
            _talk(visitor, cid, "v", urls, random.Random(1)),
            _talk(agent, cid, "a", urls, random.Random(2)))
        assert sum(reconnects) >= 10  # the run really did reconnect many times

        # Whatever was still unacknowledged is resent by a last reconnect.
        for client in (visitor, agent):
            if client.outbox:
                await client.drop()
                await client.connect()
        await eventually(lambda: not visitor.outbox and not agent.outbox, timeout=30)
        expected_from_agent = [f"a-{i}" for i in range(MESSAGES)]
        expected_from_visitor = [f"v-{i}" for i in range(MESSAGES)]

        def delivered(client: ChatClient, role: str) -> list[str]:
            return [f["body"] for f in client.messages(cid) if f["from"]["role"] == role]

        await eventually(lambda: len(delivered(visitor, "agent")) == MESSAGES
                         and len(delivered(agent, "visitor")) == MESSAGES, timeout=30)
        assert delivered(visitor, "agent") == expected_from_agent
        assert delivered(agent, "visitor") == expected_from_visitor
        assert visitor.duplicates == 0 and agent.duplicates == 0
        for client in (visitor, agent):
            seqs = [f["seq"] for f in client.entries[cid]]
            assert seqs == list(range(1, len(seqs) + 1))  # gap-free, in order, on both sides

        async with httpx.AsyncClient() as http:
            entries: list[dict[str, object]] = []
            after = 0
            while True:
                page = (await http.get(f"{node_a.url}/api/v1/conversations/{cid}/messages",
                                       params={"after": after, "limit": 500},
                                       headers={"authorization": f"Bearer {visitor.token}"})).json()
                if not page["entries"]:
                    break
                entries += page["entries"]
                after = page["entries"][-1]["seq"]
        bodies = [e["body"] for e in entries if e["kind"] == "message"]
        assert len(bodies) == 2 * MESSAGES and len(set(bodies)) == 2 * MESSAGES
        await visitor.close()
        await agent.close()
    finally:
        node_b.stop()
        node_a.cleanup()
        node_b._release()
