"""Small builders and waiters shared by the store tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from chatd.conversation import plan
from chatd.model import Agent, Conversation
from chatd.store.base import Store

T0 = 1_700_000_000.0  # a realistic epoch time; tests add small offsets


async def add_agent(store: Store, agent_id: str, capacity: int = 3, skills: dict[str, int] | None = None,
                    status: str = "online") -> Agent:
    agent = Agent(agent_id=agent_id, name=agent_id.title(), skills=skills or {"general": 3},
                  capacity=capacity, status=status)
    await store.put_agent(agent)
    return agent


async def new_conversation(store: Store, cid: str, *, visitor: str = "", site: str = "s1",
                           created_at: float = T0, skill: str = "general", priority: int = 0,
                           queue: bool = False) -> Conversation:
    """A new conversation of its own visitor (``v-<cid>`` unless given), queued when asked."""
    conversation = Conversation(conversation_id=cid, site_key=site, visitor_id=visitor or f"v-{cid}", skill=skill,
                                priority=priority, created_at=created_at)
    change = plan("open", "queue", record=conversation, now=created_at) if queue else None
    started, created = await store.start_conversation(conversation, change, created_at)
    assert created, f"{started.conversation_id} is still open for this visitor"
    return started


async def act(store: Store, cid: str, action: str, now: float, **kwargs: object) -> Conversation:
    """Apply a state-machine action to the conversation as it is now."""
    conv = await store.get_conversation(cid)
    assert conv is not None
    change = plan(conv.state, action, current_agent=conv.agent_id, record=conv, now=now,
                  **kwargs)  # type: ignore[arg-type]
    updated, _ = await store.transition(cid, change, now)
    return updated


async def queued(store: Store, cid: str, now: float = T0, **create: object) -> Conversation:
    await new_conversation(store, cid, created_at=now, **create)  # type: ignore[arg-type]
    return await act(store, cid, "queue", now)


async def wait_for(condition: Callable[[], bool], within: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for a condition")
        await asyncio.sleep(0.005)
