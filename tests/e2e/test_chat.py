"""A visitor and an agent chat through a real chatd, with each engine."""

from __future__ import annotations

import httpx

from chatd.client import ChatClient
from tests.support import ChatdProcess, alogin


async def test_visitor_and_agent_exchange_messages(chatd: ChatdProcess) -> None:
    token = await alogin(chatd.url, "ana", chatd.passwords["ana"])
    agent = ChatClient(chatd.ws_url, "agent", token=token)
    visitor = ChatClient(chatd.ws_url, "visitor", name="Li Lei")
    await agent.connect()
    await visitor.connect()
    conversation = await visitor.start()
    cid = conversation["conversation_id"]
    queued = await visitor.expect("event", where=lambda f: f["event"] == "queued")
    assert queued["seq"] == 1
    assigned = await visitor.expect("event", where=lambda f: f["event"] == "assigned")
    assert assigned["data"]["agent_id"] == "ana"
    offered = await agent.expect("conversation")
    assert offered["conversation"]["conversation_id"] == cid

    first = await visitor.send(cid, "你好，我的快递到哪了？")
    ack = await visitor.expect("ack")
    assert ack["client_msg_id"] == first and ack["seq"] == 3 and ack["duplicate"] is False
    got = await agent.expect("message")
    assert got["body"] == "你好，我的快递到哪了？"
    assert got["from"] == {"role": "visitor", "id": visitor.welcome["visitor_id"]}

    await agent.send(cid, "您好，包裹今天下午送达。")
    await agent.expect("ack")
    reply = await visitor.expect("message", where=lambda f: f["from"]["role"] == "agent")
    assert reply["seq"] == 4

    await visitor.send_frame({"type": "typing", "conversation_id": cid, "active": True})
    typing = await agent.expect("typing")
    assert typing["active"] is True and typing["from"]["role"] == "visitor"
    await agent.send_frame({"type": "read", "conversation_id": cid, "seq": 3})
    assert (await visitor.expect("read"))["seq"] == 3

    await agent.send_frame({"type": "close", "conversation_id": cid})
    closed = await visitor.expect("event", where=lambda f: f["event"] == "closed")
    assert closed["seq"] == 5

    async with httpx.AsyncClient() as http:
        history = await http.get(f"{chatd.url}/api/v1/conversations/{cid}/messages",
                                 headers={"authorization": f"Bearer {visitor.token}"})
    assert history.status_code == 200
    assert [e["seq"] for e in history.json()["entries"]] == [1, 2, 3, 4, 5]
    assert visitor.duplicates == 0 and agent.duplicates == 0
    await visitor.close()
    await agent.close()


async def test_msgpack_clients_get_the_same_frames(chatd: ChatdProcess) -> None:
    token = await alogin(chatd.url, "bo", chatd.passwords["bo"])
    agent = ChatClient(chatd.ws_url, "agent", token=token, fmt="msgpack")
    visitor = ChatClient(chatd.ws_url, "visitor", fmt="msgpack")
    await agent.connect()
    await visitor.connect()
    cid = (await visitor.start())["conversation_id"]
    await agent.expect("conversation")
    await visitor.send(cid, "msgpack hello")
    assert (await agent.expect("message"))["body"] == "msgpack hello"
    await visitor.close()
    await agent.close()
