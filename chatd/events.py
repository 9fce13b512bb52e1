"""Business events (conversation created, queued, assigned, transferred,
closed, reopened; message created; rating created; ticket created and
updated) for the sites' event webhooks.

:func:`event` builds the one envelope every event has (schema version
:data:`EVENT_VERSION`; documented in docs/api.md). :class:`EventedStore` is
where they come from: it wraps the store port and, after each change a site
has subscribed to succeeds, puts the event in the durable outbox in the
store, from which :mod:`chatd.webhooks` delivers it at least once. So every
writer (sockets, HTTP, bot, router) is covered without knowing of webhooks.

The window: a process that dies between a change and its outbox write (one
Redis round trip) loses that event's webhook; the change itself is kept.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from chatd.errors import ChatdError
from chatd.model import AppendResult, AssignResult, Conversation, LogEntry, Site
from chatd.records.base import RatingStore, Records, TicketStore

__all__ = ["EVENT_TYPES", "EVENT_VERSION", "EventedStore", "event"]

EVENT_VERSION = 1
EVENT_TYPES = ("conversation.created", "conversation.queued", "conversation.assigned", "conversation.transferred",
               "conversation.closed", "conversation.reopened", "message.created", "rating.created",
               "ticket.created", "ticket.updated")
# log event name -> event type (other lifecycle steps, e.g. offers, are not business events)
_LIFECYCLE = {"queued": "conversation.queued", "assigned": "conversation.assigned",
              "transferred": "conversation.transferred", "closed": "conversation.closed",
              "reopened": "conversation.reopened"}
_CONVERSATION_FIELDS = ("conversation_id", "site_key", "visitor_id", "visitor_name", "state", "skill", "agent_id",
                        "created_at")
SITES_REFRESH_SECONDS = 5.0


def event(kind: str, site_key: str, conversation_id: str, data: dict[str, Any], now: float) -> dict[str, Any]:
    """The envelope: ``{id, type, version, created_at, site_key, conversation_id, data}``.
    ``id`` is unique and kept across redeliveries, so receivers can drop repeats."""
    return {"id": "ev_" + secrets.token_hex(10), "type": kind, "version": EVENT_VERSION, "created_at": now,
            "site_key": site_key, "conversation_id": conversation_id, "data": data}


def _conversation(conversation: Conversation) -> dict[str, Any]:
    record = conversation.to_dict()
    return {name: record.get(name) for name in _CONVERSATION_FIELDS}


class EventedStore:
    """The store, emitting the events of subscribed sites into its outbox.
    Every other method is the wrapped store's own."""

    def __init__(self, store: Any, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._sites: dict[str, frozenset[str]] = {}  # site -> subscribed event types
        self._sites_at = float("-inf")
        self._site_of: OrderedDict[str, str] = OrderedDict()  # conversation -> site, most recent last

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if callable(found):  # a method: looked up here once, not on every call
            setattr(self, name, found)
        return found

    def sites_changed(self) -> None:
        """Read the sites' subscriptions again at the next event."""
        self._sites_at = float("-inf")

    def _stale(self) -> bool:
        return time.monotonic() - self._sites_at > SITES_REFRESH_SECONDS

    def _may_emit(self) -> bool:
        """False when the subscriptions are fresh and nobody has any: the common case costs nothing."""
        return bool(self._sites) or self._stale()

    async def _subscribed(self, site_key: str, kind: str) -> bool:
        if self._stale():
            sites: list[Site] = await self._store.list_sites()
            self._sites = {s.site_key: frozenset(s.events) for s in sites if s.events_url and s.events}
            self._sites_at = time.monotonic()
        return kind in self._sites.get(site_key, ())

    def _remember(self, conversation: Conversation) -> None:
        self._site_of[conversation.conversation_id] = conversation.site_key
        self._site_of.move_to_end(conversation.conversation_id)
        while len(self._site_of) > 50_000:
            self._site_of.popitem(last=False)

    async def emit(self, items: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
        """Outbox the (type, site, conversation, data) items their sites subscribe to."""
        if not self._may_emit():
            return
        now = self._clock()
        wanted = [event(kind, site, cid, data, now) for kind, site, cid, data in items
                  if await self._subscribed(site, kind)]
        if wanted:
            await self._store.enqueue_events(wanted)

    def _lifecycle(self, conversation: Conversation, entry: LogEntry) -> list[tuple[str, str, str, dict[str, Any]]]:
        self._remember(conversation)
        kind = _LIFECYCLE.get(entry.body) if entry.kind == "event" else None
        if kind is None:
            return []
        data = {"conversation": _conversation(conversation), "seq": entry.seq, "actor_role": entry.sender_role,
                "actor_id": entry.sender_id, "details": dict(entry.data)}
        return [(kind, conversation.site_key, conversation.conversation_id, data)]

    # --- the changes that make events ------------------------------------------------------
    async def start_conversation(self, conversation: Conversation, queue: Any, now: float) -> tuple[Conversation, bool]:
        started, created = await self._store.start_conversation(conversation, queue, now)
        self._remember(started)
        if created:
            data = {"conversation": _conversation(started)}
            await self.emit([("conversation.created", started.site_key, started.conversation_id, data)]
                             + ([("conversation.queued", started.site_key, started.conversation_id, data)]
                                if started.state == "queued" else []))
        return started, created

    async def transition(self, conversation_id: str, change: Any, now: float) -> tuple[Conversation, LogEntry]:
        conversation, entry = await self._store.transition(conversation_id, change, now)
        await self.emit(self._lifecycle(conversation, entry))
        return conversation, entry

    async def transition_many(self, changes: Sequence[tuple[str, Any]],
                              now: float) -> list[tuple[Conversation, LogEntry] | ChatdError]:
        results = await self._store.transition_many(changes, now)
        items = []
        for result in results:
            if not isinstance(result, ChatdError):
                items += self._lifecycle(*result)
        await self.emit(items)
        return results

    async def reopen_conversation(self, conversation_id: str, change: Any,
                                  now: float) -> tuple[Conversation, LogEntry]:
        conversation, entry = await self._store.reopen_conversation(conversation_id, change, now)
        await self.emit(self._lifecycle(conversation, entry))
        return conversation, entry

    async def assign(self, conversation_id: str, agent_id: str, now: float, *args: Any, **kwargs: Any) -> AssignResult:
        result = await self._store.assign(conversation_id, agent_id, now, *args, **kwargs)
        if result.ok and result.conversation is not None:
            data = {"conversation": _conversation(result.conversation), "actor_role": "router", "actor_id": "",
                    "details": {}}
            await self.emit([("conversation.assigned", result.conversation.site_key, conversation_id, data)])
        return result

    async def append(self, conversation_id: str, *, kind: str, sender_role: str, sender_id: str, body: str,
                     client_msg_id: str, now: float, data: dict[str, Any] | None = None) -> AppendResult:
        result = await self._store.append(conversation_id, kind=kind, sender_role=sender_role, sender_id=sender_id,
                                          body=body, client_msg_id=client_msg_id, now=now, data=data)
        if kind == "message" and not result.duplicate and self._may_emit():
            site = self._site_of.get(conversation_id)
            if site is None:
                found = await self._store.get_conversation(conversation_id)
                site = found.site_key if found is not None else ""
                if found is not None:
                    self._remember(found)
            message = {"seq": result.seq, "ts": result.ts, "sender_role": sender_role, "sender_id": sender_id,
                       "body": body, "client_msg_id": client_msg_id}
            await self.emit([("message.created", site, conversation_id, message)])
        return result

    def watching(self, records: Records) -> Records:
        """``records`` whose ratings and tickets also put their events in this store's outbox."""
        if isinstance(records.ratings, _EventedRatings):  # another node's in the same process (tests)
            return records
        return dataclasses.replace(records, ratings=_EventedRatings(records.ratings, self),
                                   tickets=_EventedTickets(records.tickets, self))


class _EventedRatings:
    def __init__(self, ratings: RatingStore, events: EventedStore) -> None:
        self._ratings, self._events = ratings, events

    async def put(self, rating: dict[str, Any]) -> None:
        await self._ratings.put(rating)
        await self._events.emit([("rating.created", str(rating.get("site_key", "")), str(rating["conversation_id"]),
                                   dict(rating))])

    async def get(self, conversation_id: str) -> dict[str, Any] | None:
        return await self._ratings.get(conversation_id)


class _EventedTickets:
    def __init__(self, tickets: TicketStore, events: EventedStore) -> None:
        self._tickets, self._events = tickets, events

    async def put(self, ticket: dict[str, Any]) -> None:
        await self._tickets.put(ticket)
        new = ticket.get("updated_at") == ticket.get("created_at")
        await self._events.emit([("ticket.created" if new else "ticket.updated", str(ticket.get("site_key", "")),
                                   str(ticket.get("conversation_id", "")), {"ticket": dict(ticket)})])

    async def get(self, ticket_id: str) -> dict[str, Any] | None:
        return await self._tickets.get(ticket_id)

    async def query(self, **filters: Any) -> list[dict[str, Any]]:
        return await self._tickets.query(**filters)
