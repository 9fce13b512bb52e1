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
from chatd.bot.base import Bot, BotStart, NoBot
from chatd.errors import ChatdError
from chatd.hub import Hub
from chatd.metrics import Metrics
from chatd.model import AppendResult, Conversation, Site
from chatd.records.base import Records
from chatd.routing import Routing
from chatd.session import Session
from chatd.store.base import Store, conversation_channel

__all__ = ["ChatService"]


ABANDONED_SAMPLES = "abandoned"  # samples: when chats were closed while waiting for an agent, per skill group


def _new_conversation_id() -> str:
    return "c_" + secrets.token_urlsafe(9)


VIP_PRIORITY = 10  # priority of a conversation started by a visitor the site marks as VIP
MAX_VISITOR_NAME = 100
MAX_ATTRIBUTES = 30
# Profile fields only a host site's signed identity may set.
VOUCHED_ATTRIBUTES = frozenset({"vip", "dedicated_agent"})
SITE_CACHE_SECONDS = 5.0
SITE_CACHE_LIMIT = 10_000  # site keys remembered (unknown ones too) before the cache starts over
ON_DUTY_CACHE_SECONDS = 1.0
SKILL_CACHE_SECONDS = 5.0  # a known skill is trusted this long on this node
SKILL_REFRESH_SECONDS = 1.0  # an unknown one re-reads the groups at most this often


class ChatService:
    def __init__(self, store: Store, records: Records, hub: Hub, router: Routing, clock: Callable[[], float],
                 metrics: Metrics, bot: Bot | None = None) -> None:
        self.store = store
        self.records = records
        self.hub = hub
        self.router = router
        self.clock = clock
        self.metrics = metrics
        self.bot: Bot = bot or NoBot()
        self._sites: dict[str, tuple[Site | None, float]] = {}  # site key -> (record, read at)
        self._on_duty = (False, float("-inf"))  # (any agent connected, checked at)
        self._skills: tuple[frozenset[str], float] = (frozenset(), float("-inf"))  # (known skills, read at)

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
        self.skills_changed()
        sites_changed = getattr(self.store, "sites_changed", None)  # the event outbox's subscriptions
        if sites_changed is not None:
            sites_changed()

    def skills_changed(self) -> None:
        """A skill group, an agent's skills or a site's default skill changed on this node."""
        self._skills = (frozenset(), float("-inf"))

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
            raise ChatdError("unknown_conversation")
        return found

    # --- who acts in which conversation ------------------------------------------------
    async def join(self, session: Session, conversation_id: str) -> None:
        """Make sure ``session`` may act in the conversation now, following it
        first when it is the client's but not yet followed (a chat given to an
        agent whose notification was lost, a visitor's older conversation).

        Who takes part follows from the conversation's current state
        (:func:`chatd.conversation.takes_part`). Raises ``forbidden`` (not
        theirs, or watched read-only), ``conversation_closed`` (no longer
        theirs because it closed) or ``unknown_conversation``."""
        if conversation_id in session.watching:
            raise ChatdError("forbidden", "you watch this conversation read-only", conversation_id=conversation_id)
        if conversation_channel(conversation_id) in session.channels:
            return
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise ChatdError("unknown_conversation", conversation_id=conversation_id)
        own_site = session.role != "visitor" or conversation.site_key == session.site_key
        if own_site and lifecycle.takes_part(session.role, session.principal_id, state=conversation.state,
                                             owner=conversation.agent_id, visitor_id=conversation.visitor_id):
            session.push({"type": "conversation", "conversation": conversation.to_dict()})
            await self.hub.attach(session, conversation_id, 0)
            if session.role == "visitor" and conversation.state == "queued":
                self.router.visitor_waiting(conversation_id)  # queue frames are not replayed
            return
        if conversation.state == "closed" and own_site:
            raise ChatdError("conversation_closed", conversation_id=conversation_id)
        raise ChatdError("forbidden", conversation_id=conversation_id)

    async def watch(self, session: Session, conversation_id: str) -> Conversation | None:
        """A supervisor follows any conversation read-only; ``None`` when already followed."""
        if session.agent_role not in ("supervisor", "admin"):
            raise ChatdError("forbidden", "only supervisors watch conversations")
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise ChatdError("unknown_conversation", conversation_id=conversation_id)
        if conversation_channel(conversation_id) in session.channels:
            return None
        session.watching.add(conversation_id)
        return conversation

    def unwatch(self, session: Session, conversation_id: str) -> None:
        if conversation_id in session.watching:
            session.watching.discard(conversation_id)
            self.hub.detach(session, conversation_id)

    # --- starting ------------------------------------------------------------------------
    async def visitor_start(self, session: Session, *, skill: str = "", attributes: dict[str, Any] | None = None,
                            ref: str | None = None) -> Conversation:
        """``start`` from a visitor's session: their open conversation, or a new
        one for ``skill`` (the site's default when empty), with the visitor's
        name, VIP priority and dedicated agent from their profile. Answers with
        the ``conversation`` frame, then follows it."""
        site_key, visitor_id = session.site_key, session.principal_id
        site = await self.site(site_key)
        if attributes:
            await self.store.update_visitor(site_key, visitor_id, visitor_attributes(attributes))
        profile = await self.store.get_visitor(site_key, visitor_id)
        # The name from hello (or the signed identity), else one the visitor gave in a pre-chat form.
        name = session.name or str(profile.get("name") or "")[:MAX_VISITOR_NAME]
        conversation, start = await self.start_conversation(
            site_key, visitor_id, skill=skill or (site.default_skill if site else "general"), visitor_name=name,
            priority=VIP_PRIORITY if profile.get("vip") else 0,
            preferred_agent_id=str(profile.get("dedicated_agent") or ""))
        reply: dict[str, Any] = {"type": "conversation", "conversation": conversation.to_dict()}
        if start is not None:
            reply["mode"] = start.mode
            if start.message:
                reply["message"] = start.message
        if ref is not None:
            reply["ref"] = ref
        session.push(reply)
        if start is not None:  # new: the router tells the visitor their place as it queues it
            await self.hub.attach(session, conversation.conversation_id, 0)
        else:  # theirs already: followed now if it was not, and told its place again
            await self.join(session, conversation.conversation_id)
        return conversation

    async def start_conversation(self, site_key: str, visitor_id: str, *, skill: str, visitor_name: str = "",
                                 priority: int = 0, preferred_agent_id: str = "",
                                 sla_deadline: float = 0.0) -> tuple[Conversation, BotStart | None]:
        """The visitor's open conversation, or a new one. A new one is created
        and queued for ``skill``, or handed to the bot first, as the bot's
        ``plan_start`` decides, in one atomic store step: it is never left
        created but not queued, and concurrent starts give one conversation.
        Returns it and that decision (``None`` when it existed). Refuses a
        skill no group, agent or site knows with ``unknown_skill``."""
        await self.check_skill(skill)
        now = self.clock()
        if not preferred_agent_id:
            preferred_agent_id = await self._last_agent(site_key, visitor_id)
        planned = Conversation(
            conversation_id=_new_conversation_id(), site_key=site_key, visitor_id=visitor_id,
            skill=skill, created_at=now, visitor_name=visitor_name, priority=priority,
            preferred_agent_id=preferred_agent_id, sla_deadline=sla_deadline)
        start = await self.bot.plan_start(planned, await self.site(site_key))
        planned.mode = start.mode
        queue = lifecycle.plan("open", "queue", skill=skill, priority=priority, actor_role="visitor",
                               actor_id=visitor_id, data={"mode": start.mode, "reason": start.reason},
                               record=planned, now=now) if start.queue else None
        conversation, created = await self.store.start_conversation(planned, queue, now)
        if not created:
            return conversation, None
        cid = conversation.conversation_id
        records = [(cid, start.explanation)] if start.explanation else []
        records.append((cid, {"at": now, "kind": "entry", "mode": start.mode, "queued": start.queue,
                              "reason": start.reason, "message": start.message, "details": start.details}))
        await self.store.add_routing_records(records)
        await self.bot.started(conversation, start)
        if start.queue:
            self.router.conversation_waiting(cid, skill)
        return conversation, start

    async def check_skill(self, skill: str) -> None:
        """Refuse a skill that no skill group, agent or site's default names
        (``unknown_skill``): visitors cannot make up queues."""
        now = self.clock()
        known, read_at = self._skills
        if skill in known and 0 <= now - read_at < SKILL_CACHE_SECONDS:
            return
        if skill not in known and 0 <= now - read_at < SKILL_REFRESH_SECONDS:
            raise ChatdError("unknown_skill", f"no skill group {skill!r}")
        known = {r["name"] for r in await self.records.skill_groups.list()}
        known |= {name for agent in await self.store.list_agents() for name in agent.skills}
        known |= {site.default_skill for site in await self.store.list_sites()}
        self._skills = (frozenset(known), now)
        if skill not in known:
            raise ChatdError("unknown_skill", f"no skill group {skill!r}")

    async def _last_agent(self, site_key: str, visitor_id: str) -> str:
        """The agent who last held one of the visitor's latest conversations (stickiness)."""
        for previous in await self.store.visitor_conversations(site_key, visitor_id, limit=3):
            if previous.agent_id or previous.last_agent_id:
                return previous.agent_id or previous.last_agent_id
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
        return await self.store.append(conversation_id, kind="message", sender_role="bot", sender_id="bot",
                                       body=text, client_msg_id="", now=self.clock(), data=data)

    async def send(self, conversation_id: str, role: str, sender_id: str, client_msg_id: str,
                   body: str, *, internal: bool = False) -> AppendResult:
        """Store a message. ``internal`` notes are for agents only: visitors
        never receive them (their seqs skip the note)."""
        kind = "note" if internal else "message"
        try:
            result = await self.store.append(conversation_id, kind=kind, sender_role=role, sender_id=sender_id,
                                             body=body, client_msg_id=client_msg_id, now=self.clock())
        except ChatdError as exc:
            # The log's checks may lag the conversation's state by a transition a
            # dead node did not finish logging: finish it and try once more.
            if exc.code not in ("forbidden", "unknown_conversation") or \
                    not await self._settled(conversation_id, role, sender_id):
                raise
            result = await self.store.append(conversation_id, kind=kind, sender_role=role, sender_id=sender_id,
                                             body=body, client_msg_id=client_msg_id, now=self.clock())
        if not result.duplicate:
            self.metrics.message_stored(role)
            if role == "visitor":
                self.bot.on_visitor_message(conversation_id, body)
        return result

    async def _settled(self, conversation_id: str, role: str, sender_id: str) -> bool:
        """Whether the sender takes part by the conversation's state (so a
        refusal came from a log lagging behind it), after settling the log."""
        current = await self.store.get_conversation(conversation_id)
        if current is None or not lifecycle.takes_part(role, sender_id, state=current.state, owner=current.agent_id,
                                                       visitor_id=current.visitor_id):
            return False
        await self.store.settle(conversation_id)
        return True

    async def accept(self, conversation_id: str, agent_id: str) -> Conversation:
        current = await self.conversation(conversation_id)
        if current.agent_id != agent_id:
            raise ChatdError("forbidden", "this offer is not yours")
        agent = await self.store.get_agent(agent_id)
        accepted = await self._apply(current, "accept", current_agent=agent_id, actor_role="agent",
                                     actor_id=agent_id, fields={"accepted_at": self.clock(), "offer_expires_at": 0.0},
                                     data={"agent_name": agent.name if agent else ""})
        await self.store.set_missed_offers(agent_id, 0)  # misses count in a row
        return accepted

    async def decline(self, conversation_id: str, agent_id: str, reason: str = "declined") -> Conversation:
        """The agent declines an offer: back in the queue at its place in line,
        offered to others before this agent again."""
        current = await self.conversation(conversation_id)
        if current.agent_id != agent_id:
            raise ChatdError("forbidden", "this offer is not yours")
        change = lifecycle.lapse(current, reason, now=self.clock(), actor_role="agent", actor_id=agent_id)
        updated, _ = await self.store.transition(conversation_id, change, self.clock())
        self.router.conversation_waiting(conversation_id, updated.skill)
        self.router.agent_available(agent_id)
        return updated

    async def rate(self, conversation_id: str, visitor_id: str, score: int, comment: str) -> dict[str, Any]:
        """Store the visitor's satisfaction rating (1-5) of a closed conversation; a later rating replaces it."""
        current = await self.conversation(conversation_id)
        if current.visitor_id != visitor_id:
            raise ChatdError("forbidden")
        if current.state != "closed":
            raise ChatdError("bad_state", "rate a conversation after it is closed")
        if not 1 <= score <= 5 or len(comment) > 1000:
            raise ChatdError("bad_request", "score must be 1 to 5 and the comment at most 1000 characters")
        rating = {"conversation_id": conversation_id, "score": score, "comment": comment,
                  "agent_id": current.last_agent_id,
                  "skill": current.skill, "site_key": current.site_key, "at": self.clock()}
        await self.records.ratings.put(rating)
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

    async def reopen(self, conversation_id: str, actor_role: str, actor_id: str) -> Conversation:
        """Reopen a closed chat: back in its group's queue, preferring the agent
        who held it last; refused (``bad_state``) while its visitor has another
        conversation open."""
        current = await self.conversation(conversation_id)
        now = self.clock()
        change = lifecycle.plan(current.state, "reopen", actor_role=actor_role, actor_id=actor_id, record=current,
                                now=now, fields={"preferred_agent_id": current.last_agent_id
                                                 or current.preferred_agent_id})
        updated, _ = await self.store.reopen_conversation(conversation_id, change, now)
        self.router.conversation_waiting(conversation_id, updated.skill)
        return updated

    async def transfer(self, conversation_id: str, agent_id: str, *, to_agent: str = "", to_skill: str = "",
                       note: str = "", actor_role: str = "agent") -> Conversation:
        """Move a chat to another agent or skill group. Agents transfer their
        assigned chats; supervisors (``actor_role``) may also move an offered
        chat (the offer is withdrawn) and a queued one to another group."""
        current = await self.conversation(conversation_id)
        if actor_role == "agent" and current.state != "assigned":
            raise ChatdError("bad_state", f"cannot transfer a conversation that is {current.state}")
        if to_skill and current.state == "queued" and to_skill == current.skill:
            raise ChatdError("bad_request", f"the conversation is already waiting in {to_skill}")
        if to_skill:
            await self.check_skill(to_skill)
        withdrawn = {"offer_expires_at": 0.0}
        if to_agent:
            target = await self.store.get_agent(to_agent)
            if target is None:
                raise ChatdError("unknown_agent")
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
        await self.store.set_agent_status(agent_id, status)
        if status == "online":
            self.router.agent_available(agent_id)

    def signal(self, conversation_id: str, frame: dict[str, Any], role: str, sender_id: str) -> None:
        """Best-effort typing / read signals to the conversation's followers,
        published in the background."""
        frame = {**frame, "from": {"role": role, "id": sender_id}}
        self.hub.publish_signal_soon(conversation_channel(conversation_id), frame, skip=(role, sender_id))

    async def _apply(self, current: Conversation, action: str, fields: dict[str, Any] | None = None,
                     **kwargs: Any) -> Conversation:
        now = self.clock()
        change = lifecycle.plan(current.state, action, fields=fields, record=current, now=now, **kwargs)
        updated, _entry = await self.store.transition(current.conversation_id, change, now)
        return updated


def visitor_attributes(raw: dict[str, Any]) -> dict[str, Any]:
    """Visitor attributes from the widget: short scalar values only, and
    never the fields a host's signed identity vouches for."""
    if len(raw) > MAX_ATTRIBUTES:
        raise ChatdError("bad_request", f"at most {MAX_ATTRIBUTES} attributes")
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or len(key) > 40 or key in VOUCHED_ATTRIBUTES:
            raise ChatdError("bad_request", f"attribute {key!r} is not allowed")
        if not isinstance(value, (str, int, float, bool)) or (isinstance(value, str) and len(value) > 500):
            raise ChatdError("bad_request", f"attribute {key!r} must be a short string, number or boolean")
        clean[key] = value
    return clean
