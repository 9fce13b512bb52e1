"""The HTTP calls the bench makes (docs/protocol.md, *HTTP API*): log in,
create the bench's agents, delete them afterwards.

Password hashing makes every create and login cost the server a noticeable
fraction of a second of CPU, so agents are created and logged in a few at a
time before any measurement starts.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["AdminClient", "ApiCallError", "BenchAgent", "login"]


class ApiCallError(RuntimeError):
    pass


def _call(method: str, url: str, body: dict[str, Any] | None = None, token: str = "",
          timeout: float = 60.0) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise ApiCallError(f"{method} {url}: {exc.code} {exc.read()[:300]!r}") from None
    return json.loads(raw) if raw else {}


def login(base_url: str, agent_id: str, password: str) -> str:
    return str(_call("POST", f"{base_url}/api/v1/auth/login", {"agent_id": agent_id, "password": password})["token"])


class BenchAgent:
    __slots__ = ("agent_id", "password", "token")

    def __init__(self, agent_id: str, password: str, token: str = "") -> None:
        self.agent_id = agent_id
        self.password = password
        self.token = token


class AdminClient:
    """An admin session on one chatd deployment (``base_url`` is ``http://host:port``)."""

    def __init__(self, base_url: str, admin_id: str = "admin", password: str = "", token: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token or login(self.base_url, admin_id, password)

    def create_agents(self, prefix: str, count: int, *, capacity: int, skill: str,
                      parallel: int = 2) -> list[BenchAgent]:
        """Create ``count`` agents ``<prefix><n>`` and log each in (their tokens are returned)."""
        agents = [BenchAgent(f"{prefix}{n}", secrets.token_urlsafe(12)) for n in range(count)]

        def create(agent: BenchAgent) -> BenchAgent:
            _call("POST", f"{self.base_url}/api/v1/agents", {
                "agent_id": agent.agent_id, "name": f"Bench {agent.agent_id}", "password": agent.password,
                "role": "agent", "skills": {skill: 3}, "capacity": capacity}, token=self.token)
            agent.token = login(self.base_url, agent.agent_id, agent.password)
            return agent

        with ThreadPoolExecutor(parallel) as pool:
            return list(pool.map(create, agents))

    def delete_agents(self, agents: list[BenchAgent]) -> None:
        for agent in agents:
            try:
                _call("DELETE", f"{self.base_url}/api/v1/agents/{agent.agent_id}", token=self.token)
            except (ApiCallError, OSError):
                pass
