"""The delivery contract (docs/protocol.md, *Resume and replay*) against a real chatd."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import pytest_asyncio

from chatd.client import ChatClient
from tests.e2e.conftest import BURSTY
from tests.support import ChatdProcess, agent_and_visitor, alogin, eventually


@pytest_asyncio.fixture
async def pair(chatd: ChatdProcess) -> AsyncIterator[tuple[ChatClient, ChatClient, str]]:
    agent, visitor, cid = await agent_and_visitor(chatd)
    await eventually(lambda: len(agent.entries.get(cid, [])) >= 2)  # queued + assigned
    yield visitor, agent, cid
    await visitor.close()
    await agent.close()


async def test_resend_after_a_lost_ack_stores_one_copy(chatd: ChatdProcess,
                                                       pair: tuple[ChatClient, ChatClient, str]) -> None:
    visitor, agent, cid = pair
    # The message is stored, but the connection dies and the client never learns it.
    await visitor.send_raw(orjson.dumps({"type": "send", "conversation_id": cid, "client_msg_id": "lost-ack-1",
                                         "body": "did you get this?"}).decode())
    await agent.expect("message")
    await visitor.drop()
    visitor.acks.clear()
    visitor.outbox["lost-ack-1"] = (cid, "did you get this?")  # unacknowledged as far as the client knows
    await visitor.connect()  # resends the outbox with the same client_msg_id
    ack = await visitor.expect("ack")
    assert ack["client_msg_id"] == "lost-ack-1" and ack["duplicate"] is True and ack["seq"] == 3
    async with httpx.AsyncClient() as http:
        page = (await http.get(f"{chatd.url}/api/v1/conversations/{cid}/messages",
                               headers={"authorization": f"Bearer {visitor.token}"})).json()
    assert [e["body"] for e in page["entries"] if e["kind"] == "message"] == ["did you get this?"]
    assert agent.duplicates == 0 and len(agent.messages(cid)) == 1


async def test_reconnect_after_200_missed_messages_replays_them_all(
        pair: tuple[ChatClient, ChatClient, str]) -> None:
    visitor, agent, cid = pair
    await visitor.drop()
    last_seen = visitor.last_seq[cid]
    for i in range(200):
        await agent.send(cid, f"missed {i}")
    await eventually(lambda: len(agent.acks) == 200)
    await visitor.connect()
    synced = await visitor.expect("synced", where=lambda f: f["conversation_id"] == cid, timeout=10)
    replayed = [f for f in visitor.entries[cid] if f["seq"] > last_seen]
    assert [f["body"] for f in replayed] == [f"missed {i}" for i in range(200)]
    assert [f["seq"] for f in replayed] == list(range(last_seen + 1, last_seen + 201))
    assert synced["last_seq"] == last_seen + 200
    assert visitor.duplicates == 0
    # Live traffic continues after the replay without a gap.
    await agent.send(cid, "live again")
    live = await visitor.expect("message", where=lambda f: f["body"] == "live again")
    assert live["seq"] == last_seen + 201


@pytest.mark.parametrize("chatd_retention", [40])
async def test_trimmed_history_is_reported_not_skipped(chatd_retention: int) -> None:
    with ChatdProcess("memory", env={**BURSTY, "CHATD_LOG_RETENTION": str(chatd_retention)}) as server:
        token = await alogin(server.url, "ana", server.passwords["ana"])
        agent = ChatClient(server.ws_url, "agent", token=token)
        visitor = ChatClient(server.ws_url, "visitor")
        await agent.connect()
        await visitor.connect()
        cid = (await visitor.start())["conversation_id"]
        await agent.expect("conversation")
        await eventually(lambda: visitor.last_seq.get(cid, 0) >= 2)
        await visitor.drop()
        for i in range(100):
            await agent.send(cid, f"m{i}")
        await eventually(lambda: len(agent.acks) == 100)
        await visitor.connect()
        await visitor.expect("synced", where=lambda f: f["conversation_id"] == cid, timeout=10)
        assert len(visitor.gaps) == 1
        gap = visitor.gaps[0]
        assert gap["after_seq"] == 2 and gap["first_seq"] == 102 - chatd_retention + 1
        seqs = [f["seq"] for f in visitor.entries[cid]]
        assert seqs == [1, 2, *range(gap["first_seq"], 103)]
        await visitor.close()
        await agent.close()
