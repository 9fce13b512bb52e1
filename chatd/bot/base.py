"""The seam between the chat service and a bot.

:class:`chatd.service.ChatService` calls these hooks; a bot never writes to
the store behind the service's back: it answers through the service's
``bot_reply`` and hands off through ``handoff``. :class:`NoBot` is the
default: every new conversation goes straight to the queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from chatd.model import Conversation, Site

__all__ = ["Bot", "BotStart", "NoBot"]


@dataclass(frozen=True, slots=True)
class BotStart:
    """How a new conversation begins.

    - ``mode``: ``human`` (queue for an agent), ``bot`` (the bot answers
      first) or ``leave_message`` (nobody on duty: offer the offline form).
    - ``queue``: put it in the queue now. With ``mode="bot"`` and
      ``queue=True`` the visitor keeps a place in the queue while the bot
      answers (peak-hour overflow).
    - ``reason`` / ``message``: a machine code and a sentence for the routing
      explanation and the visitor.
    """

    mode: str = "human"
    queue: bool = True
    reason: str = "default"
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    explanation: dict[str, Any] | None = None  # a routing record saying why (an overflow rule's decision)


class Bot(Protocol):
    async def start(self) -> None:
        """Load the knowledge base (called once at startup)."""

    async def plan_start(self, conversation: Conversation, site: Site | None) -> BotStart:
        """Decide how a conversation about to be created begins; changes nothing."""

    async def started(self, conversation: Conversation, start: BotStart) -> None:
        """The conversation was created as ``start`` planned: the bot takes
        up the chats it answers first (their state, the greeting)."""

    def on_visitor_message(self, conversation_id: str, text: str) -> None:
        """A visitor's message was stored. Must return at once; the bot
        answers from its own task, and stays silent once a human has joined."""

    def on_button(self, conversation_id: str, button: dict[str, Any]) -> None:
        """The visitor tapped a bot button (``{"kind", "label", "entry_id"}``)."""

    def on_closed(self, conversation_id: str) -> None:
        """The conversation closed: forget what the bot kept about it. Must return at once."""

    async def suggest(self, site_key: str, text: str, locale: str | None = None) -> list[dict[str, Any]]:
        """Questions to suggest while the visitor types ``text``."""


class NoBot:
    """No bot: every conversation is queued for a human at once."""

    async def start(self) -> None:
        return None

    async def plan_start(self, conversation: Conversation, site: Site | None) -> BotStart:
        return BotStart()

    async def started(self, conversation: Conversation, start: BotStart) -> None:
        return None

    def on_visitor_message(self, conversation_id: str, text: str) -> None:
        return None

    def on_button(self, conversation_id: str, button: dict[str, Any]) -> None:
        return None

    def on_closed(self, conversation_id: str) -> None:
        return None

    async def suggest(self, site_key: str, text: str, locale: str | None = None) -> list[dict[str, Any]]:
        return []
