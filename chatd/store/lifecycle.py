"""What applying a :class:`~chatd.store.base.Transition` means, shared by both
engines so that they agree to the byte: the assignment shorthand, the data of
an event entry, who may send, and the decoding of stored log entries.
"""

from __future__ import annotations

from typing import Any

from chatd.conversation import takes_part
from chatd.errors import ChatdError
from chatd.model import AssignResult, LogEntry
from chatd.store.base import Transition

__all__ = [
    "assignment",
    "entry_from_fields",
    "event_data",
    "may_send",
    "refusal",
    "try_assign",
]

def assignment(agent_id: str, allowed_from: tuple[str, ...],
               data: dict[str, Any] | None = None) -> Transition:
    """The ``assigned`` transition, as :func:`chatd.conversation.plan` builds it."""
    details = dict(data or {})
    details["agent_id"] = agent_id
    return Transition(event="assigned", allowed_from=allowed_from, to_state="assigned",
                      agent_id=agent_id, queue="remove", data=details)


async def try_assign(store: Any, conversation_id: str, agent_id: str, now: float,
                     allowed_from: tuple[str, ...], data: dict[str, Any] | None) -> AssignResult:
    """``Store.assign`` for both engines: the ``assigned`` transition, a
    refusal reported as a result instead of raised."""
    if not agent_id:
        return AssignResult(False, "unknown_agent")
    try:
        conv, _ = await store.transition(conversation_id, assignment(agent_id, allowed_from, data), now)
    except ChatdError as exc:
        return AssignResult(False, exc.code)
    return AssignResult(True, "", conv)


def event_data(change_data: dict[str, Any] | None, state: str, agent_id: str, skill: str,
               tick: int) -> dict[str, Any]:
    """The ``data`` of a transition's event entry: the transition's own details
    plus where the conversation stands afterwards, and ``tick``, the change's
    number in the one order of all routing changes (node clocks may disagree)."""
    data = dict(change_data or {})
    data.update(state=state, agent_id=agent_id, skill=skill, tick=tick)
    return data


def may_send(role: str, sender_id: str, *, state: str, owner: str, visitor_id: str) -> bool:
    """Whether a message from ``sender_id`` may enter the conversation's log
    now: an agent's only while it is offered or assigned to them, a visitor's
    only into their own conversation; the bot's and the system's always."""
    if role == "agent":
        return takes_part("agent", sender_id, state=state, owner=owner)
    if role == "visitor":
        return sender_id == visitor_id
    return True


def entry_from_fields(conversation_id: str, seq: int, fields: dict[str, Any]) -> LogEntry:
    """A log entry from its stored fields (everything but ``seq`` and the
    conversation id), normalising what a round trip through Lua may change:
    ``ts`` comes back as an int when whole, an empty ``data`` as a list."""
    data = fields.get("data")
    return LogEntry(
        conversation_id=conversation_id,
        seq=seq,
        kind=fields.get("kind", "message"),
        sender_role=fields.get("sender_role", ""),
        sender_id=fields.get("sender_id", ""),
        body=fields.get("body", ""),
        ts=float(fields.get("ts", 0.0)),
        client_msg_id=fields.get("client_msg_id", ""),
        data=data if isinstance(data, dict) else {},
    )


def refusal(code: str) -> ChatdError:
    """The error for a refusal code reported by a script."""
    return ChatdError(code)
