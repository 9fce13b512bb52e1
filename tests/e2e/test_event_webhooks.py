"""Event webhooks against a real local HTTP receiver that goes down in the
middle of a chat and comes back: every event of the chat arrives, signed,
at least once; the delivery log shows the failed attempts and their retries."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from chatd.bot.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.support import ChatdProcess, agent_and_visitor, alogin, eventually, free_port


class Receiver:
    """An HTTP server on a fixed port that records every POST; ``down()``
    closes its socket (connections are refused), ``up()`` opens it again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/chatd-events"

    def up(self) -> None:
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> dict[str, dict[str, Any]]:
        """Received events by id (repeats dropped, as a receiver should)."""
        return {event["id"]: event for event in (orjson.loads(body) for _, body in self.received)}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.up()
    yield server
    server.down()


async def test_every_event_arrives_across_a_receiver_outage(receiver: Receiver) -> None:
    with ChatdProcess("memory") as node:
        admin = await alogin(node.url, "admin", node.passwords["admin"])
        async with httpx.AsyncClient(base_url=node.url, headers={"authorization": f"Bearer {admin}"}) as http:
            site = (await http.patch("/api/v1/sites/demo", json={
                "events_url": receiver.url, "events": ["conversation.created", "conversation.queued",
                                                       "conversation.assigned", "conversation.closed",
                                                       "message.created", "rating.created"]})).json()
            secret = site["events_secret"]
            assert secret and site["events_url"] == receiver.url
            assert (await http.patch("/api/v1/sites/demo", json={"events": ["nope"]})).status_code == 400

            agent, visitor, cid = await agent_and_visitor(node)
            await visitor.send(cid, "before the outage")
            await eventually(lambda: any(e["type"] == "message.created" for e in receiver.events().values()))
            receiver.down()
            for n in range(5):
                await visitor.send(cid, f"during the outage {n}")
            await agent.send(cid, "an answer during the outage")
            await agent.send_frame({"type": "close", "conversation_id": cid})
            await eventually(lambda: any(f["type"] == "event" and f.get("event") == "closed"
                                         for f in visitor.entries.get(cid, [])), timeout=10)
            await visitor.send_frame({"type": "rate", "conversation_id": cid, "score": 5, "comment": "good",
                                      "ref": "r1"})
            await visitor.expect("rated", timeout=5)
            await asyncio.sleep(2.5)  # the first retries fail: the receiver is still down
            failed = (await http.get("/api/v1/sites/demo/deliveries")).json()["deliveries"]
            assert any(d["outcome"].startswith("unreachable") and d["retry_at"] > d["at"] for d in failed)
            receiver.up()

            def complete() -> bool:
                events = receiver.events().values()
                bodies = [e["data"]["body"] for e in events if e["type"] == "message.created"]
                return len(bodies) == 7 and any(e["type"] == "rating.created" for e in events)

            await eventually(complete, timeout=40)
            events = receiver.events()
            by_type = sorted(e["type"] for e in events.values())
            for kind in ("conversation.created", "conversation.queued", "conversation.assigned",
                         "conversation.closed", "rating.created"):
                assert kind in by_type, by_type
            assert all(e["conversation_id"] == cid and e["site_key"] == "demo" and e["version"] == 1
                       for e in events.values())
            bodies = {e["data"]["body"] for e in events.values() if e["type"] == "message.created"}
            assert bodies == {"before the outage", "an answer during the outage",
                              *(f"during the outage {n}" for n in range(5))}
            for headers, body in receiver.received:  # every delivery, repeats included, is signed
                verify(secret, headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()], body, time.time())
            log = (await http.get("/api/v1/sites/demo/deliveries")).json()["deliveries"]
            assert sum(1 for d in log if d["outcome"] == "delivered") >= len(events)
            await agent.close()
            await visitor.close()
