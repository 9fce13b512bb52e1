"""Event webhooks: deliver the outbox's events to each site's ``events_url``,
at least once.

Every node runs a :class:`WebhookDispatcher`. It claims events from the
outbox in the store (each claimed by one node at a time; a node that dies
holding some has them taken over after :data:`STALE_SECONDS`), POSTs each as
JSON signed like the bot webhook (``X-Chatd-Timestamp``, ``X-Chatd-Signature``
= ``v1=`` HMAC-SHA256 of ``<timestamp>.<body>`` with the site's
``events_secret``, ``X-Chatd-Event`` = its type), and finishes it on any 2xx.
Anything else (an error status, a timeout, a refused connection) brings it
back after a backoff of 2, 4, 8 … seconds (at most an hour), up to
:data:`MAX_ATTEMPTS` attempts (about a day), then it is given up. Each
attempt is written to the site's delivery log (``GET
/api/v1/sites/{key}/deliveries``). Receivers drop repeats by the event's
``id``; events of one conversation may arrive out of order after a retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from chatd.bot.webhook import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from chatd.model import Site
from chatd.tasks import cancel_and_wait

__all__ = ["MAX_ATTEMPTS", "STALE_SECONDS", "WebhookDispatcher", "backoff_seconds"]

log = logging.getLogger("chatd.webhooks")

MAX_ATTEMPTS = 30
STALE_SECONDS = 60.0  # a claimed event not finished this long is taken over (its node died)
TIMEOUT_SECONDS = 5.0
BATCH = 50
IDLE_SECONDS = 0.5  # pause when the outbox is empty


def backoff_seconds(attempt: int) -> float:
    """The wait after failed attempt number ``attempt`` (1, 2, …)."""
    return float(min(2 ** attempt, 3600))


class WebhookDispatcher:
    def __init__(self, store: Any, sites: Callable[[str], Any], clock: Callable[[], float], *, node_id: str,
                 transport: httpx.AsyncBaseTransport | None = None,
                 counted: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.sites = sites  # site key -> awaitable Site | None (the service's cached lookup)
        self.clock = clock
        self.node_id = node_id
        self.counted = counted
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False,
                                       headers={"user-agent": "chatd-events/1"})
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                busy = await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store outage: try again shortly
                log.warning("event delivery pass failed", exc_info=True)
                busy = False
            if not busy:
                await asyncio.sleep(IDLE_SECONDS)

    async def pass_once(self) -> bool:
        """Requeue due retries, then deliver one batch; True when there was work."""
        await self.store.requeue_due(self.clock())
        claimed = await self.store.claim_events(f"node:{self.node_id}", BATCH, STALE_SECONDS)
        await asyncio.gather(*(self._deliver(outbox_id, event) for outbox_id, event in claimed))
        return bool(claimed)

    async def _deliver(self, outbox_id: str, event: dict[str, Any]) -> None:
        site: Site | None = await self.sites(str(event.get("site_key", "")))
        if site is None or not site.events_url or event.get("type") not in site.events:
            await self.store.finish_event(outbox_id)  # unsubscribed meanwhile: nothing to deliver
            return
        attempt = int(event.get("attempt", 0)) + 1
        payload = {k: v for k, v in event.items() if k != "attempt"}
        body = orjson.dumps(payload)
        now = self.clock()
        timestamp = int(now)
        headers = {"content-type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(site.events_secret, timestamp, body), EVENT_HEADER: str(payload["type"])}
        try:
            response = await self._http.post(site.events_url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
            status, outcome = response.status_code, "delivered" if 200 <= response.status_code < 300 else "failed"
        except httpx.TimeoutException:
            status, outcome = 0, "timeout"
        except httpx.HTTPError as exc:
            status, outcome = 0, f"unreachable: {type(exc).__name__}"
        record = {"event_id": payload["id"], "type": payload["type"], "at": now, "attempt": attempt,
                  "status": status, "outcome": outcome, "seconds": round(self.clock() - now, 3)}
        if outcome == "delivered":
            await self.store.finish_event(outbox_id)
        elif attempt >= MAX_ATTEMPTS:
            record["outcome"] = f"gave up: {outcome}"
            await self.store.finish_event(outbox_id)
        else:
            record["retry_at"] = now + backoff_seconds(attempt)
            await self.store.retry_event(outbox_id, {**event, "attempt": attempt}, record["retry_at"])
        await self.store.add_delivery(site.site_key, record)
        if self.counted is not None:
            self.counted("delivered" if outcome == "delivered" else "failed")
