"""Starting a chat and waiting in a queue, through real chatd nodes.

- a start names a skill group that exists, or is refused with
  `unknown_skill`: visitors cannot make up queues;
- a visitor starting from two tabs at once gets one conversation;
- with two nodes on one Redis, each waiting visitor gets each queue position
  once (not once per node) and each reason for waiting is recorded once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from chatd.client import ChatClient
from tests.e2e.conftest import BURSTY
from tests.support import ChatdProcess, alogin, eventually, require_redis


async def test_a_start_in_a_made_up_skill_is_refused_and_makes_no_queue(chatd: ChatdProcess) -> None:
    visitors = [ChatClient(chatd.ws_url, "visitor") for _ in range(30)]
    for visitor in visitors:
        await visitor.connect()
    await asyncio.gather(*(v.send_frame({"type": "start", "skill": f"made-up-{n}", "ref": "s"})
                           for n, v in enumerate(visitors)))
    for visitor in visitors:
        refused = await visitor.expect("error", timeout=10)
        assert (refused["code"], refused.get("ref")) == ("unknown_skill", "s")
    admin = await alogin(chatd.url, "admin", chatd.passwords["admin"])
    async with httpx.AsyncClient(base_url=chatd.url, headers={"authorization": f"Bearer {admin}"}) as http:
        queues = (await http.get("/api/v1/queues")).json()["queues"]
        assert not [q for q in queues if q["skill"].startswith("made-up")]
        # a group an admin creates can be started in at once
        assert (await http.put("/api/v1/skill-groups/made-up-0", json={})).status_code == 200
    started = await visitors[0].start(skill="made-up-0")
    assert started["skill"] == "made-up-0" and started["state"] == "queued"
    for visitor in visitors:
        await visitor.close()


async def test_two_tabs_starting_at_once_get_one_conversation(chatd: ChatdProcess) -> None:
    for _ in range(10):
        first = ChatClient(chatd.ws_url, "visitor")
        await first.connect()
        second = ChatClient(chatd.ws_url, "visitor", token=first.token)
        await second.connect()
        one, two = await asyncio.gather(first.start(), second.start())
        assert one["conversation_id"] == two["conversation_id"]
        await first.close()
        await second.close()


@pytest.fixture
def two_nodes() -> Iterator[list[ChatdProcess]]:
    require_redis()
    first = ChatdProcess("redis", env=BURSTY).start()
    second = ChatdProcess("redis", prefix=first.prefix, env={**BURSTY, "CHATD_DEMO": "false"}).start()
    try:
        yield [first, second]
    finally:
        second.stop()
        second._release()
        first.cleanup()


async def test_with_two_nodes_each_queue_position_and_reason_comes_once(two_nodes: list[ChatdProcess]) -> None:
    first, second = two_nodes
    admin = await alogin(first.url, "admin", first.passwords["admin"])
    async with httpx.AsyncClient(base_url=first.url, headers={"authorization": f"Bearer {admin}"}) as http:
        assert (await http.put("/api/v1/skill-groups/nobody-here", json={})).status_code == 200
        visitors = []
        for n in range(4):  # spread over both nodes; nobody can take them
            visitor = ChatClient((first, second)[n % 2].ws_url, "visitor", keep_frames=True)
            await visitor.connect()
            await visitor.start(skill="nobody-here")
            visitors.append(visitor)
        await eventually(lambda: all(any(f["type"] == "queue" for f in v.frames) for v in visitors), timeout=10)
        await asyncio.sleep(4)  # several routing passes on each node
        for position, visitor in enumerate(visitors, start=1):
            told = [(f["position"], f["length"]) for f in visitor.frames if f["type"] == "queue"]
            assert len(told) == len(set(told)), told  # every change once, not once per node
            assert told[-1][0] == position
        sam = await alogin(first.url, "sam", first.passwords["sam"])
        for visitor in visitors:
            cid = next(iter(visitor.conversations))
            records = (await http.get(f"/api/v1/conversations/{cid}/routing",
                                      headers={"authorization": f"Bearer {sam}"})).json()["decisions"]
            waiting = [r for r in records if r.get("kind") == "decision" and r.get("action") == "queue"]
            assert len(waiting) == 1, waiting  # one reason, recorded once
    for visitor in visitors:
        await visitor.close()
