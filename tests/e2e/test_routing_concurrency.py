"""Three chatd processes on one Redis route 2,000 conversations arriving in
bursts to 50 agents with mixed skills and capacities, while agents drop and
reconnect. An invariant checker then proves, from the conversations' own logs
and from samples taken during the run, that no agent ever held more chats than
their capacity, that no conversation was ever given to two agents at once, and
that every conversation ended assigned, queued or closed by its agent."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from typing import Any

import httpx

from chatd.client import ChatClient, ClientClosed
from chatd.conversation import plan
from chatd.errors import ChatdError
from chatd.settings import Settings
from chatd.store import open_engine
from tests.e2e.conftest import BURSTY
from tests.support import REDIS_URL, ChatdProcess, alogin, require_redis

AGENTS = 50
CONVERSATIONS = 2000
BURST = 250
SKILLS = ("general", "logistics", "billing")
# event -> the lifecycle action that produced it
ACTIONS = {"queued": "queue", "offered": "offer", "accepted": "accept", "lapsed": "lapse", "assigned": "assign",
           "requeued": "requeue", "closed": "close", "reopened": "reopen"}


def check_log(events: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """Replay one conversation's events through the pure state machine.
    Returns the (agent, from, to) holding intervals in routing ticks (one
    order across all nodes); raises on any illegal step."""
    state, owner, since = "open", "", 0.0
    held: list[tuple[str, float, float]] = []
    for event in events:
        name = event["event"]
        action = ACTIONS.get(name) or ("transfer_to_group" if event["data"].get("to_skill") else "transfer_to_agent")
        plan(state, action, current_agent=owner, agent_id=event["data"].get("agent_id") or "x",
             skill=event["data"].get("skill") or "x")  # raises ChatdError on a double assignment
        new_owner = event["data"].get("agent_id", "")
        if new_owner != owner:
            if owner:
                held.append((owner, since, event["tick"]))
            owner, since = new_owner, event["tick"]
        state = event["data"]["state"]
    if owner:
        held.append((owner, since, float("inf")))
    return held


async def test_three_nodes_never_overfill_or_double_assign() -> None:
    require_redis()
    env = {**BURSTY, "CHATD_AGENT_GRACE_SECONDS": "2", "CHATD_PRESENCE_TTL_SECONDS": "6"}
    first = ChatdProcess("redis", env=env).start()
    others = [ChatdProcess("redis", prefix=first.prefix, env={**env, "CHATD_DEMO": "false"}).start()
              for _ in range(2)]
    nodes = [first, *others]
    rng = random.Random(42)
    store = open_engine(Settings(engine="redis", redis_url=REDIS_URL, redis_prefix=first.prefix)).store
    stop = asyncio.Event()
    violations: list[str] = []
    try:
        admin = await alogin(first.url, "admin", first.passwords["admin"])
        capacities: dict[str, int] = {}
        async with httpx.AsyncClient(base_url=first.url, headers={"authorization": f"Bearer {admin}"}) as http:
            for name in ("ana", "bo", "sam"):  # keep the demo agents out of the way
                await http.patch(f"/api/v1/agents/{name}", json={"capacity": 1, "skills": {"none": 1}})
            for i in range(AGENTS):
                skills = {SKILLS[i % 3]: rng.randint(1, 5), SKILLS[(i + 1) % 3]: rng.randint(1, 5)}
                capacities[f"a{i:02d}"] = rng.randint(1, 4)
                answer = await http.post("/api/v1/agents", json={
                    "agent_id": f"a{i:02d}", "name": f"Agent {i}", "password": "password-1", "skills": skills,
                    "capacity": capacities[f"a{i:02d}"]})
                assert answer.status_code == 201, answer.text
        tokens = {a: await alogin(first.url, a, "password-1") for a in capacities}

        async def sample_loads() -> None:
            while not stop.is_set():
                for agent_id, state in (await store.agent_runtime()).items():
                    if agent_id in capacities and state["load"] > capacities[agent_id]:
                        violations.append(f"{agent_id} held {state['load']} > {capacities[agent_id]}")
                await asyncio.sleep(0.02)

        async def work(agent_id: str) -> int:
            """Connect, close most chats after a moment, drop and come back now and then."""
            client = ChatClient(rng.choice(nodes).ws_url, "agent", token=tokens[agent_id])
            closes = 0
            while not stop.is_set():
                client.url = rng.choice(nodes).ws_url
                with contextlib.suppress(OSError, ClientClosed, TimeoutError):
                    await client.connect()
                    online_until = time.monotonic() + rng.uniform(2, 6)
                    while time.monotonic() < online_until and not stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            frame = await client.expect("conversation", timeout=0.3)
                            if rng.random() < 0.7:
                                await asyncio.sleep(rng.uniform(0.02, 0.3))
                                await client.send_frame({"type": "close", "conversation_id":
                                                         frame["conversation"]["conversation_id"]})
                                closes += 1
                await client.drop()
                await asyncio.sleep(rng.uniform(0.1, 1.0))
            await client.close()
            return closes

        async def visitor(index: int) -> str:
            client = ChatClient(nodes[index % 3].ws_url, "visitor")
            await client.connect()
            conversation = await client.start(skill=SKILLS[index % 3])
            await client.close()
            return conversation["conversation_id"]

        sampler = asyncio.create_task(sample_loads())
        workers = [asyncio.create_task(work(a)) for a in capacities]
        started: list[str] = []
        gate = asyncio.Semaphore(40)

        async def limited(index: int) -> str:
            async with gate:
                return await visitor(index)

        for burst in range(0, CONVERSATIONS, BURST):
            started += await asyncio.gather(*(limited(i) for i in range(burst, burst + BURST)))
            await asyncio.sleep(rng.uniform(0.5, 1.5))
        await asyncio.sleep(4)  # let the routers settle
        stop.set()
        closes = sum(await asyncio.gather(*workers))
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        for node in nodes:  # freeze the store: no grace timer may requeue while we read it
            node.stop()

        assert len(set(started)) == CONVERSATIONS
        held: dict[str, list[tuple[float, float]]] = defaultdict(list)
        finals: dict[str, int] = defaultdict(int)
        assignments = 0
        for cid in started:
            page = await store.read(cid, 0, limit=1000)
            events = [e.to_dict() for e in page.entries if e.kind == "event"]
            events = [{"event": e["body"], "data": e["data"], "tick": e["data"]["tick"]} for e in events]
            try:
                for agent_id, start, end in check_log(events):
                    held[agent_id].append((start, end))
                    assignments += 1
            except ChatdError as exc:
                violations.append(f"{cid}: {exc} in {[e['event'] for e in events]}")
            conversation = await store.get_conversation(cid)
            assert conversation is not None
            if conversation.state not in ("assigned", "queued", "closed"):
                violations.append(f"{cid} ended {conversation.state}")
            if conversation.state == "assigned":
                finals[conversation.agent_id] += 1
        for agent_id, intervals in held.items():
            # a release and the next take never share a tick; releases sort first on equal keys anyway
            points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
            level = peak = 0
            for _, step in points:
                level += step
                peak = max(peak, level)
            if peak > capacities.get(agent_id, 1):
                violations.append(f"{agent_id} held {peak} chats at once, capacity {capacities.get(agent_id)}")
        runtime = await store.agent_runtime()
        for agent_id in capacities:
            if runtime.get(agent_id, {}).get("load", 0) != finals[agent_id]:
                violations.append(f"{agent_id}: load {runtime[agent_id]['load']} != assigned {finals[agent_id]}")
        assert not violations, violations[:20]
        # the run really churned: every slot was filled, freed and refilled more than once
        assert assignments > 2 * sum(capacities.values()) and closes >= 100, (assignments, closes)
    finally:
        stop.set()
        await store.close()
        for node in others:
            node.stop()
            node._release()
        first.cleanup()
