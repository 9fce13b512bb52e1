"""An external bot behind the signed webhook, served by a small real HTTP server on
127.0.0.1: chatd signs every event, posts the bot's answers, accepts its late replies
through the API, and falls back to the built-in bot when it is slow, broken or silent."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest_asyncio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.client import ChatClient
from tests.support import ChatdProcess, alogin, eventually, free_port

SECRET = "external-bot-secret-0123456789"


def _signature(timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class ExternalBot:
    """What a deployment's own bot does, written against the documented contract only."""

    def __init__(self, chatd_url: str) -> None:
        self.chatd_url = chatd_url
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.pending: list[asyncio.Task[None]] = []

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("x-chatd-timestamp", "")
        if not hmac.compare_digest(_signature(timestamp, body), request.headers.get("x-chatd-signature", "")) \
                or abs(time.time() - int(timestamp)) > 300:
            self.bad_signatures += 1
            return Response(status_code=401)
        event = orjson.loads(body)
        self.events.append(event)
        text = event["text"]
        if event["type"] == "conversation_started":
            return _json({"text": "外部机器人为您服务 (external bot)"})
        if text == "hello":
            return _json({"replies": [{"text": "external: hello", "buttons": [{"label": "Refunds"}]}]})
        if text == "later":
            self.pending.append(asyncio.get_running_loop().create_task(self._reply_later(event)))
            return Response(status_code=202)
        if text == "never":
            return Response(status_code=202)
        if "退款" in text:
            await asyncio.sleep(3)  # longer than the site's timeout
            return _json({"text": "too late"})
        if text == "crash":
            return Response("boom", status_code=500)
        if text == "agent please":
            return _json({"text": "Passing you to a colleague.", "handoff": {"note": "asked twice", "intent": "x"}})
        return _json({"text": f"external echo: {text}"})

    async def _reply_later(self, event: dict[str, Any]) -> None:
        await asyncio.sleep(0.2)
        body = orjson.dumps({"text": "external: sorry for the wait"})
        timestamp = str(int(time.time()))
        async with httpx.AsyncClient() as http:
            await http.post(f"{self.chatd_url}/api/v1/bot/conversations/{event['conversation_id']}/messages",
                            content=body, headers={"x-chatd-timestamp": timestamp,
                                                   "x-chatd-signature": _signature(timestamp, body),
                                                   "content-type": "application/json"})


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


@pytest_asyncio.fixture
async def external_bot(chatd_memory: ChatdProcess) -> AsyncIterator[tuple[ExternalBot, str]]:
    bot = ExternalBot(chatd_memory.url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/hook", bot.hook, methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve())
    await eventually(lambda: server.started, timeout=10)
    try:
        yield bot, f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        for pending in bot.pending:
            pending.cancel()


async def test_external_bot_answers_replies_late_and_falls_back(chatd_memory: ChatdProcess,
                                                                 external_bot: tuple[ExternalBot, str]) -> None:
    bot, hook_url = external_bot
    admin = await alogin(chatd_memory.url, "admin", chatd_memory.passwords["admin"])
    async with httpx.AsyncClient(base_url=chatd_memory.url, headers={"authorization": f"Bearer {admin}"}) as http:
        saved = await http.put("/api/v1/sites/demo-bot/bot", json={
            "webhook_url": hook_url, "webhook_secret": SECRET, "webhook_timeout_seconds": 1.0,
            "webhook_reply_seconds": 1.5, "fallback": "builtin"})
        assert saved.status_code == 200, saved.text
    visitor = ChatClient(chatd_memory.ws_url, "visitor", site="demo-bot")
    await visitor.connect()
    try:
        cid = (await visitor.start())["conversation_id"]

        async def bot_says(count: int) -> list[str]:
            found = await eventually(lambda: len(bots := [m["body"] for m in visitor.messages(cid)
                                                          if m["from"]["role"] == "bot"]) >= count and bots,
                                     timeout=20)
            return found

        assert (await bot_says(1))[0] == "外部机器人为您服务 (external bot)"
        await visitor.send(cid, "hello")
        assert (await bot_says(2))[1] == "external: hello"
        assert visitor.messages(cid)[-1]["data"]["buttons"][0]["label"] == "Refunds"
        await visitor.send(cid, "later")  # 202, then a signed reply through the API
        assert (await bot_says(3))[2] == "external: sorry for the wait"
        await visitor.send(cid, "退款多久到账")  # the external bot times out: the built-in bot answers
        await bot_says(4)
        assert visitor.messages(cid)[-1]["data"]["entry_id"] == "refunds-time"
        await visitor.send(cid, "crash")  # a 500 is a failure too: never silence
        await bot_says(5)
        assert visitor.messages(cid)[-1]["data"]["bot"] == "builtin"
        await visitor.send(cid, "never")  # accepted, but no reply within webhook_reply_seconds
        await bot_says(6)
        assert visitor.messages(cid)[-1]["data"]["bot"] == "builtin"
        assert bot.bad_signatures == 0 and [e["type"] for e in bot.events][:2] == ["conversation_started",
                                                                                    "message"]
        # A forged reply is refused; a handoff from the external bot queues the chat with its note.
        async with httpx.AsyncClient(base_url=chatd_memory.url) as http:
            forged = await http.post(f"/api/v1/bot/conversations/{cid}/messages", content=b'{"text": "x"}',
                                     headers={"x-chatd-timestamp": str(int(time.time())),
                                              "x-chatd-signature": "sha256=" + "0" * 64})
            assert (forged.status_code, forged.json()["error"]["code"]) == (401, "unauthorized")
        await visitor.send(cid, "agent please")
        await eventually(lambda: any(e.get("event") == "queued" for e in visitor.entries[cid]), timeout=10)
        assert visitor.messages(cid)[-1]["body"] == "Passing you to a colleague."
    finally:
        await visitor.close()
