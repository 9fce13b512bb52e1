"""A visitor and the bot against a real chatd (memory and Redis engines): suggestions
while typing, an answer with related buttons, 转人工 to the queue with the bot's context
visible to the agent, and silence once the agent has joined."""

from __future__ import annotations

import asyncio
from typing import Any

from chatd.client import ChatClient
from tests.support import ChatdProcess, alogin, eventually


def _bot_messages(client: ChatClient, conversation_id: str) -> list[dict[str, Any]]:
    return [m for m in client.messages(conversation_id) if m["from"]["role"] == "bot"]


async def test_bot_answers_hands_off_with_context_and_goes_silent(chatd: ChatdProcess) -> None:
    token = await alogin(chatd.url, "bo", chatd.passwords["bo"])  # bo serves after_sales
    agent = ChatClient(chatd.ws_url, "agent", token=token)
    visitor = ChatClient(chatd.ws_url, "visitor", site="demo-bot", name="王小明")
    await agent.connect()
    await visitor.connect()
    try:
        # Suggestions while typing come from the live knowledge base.
        await visitor.send_frame({"type": "suggest", "text": "物流"})
        suggestions = await visitor.expect("suggestions", timeout=30)
        assert suggestions["items"] and all("物流" in item["text"] for item in suggestions["items"][:2])
        await visitor.send_frame({"type": "start", "ref": "s1"})
        started = await visitor.expect("conversation", timeout=10)
        cid = started["conversation"]["conversation_id"]
        assert started["mode"] == "bot" and started["conversation"]["state"] == "open"
        await eventually(lambda: _bot_messages(visitor, cid), timeout=30)  # the greeting
        await visitor.send(cid, "请问退款一般多久能到账啊")
        answer = await eventually(lambda: len(_bot_messages(visitor, cid)) >= 2 and _bot_messages(visitor, cid)[1],
                                  timeout=30)
        assert answer["data"]["entry_id"] == "refunds-time"
        assert answer["data"]["buttons"] and answer["data"]["buttons"][0]["entry_id"]
        await visitor.send(cid, "转人工")
        # The agent gets the chat in the after-sales queue, with what the visitor asked and the bot answered.
        offered = await agent.expect("conversation", timeout=15, where=lambda f: f["conversation"][
            "conversation_id"] == cid)
        assert offered["conversation"]["skill"] == "after_sales"
        note = await agent.expect("note", timeout=10, where=lambda f: f["conversation_id"] == cid)
        assert "请问退款一般多久能到账啊" in note["body"] and "退款" in note["body"]
        queued = await eventually(lambda: next((e for e in agent.entries.get(cid, []) if e.get("event") == "queued"),
                                               None))
        assert queued["data"]["handoff"]["matched_entry_ids"] == ["refunds-time"]
        assert queued["data"]["handoff"]["skill_group"] == "after_sales"
        # Visitors never see the note nor the handoff details.
        assert all("handoff" not in (e.get("data") or {}) for e in visitor.entries[cid])
        if offered["conversation"]["state"] == "offered":
            await agent.send_frame({"type": "accept", "conversation_id": cid})
        await eventually(lambda: any(e.get("event") in ("assigned", "accepted") for e in visitor.entries[cid]))
        bot_count = len(_bot_messages(visitor, cid))
        await visitor.send(cid, "发票怎么开")
        await eventually(lambda: any(m["body"] == "发票怎么开" for m in agent.messages(cid)))
        await agent.send(cid, "您好，我是波，马上为您处理")
        await eventually(lambda: any(m["from"]["role"] == "agent" for m in visitor.messages(cid)))
        await asyncio.sleep(1.0)  # room for a wrong bot answer to arrive
        assert len(_bot_messages(visitor, cid)) == bot_count
    finally:
        await visitor.close()
        await agent.close()
