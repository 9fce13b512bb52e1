"""The store contract: what every engine must provide, and how atomically.

Two engines implement it: :mod:`chatd.store.memory` (one process) and
:mod:`chatd.store.redis` (many processes and hosts on one Redis). The engine is
chosen in exactly one place, :func:`chatd.store.open_engine`. One contract
suite (``tests/store``) runs against both.

Every method that changes more than one thing does so atomically: a reader on
any node never sees a conversation assigned without the agent's load counted,
an agent over capacity, a message without its seq, or two copies of one
``client_msg_id``. Times are passed in (``now``) so callers inject the clock.

Fan-out: :meth:`Store.append` and :meth:`Store.transition` publish the new log
entry on the conversation's channel (:func:`conversation_channel`) as part of
the same atomic step, so publications on one channel arrive in seq order.
Other best-effort signals (typing, presence, queue positions, offers) go
through :meth:`Broker.publish`. A node receives publications only for the
channels it subscribed to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack

from chatd.errors import ChatdError
from chatd.model import (
    Agent,
    ApiKey,
    AppendResult,
    AssignResult,
    Conversation,
    LogEntry,
    ReadResult,
    Site,
)

__all__ = [
    "EXTRA_FIELDS",
    "ROUTING_RECORDS_KEPT",
    "Broker",
    "Engine",
    "PublicationHandler",
    "Store",
    "Transition",
    "agent_channel",
    "check_kind",
    "conversation_channel",
    "pack_publication",
    "router_channel",
    "supervisor_channel",
    "unpack_publication",
    "visitor_channel",
]


@dataclass(slots=True, frozen=True)
class Transition:
    """One lifecycle change, computed by the pure state machine and applied by
    the store with a compare-and-set on ``allowed_from``.

    - ``event``: the log event name (``queued``, ``assigned``, ...).
    - ``allowed_from``: states the conversation may be in; else ``bad_state``.
    - ``to_state``: the state afterwards.
    - ``agent_id``: the agent owning the conversation afterwards ("" for none).
      When it differs from the current owner, the current owner's load is
      released and the new owner's load taken, refusing with ``at_capacity``
      when the new owner already holds ``capacity`` conversations.
    - ``skill`` / ``priority``: set on the conversation when not ``None``.
    - ``queue``: ``"add"`` puts the conversation in its skill's queue at
      ``queue_key`` (:func:`chatd.conversation.queue_key`: smaller first,
      equal keys by conversation id), ``"remove"`` takes it out, ``""``
      leaves the queue alone.
    - ``data``: extra fields for the event entry (note, from/to agent, ...).
    - ``fields``: other conversation fields to set (only names of
      :data:`EXTRA_FIELDS`, e.g. ``offer_expires_at``).
    - ``routing_record``: a routing explanation added to the conversation's
      records (as :meth:`Store.add_routing_record` would) in the same atomic
      step, so it is kept exactly when the change is applied.
    """

    event: str
    allowed_from: tuple[str, ...]
    to_state: str
    agent_id: str
    actor_role: str = "system"
    actor_id: str = ""
    skill: str | None = None
    priority: int | None = None
    queue: str = ""
    queue_key: float = 0.0
    data: dict[str, Any] | None = None
    fields: dict[str, str | int | float] | None = None
    routing_record: dict[str, Any] | None = None


ROUTING_RECORDS_KEPT = 20  # routing explanations kept per conversation
# Conversation fields a transition may set besides state, owner, skill and priority.
EXTRA_FIELDS = frozenset({"preferred_agent_id", "sla_deadline", "excluded_agents", "offer_expires_at",
                          "accepted_at", "visitor_name", "waiting_since", "queue_key", "lapses"})

PublicationHandler = Callable[[str, bytes], None]


class Store(Protocol):
    """Durable state. All methods are coroutines and safe to call from many
    nodes at once."""

    # --- liveness ---------------------------------------------------------
    async def ping(self) -> bool:
        """True when the backing service answers (``/readyz``)."""

    async def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    # --- agents, sites, tokens ---------------------------------------------
    async def put_agent(self, agent: Agent) -> None:
        """Create or replace an agent's profile. Runtime state (load, last
        assignment, presence) is kept."""

    async def get_agent(self, agent_id: str) -> Agent | None: ...

    async def list_agents(self) -> list[Agent]:
        """All agents, ordered by ``agent_id``."""

    async def delete_agent(self, agent_id: str) -> bool:
        """Remove an agent's profile; True if it existed."""

    async def put_site(self, site: Site) -> None: ...

    async def get_site(self, site_key: str) -> Site | None: ...

    async def list_sites(self) -> list[Site]:
        """All sites, ordered by ``site_key``."""

    async def delete_site(self, site_key: str) -> bool: ...

    async def revoke_token(self, token_id: str, expires_at: float, now: float) -> None:
        """Remember a revoked token id until it would have expired anyway."""

    async def is_token_revoked(self, token_id: str) -> bool: ...

    async def put_api_key(self, key: ApiKey) -> None:
        """Create or replace an API key (revoking is a put with ``revoked_at``)."""

    async def get_api_key(self, key_id: str) -> ApiKey | None: ...

    async def list_api_keys(self) -> list[ApiKey]:
        """Every key, revoked ones too, ordered by ``created_at``."""

    # --- the event outbox (chatd.events, chatd.webhooks) ------------------------------
    async def enqueue_events(self, events: Sequence[dict[str, Any]]) -> None:
        """Add events to the durable outbox, in order."""

    async def claim_events(self, consumer: str, count: int, stale_seconds: float) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``count`` (outbox id, event) for ``consumer`` to deliver:
        first those another consumer claimed over ``stale_seconds`` ago and
        never finished (it died), then new ones. Each is claimed by one
        consumer at a time."""

    async def finish_event(self, outbox_id: str) -> None:
        """The event is done with (delivered, or given up on): out of the outbox."""

    async def retry_event(self, outbox_id: str, event: dict[str, Any], due_at: float) -> None:
        """Take the event out of the outbox and bring ``event`` (its attempt
        count updated) back at ``due_at`` (see :meth:`requeue_due`)."""

    async def requeue_due(self, now: float, count: int = 100) -> int:
        """Move retries due by ``now`` back into the outbox; returns how many."""

    async def add_delivery(self, site_key: str, record: dict[str, Any], keep: int = 200) -> None:
        """Note one delivery attempt in the site's log (newest first, ``keep`` kept)."""

    async def deliveries(self, site_key: str, limit: int = 200) -> list[dict[str, Any]]:
        """The site's delivery log, newest first."""

    async def count_login_failure(self, subject: str, window_seconds: float) -> tuple[int, float]:
        """Count a failed login of ``subject`` (``agent:<id>`` or ``address:<ip>``)
        in a window that starts with its first failure; returns the count so far
        and the seconds until the window ends."""

    async def login_failures(self, subject: str) -> tuple[int, float]:
        """The failures counted for ``subject`` in its current window and the
        seconds left in it (``(0, 0.0)`` when there is none)."""

    async def clear_login_failures(self, subject: str) -> None: ...

    # --- visitors ----------------------------------------------------------
    async def update_visitor(self, site_key: str, visitor_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """Merge attributes into the visitor's profile and return it whole."""

    async def get_visitor(self, site_key: str, visitor_id: str) -> dict[str, Any]:
        """The visitor's profile ({} when unknown)."""

    # --- conversations -----------------------------------------------------
    async def start_conversation(self, conversation: Conversation, queue: Transition | None,
                                 now: float) -> tuple[Conversation, bool]:
        """Start a visitor's conversation in one atomic step, and return it
        with whether this call created it.

        If the visitor (``site_key``, ``visitor_id``) has a conversation that
        is not closed, that one is returned (a start is idempotent, and two at
        once give one conversation), its logging completed if a crash left it
        half-done. Otherwise ``conversation`` is stored (state ``open``, log
        empty) and indexed under its visitor, and with ``queue`` (the
        ``queue`` transition) queued in the same step, its event logged.
        Raises ``ChatdError('bad_state')`` if its id exists."""

    async def reopen_conversation(self, conversation_id: str, change: Transition,
                                  now: float) -> tuple[Conversation, LogEntry]:
        """Apply the ``reopen`` transition, unless the conversation's visitor
        has another conversation open (``ChatdError('bad_state')``), and make
        it the visitor's open one, in one atomic step. Refusals as
        :meth:`transition`'s."""

    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    async def visitor_conversations(self, site_key: str, visitor_id: str, limit: int = 20) -> list[Conversation]:
        """The visitor's conversations, newest first."""

    async def agent_conversations(self, agent_id: str) -> list[Conversation]:
        """Conversations currently assigned to the agent, oldest first."""

    async def list_conversations(self, states: Iterable[str] = ("queued", "assigned")) -> list[Conversation]:
        """Conversations in the given states (supervisor view), oldest first."""

    async def transition(self, conversation_id: str, change: Transition, now: float) -> tuple[Conversation, LogEntry]:
        """Apply a lifecycle change atomically (state compare-and-set, owner
        and loads, queue membership) and append its event to the log, which
        publishes it. Raises ``ChatdError`` with ``unknown_conversation``,
        ``bad_state`` or ``at_capacity``; on error nothing changed."""

    async def transition_many(self, changes: Sequence[tuple[str, Transition]],
                              now: float) -> list[tuple[Conversation, LogEntry] | ChatdError]:
        """:meth:`transition` for each ``(conversation_id, change)``, in order,
        each atomic on its own; a refusal is returned in its place instead of
        raised. The Redis engine sends them in two pipelined round trips."""

    async def assign(self, conversation_id: str, agent_id: str, now: float,
                     allowed_from: tuple[str, ...] = ("queued",), data: dict[str, Any] | None = None) -> AssignResult:
        """Shorthand for the ``assigned`` transition that reports refusal as a
        result instead of raising, for routers trying candidates in turn."""

    # --- the message log -----------------------------------------------------
    async def append(self, conversation_id: str, *, kind: str, sender_role: str, sender_id: str,
                     body: str, client_msg_id: str, now: float,
                     data: dict[str, Any] | None = None) -> AppendResult:
        """Append a message to the log with the next seq and publish it.

        Idempotent per sender on ``client_msg_id`` (when not empty): a second
        append from the same ``(sender_role, sender_id)`` with the same id
        stores nothing and returns the first copy's seq with
        ``duplicate=True``; another sender's equal id is another message.
        Refuses with ``ChatdError`` ``unknown_conversation``,
        ``conversation_closed``, or ``forbidden`` when the sender does not
        take part in the conversation now (an agent it is not offered or
        assigned to, another visitor), checked in the same atomic step. When
        this returns, the entry is stored (the durability of the engine's
        backing store applies)."""

    async def read(self, conversation_id: str, after_seq: int, limit: int = 500) -> ReadResult:
        """Entries with seq > ``after_seq``, oldest first, at most ``limit``,
        with the log's epoch."""

    async def read_before(self, conversation_id: str, before_seq: int, limit: int = 50) -> ReadResult:
        """Entries with seq < ``before_seq`` (0 = from the newest), in ascending
        order, the newest ``limit`` of them: for paging history backwards."""

    async def log_epochs(self, conversation_ids: Sequence[str]) -> dict[str, str]:
        """The epoch of each conversation's log. A log's epoch changes whenever
        its history may have been lost (the Redis engine: the server restarted
        or failed over since it was written); seqs compare only within one.
        Conversations without a log are left out."""

    async def settle(self, conversation_id: str) -> None:
        """Log this conversation's transitions that are not logged yet (their
        node died between the Redis engine's two steps), so that its log and
        its appends' checks catch up with its state now."""

    async def complete_transitions(self, now: float, older_than: float) -> int:
        """Log the events of transitions left half-done more than
        ``older_than`` seconds before ``now`` (a node died between the Redis
        engine's two steps); returns how many conversations it completed."""

    # --- queues ---------------------------------------------------------------
    async def queue(self, skill: str) -> list[Conversation]:
        """Queued conversations of a skill group in queue order: by
        ``queue_key``, then conversation id."""

    async def queued_skills(self) -> list[str]:
        """Skill groups that have at least one queued conversation."""

    # --- agent runtime ------------------------------------------------------
    async def agent_runtime(self) -> dict[str, dict[str, Any]]:
        """Per agent: ``{"load": int, "last_assigned_at": float, "status": str}``."""

    async def set_agent_status(self, agent_id: str, status: str) -> None:
        """Set online / away / offline. Raises ``ChatdError('unknown_agent')``."""

    async def touch_presence(self, agent_id: str, node_id: str, expires_at: float) -> None:
        """Record that ``agent_id`` has a live connection on ``node_id`` until
        ``expires_at`` (refreshed by heartbeats)."""

    async def drop_presence(self, agent_id: str, node_id: str) -> None: ...

    async def connected_agents(self, now: float) -> set[str]:
        """Agents with at least one unexpired presence."""

    # --- the routing lease --------------------------------------------------------
    async def claim_routing(self, node_id: str, lease_seconds: float, now: float) -> bool:
        """Take the routing lease for ``lease_seconds``, or renew it when
        ``node_id`` holds it; False while another node holds it. One routing
        worker routes at a time; the lease passes on when its holder stops
        renewing it (it died) or releases it."""

    async def release_routing(self, node_id: str) -> None:
        """Give the lease up, if ``node_id`` holds it (a drain)."""

    # --- routing explanations -------------------------------------------------
    async def add_routing_record(self, conversation_id: str, record: dict[str, Any],
                                 keep: int = ROUTING_RECORDS_KEPT) -> None:
        """Append one routing decision's explanation (the newest ``keep`` kept)."""

    async def add_routing_records(self, records: Sequence[tuple[str, dict[str, Any]]],
                                  keep: int = ROUTING_RECORDS_KEPT) -> None:
        """:meth:`add_routing_record` for each ``(conversation_id, record)``, in one round trip."""

    async def routing_records(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's routing explanations, oldest first."""

    # --- live bot memory, missed offers, samples ---------------------------------------
    async def bot_state(self, conversation_id: str) -> dict[str, Any] | None:
        """The bot's memory of a conversation in progress (None: none)."""

    async def put_bot_state(self, conversation_id: str, state: dict[str, Any]) -> None: ...

    async def drop_bot_state(self, conversation_id: str) -> None: ...

    async def missed_offers(self) -> dict[str, int]:
        """Per agent, the offers they let lapse in a row (agents with none left out)."""

    async def set_missed_offers(self, agent_id: str, count: int) -> None:
        """Set the agent's count (0 clears it)."""

    async def archived_marks(self) -> dict[str, float]:
        """Conversation id -> the ``closed_at`` of its close that the archive has
        (chatd.archiving): a conversation closed again since is archived again."""

    async def mark_archived(self, marks: Sequence[tuple[str, float]]) -> None:
        """Record that each ``(conversation_id, closed_at)`` is in the archive."""

    async def restore_conversation(self, conversation: Conversation, entries: Sequence[LogEntry],
                                   epoch: str) -> bool:
        """Make a forgotten, closed conversation live again as the archive
        has it (record, log with its seqs, epoch where the engine keeps one
        per log; marked archived), so that it can be reopened. False when the
        engine has it already (e.g. another node restored it first)."""

    async def forget_archived(self, marks: Sequence[tuple[str, float]]) -> list[str]:
        """Drop every live trace (record, log, indexes, routing records, bot
        memory, mark) of each ``(conversation_id, closed_at)`` still closed as
        archived; one reopened since is kept. Returns the ids forgotten."""

    async def add_sample(self, kind: str, key: str, value: float, keep: int = 100) -> None:
        """Append a numeric sample (e.g. a handle time), keeping the newest ``keep``."""

    async def samples(self, kind: str, key: str) -> list[float]:
        """The kept samples, oldest first."""


class Broker(Protocol):
    """Best-effort publish/subscribe between nodes. Publications on one
    channel from one publisher arrive in order; nothing is stored."""

    def start(self, handler: PublicationHandler, on_resync: Callable[[], None] | None = None) -> None:
        """Deliver every publication on a subscribed channel to ``handler``
        (called on the event loop, must not block). ``on_resync`` is called
        after the broker lost and regained its connection: publications in
        between are gone, so subscribers must re-read what they follow."""

    async def publish(self, channel: str, payload: bytes) -> None: ...

    async def publish_many(self, publications: Sequence[tuple[str, bytes]]) -> None:
        """Publish several ``(channel, payload)`` pairs in one round trip, in order."""

    async def subscribe(self, channel: str) -> None:
        """Start receiving a channel. Not reference counted: the hub counts."""

    async def unsubscribe(self, channel: str) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True, frozen=True)
class Engine:
    """A store and the broker that goes with it."""

    name: str
    store: Store
    broker: Broker


_KIND = re.compile(r"^[a-z][a-z_]{0,31}$")


def check_kind(kind: str) -> str:
    """Record kinds are short lowercase names (they become key parts)."""
    if not _KIND.match(kind):
        raise ValueError(f"bad record kind {kind!r}")
    return kind


def conversation_channel(conversation_id: str) -> str:
    """Channel carrying a conversation's log entries and typing/read signals."""
    return f"conv:{conversation_id}"


def agent_channel(agent_id: str) -> str:
    """Channel for an agent's own signals (new assignment, offer, transfer)."""
    return f"agent:{agent_id}"


def visitor_channel(site_key: str, visitor_id: str) -> str:
    """Channel for a visitor's signals across their devices (new conversation)."""
    return f"visitor:{site_key}:{visitor_id}"


def supervisor_channel() -> str:
    """Channel for floor-wide changes (queues, agent states)."""
    return "floor"


def router_channel() -> str:
    """Channel every node follows: news for whichever node routes now."""
    return "router"


def pack_publication(kind: str, payload: dict[str, Any]) -> bytes:
    """Encode a publication: ``{"type": kind, **payload}`` as msgpack."""
    return msgpack.packb({"type": kind, **payload}, use_bin_type=True)


def unpack_publication(raw: bytes) -> dict[str, Any]:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)
