"""chatd across Redis restarts, on a Redis server of the test's own.

- a Redis restart of a second or two is invisible to clients: sends during it
  are acknowledged, a hello during it is welcomed, nobody gets an error;
- an outage longer than the store's retries answers `unavailable` and closes
  the socket with 1011 at once (the client reconnects), and a hello during it
  fails fast instead of waiting out the hello timeout;
- when Redis comes back without its last writes (a host crash), every log's
  epoch changes and connected clients are resynced, so messages acknowledged
  after the crash are delivered even though their seqs were used before.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.redis_server import RedisServer
from chatd.client import ChatClient, ClientClosed
from tests.e2e.conftest import BURSTY
from tests.support import ChatdProcess, agent_and_visitor, eventually, require_redis

RETRY_SECONDS = 2.0


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis()  # the shared one is not used; its absence means a broken machine
    with RedisServer(tmp_path / "redis", appendfsync="everysec") as server:
        yield server


@pytest.fixture
def node(redis_server: RedisServer) -> Iterator[ChatdProcess]:
    env = {**BURSTY, "CHATD_REDIS_URL": redis_server.url, "CHATD_REDIS_RETRY_SECONDS": str(RETRY_SECONDS)}
    server = ChatdProcess("redis", env=env).start()
    try:
        yield server
    finally:
        server.stop()
        server._release()


def restart_in_background(redis_server: RedisServer, down_seconds: float, hard: bool = False) -> threading.Thread:
    def restart() -> None:
        redis_server.kill() if hard else redis_server.stop()
        time.sleep(down_seconds)
        redis_server.start()
    thread = threading.Thread(target=restart)
    thread.start()
    return thread


async def test_a_short_redis_restart_is_invisible_to_clients(node: ChatdProcess, redis_server: RedisServer) -> None:
    agent, visitor, cid = await agent_and_visitor(node)
    restart = restart_in_background(redis_server, 1.0, hard=True)
    sent = []
    for n in range(10):  # across the outage
        sent.append(await visitor.send(cid, f"during the restart {n}"))
        await asyncio.sleep(0.15)
    late = ChatClient(node.ws_url, "visitor")
    await late.connect()  # a hello while Redis may still be away
    await asyncio.to_thread(restart.join)
    await eventually(lambda: all(cmid in visitor.acks for cmid in sent), timeout=15)
    bodies = [f"during the restart {n}" for n in range(10)]
    await eventually(lambda: [m["body"] for m in agent.messages(cid)][-10:] == bodies, timeout=15)
    assert visitor.errors == [] and agent.errors == [] and late.errors == []
    for client in (agent, visitor, late):
        await client.close()


async def test_a_long_outage_answers_unavailable_and_closes_at_once(node: ChatdProcess,
                                                                  redis_server: RedisServer) -> None:
    agent, visitor, cid = await agent_and_visitor(node)
    redis_server.kill()
    began = time.monotonic()
    await visitor.send(cid, "nobody can store this now")
    closed = await visitor.expect("_closed", timeout=RETRY_SECONDS + 10)
    assert time.monotonic() - began < RETRY_SECONDS + 5
    assert [e["code"] for e in visitor.errors] == ["unavailable"] and closed.get("code") == 1011
    began = time.monotonic()
    newcomer = ChatClient(node.ws_url, "visitor")
    with pytest.raises(ClientClosed):  # the hello is refused quickly, not after the 15 s hello timeout
        await newcomer.connect()
    assert time.monotonic() - began < RETRY_SECONDS + 5
    assert [e["code"] for e in newcomer.errors] == ["unavailable"]
    redis_server.start()
    for client in (visitor, agent):  # as the widget and the console do: reconnect until welcomed
        for _ in range(20):
            try:
                await client.connect()  # the visitor's outbox goes out again
                break
            except (ClientClosed, OSError):
                await asyncio.sleep(0.25)
    await eventually(lambda: not visitor.outbox, timeout=15)
    await eventually(lambda: any(m["body"] == "nobody can store this now" for m in agent.messages(cid)), timeout=15)
    for client in (agent, visitor, newcomer):
        await client.close()


async def test_after_a_host_crash_clients_are_resynced_and_new_messages_arrive(
        node: ChatdProcess, redis_server: RedisServer, tmp_path: Path) -> None:
    agent, visitor, cid = await agent_and_visitor(node)
    for n in range(3):
        await visitor.send(cid, f"kept {n}")
    await eventually(lambda: len(agent.messages(cid)) == 3, timeout=10)
    copy = redis_server.copy_aof(tmp_path / "copy")  # the disk as a crash a moment later leaves it
    for n in range(3):
        await visitor.send(cid, f"lost {n}")
    await eventually(lambda: len(agent.messages(cid)) == 6, timeout=10)
    before = dict(agent.epochs)
    await asyncio.to_thread(redis_server.crash_back_to, copy)
    await eventually(lambda: agent.resyncs and visitor.resyncs, timeout=20)
    assert agent.epochs[cid] != before[cid]
    # The seqs of the lost messages are handed out again, in the new epoch: they still arrive.
    for n in range(3):
        await visitor.send(cid, f"after the crash {n}")
    await eventually(lambda: [m["body"] for m in agent.messages(cid)][-3:] == [f"after the crash {n}"
                                                                               for n in range(3)], timeout=15)
    assert [m["body"] for m in agent.messages(cid)][:3] == ["kept 0", "kept 1", "kept 2"]
    assert agent.violations == [] and visitor.violations == []
    for client in (agent, visitor):
        await client.close()
