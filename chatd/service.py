"""Chat operations shared by the WebSocket endpoints and the HTTP API.

Each operation validates with the pure state machine, applies the change with
one atomic store call and then notifies (router, fan-out). Callers check who
may act on which conversation; this module checks what the state allows.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from chatd import conversation as lifecycle
from chatd.hub import Hub
from chatd.metrics import Metrics
from chatd.model import AppendResult, Conversation
from chatd.store.base import Store, StoreError, conversation_channel
from router.base import Router

__all__ = ["ChatService", "ServiceError"]


class ServiceError(Exception):
    """A refused operation with a protocol error code."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


def _new_conversation_id() -> str:
    return "c_" + secrets.token_urlsafe(9)


class ChatService:
    def __init__(self, store: Store, hub: Hub, router: Router, clock: Callable[[], float], metrics: Metrics) -> None:
        self.store = store
        self.hub = hub
        self.router = router
        self.clock = clock
        self.metrics = metrics

    async def conversation(self, conversation_id: str) -> Conversation:
        found = await self.store.get_conversation(conversation_id)
        if found is None:
            raise ServiceError("unknown_conversation")
        return found

    async def start_conversation(self, site_key: str, visitor_id: str, *, skill: str,
                                 visitor_name: str = "") -> tuple[Conversation, bool]:
        """The visitor's open conversation, or a new one queued for ``skill``.
        Returns it and whether it was created."""
        for existing in await self.store.visitor_conversations(site_key, visitor_id, limit=5):
            if existing.state != "closed":
                return existing, False
        now = self.clock()
        created = await self.store.create_conversation(Conversation(
            conversation_id=_new_conversation_id(), site_key=site_key, visitor_id=visitor_id,
            skill=skill, created_at=now, visitor_name=visitor_name))
        await self._apply(created, "queue", skill=skill, actor_role="visitor", actor_id=visitor_id)
        self.router.conversation_waiting(created.conversation_id, skill)
        return created, True

    async def send(self, conversation_id: str, role: str, sender_id: str, client_msg_id: str,
                   body: str) -> AppendResult:
        try:
            result = await self.store.append(conversation_id, kind="message", sender_role=role,
                                             sender_id=sender_id, body=body,
                                             client_msg_id=client_msg_id,
                                             now=self.clock())
        except StoreError as exc:
            raise ServiceError(exc.code, str(exc)) from None
        if not result.duplicate:
            self.metrics.messages.labels(role).inc()
        return result

    async def close(self, conversation_id: str, role: str, actor_id: str) -> Conversation:
        current = await self.conversation(conversation_id)
        updated = await self._apply(current, "close", actor_role=role, actor_id=actor_id)
        if current.agent_id:
            self.router.agent_available(current.agent_id)
        return updated

    async def transfer(self, conversation_id: str, agent_id: str, *, to_agent: str = "", to_skill: str = "",
                       note: str = "", actor_role: str = "agent") -> Conversation:
        current = await self.conversation(conversation_id)
        if to_agent:
            if await self.store.get_agent(to_agent) is None:
                raise ServiceError("unknown_agent")
            updated = await self._apply(current, "transfer_to_agent", current_agent=current.agent_id,
                                        agent_id=to_agent, note=note, actor_role=actor_role, actor_id=agent_id)
            await self.hub.publish_assigned(to_agent, updated.to_dict())
        else:
            updated = await self._apply(current, "transfer_to_group", current_agent=current.agent_id,
                                        skill=to_skill, note=note, actor_role=actor_role, actor_id=agent_id)
            self.router.conversation_waiting(conversation_id, to_skill)
        if current.agent_id:
            self.router.agent_available(current.agent_id)
        return updated

    async def set_status(self, agent_id: str, status: str) -> None:
        try:
            await self.store.set_agent_status(agent_id, status)
        except StoreError as exc:
            raise ServiceError(exc.code) from None
        if status == "online":
            self.router.agent_available(agent_id)

    async def signal(self, conversation_id: str, frame: dict[str, Any], role: str, sender_id: str) -> None:
        """Best-effort typing / read signals to the conversation's followers."""
        frame = {**frame, "from": {"role": role, "id": sender_id}}
        await self.hub.publish_signal(conversation_channel(conversation_id), frame, skip=(role, sender_id))

    async def _apply(self, current: Conversation, action: str, **kwargs: Any) -> Conversation:
        try:
            change = lifecycle.plan(current.state, action, **kwargs)
            updated, _entry = await self.store.transition(current.conversation_id, change, self.clock())
        except (lifecycle.IllegalTransition, StoreError) as exc:
            raise ServiceError(exc.code, str(exc)) from None
        return updated
