"""What applying a :class:`~chatd.store.base.Transition` means, shared by both
engines so that they agree to the byte: the assignment shorthand, the data of
an event entry, the queue order and the decoding of stored log entries.
"""

from __future__ import annotations

from typing import Any

from chatd.model import AssignResult, LogEntry
from chatd.store.base import StoreError, Transition

__all__ = [
    "PRIORITY_LIMIT",
    "assignment",
    "entry_from_fields",
    "event_data",
    "queue_score",
    "refusal",
    "try_assign",
]

# Priorities are clamped to +-PRIORITY_LIMIT for ordering (see queue_score).
PRIORITY_LIMIT = 500
_BAND = 2 * PRIORITY_LIMIT + 1  # priority slots per band
_MS_SPAN = 4_000_000_000_000  # milliseconds since the epoch fit below this until 2096


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
    except StoreError as exc:
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


def queue_score(priority: int, queued_at: float, front: bool) -> int:
    """A queued conversation's rank; lower ranks are served first.

    ``(band * 1001 + 500 - clamp(priority)) * 4e12 + queued_at_ms`` where
    ``band`` is 0 for front-of-queue requeues and 1 otherwise. So: front band
    first, then higher priority, then longer waiting. The largest value is
    below 2**53, so the rank is exact as a Redis sorted-set score (a double);
    ties (same millisecond) are broken by conversation id in both engines.
    ``transition.lua`` computes the same formula.
    """
    clamped = max(-PRIORITY_LIMIT, min(PRIORITY_LIMIT, priority))
    slot = (0 if front else _BAND) + PRIORITY_LIMIT - clamped
    millis = max(0, min(_MS_SPAN - 1, int(queued_at * 1000 + 0.5)))
    return slot * _MS_SPAN + millis


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


def refusal(code: str) -> StoreError:
    """The error for a refusal code reported by a script."""
    messages = {
        "unknown_conversation": "no such conversation",
        "conversation_closed": "the conversation is closed",
        "bad_state": "the conversation is not in a state that allows this",
        "at_capacity": "the agent already holds as many conversations as allowed",
        "unknown_agent": "no such agent",
    }
    return StoreError(code, messages.get(code, code))
