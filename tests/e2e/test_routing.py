"""Routing through a real chatd: offers accepted over the socket, transfers
with a note only agents see, and the routing explanation API."""

from __future__ import annotations

import httpx

from chatd.client import ChatClient
from tests.support import ChatdProcess, alogin


async def test_offer_accept_transfer_with_note_and_explanation(chatd_memory: ChatdProcess) -> None:
    server = chatd_memory
    admin = await alogin(server.url, "admin", server.passwords["admin"])
    async with httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {admin}"}) as http:
        answer = await http.put("/api/v1/skill-groups/general", json={"auto_accept": False,
                                                                      "offer_timeout_seconds": 60})
        assert answer.status_code == 200, answer.text
        bad = await http.put("/api/v1/skill-groups/general", json={"algorithm": "coin_flip"})
        assert bad.status_code == 400 and "algorithm" in bad.json()["error"]["message"]
        bad = await http.put("/api/v1/schedules/ana", json={"timezone": "Mars/Olympus", "hours": {"mon": "9-5"}})
        assert bad.status_code == 400
    ana = ChatClient(server.ws_url, "agent", token=await alogin(server.url, "ana", server.passwords["ana"]))
    bo = ChatClient(server.ws_url, "agent", token=await alogin(server.url, "bo", server.passwords["bo"]))
    visitor = ChatClient(server.ws_url, "visitor")
    await ana.connect()
    await visitor.connect()
    cid = (await visitor.start())["conversation_id"]
    offer = await ana.expect("conversation")
    assert offer["conversation"]["state"] == "offered" and offer["conversation"]["offer_expires_at"] > 0
    await ana.send_frame({"type": "accept", "conversation_id": cid})
    await visitor.expect("event", where=lambda f: f["event"] == "accepted")
    await bo.connect()
    await ana.send(cid, "let me pass you to my colleague")
    await ana.send_frame({"type": "transfer", "conversation_id": cid, "to_agent": "bo",
                          "note": "VIP, wants a refund to a new card"})
    seen_by_bo = await bo.expect("event", where=lambda f: f["event"] == "transferred", timeout=10)
    assert seen_by_bo["data"]["note"] == "VIP, wants a refund to a new card"
    seen_by_visitor = await visitor.expect("event", where=lambda f: f["event"] == "transferred")
    assert "note" not in seen_by_visitor["data"] and seen_by_visitor["data"]["to_agent"] == "bo"
    # bo sees the whole conversation, ana no longer follows it
    assert [f["body"] for f in bo.messages(cid)] == ["let me pass you to my colleague"]
    await visitor.send(cid, "thanks")
    assert (await bo.expect("message"))["body"] == "thanks"
    await ana.send_frame({"type": "send", "conversation_id": cid, "client_msg_id": "late", "body": "still here?"})
    assert (await ana.expect("error"))["code"] == "forbidden"
    # internal notes reach agents, never the visitor
    await bo.send_frame({"type": "send", "conversation_id": cid, "client_msg_id": "n1", "body": "checked the order",
                         "internal": True})
    await bo.expect("ack")
    await bo.send(cid, "refund started")
    got = await visitor.expect("message", where=lambda f: f["from"]["role"] == "agent"
                               and f["body"] == "refund started")
    assert all(f["type"] != "note" for f in visitor.entries[cid])
    assert got["seq"] == visitor.entries[cid][-1]["seq"]
    sam = await alogin(server.url, "sam", server.passwords["sam"])
    async with httpx.AsyncClient(base_url=server.url) as http:
        explained = (await http.get(f"/api/v1/conversations/{cid}/routing",
                                    headers={"authorization": f"Bearer {sam}"})).json()
    decisions = [d for d in explained["decisions"] if d["kind"] == "decision"]
    assert decisions[0]["agent_id"] == "ana" and decisions[0]["action"] == "offer"
    assert {c["agent_id"]: c["reason"] for c in decisions[0]["candidates"]}["bo"] == "offline"
    for client in (visitor, ana, bo):
        await client.close()
