"""The seam between the chat hub and routing.

The hub tells the router when a conversation waits for an agent and when an
agent may have free capacity; the router decides and applies assignments
through the store's atomic ``assign``. Calls are notifications: they return
at once and the router works in its own task, so a slow decision never
holds up message traffic.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Router"]


class Router(Protocol):
    async def start(self) -> None:
        """Begin routing (start the worker task)."""

    async def stop(self) -> None:
        """Stop the worker task; queued conversations stay queued in the store."""

    def conversation_waiting(self, conversation_id: str, skill: str) -> None:
        """A conversation was queued (new, transferred to a group, requeued)."""

    def agent_available(self, agent_id: str) -> None:
        """An agent connected, came online or freed capacity."""

    def agent_gone(self, agent_id: str) -> None:
        """An agent's last connection on this node closed."""
