"""The memory engine: the whole store in one process's dicts.

It makes ``chatd serve`` work with nothing else installed, and it is the
reference the Redis engine is tested against. Atomicity comes from asyncio
itself: no method awaits between reading and writing, so every change happens
in one step of the event loop. Nothing survives a restart.

Log entries handed out by :meth:`MemoryStore.read` are the stored objects:
treat them as read-only.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgpack

from chatd.errors import ChatdError
from chatd.model import (
    AGENT_STATUSES,
    Agent,
    ApiKey,
    AppendResult,
    AssignResult,
    Conversation,
    LogEntry,
    ReadResult,
    Site,
)
from chatd.store.base import (
    EXTRA_FIELDS,
    ROUTING_RECORDS_KEPT,
    PublicationHandler,
    Transition,
    check_kind,
    conversation_channel,
    pack_publication,
)
from chatd.store.lifecycle import event_data, may_send, try_assign

__all__ = ["MemoryBroker", "MemoryStore"]


class MemoryBroker:
    """Publish/subscribe inside one process. Publications on subscribed
    channels are handed to the handler with ``loop.call_soon``, so they arrive
    in publication order and never inside the publisher's call."""

    def __init__(self) -> None:
        self._handler: PublicationHandler | None = None
        self._channels: set[str] = set()
        self._closed = False

    def start(self, handler: PublicationHandler, on_resync: Callable[[], None] | None = None) -> None:
        self._handler = handler

    def deliver(self, channel: str, payload: bytes) -> None:
        """Publish without awaiting (the store publishes inside its atomic step)."""
        if self._handler is None or self._closed or channel not in self._channels:
            return
        asyncio.get_running_loop().call_soon(self._handler, channel, payload)

    async def publish(self, channel: str, payload: bytes) -> None:
        self.deliver(channel, payload)

    async def publish_many(self, publications: Sequence[tuple[str, bytes]]) -> None:
        for channel, payload in publications:
            self.deliver(channel, payload)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def close(self) -> None:
        self._closed = True
        self._channels.clear()


def _copy_agent(agent: Agent) -> Agent:
    """A copy sharing nothing mutable with the stored one (the skills map)."""
    return Agent(agent.agent_id, agent.name, agent.role, agent.password_hash, dict(agent.skills), agent.capacity,
                 agent.status)


@dataclass(slots=True)
class _Log:
    """One conversation's log: entries by seq from ``first`` to ``last``."""

    entries: dict[int, LogEntry] = field(default_factory=dict)
    dedupe: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (role, sender, client_msg_id) -> seq
    first: int = 1
    last: int = 0


class MemoryStore:
    """The :class:`~chatd.store.base.Store` contract in process memory.

    ``clock`` (seconds, monotonic) only measures how long revoked tokens are
    remembered; every other time is passed in by the caller.
    """

    def __init__(self, broker: MemoryBroker, *, log_retention: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if log_retention < 1:
            raise ValueError("log_retention must be at least 1")
        self._broker = broker
        self._retention = log_retention
        self._clock = clock
        self._agents: dict[str, Agent] = {}
        self._last_assigned: dict[str, float] = {}
        self._active: dict[str, set[str]] = {}  # agent -> conversations it holds (its load)
        self._sites: dict[str, Site] = {}
        self._revoked: dict[str, float] = {}  # token id -> forget at (on self._clock)
        self._login_failures: dict[str, tuple[int, float]] = {}  # subject -> (count, window ends at)
        self._api_keys: dict[str, dict[str, Any]] = {}
        self._events: dict[str, list[Any]] = {}  # outbox id -> [event, consumer, claimed at], oldest first
        self._event_ids = itertools.count(1)
        self._event_retries: list[tuple[float, int, dict[str, Any]]] = []  # (due, tie-break, event)
        self._deliveries: dict[str, list[dict[str, Any]]] = {}
        self._visitors: dict[tuple[str, str], dict[str, Any]] = {}
        self._conversations: dict[str, Conversation] = {}
        self._by_visitor: dict[tuple[str, str], list[str]] = {}
        self._logs: dict[str, _Log] = {}
        self._queues: dict[str, dict[str, float]] = {}  # skill -> conversation -> queue key
        self._open: dict[tuple[str, str], str] = {}  # (site, visitor) -> their newest conversation
        self._by_state: dict[str, set[str]] = {}  # state -> conversations in it
        self._epoch = secrets.token_hex(4)  # history lives as long as the process: one epoch
        self._lease = ("", 0.0)  # (node holding the routing lease, until)
        self._presence: dict[tuple[str, str], float] = {}  # (agent, node) -> expires at
        self._routing: dict[str, list[bytes]] = {}  # msgpack, as the Redis engine keeps them
        self._bot_states: dict[str, dict[str, Any]] = {}
        self._missed_offers: dict[str, int] = {}
        self._archived: dict[str, float] = {}
        self._tick = 0  # numbers routing changes in order
        self._samples: dict[tuple[str, str], list[float]] = {}

    # --- liveness -------------------------------------------------------------
    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        pass

    # --- agents, sites, tokens ------------------------------------------------
    async def put_agent(self, agent: Agent) -> None:
        self._agents[agent.agent_id] = _copy_agent(agent)

    async def get_agent(self, agent_id: str) -> Agent | None:
        agent = self._agents.get(agent_id)
        return None if agent is None else _copy_agent(agent)

    async def list_agents(self) -> list[Agent]:
        return [_copy_agent(self._agents[k]) for k in sorted(self._agents)]

    async def delete_agent(self, agent_id: str) -> bool:
        self._last_assigned.pop(agent_id, None)
        return self._agents.pop(agent_id, None) is not None

    async def put_site(self, site: Site) -> None:
        self._sites[site.site_key] = Site.from_dict(site.to_dict())

    async def get_site(self, site_key: str) -> Site | None:
        site = self._sites.get(site_key)
        return None if site is None else Site.from_dict(site.to_dict())

    async def list_sites(self) -> list[Site]:
        return [Site.from_dict(self._sites[k].to_dict()) for k in sorted(self._sites)]

    async def delete_site(self, site_key: str) -> bool:
        return self._sites.pop(site_key, None) is not None

    async def revoke_token(self, token_id: str, expires_at: float, now: float) -> None:
        if expires_at > now:
            self._revoked[token_id] = self._clock() + (expires_at - now)

    async def is_token_revoked(self, token_id: str) -> bool:
        forget_at = self._revoked.get(token_id)
        if forget_at is None:
            return False
        if self._clock() >= forget_at:
            del self._revoked[token_id]
            return False
        return True

    async def put_api_key(self, key: ApiKey) -> None:
        self._api_keys[key.key_id] = copy.deepcopy(key.to_dict())

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        raw = self._api_keys.get(key_id)
        return None if raw is None else ApiKey.from_dict(copy.deepcopy(raw))

    async def list_api_keys(self) -> list[ApiKey]:
        keys = [ApiKey.from_dict(copy.deepcopy(raw)) for raw in self._api_keys.values()]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    async def enqueue_events(self, events: Sequence[dict[str, Any]]) -> None:
        for event in events:
            self._events[str(next(self._event_ids))] = [copy.deepcopy(event), "", 0.0]

    async def claim_events(self, consumer: str, count: int, stale_seconds: float) -> list[tuple[str, dict[str, Any]]]:
        now, claimed = self._clock(), []
        for outbox_id, slot in self._events.items():
            if len(claimed) >= count:
                break
            if not slot[1] or now - slot[2] >= stale_seconds:
                slot[1], slot[2] = consumer, now
                claimed.append((outbox_id, copy.deepcopy(slot[0])))
        return claimed

    async def finish_event(self, outbox_id: str) -> None:
        self._events.pop(outbox_id, None)

    async def retry_event(self, outbox_id: str, event: dict[str, Any], due_at: float) -> None:
        self._event_retries.append((due_at, next(self._event_ids), copy.deepcopy(event)))
        self._events.pop(outbox_id, None)

    async def requeue_due(self, now: float, count: int = 100) -> int:
        self._event_retries.sort(key=lambda item: item[:2])
        due = [item for item in self._event_retries[:count] if item[0] <= now]
        del self._event_retries[:len(due)]
        await self.enqueue_events([event for _, _, event in due])
        return len(due)

    async def add_delivery(self, site_key: str, record: dict[str, Any], keep: int = 200) -> None:
        log = self._deliveries.setdefault(site_key, [])
        log.insert(0, copy.deepcopy(record))
        del log[keep:]

    async def deliveries(self, site_key: str, limit: int = 200) -> list[dict[str, Any]]:
        return copy.deepcopy(self._deliveries.get(site_key, [])[:limit])

    async def count_login_failure(self, subject: str, window_seconds: float) -> tuple[int, float]:
        count, _left = await self.login_failures(subject)
        ends = self._login_failures[subject][1] if count else self._clock() + window_seconds
        self._login_failures[subject] = (count + 1, ends)
        return count + 1, ends - self._clock()

    async def login_failures(self, subject: str) -> tuple[int, float]:
        count, ends = self._login_failures.get(subject, (0, 0.0))
        if count and self._clock() >= ends:
            del self._login_failures[subject]
            return 0, 0.0
        return count, max(0.0, ends - self._clock()) if count else 0.0

    async def clear_login_failures(self, subject: str) -> None:
        self._login_failures.pop(subject, None)

    # --- visitors -------------------------------------------------------------
    async def update_visitor(self, site_key: str, visitor_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        profile = self._visitors.setdefault((site_key, visitor_id), {})
        profile.update(copy.deepcopy(attributes))
        return copy.deepcopy(profile)

    async def get_visitor(self, site_key: str, visitor_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._visitors.get((site_key, visitor_id), {}))

    # --- conversations --------------------------------------------------------
    async def start_conversation(self, conversation: Conversation, queue: Transition | None,
                                 now: float) -> tuple[Conversation, bool]:
        visitor = (conversation.site_key, conversation.visitor_id)
        open_id = self._open.get(visitor)
        if open_id is not None and self._conversations[open_id].state != "closed":
            return replace(self._conversations[open_id]), False
        cid = conversation.conversation_id
        if cid in self._conversations:
            raise ChatdError("bad_state", f"conversation {cid} already exists")
        stored = replace(conversation, state="open", agent_id="")
        if queue is not None:
            self._check(stored, queue)
        self._conversations[cid] = stored
        self._by_state.setdefault("open", set()).add(cid)
        self._by_visitor.setdefault(visitor, []).append(cid)
        self._open[visitor] = cid
        self._logs[cid] = _Log()
        if queue is not None:
            self._apply(stored, queue, now)
        return replace(stored), True

    async def reopen_conversation(self, conversation_id: str, change: Transition,
                                  now: float) -> tuple[Conversation, LogEntry]:
        conv = self._conversations.get(conversation_id)
        if conv is None:
            raise ChatdError("unknown_conversation")
        visitor = (conv.site_key, conv.visitor_id)
        other = self._open.get(visitor)
        if other not in (None, conversation_id) and self._conversations[other].state != "closed":
            raise ChatdError("bad_state", "the visitor has another conversation open")
        self._check(conv, change)
        entry = self._apply(conv, change, now)
        self._open[visitor] = conversation_id
        return replace(conv), entry

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = self._conversations.get(conversation_id)
        return None if found is None else replace(found)

    def _copies(self, ids: Iterable[str]) -> list[Conversation]:
        return [replace(self._conversations[cid]) for cid in ids]

    def _oldest_first(self, ids: Iterable[str]) -> list[str]:
        return sorted(ids, key=lambda cid: (self._conversations[cid].created_at, cid))

    async def visitor_conversations(self, site_key: str, visitor_id: str, limit: int = 20) -> list[Conversation]:
        ids = self._oldest_first(self._by_visitor.get((site_key, visitor_id), ()))
        return self._copies(reversed(ids[-limit:] if limit > 0 else []))

    async def agent_conversations(self, agent_id: str) -> list[Conversation]:
        return self._copies(self._oldest_first(self._active.get(agent_id, ())))

    async def list_conversations(self, states: Iterable[str] = ("queued", "assigned")) -> list[Conversation]:
        ids = [cid for state in set(states) for cid in self._by_state.get(state, ())]
        return self._copies(self._oldest_first(ids))

    async def transition(self, conversation_id: str, change: Transition, now: float) -> tuple[Conversation, LogEntry]:
        conv = self._conversations.get(conversation_id)
        if conv is None:
            raise ChatdError("unknown_conversation")
        self._check(conv, change)
        entry = self._apply(conv, change, now)
        return replace(conv), entry

    def _check(self, conv: Conversation, change: Transition) -> None:
        """Raise the refusal of ``change``, if any; nothing is changed."""
        if not EXTRA_FIELDS.issuperset(change.fields or ()):
            raise ValueError(f"a transition may only set {sorted(EXTRA_FIELDS)}")
        if conv.state not in change.allowed_from:
            raise ChatdError("bad_state")
        new_owner = change.agent_id
        if new_owner and new_owner != conv.agent_id:
            agent = self._agents.get(new_owner)
            if agent is None:
                raise ChatdError("unknown_agent")
            if len(self._active.get(new_owner, ())) >= agent.capacity:
                raise ChatdError("at_capacity")

    def _apply(self, conv: Conversation, change: Transition, now: float) -> LogEntry:
        """Apply a checked change whole, and log its event."""
        conversation_id = conv.conversation_id
        old_owner, new_owner = conv.agent_id, change.agent_id
        if new_owner != old_owner:
            if old_owner:
                self._active.get(old_owner, set()).discard(conversation_id)
            if new_owner:
                self._active.setdefault(new_owner, set()).add(conversation_id)
                self._last_assigned[new_owner] = now
                conv.assigned_at = now
                conv.last_agent_id = new_owner
            conv.agent_id = new_owner
        if change.queue:
            self._dequeue(conv)
        if change.skill is not None:
            conv.skill = change.skill
        if change.priority is not None:
            conv.priority = change.priority
        if change.queue == "add":
            conv.queued_at = now
            self._queues.setdefault(conv.skill, {})[conversation_id] = change.queue_key
        self._tick += 1
        if change.to_state != conv.state:
            self._by_state[conv.state].discard(conversation_id)
            self._by_state.setdefault(change.to_state, set()).add(conversation_id)
        conv.state = change.to_state
        if change.to_state == "closed":
            conv.closed_at = now
        for name, value in (change.fields or {}).items():
            setattr(conv, name, value)
        if change.routing_record is not None:
            self._keep_routing_record(conversation_id, change.routing_record, ROUTING_RECORDS_KEPT)
        return self._add_entry(conversation_id, "event", change.actor_role, change.actor_id, change.event, now, "",
                               event_data(change.data, conv.state, conv.agent_id, conv.skill, self._tick))

    async def transition_many(self, changes: Sequence[tuple[str, Transition]],
                              now: float) -> list[tuple[Conversation, LogEntry] | ChatdError]:
        results: list[tuple[Conversation, LogEntry] | ChatdError] = []
        for conversation_id, change in changes:
            try:
                results.append(await self.transition(conversation_id, change, now))
            except ChatdError as exc:
                results.append(exc)
        return results

    def _dequeue(self, conv: Conversation) -> None:
        for skill, members in list(self._queues.items()):
            if members.pop(conv.conversation_id, None) is not None and not members:
                del self._queues[skill]

    async def assign(self, conversation_id: str, agent_id: str, now: float,
                     allowed_from: tuple[str, ...] = ("queued",), data: dict[str, Any] | None = None) -> AssignResult:
        return await try_assign(self, conversation_id, agent_id, now, allowed_from, data)

    # --- the message log ------------------------------------------------------
    async def append(self, conversation_id: str, *, kind: str, sender_role: str, sender_id: str,
                     body: str, client_msg_id: str, now: float,
                     data: dict[str, Any] | None = None) -> AppendResult:
        conv = self._conversations.get(conversation_id)
        if conv is None:
            raise ChatdError("unknown_conversation")
        log = self._logs[conversation_id]
        dedupe = (sender_role, sender_id, client_msg_id) if client_msg_id else None
        if dedupe is not None:
            first = log.dedupe.get(dedupe)
            if first is not None:
                return AppendResult(first, log.entries[first].ts, True)
        if conv.state == "closed":
            raise ChatdError("conversation_closed")
        if not may_send(sender_role, sender_id, state=conv.state, owner=conv.agent_id, visitor_id=conv.visitor_id):
            raise ChatdError("forbidden")
        entry = self._add_entry(conversation_id, kind, sender_role, sender_id, body, now, client_msg_id,
                                copy.deepcopy(data) if data else {})
        return AppendResult(entry.seq, entry.ts, False)

    def _add_entry(self, conversation_id: str, kind: str, sender_role: str, sender_id: str, body: str,
                   now: float, client_msg_id: str, data: dict[str, Any]) -> LogEntry:
        log = self._logs[conversation_id]
        log.last += 1
        entry = LogEntry(conversation_id, log.last, kind, sender_role, sender_id, body, float(now),
                         client_msg_id, data)
        log.entries[entry.seq] = entry
        if client_msg_id:
            log.dedupe[(sender_role, sender_id, client_msg_id)] = entry.seq
        while log.last - log.first + 1 > self._retention:
            dropped = log.entries.pop(log.first)
            if dropped.client_msg_id:
                log.dedupe.pop((dropped.sender_role, dropped.sender_id, dropped.client_msg_id), None)
            log.first += 1
        self._broker.deliver(conversation_channel(conversation_id),
                             pack_publication("entry", {"entry": {**entry.to_dict(), "epoch": self._epoch}}))
        return entry

    def _result(self, log: _Log, start: int, stop: int) -> ReadResult:
        entries = [log.entries[seq] for seq in range(start, stop + 1)]
        return ReadResult(entries, log.first if log.entries else 0, log.last, self._epoch)

    async def log_epochs(self, conversation_ids: Sequence[str]) -> dict[str, str]:
        return {cid: self._epoch for cid in conversation_ids if cid in self._logs}

    async def complete_transitions(self, now: float, older_than: float) -> int:
        return 0  # a transition here is one step: none is ever left half-done

    async def settle(self, conversation_id: str) -> None:
        return None

    async def read(self, conversation_id: str, after_seq: int, limit: int = 500) -> ReadResult:
        log = self._logs.get(conversation_id)
        if log is None:
            return ReadResult([], 0, 0, self._epoch)
        start = max(after_seq + 1, log.first)
        return self._result(log, start, min(log.last, start + limit - 1))

    async def read_before(self, conversation_id: str, before_seq: int, limit: int = 50) -> ReadResult:
        log = self._logs.get(conversation_id)
        if log is None:
            return ReadResult([], 0, 0, self._epoch)
        stop = log.last if before_seq <= 0 else min(log.last, before_seq - 1)
        return self._result(log, max(log.first, stop - limit + 1), stop)

    # --- queues -----------------------------------------------------------------
    async def queue(self, skill: str) -> list[Conversation]:
        members = self._queues.get(skill, {})
        return self._copies(sorted(members, key=lambda cid: (members[cid], cid)))

    async def queued_skills(self) -> list[str]:
        return sorted(self._queues)

    # --- agent runtime ----------------------------------------------------------
    async def agent_runtime(self) -> dict[str, dict[str, Any]]:
        return {
            agent_id: {
                "load": len(self._active.get(agent_id, ())),
                "last_assigned_at": self._last_assigned.get(agent_id, 0.0),
                "status": agent.status,
            }
            for agent_id, agent in sorted(self._agents.items())
        }

    async def set_agent_status(self, agent_id: str, status: str) -> None:
        if status not in AGENT_STATUSES:
            raise ValueError(f"agent status must be one of {AGENT_STATUSES}, not {status!r}")
        agent = self._agents.get(agent_id)
        if agent is None:
            raise ChatdError("unknown_agent")
        agent.status = status

    async def touch_presence(self, agent_id: str, node_id: str, expires_at: float) -> None:
        if "|" in node_id:
            raise ValueError("node ids cannot contain '|'")  # as in the Redis engine
        self._presence[(agent_id, node_id)] = expires_at

    async def drop_presence(self, agent_id: str, node_id: str) -> None:
        self._presence.pop((agent_id, node_id), None)

    async def connected_agents(self, now: float) -> set[str]:
        expired = [key for key, expires_at in self._presence.items() if expires_at <= now]
        for key in expired:
            del self._presence[key]
        return {agent_id for agent_id, _ in self._presence}

    async def claim_routing(self, node_id: str, lease_seconds: float, now: float) -> bool:
        holder, until = self._lease
        if holder in ("", node_id) or now >= until:
            self._lease = (node_id, now + lease_seconds)
            return True
        return False

    async def release_routing(self, node_id: str) -> None:
        if self._lease[0] == node_id:
            self._lease = ("", 0.0)

    # --- routing explanations -----------------------------------------------------
    async def add_routing_record(self, conversation_id: str, record: dict[str, Any],
                                 keep: int = ROUTING_RECORDS_KEPT) -> None:
        await self.add_routing_records([(conversation_id, record)], keep)

    async def add_routing_records(self, records: Sequence[tuple[str, dict[str, Any]]],
                                  keep: int = ROUTING_RECORDS_KEPT) -> None:
        for conversation_id, record in records:
            self._keep_routing_record(conversation_id, record, keep)

    def _keep_routing_record(self, conversation_id: str, record: dict[str, Any], keep: int) -> None:
        kept = self._routing.setdefault(conversation_id, [])
        kept.append(msgpack.packb(record, use_bin_type=True))
        if len(kept) > keep:
            del kept[:len(kept) - max(keep, 0)]

    async def routing_records(self, conversation_id: str) -> list[dict[str, Any]]:
        return [msgpack.unpackb(raw, raw=False, strict_map_key=False) for raw in self._routing.get(conversation_id, [])]

    # --- live bot memory, missed offers, samples --------------------------------------
    async def bot_state(self, conversation_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self._bot_states.get(conversation_id))

    async def put_bot_state(self, conversation_id: str, state: dict[str, Any]) -> None:
        self._bot_states[conversation_id] = copy.deepcopy(state)

    async def drop_bot_state(self, conversation_id: str) -> None:
        self._bot_states.pop(conversation_id, None)

    async def missed_offers(self) -> dict[str, int]:
        return dict(self._missed_offers)

    async def set_missed_offers(self, agent_id: str, count: int) -> None:
        if count:
            self._missed_offers[agent_id] = int(count)
        else:
            self._missed_offers.pop(agent_id, None)

    async def archived_marks(self) -> dict[str, float]:
        return dict(self._archived)

    async def mark_archived(self, marks: Sequence[tuple[str, float]]) -> None:
        self._archived.update(marks)

    async def restore_conversation(self, conversation: Conversation, entries: Sequence[LogEntry],
                                   epoch: str) -> bool:
        cid = conversation.conversation_id
        if cid in self._conversations or conversation.state != "closed":
            return False
        log = _Log(first=entries[0].seq if entries else 1, last=entries[-1].seq if entries else 0)
        for entry in entries:
            log.entries[entry.seq] = replace(entry)
            if entry.kind == "message" and entry.client_msg_id:
                log.dedupe[(entry.sender_role, entry.sender_id, entry.client_msg_id)] = entry.seq
        self._logs[cid] = log
        self._conversations[cid] = replace(conversation)
        self._by_visitor.setdefault((conversation.site_key, conversation.visitor_id), []).append(cid)
        self._by_state.setdefault("closed", set()).add(cid)
        self._archived[cid] = conversation.closed_at
        return True

    async def forget_archived(self, marks: Sequence[tuple[str, float]]) -> list[str]:
        forgotten = []
        for cid, closed_at in marks:
            conversation = self._conversations.get(cid)
            if conversation is None:
                self._archived.pop(cid, None)
                continue
            if conversation.state != "closed" or conversation.closed_at != closed_at:
                continue  # reopened since it was archived
            visitor = (conversation.site_key, conversation.visitor_id)
            ids = self._by_visitor.get(visitor, [])
            if cid in ids:
                ids.remove(cid)
            if not ids:
                self._by_visitor.pop(visitor, None)
            if self._open.get(visitor) == cid:
                del self._open[visitor]
            self._by_state.get("closed", set()).discard(cid)
            for kept in (self._conversations, self._logs, self._routing, self._bot_states, self._archived):
                kept.pop(cid, None)
            forgotten.append(cid)
        return forgotten

    async def add_sample(self, kind: str, key: str, value: float, keep: int = 100) -> None:
        values = self._samples.setdefault((check_kind(kind), key), [])
        values.append(float(value))
        del values[:max(0, len(values) - max(keep, 1))]

    async def samples(self, kind: str, key: str) -> list[float]:
        return list(self._samples.get((check_kind(kind), key), []))
