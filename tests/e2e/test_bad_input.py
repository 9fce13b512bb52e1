"""Every bad input gets an error frame with a stable code; the connection
stays usable where that makes sense, and stored state is never harmed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import msgpack
import orjson
import pytest
import websockets

from chatd.auth import TokenSigner, sign_identity
from chatd.client import ChatClient
from tests.support import ChatdProcess, alogin


async def _frames_until(ws: Any, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            raw = await ws.recv()
            frame = msgpack.unpackb(raw) if isinstance(raw, bytes) else orjson.loads(raw)
            if frame["type"] == kind:
                return frame


async def _still_usable(client: ChatClient) -> None:
    await client.send_frame({"type": "ping", "ts": 7})
    assert (await client.expect("pong"))["ts"] == 7


@pytest.fixture
def server(chatd_memory: ChatdProcess) -> ChatdProcess:
    return chatd_memory


# (name, raw payload, expected code) sent by a visitor after hello
VISITOR_CASES: list[tuple[str, str | bytes | dict[str, Any], str]] = [
    ("malformed json", "{not json", "bad_frame"),
    ("json array", "[1, 2]", "bad_frame"),
    ("no type", {"hello": 1}, "bad_frame"),
    ("type not a string", {"type": 5}, "bad_frame"),
    ("unknown type", {"type": "fly"}, "unknown_type"),
    ("agent-only frame", {"type": "transfer", "conversation_id": "c_x", "to_skill": "billing"}, "unknown_type"),
    ("send without body", {"type": "send", "conversation_id": "CID", "client_msg_id": "m1"}, "bad_request"),
    ("body not a string", {"type": "send", "conversation_id": "CID", "client_msg_id": "m1", "body": 5},
     "bad_request"),
    ("blank body", {"type": "send", "conversation_id": "CID", "client_msg_id": "m1", "body": "   "},
     "bad_request"),
    ("client_msg_id too long", {"type": "send", "conversation_id": "CID", "client_msg_id": "x" * 65,
                                "body": "hi"}, "bad_request"),
    ("body over 4000 chars", {"type": "send", "conversation_id": "CID", "client_msg_id": "m1",
                              "body": "x" * 4001}, "bad_request"),
    ("read with negative seq", {"type": "read", "conversation_id": "CID", "seq": -1}, "bad_request"),
    ("typing without active", {"type": "typing", "conversation_id": "CID"}, "bad_request"),
    ("bad ref", {"type": "ping", "ref": 12}, "bad_request"),
    ("unknown conversation", {"type": "send", "conversation_id": "c_nope", "client_msg_id": "m1", "body": "hi"},
     "unknown_conversation"),
    ("foreign conversation", {"type": "send", "conversation_id": "OTHER", "client_msg_id": "m1", "body": "hi"},
     "forbidden"),
    ("second hello", {"type": "hello", "site": "demo"}, "already_hello"),
    ("oversized frame", "x" * (70 * 1024), "frame_too_large"),
]


async def test_bad_visitor_frames_each_get_their_code(server: ChatdProcess) -> None:
    other = ChatClient(server.ws_url, "visitor")
    await other.connect()
    other_cid = (await other.start())["conversation_id"]
    visitor = ChatClient(server.ws_url, "visitor")
    await visitor.connect()
    cid = (await visitor.start())["conversation_id"]
    await visitor.send(cid, "before")
    await visitor.expect("ack")
    for name, payload, code in VISITOR_CASES:
        if isinstance(payload, dict):
            text = orjson.dumps(payload).decode().replace('"CID"', f'"{cid}"').replace('"OTHER"', f'"{other_cid}"')
            await visitor.send_raw(text)
        else:
            await visitor.send_raw(payload)
        error = await visitor.expect("error")
        assert error["code"] == code, (name, error)
        assert error["message"], name
        await _still_usable(visitor)
    await visitor.send(cid, "after")
    await visitor.expect("ack")
    # Stored state is intact: the conversation log is exactly what was sent, gap-free.
    async with httpx.AsyncClient() as http:
        page = (await http.get(f"{server.url}/api/v1/conversations/{cid}/messages",
                               headers={"authorization": f"Bearer {visitor.token}"})).json()
    bodies = [e["body"] for e in page["entries"] if e["kind"] == "message"]
    assert bodies == ["before", "after"]
    assert [e["seq"] for e in page["entries"]] == list(range(1, len(page["entries"]) + 1))
    await visitor.close()
    await other.close()


async def test_malformed_msgpack_and_frames_before_hello(server: ChatdProcess) -> None:
    async with websockets.connect(server.ws_url + "/ws/visitor?site=demo",
                                  subprotocols=["chatd.v1.msgpack"]) as ws:  # type: ignore[list-item]
        await ws.send(b"\xc1\xc1")
        assert (await _frames_until(ws, "error"))["code"] == "bad_frame"
        await ws.send(msgpack.packb({"type": "send", "conversation_id": "c", "client_msg_id": "m", "body": "x"}))
        assert (await _frames_until(ws, "error"))["code"] == "hello_required"
        await ws.send(msgpack.packb({"type": "hello", "site": "demo"}))
        assert (await _frames_until(ws, "welcome"))["role"] == "visitor"


async def test_sending_to_a_closed_conversation(server: ChatdProcess) -> None:
    visitor = ChatClient(server.ws_url, "visitor")
    await visitor.connect()
    cid = (await visitor.start())["conversation_id"]
    await visitor.send_frame({"type": "close", "conversation_id": cid})
    await visitor.expect("event", where=lambda f: f["event"] == "closed")
    await visitor.send_frame({"type": "send", "conversation_id": cid, "client_msg_id": "late", "body": "hello?"})
    error = await visitor.expect("error")
    assert error["code"] == "conversation_closed"
    await visitor.send_frame({"type": "close", "conversation_id": cid})
    assert (await visitor.expect("error"))["code"] == "conversation_closed"
    await _still_usable(visitor)
    await visitor.close()


async def _hello_answer(url: str, frame: dict[str, Any], headers: dict[str, str] | None = None
                        ) -> tuple[dict[str, Any], int | None]:
    async with websockets.connect(url, additional_headers=headers or {}) as ws:
        await ws.send(orjson.dumps(frame).decode())
        answer = await _frames_until(ws, "error")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return answer, ws.close_code


async def test_bad_credentials_close_with_auth_codes(server: ChatdProcess) -> None:
    agent_url = server.ws_url + "/ws/agent"
    signer = TokenSigner(server.secret)
    expired, _ = signer.issue("agent", "ana", ttl=-10, now=1_000_000)
    visitor_token, _ = signer.issue("visitor", "v_x", ttl=3600, now=4_000_000_000 - 3600 * 24 * 365 * 10,
                                    site="demo")
    token = await alogin(server.url, "ana", server.passwords["ana"])
    async with httpx.AsyncClient() as http:
        assert (await http.post(server.url + "/api/v1/auth/logout",
                                headers={"authorization": f"Bearer {token}"})).status_code == 200
    cases = [
        (agent_url, {"type": "hello", "token": "garbage"}, "unauthorized", 4001),
        (agent_url, {"type": "hello"}, "unauthorized", 4001),
        (agent_url, {"type": "hello", "token": expired}, "token_expired", 4001),
        (agent_url, {"type": "hello", "token": token}, "token_revoked", 4001),
        (agent_url, {"type": "hello", "token": visitor_token}, "unauthorized", 4001),
        (server.ws_url + "/ws/visitor", {"type": "hello", "site": "nope"}, "unknown_site", 4001),
        (server.ws_url + "/ws/visitor", {"type": "hello", "site": "demo", "identity": "v1.e30.AAAA"},
         "unauthorized", 4001),
    ]
    for url, frame, code, close in cases:
        answer, close_code = await _hello_answer(url, frame)
        assert (answer["code"], close_code) == (code, close), frame


async def test_an_overlong_name_is_refused_and_hello_can_be_retried(server: ChatdProcess) -> None:
    async with websockets.connect(server.ws_url + "/ws/visitor") as ws:
        await ws.send(orjson.dumps({"type": "hello", "site": "demo", "name": "n" * 101}).decode())
        assert (await _frames_until(ws, "error"))["code"] == "bad_request"
        await ws.send(orjson.dumps({"type": "hello", "site": "demo", "name": "n" * 100}).decode())
        assert (await _frames_until(ws, "welcome"))["role"] == "visitor"


async def test_identity_tokens_and_origin_allowlist(server: ChatdProcess) -> None:
    admin = await alogin(server.url, "admin", server.passwords["admin"])
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {admin}"}) as http:
        created = await http.post(server.url + "/api/v1/sites", json={
            "site_key": "shop", "name": "Shop", "allowed_origins": ["https://shop.example"], "secret": "s3cret"})
        assert created.status_code == 201, created.text
    url = server.ws_url + "/ws/visitor"
    answer, close_code = await _hello_answer(url, {"type": "hello", "site": "shop"},
                                             {"Origin": "https://evil.example"})
    assert (answer["code"], close_code) == ("origin_not_allowed", 4003)
    import time

    expired = sign_identity("s3cret", "42", now=time.time() - 3600, ttl=60, site="shop")
    answer, close_code = await _hello_answer(url, {"type": "hello", "site": "shop", "identity": expired},
                                             {"Origin": "https://shop.example"})
    assert (answer["code"], close_code) == ("token_expired", 4001)
    # A verified customer keeps one identity across devices.
    good = sign_identity("s3cret", "42", now=time.time(), site="shop", name="Han Meimei")
    phone = ChatClient(server.ws_url, "visitor", site="shop")
    laptop = ChatClient(server.ws_url, "visitor", site="shop")
    await phone.connect(identity=good)
    cid = (await phone.start())["conversation_id"]
    welcome = await laptop.connect(identity=good)
    assert welcome["visitor_id"] == phone.welcome["visitor_id"] == "u:42"
    assert [c["conversation_id"] for c in welcome["conversations"]] == [cid]
    # A visitor token of one site does not open another.
    answer, close_code = await _hello_answer(url + "?site=demo", {"type": "hello", "site": "demo",
                                                                  "token": phone.token})
    assert (answer["code"], close_code) == ("unauthorized", 4001)
    await phone.close()
    await laptop.close()


async def test_rate_limit_and_hard_frame_limit(server: ChatdProcess) -> None:
    visitor = ChatClient(server.ws_url, "visitor")
    await visitor.connect()
    for i in range(80):
        await visitor.send_frame({"type": "ping", "ts": i})
    limited = await visitor.expect("error", timeout=5)
    assert limited["code"] == "rate_limited"
    await asyncio.sleep(2.5)  # the bucket refills at 20 frames/s
    await _still_usable(visitor)
    await visitor.send_raw("x" * (1024 * 1024 + 10))
    closed = await visitor.expect("_closed", timeout=5)
    assert visitor.ws is not None and visitor.ws.close_code == 1009, closed
