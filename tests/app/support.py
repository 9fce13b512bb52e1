"""What the in-process HTTP API tests share: a team of agents and clients logged in as them."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from chatd.auth import hash_password
from chatd.conversation import plan
from chatd.model import Agent, Conversation
from chatd.store.base import Store

PASSWORD = "pass-word-1"
TEAM = (("ana", "agent"), ("bo", "agent"), ("sam", "supervisor"), ("root", "admin"))


async def add_team(store: Store) -> None:
    """Agents ana and bo, supervisor sam and admin root, all with PASSWORD."""
    for agent_id, role in TEAM:
        await store.put_agent(Agent(agent_id=agent_id, name=agent_id.title(), role=role, skills={"general": 3},
                                    password_hash=hash_password(PASSWORD)))


async def api_client(app: Starlette, agent_id: str | None = None) -> httpx.AsyncClient:
    """An HTTP client of ``app``, logged in as ``agent_id`` when given."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://chatd")
    if agent_id:
        answer = await http.post("/api/v1/auth/login", json={"agent_id": agent_id, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        http.headers["authorization"] = "Bearer " + answer.json()["token"]
    return http


async def new_chat(store: Store, cid: str, visitor: str, *, at: float, queue: bool = True, site: str = "demo",
                   **fields: object) -> Conversation:
    """A visitor's new conversation, queued (by default) in the same step, as a start does."""
    conversation = Conversation(conversation_id=cid, site_key=site, visitor_id=visitor, created_at=at,
                                **fields)  # type: ignore[arg-type]
    change = plan("open", "queue", record=conversation, now=at) if queue else None
    started, created = await store.start_conversation(conversation, change, at)
    assert created
    return started
