"""A chat that changes hands can be worked by whoever holds it now.

Each test hands a chat around as a support team does (transfer and back,
to another group and back, decline and re-offer, a supervisor's second
reassign, a requeue after the grace period) against a real chatd, and then
checks that the agent who now owns it can send, receive and close it, also
after reloading the console.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from chatd.client import ChatClient
from tests.e2e.conftest import BURSTY
from tests.support import ChatdProcess, alogin, eventually, require_redis

GRACE_SECONDS = 1.0


@pytest.fixture(params=["memory", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[ChatdProcess]:
    if request.param == "redis":
        require_redis()
    env = {**BURSTY, "CHATD_AGENT_GRACE_SECONDS": str(GRACE_SECONDS), "CHATD_PRESENCE_TTL_SECONDS": "3"}
    with ChatdProcess(request.param, env=env) as running:
        yield running


async def agent(server: ChatdProcess, agent_id: str) -> ChatClient:
    client = ChatClient(server.ws_url, "agent", token=await alogin(server.url, agent_id, server.passwords[agent_id]))
    await client.connect()
    return client


async def admin_http(server: ChatdProcess, agent_id: str = "admin") -> httpx.AsyncClient:
    token = await alogin(server.url, agent_id, server.passwords[agent_id])
    return httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=10)


async def owner(server: ChatdProcess, cid: str) -> tuple[str, str]:
    async with await admin_http(server) as http:
        answer = (await http.get(f"/api/v1/conversations/{cid}")).json()
    return answer["state"], answer["agent_id"]


async def assert_works(holder: ChatClient, visitor: ChatClient, cid: str, tag: str) -> None:
    """The agent holding ``cid`` sends (acknowledged, no error), the visitor
    gets it, and the visitor's answer reaches the agent."""
    sent = await holder.send(cid, f"agent says {tag}")
    await eventually(lambda: sent in holder.acks, timeout=10)
    assert not [f for f in holder.errors if f.get("conversation_id") == cid], holder.errors
    await eventually(lambda: any(m["body"] == f"agent says {tag}" for m in visitor.messages(cid)), timeout=10)
    await visitor.send(cid, f"visitor answers {tag}")
    await eventually(lambda: any(m["body"] == f"visitor answers {tag}" for m in holder.messages(cid)), timeout=10)


async def reload(server: ChatdProcess, client: ChatClient, agent_id: str) -> ChatClient:
    """A console reload: a new connection that remembers nothing."""
    await client.close()
    return await agent(server, agent_id)


async def test_an_agent_who_gets_a_chat_back_after_transfers_can_work_it(server: ChatdProcess) -> None:
    ana, bo = await agent(server, "ana"), await agent(server, "bo")
    visitor = ChatClient(server.ws_url, "visitor")
    await visitor.connect()
    cid = (await visitor.start())["conversation_id"]
    await eventually(lambda: cid in ana.conversations, timeout=10)
    await assert_works(ana, visitor, cid, "first")
    await ana.send_frame({"type": "transfer", "conversation_id": cid, "to_agent": "bo", "note": "over to you"})
    await eventually(lambda: cid in bo.conversations, timeout=10)
    await assert_works(bo, visitor, cid, "bo")
    await bo.send_frame({"type": "transfer", "conversation_id": cid, "to_agent": "ana", "note": "back to you"})
    await eventually(async_owner_is(server, cid, "ana"))
    await assert_works(ana, visitor, cid, "ana again")
    ana = await reload(server, ana, "ana")
    await assert_works(ana, visitor, cid, "after reload")
    await ana.send_frame({"type": "close", "conversation_id": cid})
    await visitor.expect("event", where=lambda f: f["event"] == "closed", timeout=10)
    for client in (ana, bo, visitor):
        await client.close()


async def test_a_chat_sent_to_another_group_and_back_can_be_worked_by_each_holder(server: ChatdProcess) -> None:
    ana, bo = await agent(server, "ana"), await agent(server, "bo")
    visitor = ChatClient(server.ws_url, "visitor")
    await visitor.connect()
    cid = (await visitor.start(skill="logistics"))["conversation_id"]  # only ana holds logistics
    await eventually(lambda: cid in ana.conversations, timeout=10)
    await ana.send_frame({"type": "transfer", "conversation_id": cid, "to_skill": "billing", "note": "second line"})
    await eventually(async_owner_is(server, cid, "bo"))  # only bo holds billing
    await assert_works(bo, visitor, cid, "second line")
    await bo.send_frame({"type": "transfer", "conversation_id": cid, "to_skill": "logistics", "note": "back"})
    await eventually(async_owner_is(server, cid, "ana"))
    await assert_works(ana, visitor, cid, "first line again")
    for client in (ana, bo, visitor):
        await client.close()


async def test_an_agent_offered_a_chat_again_after_declining_and_lapsing_can_accept_it(server: ChatdProcess) -> None:
    async with await admin_http(server) as http:
        answer = await http.put("/api/v1/skill-groups/general", json={"auto_accept": False,
                                                                      "offer_timeout_seconds": 1})
        assert answer.status_code == 200, answer.text
    ana = await agent(server, "ana")  # the only agent on duty
    visitor = ChatClient(server.ws_url, "visitor")
    await visitor.connect()
    cid = (await visitor.start())["conversation_id"]
    offered = await ana.expect("conversation", where=lambda f: f["conversation"]["conversation_id"] == cid)
    assert offered["conversation"]["state"] == "offered"
    await ana.send_frame({"type": "decline", "conversation_id": cid})
    # Nobody else is eligible: the offer goes round again instead of waiting forever.
    await eventually(async_state_is(server, cid, "offered", "ana"), timeout=10)
    await asyncio.sleep(1.5)  # let this one lapse too
    await eventually(async_state_is(server, cid, "offered", "ana"), timeout=10)
    await ana.send_frame({"type": "accept", "conversation_id": cid})
    await eventually(async_state_is(server, cid, "assigned", "ana"), timeout=10)
    await assert_works(ana, visitor, cid, "accepted at last")
    for client in (ana, visitor):
        await client.close()


async def test_a_chat_a_supervisor_reassigned_twice_can_be_worked_by_its_holder(server: ChatdProcess) -> None:
    ana, bo = await agent(server, "ana"), await agent(server, "bo")
    visitor = ChatClient(server.ws_url, "visitor")
    await visitor.connect()
    cid = (await visitor.start())["conversation_id"]
    await eventually(lambda: cid in ana.conversations, timeout=10)
    async with await admin_http(server, "sam") as http:
        for target in ("bo", "ana"):
            answer = await http.post(f"/api/v1/conversations/{cid}/reassign", json={"to_agent": target})
            assert answer.status_code == 200, answer.text
            await eventually(async_owner_is(server, cid, target))
    await assert_works(ana, visitor, cid, "after two reassigns")
    ana = await reload(server, ana, "ana")
    await assert_works(ana, visitor, cid, "after two reassigns and a reload")
    for client in (ana, bo, visitor):
        await client.close()


async def test_an_agent_who_gets_a_requeued_chat_back_after_the_grace_period_can_work_it(
        server: ChatdProcess) -> None:
    ana = await agent(server, "ana")
    visitor = ChatClient(server.ws_url, "visitor")
    await visitor.connect()
    cid = (await visitor.start(skill="logistics"))["conversation_id"]
    await eventually(lambda: cid in ana.conversations, timeout=10)
    await ana.drop()  # the network goes; the grace period runs out
    await eventually(async_state_is(server, cid, "queued", ""), timeout=15)
    ana = await agent(server, "ana")
    await eventually(async_owner_is(server, cid, "ana"), timeout=10)
    await assert_works(ana, visitor, cid, "back after the grace period")
    for client in (ana, visitor):
        await client.close()


def async_owner_is(server: ChatdProcess, cid: str, agent_id: str) -> Callable[[], Awaitable[bool]]:
    return async_state_is(server, cid, "assigned", agent_id)


def async_state_is(server: ChatdProcess, cid: str, state: str, agent_id: str) -> Callable[[], Awaitable[bool]]:
    """A check for eventually(): the conversation is in ``state``, held by ``agent_id``."""
    async def check() -> bool:
        return await owner(server, cid) == (state, agent_id)
    return check
