"""The conversation lifecycle as a pure state machine.

::

    open ──queue──▶ queued ──offer──▶ offered ──accept──▶ assigned ──close──▶ closed
                     ▲  │               │                   │  ▲
                     │  └────assign─────┼──────────────────▶│  └ transfer_to_agent
                     ├──────lapse───────┘                   │
                     └──── requeue, transfer_to_group ──────┘
    (close from any open state)            closed ──reopen──▶ queued
    (a supervisor may also transfer an offered chat to an agent or a group,
     and move a queued chat to another group)

An offer reserves the agent's capacity; the agent accepts, declines or lets
it lapse, and a lapse puts the conversation back in its queue at its place
in line (:func:`queue_key`), which is near the front since it keeps its wait.

Who takes part follows from the state alone (:func:`takes_part`): a visitor
in their own conversations, an agent in the one offered or assigned to them
now. Nothing that happened earlier in the log (a lapse, a transfer away and
back) matters, so a session decides it afresh from the newest state it sees.

Each action maps to a :class:`chatd.store.base.Transition` that the store
applies with a compare-and-set on the allowed source states, so two nodes
racing on one conversation cannot both win. Illegal actions raise
:class:`ChatdError` with a stable error code; nothing is changed.
"""

from __future__ import annotations

from typing import Any

from chatd.errors import ChatdError
from chatd.model import Conversation
from chatd.store.base import Transition

__all__ = [
    "ACTIONS",
    "OWNED_STATES",
    "PRIORITY_HEAD_START_SECONDS",
    "SLA_LEAD_SECONDS",
    "STATES",
    "allowed_from",
    "can",
    "lapse",
    "plan",
    "queue_key",
    "requeue",
    "takes_part",
]

STATES = ("open", "queued", "offered", "assigned", "closed")

# action -> (source states, target state, log event name)
_TABLE: dict[str, tuple[tuple[str, ...], str, str]] = {
    "queue": (("open",), "queued", "queued"),
    "assign": (("queued", "open"), "assigned", "assigned"),
    "offer": (("queued",), "offered", "offered"),
    "accept": (("offered",), "assigned", "accepted"),
    "lapse": (("offered",), "queued", "lapsed"),
    # Agents transfer their assigned chats; supervisors also move offered and queued ones.
    "transfer_to_agent": (("offered", "assigned"), "assigned", "transferred"),
    "transfer_to_group": (("queued", "offered", "assigned"), "queued", "transferred"),
    "requeue": (("assigned",), "queued", "requeued"),
    "close": (("open", "queued", "offered", "assigned"), "closed", "closed"),
    "reopen": (("closed",), "queued", "reopened"),
}
ACTIONS = tuple(_TABLE)


PRIORITY_HEAD_START_SECONDS = 30.0  # each priority level is served as if it had waited this much longer
SLA_LEAD_SECONDS = 60.0  # a chat due by a deadline is served as if it had waited since this long before it

# States in which the owning agent works the conversation (sends, accepts, closes).
OWNED_STATES = frozenset({"offered", "assigned"})


def takes_part(role: str, principal: str, *, state: str, owner: str, visitor_id: str = "") -> bool:
    """Whether ``principal`` (a visitor or an agent, by ``role``) takes part in a
    conversation that is now in ``state``, owned by ``owner`` (``""`` for none).

    A visitor takes part in their own conversations, closed ones included (to
    rate them or read them back); an agent only while the conversation is
    offered or assigned to them."""
    if role == "visitor":
        return bool(principal) and principal == visitor_id
    return state in OWNED_STATES and bool(principal) and owner == principal


def allowed_from(action: str) -> tuple[str, ...]:
    return _TABLE[action][0]


def can(state: str, action: str) -> bool:
    entry = _TABLE.get(action)
    return entry is not None and state in entry[0]


def queue_key(priority: int, waiting_since: float, sla_deadline: float = 0.0) -> float:
    """A queued conversation's place in line: the one queue order, used by
    the store, the router, the supervisor floor and the visitor's position.
    Smaller is served first; equal keys go by conversation id.

    The key is the moment the visitor is treated as having started to wait:
    ``waiting_since`` (kept across lapses, requeues and transfers, so a chat
    that comes back is near the front by itself), ``PRIORITY_HEAD_START_SECONDS``
    earlier per priority level (a VIP is served as if they had waited longer,
    so priority ages: nobody is overtaken for ever), and never later than
    ``SLA_LEAD_SECONDS`` before an answer-by deadline. It does not change
    while the conversation waits, so a queue is one sorted set and every
    reader sees the same order. Rounded to milliseconds (exact as a Redis
    sorted-set score)."""
    key = waiting_since - priority * PRIORITY_HEAD_START_SECONDS
    if sla_deadline > 0:
        key = min(key, sla_deadline - SLA_LEAD_SECONDS)
    return round(key, 3)


def plan(state: str, action: str, *, current_agent: str = "", agent_id: str = "",
         skill: str | None = None, priority: int | None = None, note: str = "",
         actor_role: str = "system", actor_id: str = "",
         data: dict[str, Any] | None = None, fields: dict[str, str | int | float] | None = None,
         record: Conversation | None = None, now: float = 0.0) -> Transition:
    """The store change for ``action`` on a conversation now in ``state``.

    ``current_agent`` is the present owner; ``agent_id`` the new one for
    ``assign`` and ``transfer_to_agent``; ``skill`` the target group for
    ``transfer_to_group``. ``fields`` are other conversation fields to set.
    An action that queues places the conversation by :func:`queue_key`,
    from ``record`` (the conversation as it is: its priority, wait and
    deadline) and ``now`` (when it starts waiting, if it was not yet).
    Raises :class:`ChatdError`.
    """
    entry = _TABLE.get(action)
    if entry is None:
        raise ChatdError("bad_request", f"unknown action {action!r}")
    sources, target, event = entry
    if state not in sources:
        if state == "closed":
            raise ChatdError("conversation_closed", "the conversation is closed")
        raise ChatdError("bad_state", f"cannot {action} a conversation that is {state}")
    details: dict[str, Any] = dict(data or {})
    if note:
        details["note"] = note
    extra: dict[str, str | int | float] = dict(fields or {})
    owner = ""
    queue = ""
    if action == "queue":
        queue = "add"
    elif action in ("assign", "offer"):
        if not agent_id:
            raise ChatdError("bad_request", f"{action} needs an agent")
        owner, queue = agent_id, "remove"
        details["agent_id"] = agent_id
    elif action == "accept":
        owner = current_agent
    elif action == "lapse":
        queue = "add"
        details["from_agent"] = current_agent
    elif action == "transfer_to_agent":
        if not agent_id:
            raise ChatdError("bad_request", "transfer needs a target agent")
        if agent_id == current_agent:
            raise ChatdError("bad_request", "the conversation is already with this agent")
        owner = agent_id
        details.update(from_agent=current_agent, to_agent=agent_id)
    elif action == "transfer_to_group":
        if not skill:
            raise ChatdError("bad_request", "transfer needs a target skill group")
        queue = "add"
        details.update(from_agent=current_agent, to_skill=skill)
    elif action == "requeue":
        queue = "add"
        details["from_agent"] = current_agent
    elif action == "close":
        queue = "remove"
    elif action == "reopen":
        queue = "add"  # back to a human at once: a reopened chat never sits open with nobody to answer
        extra.update(excluded_agents="", lapses=0, offer_expires_at=0.0)
    key = 0.0
    if queue == "add":
        # The wait starts again on a reopen; otherwise it is kept from the first queueing.
        kept = record is not None and record.waiting_since and action != "reopen"
        waiting_since = record.waiting_since if kept else now  # type: ignore[union-attr]
        level = priority if priority is not None else (record.priority if record is not None else 0)
        key = queue_key(level, waiting_since, record.sla_deadline if record is not None else 0.0)
        extra.update(waiting_since=waiting_since, queue_key=key)
    return Transition(
        event=event,
        allowed_from=sources,
        to_state=target,
        agent_id=owner,
        actor_role=actor_role,
        actor_id=actor_id,
        skill=skill,
        priority=priority,
        queue=queue,
        queue_key=key,
        data=details or None,
        fields=extra or None,
    )


def lapse(record: Conversation, reason: str, *, now: float, actor_role: str = "system",
          actor_id: str = "") -> Transition:
    """An offer lapses (timeout or decline): back in the queue at the
    conversation's place in line, not offered to the agent again until
    everyone else eligible has had their turn (the router decides that)."""
    return plan(record.state, "lapse", current_agent=record.agent_id, actor_role=actor_role, actor_id=actor_id,
                data={"reason": reason, "lapses": record.lapses + 1}, record=record, now=now,
                fields={"excluded_agents": " ".join(sorted(record.excluded() | {record.agent_id})),
                        "offer_expires_at": 0.0, "lapses": record.lapses + 1})


def requeue(record: Conversation, reason: str, *, now: float) -> Transition:
    """Take a conversation from an agent who is gone and put it back in its
    queue at its place in line (an offer lapses instead)."""
    if record.state == "offered":
        return lapse(record, reason, now=now)
    return plan(record.state, "requeue", current_agent=record.agent_id, data={"reason": reason},
                record=record, now=now)
