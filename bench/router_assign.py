"""Assignments per second end to end through Redis.

Loads a Redis prefix of its own with ``--agents`` connected agents (three
skills, two per agent, capacity ``--capacity``) and ``--conversations``
queued conversations, then lets ``--workers`` routing workers (each in its
own process, as on separate chatd nodes, taking the routing lease as nodes
do, so one routes at a time) drain the queues with the real
:class:`router.worker.RoutingWorker`: snapshot, :func:`router.policy.decide_queue`,
one atomic Lua transition per assignment (with its routing explanation),
the log entries, the ``assigned`` publications sent through the Redis
broker. Reports assignments per second (first assignment to last), the
workers' CPU while draining and the Redis server's CPU over the same time,
and checks afterwards that every conversation was assigned exactly once, no
agent is over capacity and every agent's load matches its conversations.

Run from the repository root (Redis on 127.0.0.1:6379 by default)::

    python -m bench.router_assign [--agents 500] [--conversations 5000] [--workers 2] [--json out.json]

The prefix is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from chatd.conversation import plan
from chatd.hub import BrokerPublisher
from chatd.model import Agent, Conversation
from chatd.records import MEMORY_URL, open_records
from chatd.settings import Settings
from chatd.store import open_engine
from router.worker import RoutingWorker

__all__ = ["main", "run"]

SKILLS = ("general", "logistics", "billing")
LOAD_BATCH = 50  # concurrent store calls while loading (under the pool size)
DEADLINE_SECONDS = 120.0  # a worker gives up after this long


def _settings(redis_url: str, prefix: str) -> Settings:
    return Settings(engine="redis", redis_url=redis_url, redis_prefix=prefix)


async def _load(redis_url: str, prefix: str, agents: int, capacity: int, conversations: int) -> None:
    engine = open_engine(_settings(redis_url, prefix))
    store = engine.store
    now = time.time()
    try:
        for i in range(agents):
            skills = {SKILLS[i % 3]: 1 + i % 5, SKILLS[(i + 1) % 3]: 1 + (i * 7) % 5}
            await store.put_agent(Agent(agent_id=f"a{i:04d}", name=f"Agent {i}", skills=skills, capacity=capacity,
                                        status="online"))
            await store.touch_presence(f"a{i:04d}", "bench", now + 3600)

        async def one(index: int) -> None:
            cid = f"c{index:06d}"
            skill = SKILLS[index % 3]
            conversation = Conversation(conversation_id=cid, site_key="bench", visitor_id=f"v{index}", skill=skill,
                                        created_at=now)
            await store.start_conversation(conversation, plan("open", "queue", skill=skill, record=conversation,
                                                              now=now), now)

        for start in range(0, conversations, LOAD_BATCH):
            await asyncio.gather(*(one(i) for i in range(start, min(conversations, start + LOAD_BATCH))))
    finally:
        await store.close()


async def _drain(redis_url: str, prefix: str, expected: int) -> dict[str, Any]:
    """One routing worker's passes until nothing is left queued (or the deadline)."""
    engine = open_engine(_settings(redis_url, prefix))
    records = open_records(MEMORY_URL)  # every group unconfigured: skills+load, auto-accept
    worker = RoutingWorker(engine.store, BrokerPublisher(engine.broker), time.time,
                           skill_groups=records.skill_groups, schedules=records.schedules, grace_seconds=3600)
    assigned = passes = idle = 0
    first = last = 0.0
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while time.monotonic() < deadline:
            if not await worker.lead():  # another worker holds the routing lease, as on another node
                if not await engine.store.queued_skills():
                    break
                await asyncio.sleep(0.05)
                continue
            began = time.perf_counter()
            count = await worker.run_pass()
            passes += 1
            if count:
                first = first or began
                last = time.perf_counter()
                assigned += count
                idle = 0
            else:
                idle += 1
                if idle >= 3 or not await engine.store.queued_skills():
                    break  # nothing left that any agent can take
                await asyncio.sleep(0.05)
    finally:
        await engine.store.close()
        await records.database.close()
    return {"assigned": assigned, "passes": passes, "first": first, "last": last}


def _worker_process(redis_url: str, prefix: str, expected: int, start_at: float, out: Any) -> None:
    import uvloop

    while time.time() < start_at:  # start together
        time.sleep(0.001)
    started = time.perf_counter()
    cpu_before = time.process_time()
    result = uvloop.run(_drain(redis_url, prefix, expected))
    result["started"] = started
    result["busy_cpu_seconds"] = round(time.process_time() - cpu_before, 3)  # the drain only, not the imports
    out.put(result)


async def _verify(redis_url: str, prefix: str, conversations: int, capacity: int) -> dict[str, Any]:
    engine = open_engine(_settings(redis_url, prefix))
    store = engine.store
    try:
        owners: Counter[str] = Counter()
        unassigned = 0
        for start in range(0, conversations, LOAD_BATCH):
            batch = await asyncio.gather(*(store.get_conversation(f"c{i:06d}")
                                           for i in range(start, min(conversations, start + LOAD_BATCH))))
            for conversation in batch:
                if conversation is None or conversation.state != "assigned":
                    unassigned += 1
                else:
                    owners[conversation.agent_id] += 1
        runtime = await store.agent_runtime()
        over = [a for a, s in runtime.items() if s["load"] > capacity]
        mismatched = [a for a, s in runtime.items() if s["load"] != owners[a]]
        return {"unassigned": unassigned, "over_capacity": over, "load_mismatch": mismatched}
    finally:
        await store.close()


def _redis_cpu_seconds(redis_url: str) -> float:
    client = redis.Redis.from_url(redis_url)
    try:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    finally:
        client.close()


def run(redis_url: str, agents: int, capacity: int, conversations: int, workers: int) -> dict[str, Any]:
    if agents * capacity < conversations:
        raise SystemExit("agents x capacity must cover the conversations")
    prefix = f"chatd-bench-assign-{uuid.uuid4().hex[:8]}"
    try:
        loaded = time.perf_counter()
        asyncio.run(_load(redis_url, prefix, agents, capacity, conversations))
        load_seconds = time.perf_counter() - loaded
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        start_at = time.time() + 1.5  # time for the processes to import
        redis_cpu_before = _redis_cpu_seconds(redis_url)
        processes = [context.Process(target=_worker_process, args=(redis_url, prefix, conversations, start_at, out))
                     for _ in range(workers)]
        for process in processes:
            process.start()
        results = [out.get(timeout=DEADLINE_SECONDS + 30) for _ in processes]
        for process in processes:
            process.join(10)
        redis_cpu = _redis_cpu_seconds(redis_url) - redis_cpu_before
        firsts = [r["first"] for r in results if r["first"]]
        lasts = [r["last"] for r in results if r["last"]]
        assigned = sum(r["assigned"] for r in results)
        span = max(lasts) - min(firsts) if firsts else 0.0
        verdict = asyncio.run(_verify(redis_url, prefix, conversations, capacity))
        return {
            "bench": "router_assign",
            "python": platform.python_version(),
            "agents": agents,
            "capacity": capacity,
            "conversations": conversations,
            "workers": workers,
            "load_seconds": round(load_seconds, 2),
            "assigned": assigned,
            "seconds": round(span, 3),
            "assignments_per_second": round(assigned / span) if span else 0,
            "per_worker": [{k: r[k] for k in ("assigned", "passes", "busy_cpu_seconds")} for r in results],
            # the Redis server's CPU while the workers ran (its own idle ticks included)
            "redis_cpu_seconds": round(redis_cpu, 3),
            "redis_cpu_ms_per_assignment": round(redis_cpu * 1000 / assigned, 3) if assigned else None,
            **verdict,
        }
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=15)
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = run(args.redis_url, args.agents, args.capacity, args.conversations, args.workers)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    ok = report["assigned"] == args.conversations and not report["unassigned"] and not report["over_capacity"] \
        and not report["load_mismatch"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
