"""Who a connection is: the ``hello`` of visitors and agents.

The socket endpoint hands a parsed ``hello`` here. Admission checks the
site, the origin and the tokens, creates or resumes the visitor, records an
agent's presence and status, and sets the session up: registered with the
hub, following its own channel *before* its conversations are read (so a
chat given to it in between is not missed), then each conversation replayed
from the client's resume point. Every refusal is a
:class:`chatd.errors.ChatdError`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatd.auth import AuthError, TokenSigner, verify_identity
from chatd.errors import ChatdError
from chatd.hub import Hub
from chatd.model import Conversation
from chatd.protocol import PROTOCOL_VERSION, resume_points
from chatd.routing import Routing
from chatd.service import ChatService
from chatd.session import Session
from chatd.settings import Settings
from chatd.store.base import Store, agent_channel, conversation_channel, supervisor_channel, visitor_channel

__all__ = ["MAX_NAME_CHARS", "Admission", "VerifiedVisitor"]

MAX_NAME_CHARS = 100  # a visitor's display name
VISITOR_CONVERSATIONS = 5  # a visitor's newest conversations resumed at hello
# Claims of a site-signed identity kept on the visitor's profile.
VERIFIED_CLAIMS = ("vip", "dedicated_agent", "email", "phone")


@dataclass(slots=True, frozen=True)
class VerifiedVisitor:
    """The visitor a hello proves: ``u:<user_id>`` for a customer the host
    site vouched for, the anonymous id of a valid visitor token, or new."""

    visitor_id: str
    name: str
    verified: dict[str, Any]


class Admission:
    def __init__(self, *, settings: Settings, store: Store, hub: Hub, service: ChatService, routing: Routing,
                 signer: TokenSigner, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.service = service
        self.routing = routing
        self.signer = signer
        self.clock = clock

    # --- visitors -------------------------------------------------------------------------
    async def visitor(self, session: Session, hello: dict[str, Any], *, query_site: str,
                      origin: str | None) -> None:
        """Admit a visitor: welcome, then each of their conversations replayed."""
        site_key = hello.get("site") or query_site
        site = await self.service.site(site_key) if site_key else None
        if site is None:
            raise ChatdError("unknown_site")
        if not site.allows_origin(origin):
            raise ChatdError("origin_not_allowed")
        name = hello.get("name") or ""
        if len(name) > MAX_NAME_CHARS:
            raise ChatdError("bad_request", f"name must have at most {MAX_NAME_CHARS} characters")
        now = self.clock()
        who = self.verify_visitor(site_key, site.secret, hello.get("identity") or "", hello.get("token") or "",
                                  name, now)
        token, _ = self.signer.issue("visitor", who.visitor_id, self.settings.visitor_token_ttl_seconds, now,
                                     site=site_key)
        session.principal_id, session.site_key, session.name = who.visitor_id, site_key, who.name
        if who.name or who.verified:
            await self.store.update_visitor(site_key, who.visitor_id,
                                            {**({"name": who.name} if who.name else {}), **who.verified})
        session.holds(resume_points(hello))
        self.hub.register(session)
        await self.hub.join(session, visitor_channel(site_key, who.visitor_id))
        conversations = await self.store.visitor_conversations(site_key, who.visitor_id, limit=VISITOR_CONVERSATIONS)
        for conversation in conversations:
            if conversation.state == "queued":
                self.routing.visitor_waiting(conversation.conversation_id)
        session.push({"type": "welcome", "protocol": PROTOCOL_VERSION, "role": "visitor",
                      "visitor_id": who.visitor_id, "token": token, "site": site.public(),
                      "node": self.settings.node_id, "heartbeat_seconds": self.settings.heartbeat_seconds,
                      "max_frame_bytes": self.settings.max_frame_bytes, "on_duty": await self.service.on_duty(),
                      "conversations": await self._summaries(conversations)})
        await self._attach_all(session, conversations, hello)

    def verify_visitor(self, site_key: str, site_secret: str, identity: str, token: str, name: str,
                       now: float) -> VerifiedVisitor:
        """The visitor behind a hello's ``identity`` or ``token``. A missing,
        malformed or expired visitor token starts a new anonymous visitor; one
        signed for another site, or a bad identity, is refused."""
        if identity:
            claims = verify_identity(identity, site_key, site_secret, now)
            return VerifiedVisitor("u:" + claims["user_id"], str(claims.get("name") or name),
                                   {k: claims[k] for k in VERIFIED_CLAIMS if k in claims})
        visitor_id = ""
        if token:
            try:
                claims = self.signer.verify(token, "visitor", now)
            except AuthError:
                claims = {}  # a stale or foreign-format token starts a new visitor
            if claims and claims.get("site") != site_key:
                raise AuthError("unauthorized", "the token belongs to another site")
            visitor_id = claims.get("sub", "")
        return VerifiedVisitor(visitor_id or "v_" + secrets.token_urlsafe(12), name, {})

    # --- agents ---------------------------------------------------------------------------
    async def agent(self, session: Session, hello: dict[str, Any]) -> None:
        """Admit an agent: presence and status, welcome, their chats replayed."""
        now = self.clock()
        claims = self.signer.verify(hello.get("token") or "", "agent", now)
        if await self.store.is_token_revoked(claims["jti"]):
            raise AuthError("token_revoked")
        agent = await self.store.get_agent(claims["sub"])
        if agent is None:
            raise ChatdError("unauthorized", "the agent no longer exists")
        session.principal_id, session.name, session.agent_role = agent.agent_id, agent.name, agent.role
        session.holds(resume_points(hello))
        self.hub.register(session)
        await self.store.touch_presence(agent.agent_id, self.settings.node_id, now + self.settings.presence_ttl_seconds)
        self.service.agents_changed()
        status = hello.get("status") or "online"
        if status in ("online", "away", "offline") and status != agent.status:
            await self.store.set_agent_status(agent.agent_id, status)
            agent.status = status
        await self.hub.join(session, agent_channel(agent.agent_id))
        if agent.role in ("supervisor", "admin"):  # queue stats for the supervisor view
            await self.hub.join(session, supervisor_channel())
        conversations = await self.store.agent_conversations(agent.agent_id)
        session.push({"type": "welcome", "protocol": PROTOCOL_VERSION, "role": agent.role,
                      "agent": agent.public(), "node": self.settings.node_id,
                      "heartbeat_seconds": self.settings.heartbeat_seconds,
                      "max_frame_bytes": self.settings.max_frame_bytes,
                      "conversations": await self._summaries(conversations)})
        await self._attach_all(session, conversations, hello)
        for conversation in conversations:
            await self.hub.publish_signal(conversation_channel(conversation.conversation_id), {
                "type": "presence", "conversation_id": conversation.conversation_id,
                "agent_id": agent.agent_id, "online": True})
        self.routing.agent_available(agent.agent_id)

    async def catch_up(self, session: Session) -> None:
        """After the broker lost publications: follow every chat that is the
        agent's now and that the session does not follow yet."""
        for conversation in await self.store.agent_conversations(session.principal_id):
            if conversation_channel(conversation.conversation_id) not in session.channels:
                session.push({"type": "conversation", "conversation": conversation.to_dict()})
                await self.hub.attach(session, conversation.conversation_id, 0)

    # --- both -----------------------------------------------------------------------------
    async def _summaries(self, conversations: list[Conversation]) -> list[dict[str, Any]]:
        epochs = await self.store.log_epochs([c.conversation_id for c in conversations])
        return [{**c.to_dict(), "epoch": epochs.get(c.conversation_id, "")} for c in conversations]

    async def _attach_all(self, session: Session, conversations: list[Conversation], hello: dict[str, Any]) -> None:
        points = resume_points(hello)
        for conversation in conversations:
            seq, epoch = points.get(conversation.conversation_id, (0, ""))
            await self.hub.attach(session, conversation.conversation_id, seq, epoch)
