"""Domain records shared by the store, the hub and the HTTP API.

Records are plain slotted dataclasses with ``to_dict``/``from_dict`` so both
engines store the same shape. They carry no behaviour beyond (de)serialisation:
the conversation lifecycle lives in :mod:`chatd.conversation`.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "AGENT_STATUSES",
    "API_SCOPES",
    "ROLES",
    "Agent",
    "ApiKey",
    "AppendResult",
    "AssignResult",
    "Conversation",
    "LogEntry",
    "ReadResult",
    "Site",
]

ROLES = ("agent", "supervisor", "admin")
AGENT_STATUSES = ("online", "away", "offline")


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def _from_dict(cls: type, raw: dict[str, Any]) -> Any:
    names = _field_names(cls)
    return cls(**{k: v for k, v in raw.items() if k in names})


@dataclass(slots=True)
class Agent:
    """A human answering chats. ``skills`` maps a skill group to proficiency 1..5."""

    agent_id: str
    name: str
    role: str = "agent"
    password_hash: str = ""
    skills: dict[str, int] = field(default_factory=dict)
    capacity: int = 3
    status: str = "offline"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        """The agent without secrets, for API answers."""
        data = asdict(self)
        data.pop("password_hash")
        return data

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Agent:
        return _from_dict(cls, raw)


@dataclass(slots=True)
class Site:
    """A website or app embedding the widget. ``secret`` signs visitor identities."""

    site_key: str
    name: str
    allowed_origins: list[str] = field(default_factory=list)
    secret: str = ""
    default_skill: str = "general"
    theme_color: str = "#1f6feb"
    events_url: str = ""  # the site's event webhook (chatd.webhooks), empty: none
    events_secret: str = ""  # signs its deliveries
    events: list[str] = field(default_factory=list)  # the event types it subscribes to

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        for private in ("secret", "events_url", "events_secret", "events"):
            data.pop(private)
        return data

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a browser page at ``origin`` may embed this site (an empty
        allowlist allows any). Clients without an Origin (apps, mini-programs,
        servers) are let through: their signed tokens identify them."""
        return not origin or not self.allowed_origins or origin in self.allowed_origins

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Site:
        return _from_dict(cls, raw)


API_SCOPES = ("conversations:read", "conversations:write", "tickets:read", "tickets:write")


@dataclass(slots=True)
class ApiKey:
    """A business backend's credential. The token (``chatd_<key_id>.<secret>``)
    is shown once; only the SHA-256 of its secret part is kept."""

    key_id: str
    name: str
    scopes: list[str] = field(default_factory=list)
    secret_hash: str = ""
    created_at: float = 0.0
    created_by: str = ""
    revoked_at: float = 0.0  # 0 while the key works

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("secret_hash")
        return data

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ApiKey:
        return _from_dict(cls, raw)


@dataclass(slots=True)
class Conversation:
    """One chat between a visitor and (eventually) an agent.

    ``state`` is one of :data:`chatd.conversation.STATES`; ``agent_id`` is set
    while offered or assigned. Times are epoch seconds from the injected clock.
    Every field is a str, int or float so both engines store it flat.
    """

    conversation_id: str
    site_key: str
    visitor_id: str
    state: str = "open"
    skill: str = "general"
    priority: int = 0
    agent_id: str = ""
    created_at: float = 0.0
    queued_at: float = 0.0
    assigned_at: float = 0.0
    closed_at: float = 0.0
    visitor_name: str = ""
    preferred_agent_id: str = ""  # dedicated (专属) or last agent, preferred within the sticky budget
    sla_deadline: float = 0.0  # answer before this (epoch seconds); 0 = none
    excluded_agents: str = ""  # space-separated agents who let an offer lapse or declined it, this round
    offer_expires_at: float = 0.0  # while offered: the agent must accept before this
    accepted_at: float = 0.0
    waiting_since: float = 0.0  # first queued for a human (kept across lapses, requeues, transfers; 0 after reopen)
    queue_key: float = 0.0  # place in line while queued (chatd.conversation.queue_key)
    lapses: int = 0  # offers of it that lapsed or were declined
    mode: str = "human"  # how it began: human (queued), bot (the bot answers first) or leave_message
    last_agent_id: str = ""  # the agent who held it last (kept after it leaves them: ratings, reopening)

    def to_dict(self) -> dict[str, Any]:
        # every field is flat: no deep copy needed (this runs for every routing change)
        return {name: getattr(self, name) for name in _CONVERSATION_FIELDS}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Conversation:
        return _from_dict(cls, raw)

    def excluded(self) -> frozenset[str]:
        return frozenset(self.excluded_agents.split())


_CONVERSATION_FIELDS = tuple(f.name for f in fields(Conversation))


@dataclass(slots=True)
class LogEntry:
    """One entry of a conversation's log: a message or a lifecycle event.

    ``seq`` is gap-free and monotonic per conversation. ``kind`` is
    ``"message"`` or ``"event"``; for events ``body`` is the event name
    (``queued``, ``assigned``, ``transferred``, ``closed``, ``reopened``) and
    ``data`` carries its details.
    """

    conversation_id: str
    seq: int
    kind: str
    sender_role: str
    sender_id: str
    body: str
    ts: float
    client_msg_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "seq": self.seq, "kind": self.kind,
                "sender_role": self.sender_role, "sender_id": self.sender_id, "body": self.body, "ts": self.ts,
                "client_msg_id": self.client_msg_id, "data": copy.deepcopy(self.data) if self.data else {}}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LogEntry:
        return _from_dict(cls, raw)


@dataclass(slots=True, frozen=True)
class AppendResult:
    """Outcome of an append. ``duplicate`` is true when ``client_msg_id`` was
    already stored: ``seq`` is then the seq of the first copy."""

    seq: int
    ts: float
    duplicate: bool


@dataclass(slots=True, frozen=True)
class ReadResult:
    """Entries after a seq, in order. ``first_seq`` is the oldest seq still kept
    (0 when the log is empty) and ``last_seq`` the newest ever written, so a
    reader can tell a trimmed gap (``after + 1 < first_seq``) from no news.
    ``epoch`` names the log's history: seqs compare only within one epoch
    (docs/protocol.md, *Epochs*)."""

    entries: list[LogEntry]
    first_seq: int
    last_seq: int
    epoch: str = ""


@dataclass(slots=True, frozen=True)
class AssignResult:
    """Outcome of an atomic assignment. ``reason`` is a stable code when not ok:
    ``at_capacity``, ``bad_state``, ``unknown_agent``, ``unknown_conversation``."""

    ok: bool
    reason: str = ""
    conversation: Conversation | None = None
