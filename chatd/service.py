"""Chat operations shared by the WebSocket endpoints and the HTTP API.

Each operation validates with the pure state machine, applies the change with
one atomic store call and then notifies (router, fan-out). Callers check who
may act on which conversation; this module checks what the state allows.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from typing import Any

from chatd import conversation as lifecycle
from chatd.bot.base import Bot, BotStart, NoBot
from chatd.hub import Hub
from chatd.metrics import Metrics
from chatd.model import AppendResult, Conversation, Site
from chatd.store.base import Store, StoreError, conversation_channel
from router.base import Router

__all__ = ["ChatService", "ServiceError"]


ABANDONED_SAMPLES = "abandoned"  # samples: when chats were closed while waiting for an agent, per skill group


class ServiceError(Exception):
    """A refused operation with a protocol error code."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


def _new_conversation_id() -> str:
    return "c_" + secrets.token_urlsafe(9)


SITE_CACHE_SECONDS = 5.0
SITE_CACHE_LIMIT = 10_000  # site keys remembered (unknown ones too) before the cache starts over
ON_DUTY_CACHE_SECONDS = 1.0


class ChatService:
    def __init__(self, store: Store, hub: Hub, router: Router, clock: Callable[[], float], metrics: Metrics,
                 bot: Bot | None = None) -> None:
        self.store = store
        self.hub = hub
        self.router = router
        self.clock = clock
        self.metrics = metrics
        self.bot: Bot = bot or NoBot()
        self._sites: dict[str, tuple[Site | None, float]] = {}  # site key -> (record, read at)
        self._on_duty = (False, float("-inf"))  # (any agent connected, checked at)

    # --- what every visitor hello reads, cached per node --------------------------------
    async def site(self, site_key: str) -> Site | None:
        """The site's record, read from the store at most every
        ``SITE_CACHE_SECONDS`` on this node (an edit made through another
        node is seen within that time; one made through this node at once)."""
        now = self.clock()
        hit = self._sites.get(site_key)
        if hit is not None and 0 <= now - hit[1] < SITE_CACHE_SECONDS:
            return hit[0]
        site = await self.store.get_site(site_key)
        if len(self._sites) >= SITE_CACHE_LIMIT:
            self._sites.clear()
        self._sites[site_key] = (site, now)
        return site

    def forget_site(self, site_key: str) -> None:
        self._sites.pop(site_key, None)

    def agents_changed(self) -> None:
        """An agent connected to or left this node: check who is on duty afresh."""
        self._on_duty = (False, float("-inf"))

    async def on_duty(self) -> bool:
        """Whether any agent is connected anywhere, checked at most every ``ON_DUTY_CACHE_SECONDS``."""
        now = self.clock()
        if not 0 <= now - self._on_duty[1] < ON_DUTY_CACHE_SECONDS:
            self._on_duty = (bool(await self.store.connected_agents(now)), now)
        return self._on_duty[0]

    async def conversation(self, conversation_id: str) -> Conversation:
        found = await self.store.get_conversation(conversation_id)
        if found is None:
            raise ServiceError("unknown_conversation")
        return found

    async def start_conversation(self, site_key: str, visitor_id: str, *, skill: str, visitor_name: str = "",
                                 priority: int = 0, preferred_agent_id: str = "",
                                 sla_deadline: float = 0.0) -> tuple[Conversation, BotStart | None]:
        """The visitor's open conversation, or a new one. A new one is queued
        for ``skill`` or handed to the bot first, as the bot's ``on_start``
        decides. Returns it and that decision (``None`` when it existed)."""
        for existing in await self.store.visitor_conversations(site_key, visitor_id, limit=5):
            if existing.state != "closed":
                return existing, None
        now = self.clock()
        if not preferred_agent_id:
            preferred_agent_id = await self._last_agent(site_key, visitor_id)
        created = await self.store.create_conversation(Conversation(
            conversation_id=_new_conversation_id(), site_key=site_key, visitor_id=visitor_id,
            skill=skill, created_at=now, visitor_name=visitor_name, priority=priority,
            preferred_agent_id=preferred_agent_id, sla_deadline=sla_deadline))
        start = await self.bot.on_start(created, await self.store.get_site(site_key))
        await self.store.add_routing_record(created.conversation_id, {
            "at": now, "kind": "entry", "mode": start.mode, "queued": start.queue, "reason": start.reason,
            "message": start.message, "details": start.details})
        if start.queue:
            created = await self._apply(created, "queue", skill=skill, priority=priority, actor_role="visitor",
                                        actor_id=visitor_id, data={"mode": start.mode, "reason": start.reason})
            self.router.conversation_waiting(created.conversation_id, skill)
        return created, start

    async def _last_agent(self, site_key: str, visitor_id: str) -> str:
        """The agent of the visitor's latest conversation (stickiness)."""
        for previous in await self.store.visitor_conversations(site_key, visitor_id, limit=3):
            if previous.agent_id:
                return previous.agent_id
        return ""

    async def handoff(self, conversation_id: str, context: dict[str, Any]) -> Conversation:
        """The bot (or the visitor through it) asks for a human: queue the
        conversation with the bot's context, unless it already waits."""
        current = await self.conversation(conversation_id)
        now = self.clock()
        skill = str(context.get("skill_group") or current.skill)
        await self.store.add_routing_record(conversation_id, {"at": now, "kind": "handoff", "context": context})
        if current.state != "open":
            return current
        updated = await self._apply(current, "queue", skill=skill, actor_role="bot", actor_id="bot",
                                    data={"handoff": context})
        self.router.conversation_waiting(conversation_id, skill)
        return updated

    async def bot_reply(self, conversation_id: str, text: str, data: dict[str, Any] | None = None) -> AppendResult:
        """Store a bot message (answers, buttons) in the conversation's log."""
        try:
            return await self.store.append(conversation_id, kind="message", sender_role="bot", sender_id="bot",
                                           body=text, client_msg_id="", now=self.clock(), data=data)
        except StoreError as exc:
            raise ServiceError(exc.code, str(exc)) from None

    async def send(self, conversation_id: str, role: str, sender_id: str, client_msg_id: str,
                   body: str, *, internal: bool = False) -> AppendResult:
        """Store a message. ``internal`` notes are for agents only: visitors
        never receive them (their seqs skip the note)."""
        try:
            result = await self.store.append(conversation_id, kind="note" if internal else "message",
                                             sender_role=role, sender_id=sender_id, body=body,
                                             client_msg_id=client_msg_id, now=self.clock())
        except StoreError as exc:
            raise ServiceError(exc.code, str(exc)) from None
        if not result.duplicate:
            self.metrics.message_stored(role)
            if role == "visitor":
                self.bot.on_visitor_message(conversation_id, body)
        return result

    async def accept(self, conversation_id: str, agent_id: str) -> Conversation:
        current = await self.conversation(conversation_id)
        if current.agent_id != agent_id:
            raise ServiceError("forbidden", "this offer is not yours")
        agent = await self.store.get_agent(agent_id)
        accepted = await self._apply(current, "accept", current_agent=agent_id, actor_role="agent",
                                     actor_id=agent_id, fields={"accepted_at": self.clock(), "offer_expires_at": 0.0},
                                     data={"agent_name": agent.name if agent else ""})
        await self.store.delete_record("missed_offers", agent_id)  # misses count in a row
        return accepted

    async def decline(self, conversation_id: str, agent_id: str, reason: str = "declined") -> Conversation:
        """The agent declines (or lets lapse) an offer: back to the front of the
        queue, never offered to this agent again."""
        current = await self.conversation(conversation_id)
        if current.agent_id != agent_id:
            raise ServiceError("forbidden", "this offer is not yours")
        try:
            change = lifecycle.lapse(current.state, agent_id, current.excluded(), reason,
                                     actor_role="agent", actor_id=agent_id)
            updated, _ = await self.store.transition(conversation_id, change, self.clock())
        except (lifecycle.IllegalTransition, StoreError) as exc:
            raise ServiceError(exc.code, str(exc)) from None
        self.router.conversation_waiting(conversation_id, updated.skill)
        self.router.agent_available(agent_id)
        return updated

    async def rate(self, conversation_id: str, visitor_id: str, score: int, comment: str) -> dict[str, Any]:
        """Store the visitor's satisfaction rating (1-5) of a closed conversation; a later rating replaces it."""
        current = await self.conversation(conversation_id)
        if current.visitor_id != visitor_id:
            raise ServiceError("forbidden")
        if current.state != "closed":
            raise ServiceError("bad_state", "rate a conversation after it is closed")
        if not 1 <= score <= 5 or len(comment) > 1000:
            raise ServiceError("bad_request", "score must be 1 to 5 and the comment at most 1000 characters")
        rating = {"conversation_id": conversation_id, "score": score, "comment": comment,
                  "agent_id": current.agent_id or await self._last_agent(current.site_key, visitor_id),
                  "skill": current.skill, "site_key": current.site_key, "at": self.clock()}
        await self.store.put_record("rating", conversation_id, rating)
        return rating

    async def close(self, conversation_id: str, role: str, actor_id: str, disposition: str = "") -> Conversation:
        current = await self.conversation(conversation_id)
        data = {"disposition": disposition} if disposition else None
        updated = await self._apply(current, "close", actor_role=role, actor_id=actor_id, data=data)
        self.bot.on_closed(conversation_id)
        if current.state in ("queued", "offered"):  # the visitor gave up before an agent answered
            await self.store.add_sample(ABANDONED_SAMPLES, current.skill, self.clock(), keep=5000)
        if current.agent_id:
            self.router.agent_available(current.agent_id)
            await self.store.add_sample("closed_by_agent", current.agent_id, self.clock(), keep=1000)  # the floor
            if current.state == "assigned" and current.assigned_at:
                # Handle times feed the queue's wait estimates.
                await self.store.add_sample("handle_time", current.skill, self.clock() - current.assigned_at)
        return updated

    async def transfer(self, conversation_id: str, agent_id: str, *, to_agent: str = "", to_skill: str = "",
                       note: str = "", actor_role: str = "agent") -> Conversation:
        """Move a chat to another agent or skill group. Agents transfer their
        assigned chats; supervisors (``actor_role``) may also move an offered
        chat (the offer is withdrawn) and a queued one to another group."""
        current = await self.conversation(conversation_id)
        if actor_role == "agent" and current.state != "assigned":
            raise ServiceError("bad_state", f"cannot transfer a conversation that is {current.state}")
        if to_skill and current.state == "queued" and to_skill == current.skill:
            raise ServiceError("bad_request", f"the conversation is already waiting in {to_skill}")
        withdrawn = {"offer_expires_at": 0.0}
        if to_agent:
            target = await self.store.get_agent(to_agent)
            if target is None:
                raise ServiceError("unknown_agent")
            updated = await self._apply(current, "transfer_to_agent", withdrawn, current_agent=current.agent_id,
                                        agent_id=to_agent, note=note, actor_role=actor_role, actor_id=agent_id,
                                        data={"agent_name": target.name})
            await self.hub.publish_assigned(to_agent, updated.to_dict())
        else:
            updated = await self._apply(current, "transfer_to_group", withdrawn, current_agent=current.agent_id,
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

    def signal(self, conversation_id: str, frame: dict[str, Any], role: str, sender_id: str) -> None:
        """Best-effort typing / read signals to the conversation's followers,
        published in the background."""
        frame = {**frame, "from": {"role": role, "id": sender_id}}
        self.hub.publish_signal_soon(conversation_channel(conversation_id), frame, skip=(role, sender_id))

    async def _apply(self, current: Conversation, action: str, fields: dict[str, Any] | None = None,
                     **kwargs: Any) -> Conversation:
        try:
            change = lifecycle.plan(current.state, action, **kwargs)
            if fields:
                change = dataclasses.replace(change, fields=fields)
            updated, _entry = await self.store.transition(current.conversation_id, change, self.clock())
        except (lifecycle.IllegalTransition, StoreError) as exc:
            raise ServiceError(exc.code, str(exc)) from None
        return updated
