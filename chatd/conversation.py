"""The conversation lifecycle as a pure state machine.

::

    open ──queue──▶ queued ──offer──▶ offered ──accept──▶ assigned ──close──▶ closed
                     ▲  │               │                   │  ▲
                     │  └────assign─────┼──────────────────▶│  └ transfer_to_agent
                     ├──────lapse───────┘                   │
                     └──── requeue, transfer_to_group ──────┘
    (close from any open state)            closed ──reopen──▶ open
    (a supervisor may also transfer an offered chat to an agent or a group,
     and move a queued chat to another group)

An offer reserves the agent's capacity; the agent accepts, declines or lets
it lapse, and a lapse puts the conversation back at the front of its queue.

Each action maps to a :class:`chatd.store.base.Transition` that the store
applies with a compare-and-set on the allowed source states, so two nodes
racing on one conversation cannot both win. Illegal actions raise
:class:`IllegalTransition` with a stable error code; nothing is changed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chatd.store.base import Transition

__all__ = [
    "ACTIONS",
    "STATES",
    "IllegalTransition",
    "allowed_from",
    "can",
    "lapse",
    "plan",
    "requeue",
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
    "reopen": (("closed",), "open", "reopened"),
}
ACTIONS = tuple(_TABLE)


class IllegalTransition(Exception):
    """``code`` is ``bad_state`` (wrong source state), ``conversation_closed``
    (anything but reopen on a closed conversation) or ``bad_request``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def allowed_from(action: str) -> tuple[str, ...]:
    return _TABLE[action][0]


def can(state: str, action: str) -> bool:
    entry = _TABLE.get(action)
    return entry is not None and state in entry[0]


def plan(state: str, action: str, *, current_agent: str = "", agent_id: str = "",
         skill: str | None = None, priority: int | None = None, note: str = "",
         actor_role: str = "system", actor_id: str = "",
         data: dict[str, Any] | None = None) -> Transition:
    """The store change for ``action`` on a conversation now in ``state``.

    ``current_agent`` is the present owner; ``agent_id`` the new one for
    ``assign`` and ``transfer_to_agent``; ``skill`` the target group for
    ``transfer_to_group``. Raises :class:`IllegalTransition`.
    """
    entry = _TABLE.get(action)
    if entry is None:
        raise IllegalTransition("bad_request", f"unknown action {action!r}")
    sources, target, event = entry
    if state not in sources:
        if state == "closed":
            raise IllegalTransition("conversation_closed", "the conversation is closed")
        raise IllegalTransition("bad_state", f"cannot {action} a conversation that is {state}")
    details: dict[str, Any] = dict(data or {})
    if note:
        details["note"] = note
    owner = ""
    queue = ""
    front = False
    if action == "queue":
        queue = "add"
    elif action in ("assign", "offer"):
        if not agent_id:
            raise IllegalTransition("bad_request", f"{action} needs an agent")
        owner, queue = agent_id, "remove"
        details["agent_id"] = agent_id
    elif action == "accept":
        owner = current_agent
    elif action == "lapse":
        queue, front = "add", True
        details["from_agent"] = current_agent
    elif action == "transfer_to_agent":
        if not agent_id:
            raise IllegalTransition("bad_request", "transfer needs a target agent")
        if agent_id == current_agent:
            raise IllegalTransition("bad_request", "the conversation is already with this agent")
        owner = agent_id
        details.update(from_agent=current_agent, to_agent=agent_id)
    elif action == "transfer_to_group":
        if not skill:
            raise IllegalTransition("bad_request", "transfer needs a target skill group")
        queue = "add"
        details.update(from_agent=current_agent, to_skill=skill)
    elif action == "requeue":
        queue, front = "add", True
        details["from_agent"] = current_agent
    elif action == "close":
        queue = "remove"
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
        queue_front=front,
        data=details or None,
    )


def lapse(state: str, agent_id: str, excluded: frozenset[str], reason: str, *,
          actor_role: str = "system", actor_id: str = "") -> Transition:
    """An offer lapses (timeout or decline): back to the front of the queue,
    never offered to ``agent_id`` again."""
    change = plan(state, "lapse", current_agent=agent_id, actor_role=actor_role, actor_id=actor_id,
                  data={"reason": reason})
    return replace(change, fields={"excluded_agents": " ".join(sorted(excluded | {agent_id})),
                                   "offer_expires_at": 0.0, "queue_front": 1})


def requeue(state: str, agent_id: str, reason: str) -> Transition:
    """Take a conversation from an agent who is gone and put it at the front
    of its queue (an offer lapses instead)."""
    if state == "offered":
        return replace(lapse(state, agent_id, frozenset(), reason), fields={"offer_expires_at": 0.0,
                                                                            "queue_front": 1})
    change = plan(state, "requeue", current_agent=agent_id, data={"reason": reason})
    return replace(change, fields={"queue_front": 1})
