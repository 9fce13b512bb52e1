"""What the model-based test drives: real chatd nodes, real clients, a model.

:class:`Deployment` is the system under test: one chatd process on the memory
engine, or two on a Redis server of the test's own (which it may kill and
restart). :class:`Team` is one example's cast (a few agents in two skill
groups of their own, a supervisor, visitors), created through the HTTP API
and connected over real WebSockets. :class:`Model` is what the test knows
must hold (which conversations it closed, which messages were acknowledged),
and :meth:`Team.problems` compares the deployment with it: every
conversation closed, queued with a position told to its visitor, or owned by
one connected agent who follows it; nobody over capacity; every
acknowledged message in the log once and delivered to the visitor and the
current owner exactly once, in order.

Everything asynchronous runs on one event loop in a background thread
(:class:`Loop`), so the hypothesis state machine's rules stay plain functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import threading
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis

from bench.redis_server import RedisServer
from chatd.client import ChatClient, ClientClosed
from tests.support import ChatdProcess, alogin

T = TypeVar("T")

OFFER_SECONDS = 2  # the offering group's offer timeout
GRACE_SECONDS = 2.0  # an agent's chats wait this long after the agent's last connection went
PRESENCE_SECONDS = 3.0  # a killed node's agents count as connected this long
SETTLE_SECONDS = 20.0  # how long a check waits for the deployment to settle
NODE_ENV = {
    "CHATD_AGENT_GRACE_SECONDS": str(GRACE_SECONDS), "CHATD_PRESENCE_TTL_SECONDS": str(PRESENCE_SECONDS),
    "CHATD_RATE_LIMIT_PER_SECOND": "5000", "CHATD_RATE_LIMIT_BURST": "5000", "CHATD_LOG_LEVEL": "warning",
}
_examples = itertools.count(1)


class Loop:
    """An asyncio loop in a thread of its own: ``run(coro)`` from plain code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Deployment:
    """The system under test: chatd nodes (and the Redis they share)."""

    def __init__(self, engine: str, workdir: Path) -> None:
        self.engine = engine
        self.redis: RedisServer | None = None
        if engine == "redis":
            # appendfsync always: a Redis restart, even by SIGKILL, loses nothing
            # acknowledged, so every acknowledged message must survive every step.
            self.redis = RedisServer(workdir / "redis", appendfsync="always").start()
            env = {**NODE_ENV, "CHATD_REDIS_URL": self.redis.url}
            first = ChatdProcess("redis", env=env)
            second = ChatdProcess("redis", prefix=first.prefix, env={**env, "CHATD_DEMO": "false"})
            self.nodes = [first, second]
        else:
            self.nodes = [ChatdProcess("memory", env=dict(NODE_ENV))]
        for node in self.nodes:
            node.start()
        self.passwords = dict(self.nodes[0].passwords)

    @property
    def faults(self) -> bool:
        return self.engine == "redis"

    def up(self) -> list[ChatdProcess]:
        return [node for node in self.nodes if node.proc is not None and node.proc.poll() is None]

    def kill_node(self, index: int) -> None:
        """kill -9 a node and start it again on the same port (its clients reconnect)."""
        node = self.nodes[index]
        node.kill()
        node.start()

    def restart_redis(self, hard: bool) -> None:
        assert self.redis is not None
        if hard:
            self.redis.kill()
        else:
            self.redis.stop()
        self.redis.start()

    def cut_subscriptions(self) -> None:
        """Close every node's pub/sub connection, as a network blip between
        the nodes and Redis does: publications sent meanwhile are lost."""
        assert self.redis is not None
        client = redis.Redis.from_url(self.redis.url)
        try:
            client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        finally:
            client.close()

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
            node._release()  # its output pipe
        if self.redis is not None:
            self.redis.kill()


@dataclass
class Person:
    """A visitor or an agent, with the client they are connected with."""

    name: str
    role: str
    client: ChatClient
    capacity: int = 0
    connected: bool = True

    def alive(self) -> bool:
        reader = self.client._reader  # the client's frame reader ends when its socket closes
        return self.connected and reader is not None and not reader.done()


@dataclass
class Model:
    """What must hold, as the test's own operations made it."""

    closed: dict[str, bool] = field(default_factory=dict)  # conversation -> closed (by us)
    acked: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)  # cid -> (sender, cmid, seq)
    violations: list[str] = field(default_factory=list)


class Team:
    """One example's agents, skill groups, supervisor and visitors."""

    def __init__(self, deployment: Deployment, rng: random.Random) -> None:
        self.deployment = deployment
        self.rng = rng
        self.tag = f"m{next(_examples)}x{rng.randrange(10**6)}"
        self.first_line, self.second_line = f"g{self.tag}", f"h{self.tag}"
        self.agents: dict[str, Person] = {}
        self.visitors: dict[str, Person] = {}  # conversation id -> its visitor
        self.model = Model()
        self.http: httpx.AsyncClient | None = None
        self.supervisor: httpx.AsyncClient | None = None
        self.tokens: dict[str, str] = {}
        self.skills: dict[str, set[str]] = {}
        self.seen: dict[str, dict[str, Any]] = {}  # the server's view at the last check (for choosing steps)

    # --- setting up ---------------------------------------------------------------------
    def node_url(self) -> str:
        return self.rng.choice(self.deployment.up()).url

    def ws_url(self) -> str:
        return "ws" + self.node_url()[4:]

    async def setup(self) -> None:
        base = self.deployment.nodes[0].url
        admin = await alogin(base, "admin", self.deployment.passwords["admin"])
        supervisor = await alogin(base, "sam", self.deployment.passwords["sam"])
        self.http = httpx.AsyncClient(headers={"authorization": f"Bearer {admin}"}, timeout=15)
        self.supervisor = httpx.AsyncClient(headers={"authorization": f"Bearer {supervisor}"}, timeout=15)
        await self._call(self.http.put, f"/api/v1/skill-groups/{self.first_line}",
                         json={"auto_accept": False, "offer_timeout_seconds": OFFER_SECONDS})
        await self._call(self.http.put, f"/api/v1/skill-groups/{self.second_line}", json={"auto_accept": True})
        # Two agents in the first line (offers to accept) and two in the second (auto-accept):
        # few enough that lapses, full agents and chats coming back to an agent happen often.
        cast = ((f"{self.tag}a", {self.first_line: 4, self.second_line: 2}, 2),
                (f"{self.tag}b", {self.first_line: 3}, 1),
                (f"{self.tag}c", {self.second_line: 3}, 1))
        for agent_id, skills, capacity in cast:
            await self._call(self.http.post, "/api/v1/agents", json={
                "agent_id": agent_id, "name": agent_id, "password": "model-pass-1", "skills": skills,
                "capacity": capacity})
            self.tokens[agent_id] = await alogin(base, agent_id, "model-pass-1")
            self.skills[agent_id] = set(skills)
            client = ChatClient(self.ws_url(), "agent", token=self.tokens[agent_id])
            await client.connect()
            self.agents[agent_id] = Person(agent_id, "agent", client, capacity)

    async def teardown(self) -> None:
        for person in [*self.agents.values(), *self.visitors.values()]:
            with contextlib.suppress(Exception):
                await person.client.close()
        for client in (self.http, self.supervisor):
            if client is not None:
                await client.aclose()

    async def _call(self, method: Any, path: str, **kwargs: Any) -> httpx.Response:
        """An HTTP call to any node that is up, retried while nodes restart."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            try:
                answer = await method(self.node_url() + path, **kwargs)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code < 500:
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: no node answered ({answer and answer.text})")
            await asyncio.sleep(0.2)

    # --- the server's view ------------------------------------------------------------
    async def conversation(self, cid: str) -> dict[str, Any]:
        assert self.supervisor is not None
        return (await self._call(self.supervisor.get, f"/api/v1/conversations/{cid}")).json()

    async def log(self, cid: str) -> list[dict[str, Any]]:
        assert self.supervisor is not None
        entries: list[dict[str, Any]] = []
        after = 0
        while True:
            page = (await self._call(self.supervisor.get, f"/api/v1/conversations/{cid}/messages",
                                     params={"after": after, "limit": 500})).json()
            entries += page["entries"]
            if not page["entries"] or entries[-1]["seq"] >= page["last_seq"]:
                return entries
            after = entries[-1]["seq"]

    async def states(self) -> dict[str, dict[str, Any]]:
        return {cid: await self.conversation(cid) for cid in self.visitors}

    # --- people -------------------------------------------------------------------------
    async def reconnect(self, person: Person) -> None:
        """Reconnect a dropped person (or one whose node died), to any node."""
        with contextlib.suppress(Exception):
            await person.client.drop()
        person.client.url = self.ws_url()
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            try:
                await person.client.connect()
                person.connected = True
                return
            except (OSError, ClientClosed, TimeoutError, Exception) as exc:  # a node restarting
                if time.monotonic() > deadline:
                    raise AssertionError(f"{person.name} could not reconnect: {exc!r}") from exc
                await asyncio.sleep(0.2)
                person.client.url = self.ws_url()

    async def revive(self) -> None:
        """Everyone whose socket a fault closed reconnects, as widgets and consoles do."""
        for person in [*self.agents.values(), *self.visitors.values()]:
            if person.connected and not person.alive():
                await self.reconnect(person)

    async def new_visitor(self, skill: str) -> str:
        client = ChatClient(self.ws_url(), "visitor", keep_frames=True)
        await client.connect()
        conversation = await client.start(skill=skill)
        cid = conversation["conversation_id"]
        self.visitors[cid] = Person(f"visitor of {cid}", "visitor", client)
        self.model.closed[cid] = False
        return cid

    async def send(self, person: Person, cid: str, body: str) -> str | None:
        """Send and wait for the ack; returns the error code instead when refused."""
        client = person.client
        errors = len(client.errors)
        cmid = await client.send(cid, body)
        deadline = time.monotonic() + SETTLE_SECONDS
        while cmid not in client.acks:
            refused = [e for e in client.errors[errors:] if e.get("ref") in (None, cmid)
                       and e.get("conversation_id") in (None, cid)]
            if refused:
                client.outbox.pop(cmid, None)
                return str(refused[-1]["code"])
            if not person.alive():
                await self.reconnect(person)  # the outbox resends it
            if time.monotonic() > deadline:
                raise AssertionError(f"{person.name}: no ack for {body!r} in {cid}")
            await asyncio.sleep(0.05)
        sender = f"{person.role}|{person.name if person.role == 'agent' else client.welcome['visitor_id']}"
        self.model.acked.setdefault(cid, []).append((sender, cmid, client.acks[cmid]))
        return None

    # --- the checks ---------------------------------------------------------------------
    async def settle_and_check(self) -> None:
        """Wait (up to SETTLE_SECONDS) until every invariant holds, then make
        sure every held chat works both ways (its visitor's probe reaches the
        agent holding it, whose answer is acknowledged); fail with what does not."""
        await self._settled()
        for cid, state in self.seen.items():
            owner = self.agents.get(str(state["agent_id"]))
            if state["state"] != "assigned" or owner is None or not owner.alive():
                continue
            visitor = self.visitors[cid]
            if not visitor.alive():
                continue
            refused = await self.send(visitor, cid, f"probe from the visitor of {cid}")
            if refused is not None:
                self.model.violations.append(f"the visitor of {cid} was refused: {refused}")
            await self._settled()  # the owner must have received it (problems() compares their seqs)
            refused = await self.send(owner, cid, f"probe from {owner.name}")
            if refused is not None and (await self.conversation(cid))["agent_id"] == owner.name:
                self.model.violations.append(f"{owner.name} holds {cid} and was refused: {refused}")
        await self._settled()

    async def _settled(self) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            await self.revive()
            problems = await self.problems()
            if not problems:
                self.seen = await self.states()
                return
            if time.monotonic() > deadline:
                raise AssertionError("; ".join(problems))
            await asyncio.sleep(0.25)

    async def problems(self) -> list[str]:
        found = list(self.model.violations)
        states = await self.states()
        holding: dict[str, int] = {}
        for cid, server in states.items():
            state, owner = server["state"], server["agent_id"]
            visitor = self.visitors[cid]
            log = await self.log(cid)
            if self.model.closed[cid] != (state == "closed"):
                found.append(f"{cid} is {state} but the model says closed={self.model.closed[cid]}")
            if state == "open":
                found.append(f"{cid} is open without a next step")
            if state in ("offered", "assigned"):
                holding[owner] = holding.get(owner, 0) + 1
                agent = self.agents.get(owner)
                if agent is None:
                    found.append(f"{cid} is {state} to a stranger {owner}")
                elif agent.alive():
                    got = [e["seq"] for e in agent.client.entries.get(cid, [])]
                    if got != [e["seq"] for e in log]:
                        found.append(f"{owner} holds {cid} but has seqs {got[-5:]} of {len(log)}")
            if state == "queued" and visitor.alive() and not _told_position(visitor.client, cid):
                found.append(f"{cid} waits without a position told to its visitor")
            # every acknowledged message is stored once, where it was acknowledged
            by_seq = {e["seq"]: e for e in log}
            stored = [(e["sender_role"], e["sender_id"], e["client_msg_id"]) for e in log
                      if e["kind"] != "event" and e["client_msg_id"]]
            if len(stored) != len(set(stored)):
                found.append(f"{cid} stores a message twice")
            for sender, cmid, seq in self.model.acked.get(cid, []):
                entry = by_seq.get(seq)
                if entry is None or entry["client_msg_id"] != cmid or \
                        f"{entry['sender_role']}|{entry['sender_id']}" != sender:
                    found.append(f"{cid}: acknowledged {cmid} is not at seq {seq}")
            if visitor.alive():
                got = [e["seq"] for e in visitor.client.entries.get(cid, [])]
                visible = [e["seq"] for e in log if e["kind"] != "note"]
                if got != visible:
                    found.append(f"the visitor of {cid} has seqs {got[-6:]}, the log {visible[-6:]}")
            found += [f"{person.name}: {v}" for person in (visitor, *self.agents.values())
                      for v in person.client.violations]
        # Within one log epoch, no client is ever sent an entry it already has.
        found += [f"{person.name} was sent {person.client.duplicates} entries it already had"
                  for person in (*self.visitors.values(), *self.agents.values()) if person.client.duplicates]
        for agent_id, count in holding.items():
            agent = self.agents.get(agent_id)
            if agent is not None and count > agent.capacity:
                found.append(f"{agent_id} holds {count} chats, capacity {agent.capacity}")
        # Nobody waits while an agent who could take the chat has room (no chat is left without a next step).
        for cid, server in states.items():
            if server["state"] != "queued":
                continue
            free = [a.name for a in self.agents.values() if a.alive() and server["skill"] in self.skills[a.name]
                    and holding.get(a.name, 0) < a.capacity]
            if free:
                found.append(f"{cid} waits in {server['skill']} while {free} could take it")
        return found


def _told_position(client: ChatClient, cid: str) -> bool:
    """The visitor got a queue position after the entry that (last) put the chat in the queue."""
    frames = client.frames
    queued_at = max((i for i, f in enumerate(frames) if f.get("conversation_id") == cid and f.get("type") == "event"
                     and f.get("data", {}).get("state") == "queued"), default=-1)
    return any(f.get("type") == "queue" and f.get("conversation_id") == cid for f in frames[queued_at + 1:])


async def wait(seconds: float) -> None:
    await asyncio.sleep(seconds)


def gather(*work: Awaitable[Any]) -> Awaitable[list[Any]]:
    return asyncio.gather(*work)

