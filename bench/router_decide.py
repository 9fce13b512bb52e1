"""Latency of the routing policy on a large snapshot.

Measures, per call, :func:`router.policy.decide` over 1,000 agents for
requests drawn from 10,000 queued conversations, and :func:`router.policy.decide_queue`
over the whole queue in queue order (as the routing worker decides every queue).
Two snapshot shapes are measured: one skill group holding every agent (the
worst case for ``decide``: every agent is a candidate) and 20 skill groups
with 3 skills per agent (about 150 candidates per group). ``decide`` runs
from an :class:`router.model.AgentIndex` built once per snapshot, with the
full explanation and with ``report_limit=20``; building from a plain list on
every call is shown for comparison.

Run from the repository root::

    python -m bench.router_decide [--agents 1000] [--queued 10000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatd.conversation import queue_key
from router.model import AgentIndex, AgentSnapshot, ConversationRequest, SkillGroup
from router.policy import decide, decide_queue

__all__ = ["build_snapshot", "main", "measure"]

NOW = 1_750_000_000.0


def build_snapshot(agents: int, queued: int, skills: int, skills_per_agent: int,
                   seed: int) -> tuple[list[AgentSnapshot], list[ConversationRequest],
                                       dict[str, SkillGroup]]:
    """A busy afternoon: most agents online and partly loaded, a long queue."""
    rng = random.Random(seed)
    names = [f"skill-{n:02d}" for n in range(skills)]
    snapshot = []
    for n in range(agents):
        capacity = rng.choice((2, 3, 3, 4, 5))
        snapshot.append(AgentSnapshot(
            agent_id=f"agent-{n:05d}",
            status=rng.choices(("online", "away", "offline"), (90, 6, 4))[0],
            skills={skill: rng.randint(1, 5)
                    for skill in rng.sample(names, min(skills_per_agent, skills))},
            capacity=capacity,
            active=rng.randint(0, capacity),
            last_assigned_at=NOW - rng.uniform(0, 1800) if rng.random() < 0.95 else None,
            on_shift=rng.random() < 0.97,
        ))
    requests = []
    for n in range(queued):
        requests.append(ConversationRequest(
            conversation_id=f"conv-{n:06d}",
            skill=rng.choice(names),
            priority=rng.choices((0, 1, 2), (85, 10, 5))[0],
            sla_deadline=NOW + rng.uniform(-60, 600) if rng.random() < 0.2 else None,
            preferred_agent_id=rng.choice(snapshot).agent_id if rng.random() < 0.1 else None,
            enqueued_at=NOW - rng.uniform(0, 900),
            excluded_agent_ids=frozenset(rng.choice(snapshot).agent_id
                                         for _ in range(rng.randint(1, 2)))
            if rng.random() < 0.1 else frozenset(),
        ))
    groups = {
        name: SkillGroup(name, sticky_budget_seconds=30)
        for name in names
    }
    return snapshot, requests, groups


def measure(call: Callable[[int], Any], samples: int) -> dict[str, float]:
    """Per-call latency percentiles in microseconds (after a short warm-up)."""
    for n in range(min(50, samples)):
        call(n)
    timings = []
    clock = time.perf_counter_ns
    for n in range(samples):
        began = clock()
        call(n)
        timings.append(clock() - began)
    timings.sort()

    def percentile(share: float) -> float:
        return timings[min(int(share * len(timings)), len(timings) - 1)] / 1000.0

    return {"p50_us": percentile(0.50), "p90_us": percentile(0.90),
            "p99_us": percentile(0.99), "max_us": timings[-1] / 1000.0, "samples": samples}


def run_shape(label: str, agents: int, queued: int, skills: int, skills_per_agent: int,
              samples: int, seed: int) -> dict[str, Any]:
    snapshot, requests, groups = build_snapshot(agents, queued, skills, skills_per_agent, seed)
    rng = random.Random(seed + 1)
    picks = [rng.choice(requests) for _ in range(samples + 50)]
    began = time.perf_counter_ns()
    index = AgentIndex(snapshot)
    index_build_us = (time.perf_counter_ns() - began) / 1000.0
    candidates = [len(index.with_skill(r.skill)) for r in picks]

    results: dict[str, Any] = {
        "shape": label, "agents": agents, "queued": queued, "skills": skills,
        "skills_per_agent": skills_per_agent,
        "mean_candidates_per_decision": sum(candidates) / len(candidates),
        "agent_index_build_us": index_build_us,
    }
    results["decide_full_report"] = measure(
        lambda n: decide(picks[n], index, groups, NOW), samples)
    results["decide_report_limit_20"] = measure(
        lambda n: decide(picks[n], index, groups, NOW, report_limit=20), samples)
    results["decide_no_index_full_report"] = measure(
        lambda n: decide(picks[n], snapshot, groups, NOW), max(samples // 10, 20))
    results["decide_queue_whole_queue"] = measure_queue(snapshot, requests, groups)
    return results


def measure_queue(snapshot: list[AgentSnapshot], requests: list[ConversationRequest],
                  groups: dict[str, SkillGroup], runs: int = 5) -> dict[str, Any]:
    """decide_queue() over every queued request in queue order, as the routing
    worker drains a queue (report limit 20, every offer applied): the whole
    call and the mean per decision, best and worst of ``runs``."""
    order = sorted(requests, key=lambda r: (queue_key(r.priority, r.enqueued_at, r.sla_deadline or 0.0),
                                            r.conversation_id))
    totals = []
    offers = 0
    for _ in range(runs):
        index = AgentIndex(snapshot)
        began = time.perf_counter_ns()
        decisions = decide_queue(order, index, groups, NOW, report_limit=20)
        totals.append(time.perf_counter_ns() - began)
        offers = sum(1 for d in decisions if d.agent_id is not None)
    return {"requests": len(order), "offers": offers, "best_total_ms": min(totals) / 1e6,
            "worst_total_ms": max(totals) / 1e6, "mean_us_per_decision": min(totals) / 1000 / len(order)}


def _print(results: Sequence[dict[str, Any]]) -> None:
    for shape in results:
        print(f"{shape['shape']}: {shape['agents']} agents, {shape['queued']} queued, "
              f"{shape['mean_candidates_per_decision']:.0f} candidates per decision on average, "
              f"AgentIndex built in {shape['agent_index_build_us'] / 1000:.2f} ms")
        for name, figures in shape.items():
            if name == "decide_queue_whole_queue":
                print(f"  {name:34s} {figures['requests']} requests ({figures['offers']} offers) in "
                      f"{figures['best_total_ms']:.1f}-{figures['worst_total_ms']:.1f} ms, "
                      f"{figures['mean_us_per_decision']:.1f} us per decision")
            elif isinstance(figures, dict):
                print(f"  {name:34s} p50 {figures['p50_us'] / 1000:7.3f} ms   "
                      f"p99 {figures['p99_us'] / 1000:7.3f} ms   "
                      f"max {figures['max_us'] / 1000:7.3f} ms   ({figures['samples']} calls)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.router_decide",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=2000, help="decide() calls per variant")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    results = [
        run_shape("one skill group", args.agents, args.queued, 1, 1, args.samples, args.seed),
        run_shape("20 skill groups, 3 skills per agent", args.agents, args.queued, 20, 3,
                  args.samples, args.seed),
    ]
    _print(results)
    if args.json is not None:
        document = {"benchmark": "router_decide", "python": platform.python_version(),
                    "machine": platform.machine(), "results": results}
        args.json.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
