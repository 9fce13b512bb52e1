"""Graceful drain on SIGTERM: acks in flight finish, clients get 1012 and
resume elsewhere, readiness turns 503, the process exits within its bound."""

from __future__ import annotations

import signal
import time

import httpx

from chatd.app import create_app
from chatd.records import MEMORY_URL
from chatd.settings import load_settings
from tests.support import ChatdProcess, agent_and_visitor, eventually, require_redis


async def test_readiness_is_503_while_draining() -> None:
    app = create_app(load_settings({}, database_url=MEMORY_URL, demo=False))
    ctx = app.state.chatd
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://chatd") as http:
        assert (await http.get("/readyz")).status_code == 200
        await ctx.hub.drain(timeout=1)
        answer = await http.get("/readyz")
        assert answer.status_code == 503 and answer.json()["status"] == "draining"
        assert (await http.get("/healthz")).status_code == 200


async def test_sigterm_closes_clients_with_1012_and_nothing_is_lost() -> None:
    require_redis()
    server = ChatdProcess("redis", env={"CHATD_DRAIN_SECONDS": "5"}).start()
    try:
        agent, visitor, cid = await agent_and_visitor(server)
        for i in range(20):
            await visitor.send(cid, f"in flight {i}")
        server.signal(signal.SIGTERM)
        started = time.monotonic()
        await visitor.expect("_closed", timeout=10)
        await agent.expect("_closed", timeout=10)
        assert visitor.ws is not None and visitor.ws.close_code == 1012
        assert agent.ws is not None and agent.ws.close_code == 1012
        assert server.proc is not None
        assert server.proc.wait(10) == 0
        assert time.monotonic() - started < 8
        # Each message is acknowledged or still in the client's outbox; after
        # a restart the outbox is resent and every message is stored once, in order.
        assert len(visitor.acks) + len(visitor.outbox) == 20
        server.start()
        await visitor.connect()
        await eventually(lambda: not visitor.outbox)
        async with httpx.AsyncClient() as http:
            page = (await http.get(f"{server.url}/api/v1/conversations/{cid}/messages",
                                   headers={"authorization": f"Bearer {visitor.token}"})).json()
        assert [e["body"] for e in page["entries"] if e["kind"] == "message"] == [f"in flight {i}" for i in range(20)]
        await visitor.close()
    finally:
        server.cleanup()
