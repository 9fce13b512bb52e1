"""The conversation archive's pure core: what a closed conversation's record
says (timings, participants, transfers, outcome), computed from its log.

:func:`summarize` is the one definition of every archived figure; reports
read these columns and never recompute them from transcripts. The I/O lives
in :mod:`chatd.archiving` (the pass that moves closed conversations into the
record store and lets the live engine forget them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chatd.model import Conversation, LogEntry

__all__ = ["OUTCOMES", "ArchivedConversation", "HistoryFilter", "SearchHit", "summarize"]

# bot_resolved: the bot answered and no human was asked for; human: an agent
# answered; abandoned: a human was asked for and none answered before it
# closed; left_message: it began (or ended) as a message left for later.
OUTCOMES = ("bot_resolved", "human", "abandoned", "left_message")


@dataclass(slots=True, frozen=True)
class ArchivedConversation:
    """A closed conversation as the archive keeps it. Times are epoch seconds;
    ``None`` where the step never happened."""

    conversation: Conversation
    outcome: str
    queued_at: float | None
    first_offered_at: float | None
    assigned_at: float | None
    first_response_at: float | None
    transfers: int
    messages: int
    last_seq: int
    epoch: str
    participants: list[dict[str, str]] = field(default_factory=list)
    archived_at: float = 0.0

    @property
    def conversation_id(self) -> str:
        return self.conversation.conversation_id

    def to_dict(self) -> dict[str, Any]:
        c = self.conversation
        return {"conversation_id": c.conversation_id, "site_key": c.site_key, "visitor_id": c.visitor_id,
                "visitor_name": c.visitor_name, "agent_id": c.last_agent_id or c.agent_id, "skill": c.skill,
                "outcome": self.outcome, "created_at": c.created_at, "queued_at": self.queued_at,
                "first_offered_at": self.first_offered_at, "assigned_at": self.assigned_at,
                "first_response_at": self.first_response_at, "closed_at": c.closed_at,
                "transfers": self.transfers, "messages": self.messages, "participants": self.participants}


def summarize(conversation: Conversation, entries: Sequence[LogEntry], epoch: str = "",
              archived_at: float = 0.0) -> ArchivedConversation:
    """The archive record of a closed ``conversation`` from its whole log
    (``entries``, oldest first). Pure.

    Timings are the first occurrence of each step: ``queued_at`` the first
    ``queued`` (or ``reopened``) event, ``first_offered_at`` the first
    ``offered``, ``assigned_at`` the first ``assigned`` or ``accepted``,
    ``first_response_at`` the first message from an agent. ``transfers``
    counts ``transferred`` events; ``messages`` counts messages of anyone."""
    queued = offered = assigned = responded = None
    transfers = messages = 0
    bot_spoke = left_message = False
    seen: dict[tuple[str, str], None] = {}
    for entry in entries:
        if entry.sender_role in ("visitor", "agent", "bot"):
            seen.setdefault((entry.sender_role, entry.sender_id), None)
        if entry.kind == "event":
            if entry.body in ("queued", "reopened") and queued is None:
                queued = entry.ts
            elif entry.body == "offered" and offered is None:
                offered = entry.ts
            elif entry.body in ("assigned", "accepted") and assigned is None:
                assigned = entry.ts
            elif entry.body == "transferred":
                transfers += 1
            elif entry.body == "closed" and (entry.data or {}).get("disposition") == "left_message":
                left_message = True
            continue
        messages += 1
        if entry.sender_role == "agent" and responded is None:
            responded = entry.ts
        elif entry.sender_role == "bot":
            bot_spoke = True
    if conversation.mode == "leave_message" or left_message:
        outcome = "left_message"
    elif responded is not None:
        outcome = "human"
    elif queued is not None:
        outcome = "abandoned"
    elif bot_spoke:
        outcome = "bot_resolved"
    else:
        outcome = "abandoned"
    return ArchivedConversation(
        conversation=conversation, outcome=outcome, queued_at=queued, first_offered_at=offered,
        assigned_at=assigned, first_response_at=responded, transfers=transfers, messages=messages,
        last_seq=entries[-1].seq if entries else 0, epoch=epoch,
        participants=[{"role": role, "id": who} for role, who in seen], archived_at=archived_at)


@dataclass(slots=True, frozen=True)
class HistoryFilter:
    """Which archived conversations a history or search asks for; an empty
    field filters nothing. ``since``/``until`` bound the close time."""

    since: float = 0.0
    until: float = 0.0
    agent_id: str = ""  # who handled it last
    skill: str = ""
    site_key: str = ""
    visitor_id: str = ""
    outcome: str = ""
    rating: int = 0  # the visitor's score, 1 to 5


@dataclass(slots=True, frozen=True)
class SearchHit:
    """A message that matched, with its conversation."""

    conversation: ArchivedConversation
    seq: int
    sender_role: str
    body: str
    ts: float
