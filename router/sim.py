"""Discrete-event routing simulator, driven by the server's own routing worker.

Every run builds a memory-engine store, its agents and skill groups, and a
:class:`router.worker.RoutingWorker` on a simulated clock. Arrivals start
conversations as a visitor's ``start`` does (created and queued in one store
step); a finished chat is closed as an agent closes it; after every event the
worker runs one pass, exactly as it does in a node. So the figures measure
the code that runs in production: the one queue order across all skill
groups, the policy, the store's capacity checks. Model:

- Poisson arrivals per skill group; handle times exponential or log-normal
  (mean ``aht_seconds``, coefficient of variation ``handle_cv``);
- an agent of capacity K holds up to K chats, each in its own slot, and a
  chat's handle time does not depend on how many others the agent holds
  (so K slots behave like K servers, as in :mod:`router.erlang`);
- groups auto-accept (an offer is an assignment); optional exponential
  customer patience (abandonment while queued);
- the workload (arrival times, groups, handle times, patience) is drawn from
  ``random.Random(seed)`` before the run, so policies compared with one seed
  face exactly the same customers.

Figures cover the conversations that arrive after the warm-up and before the
end; the run continues until all of them are answered or abandoned. ASA is
the mean wait of answered conversations, with a 95 % confidence half-width
from 10 batch means over time (waits at high occupancy are strongly
correlated: a few simulated hours are not enough for a precise ASA; use
``--hours``/``--runs``); service level is the share answered within the
threshold among answered plus abandoned; occupancy is busy slot time over
available slot time in the measured window; ``gini_load`` is the Gini
coefficient of agents' busy time in that window (0 = perfectly even).

CLI: ``python -m router.sim --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import math
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from statistics import stdev
from typing import Any

from chatd.conversation import plan
from chatd.model import Agent, Conversation
from chatd.records import MEMORY_URL, open_records
from chatd.store.memory import MemoryBroker, MemoryStore
from router.erlang import ErlangCFigures, erlang_c_figures
from router.model import ALGORITHMS, SkillGroup
from router.worker import RoutingWorker

__all__ = [
    "AgentSpec",
    "GroupTraffic",
    "Scenario",
    "SimReport",
    "compare",
    "gini",
    "load_scenario",
    "main",
    "pooled_erlang",
    "pooled_fifo",
    "simulate",
    "single_group_scenario",
    "with_algorithm",
    "workload",
]


@dataclass(frozen=True, slots=True)
class GroupTraffic:
    """A skill group's routing settings and its offered traffic."""

    group: SkillGroup
    arrivals_per_hour: float
    aht_seconds: float


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """A simulated agent: skills (name -> proficiency) and chat capacity."""

    agent_id: str
    skills: Mapping[str, int]
    capacity: int = 1


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything a run needs except the seed."""

    name: str
    traffic: tuple[GroupTraffic, ...]
    agents: tuple[AgentSpec, ...]
    hours: float = 8.0
    warmup_hours: float = 0.5
    handle_dist: str = "exp"
    handle_cv: float = 1.0
    patience_seconds: float | None = None
    sl_threshold_seconds: float = 20.0


@dataclass(frozen=True, slots=True)
class SimReport:
    """Figures of one run (see the module docstring for definitions)."""

    scenario: str
    policy: str
    seed: int
    arrivals: int
    answered: int
    abandoned: int
    asa_seconds: float
    asa_ci95_seconds: float | None
    service_level: float
    abandonment_rate: float
    occupancy: float
    gini_load: float
    wait_p90_seconds: float
    per_group: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    pooled_fifo_asa_seconds: float | None = None  # the same customers, every slot serving every chat in order

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "seed": self.seed,
            "arrivals": self.arrivals,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "asa_seconds": self.asa_seconds,
            "asa_ci95_seconds": self.asa_ci95_seconds,
            "service_level": self.service_level,
            "abandonment_rate": self.abandonment_rate,
            "occupancy": self.occupancy,
            "gini_load": self.gini_load,
            "wait_p90_seconds": self.wait_p90_seconds,
            "per_group": {name: dict(figures) for name, figures in self.per_group.items()},
            "pooled_fifo_asa_seconds": self.pooled_fifo_asa_seconds,
        }


def single_group_scenario(agents: int, arrivals_per_hour: float, aht_seconds: float, *,
                          concurrency: int = 1, algorithm: str = "skills_load",
                          hours: float = 8.0, warmup_hours: float = 0.5,
                          handle_dist: str = "exp", handle_cv: float = 1.0,
                          patience_seconds: float | None = None) -> Scenario:
    """One skill group ``"general"`` with ``agents`` identical agents."""
    group = SkillGroup("general", algorithm=algorithm, auto_accept=True)
    return Scenario(
        name="single_group",
        traffic=(GroupTraffic(group, arrivals_per_hour, aht_seconds),),
        agents=tuple(AgentSpec(f"agent-{n:04d}", {"general": 3}, concurrency)
                     for n in range(agents)),
        hours=hours, warmup_hours=warmup_hours, handle_dist=handle_dist,
        handle_cv=handle_cv, patience_seconds=patience_seconds,
    )


def load_scenario(source: str | Path | Mapping[str, Any]) -> Scenario:
    """Read a scenario from a JSON file (or its parsed dict).

    Shape: ``{"name", "hours", "warmup_hours", "handle_dist", "handle_cv",
    "patience_seconds", "sl_threshold_seconds", "groups": [{"name",
    "arrivals_per_hour", "aht_seconds", "algorithm", "fallback_group",
    "sticky_budget_seconds"}],
    "agents": [{"count", "prefix", "skills": {name: proficiency},
    "capacity"}]}``; all but ``groups`` and ``agents`` are optional.
    """
    raw = source if isinstance(source, Mapping) else json.loads(Path(source).read_text("utf-8"))
    traffic = tuple(
        GroupTraffic(
            SkillGroup(g["name"], algorithm=g.get("algorithm", "skills_load"),
                       fallback_group=g.get("fallback_group"),
                       sticky_budget_seconds=float(g.get("sticky_budget_seconds", 0.0)),
                       auto_accept=True),
            float(g["arrivals_per_hour"]), float(g["aht_seconds"]),
        )
        for g in raw["groups"]
    )
    agents: list[AgentSpec] = []
    for block in raw["agents"]:
        prefix = block.get("prefix", "+".join(block["skills"]))
        for n in range(int(block.get("count", 1))):
            agents.append(AgentSpec(f"{prefix}-{n:03d}", dict(block["skills"]),
                                    int(block.get("capacity", 1))))
    return Scenario(
        name=raw.get("name", "scenario"), traffic=traffic, agents=tuple(agents),
        hours=float(raw.get("hours", 8.0)), warmup_hours=float(raw.get("warmup_hours", 0.5)),
        handle_dist=raw.get("handle_dist", "exp"), handle_cv=float(raw.get("handle_cv", 1.0)),
        patience_seconds=raw.get("patience_seconds"),
        sl_threshold_seconds=float(raw.get("sl_threshold_seconds", 20.0)),
    )


def with_algorithm(scenario: Scenario, algorithm: str) -> Scenario:
    """The same scenario with every group routed by ``algorithm``."""
    traffic = tuple(replace(t, group=replace(t.group, algorithm=algorithm))
                    for t in scenario.traffic)
    return replace(scenario, traffic=traffic)


def workload(scenario: Scenario, seed: int) -> list[tuple[float, str, float, float]]:
    """Every arrival of a run as ``(time, group, handle_seconds, patience_seconds)``.

    In time order, from ``random.Random(seed)`` only: the agents and the
    policy do not affect it, so runs that differ only in those face the same
    customers (common random numbers). Patience is ``inf`` without
    abandonment.
    """
    rng = random.Random(seed)
    groups = [t.group.name for t in scenario.traffic]
    rates = [t.arrivals_per_hour / 3600.0 for t in scenario.traffic]
    ahts = {t.group.name: t.aht_seconds for t in scenario.traffic}
    total_rate = sum(rates)
    if total_rate <= 0:
        return []
    sigma = math.sqrt(math.log1p(scenario.handle_cv ** 2))
    lognormal = scenario.handle_dist == "lognormal"
    if not lognormal and scenario.handle_dist != "exp":
        raise ValueError(f"unknown handle distribution {scenario.handle_dist!r}")
    patience = scenario.patience_seconds
    horizon = scenario.hours * 3600.0
    arrivals = []
    now = rng.expovariate(total_rate)
    while now < horizon:
        group = rng.choices(groups, rates)[0] if len(groups) > 1 else groups[0]
        aht = ahts[group]
        if lognormal:
            handle = rng.lognormvariate(math.log(aht) - sigma * sigma / 2, sigma)
        else:
            handle = rng.expovariate(1.0 / aht)
        gives_up = rng.expovariate(1.0 / patience) if patience else math.inf
        arrivals.append((now, group, handle, gives_up))
        now += rng.expovariate(total_rate)
    return arrivals


_COMPLETE, _ABANDON = 0, 1
_BATCHES = 10
_T_975_9DF = 2.262  # Student t quantile for a 95 % interval from 10 batch means
_SITE = "sim"


class _SimClock:
    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Assignments:
    """The worker's publisher in a run: the assignments, as they are made."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []  # (agent_id, conversation_id)

    async def publish_assigned_many(self, assigned: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self.made += [(agent_id, conversation["conversation_id"]) for agent_id, conversation in assigned]

    async def publish_signals(self, signals: Sequence[tuple[str, dict[str, Any]]]) -> None:
        return None

    async def wake_router(self, announce: Sequence[str] = ()) -> None:
        return None


def simulate(scenario: Scenario, seed: int = 1, *, trace: list[tuple[float, str, str]] | None = None) -> SimReport:
    """Run ``scenario`` once through the routing worker; deterministic for a
    given seed. ``trace`` gets every assignment as ``(time, arrival number,
    agent_id)``, in the order the worker made them."""
    return asyncio.run(_simulate(scenario, seed, trace))


def pooled_fifo(scenario: Scenario, seed: int) -> tuple[float, float, int]:
    """``(ASA, service level, answered)`` of the same customers in one FIFO
    queue served by every slot (M/M/c or M/G/c, no abandonment): the
    textbook recursion, written apart from the router. It is the pooled
    system Erlang C describes, fed the run's own customers, which makes it a
    control variate for the run's ASA (see :func:`compare`)."""
    free_at = [0.0] * sum(spec.capacity for spec in scenario.agents)
    start = scenario.warmup_hours * 3600
    total = within = 0.0
    answered = 0
    for arrival, _group, handle, _patience in workload(scenario, seed):
        begins = max(arrival, heapq.heappop(free_at))
        heapq.heappush(free_at, begins + handle)
        if arrival >= start:
            wait = begins - arrival
            total += wait
            within += wait <= scenario.sl_threshold_seconds
            answered += 1
    return (total / answered if answered else 0.0), (within / answered if answered else 1.0), answered


async def _simulate(scenario: Scenario, seed: int, trace: list[tuple[float, str, str]] | None) -> SimReport:
    clock = _SimClock()
    store = MemoryStore(MemoryBroker(), log_retention=100)
    capacities = {spec.agent_id: spec.capacity for spec in scenario.agents}
    for spec in scenario.agents:
        await store.put_agent(Agent(agent_id=spec.agent_id, name=spec.agent_id, skills=dict(spec.skills),
                                    capacity=spec.capacity, status="online"))
        await store.touch_presence(spec.agent_id, "sim", math.inf)
    records = open_records(MEMORY_URL)
    for traffic in scenario.traffic:
        await records.skill_groups.put(asdict(traffic.group))
    assignments = _Assignments()
    worker = RoutingWorker(store, assignments, clock, skill_groups=records.skill_groups, schedules=records.schedules,
                           grace_seconds=math.inf, node_id="sim")

    start, end = scenario.warmup_hours * 3600.0, scenario.hours * 3600.0
    threshold = scenario.sl_threshold_seconds
    busy: dict[str, float] = dict.fromkeys(capacities, 0.0)
    held: dict[str, int] = dict.fromkeys(capacities, 0)
    events: list[tuple[float, int, int, Any]] = []
    counter = 0
    groups = [t.group.name for t in scenario.traffic]
    waits: dict[str, list[float]] = {name: [] for name in groups}
    abandoned: dict[str, int] = dict.fromkeys(groups, 0)
    arrivals = workload(scenario, seed)
    # Batch means over time for the ASA confidence interval.
    batch_waits, batch_counts = [0.0] * _BATCHES, [0] * _BATCHES
    batch_scale = _BATCHES / max(end - start, 1e-9)
    handles: dict[str, float] = {}
    arrived: dict[str, tuple[float, str]] = {}  # conversation -> (arrival time, group)

    async def route(now: float) -> None:
        nonlocal counter
        clock.now = now
        made = len(assignments.made)
        await worker.run_pass()
        for agent_id, conversation_id in assignments.made[made:]:
            if trace is not None:
                trace.append((now, conversation_id, agent_id))
            held[agent_id] += 1
            if held[agent_id] > capacities[agent_id]:  # the simulator doubles as a check of the server
                raise RuntimeError(f"{agent_id} was given more than {capacities[agent_id]} chats")
            counter += 1
            heapq.heappush(events, (now + handles.pop(conversation_id), counter, _COMPLETE,
                                    (agent_id, conversation_id, now)))
            enqueued, group = arrived.pop(conversation_id)
            if enqueued >= start:
                wait = now - enqueued
                waits[group].append(wait)
                batch = min(int((enqueued - start) * batch_scale), _BATCHES - 1)
                batch_waits[batch] += wait
                batch_counts[batch] += 1

    position = 0
    total = len(arrivals)
    while position < total or events:
        if position < total and (not events or arrivals[position][0] <= events[0][0]):
            now, group, handle, patience = arrivals[position]
            conversation_id = f"c{position}"
            position += 1
            if now >= end:
                continue
            handles[conversation_id] = handle
            arrived[conversation_id] = (now, group)
            conversation = Conversation(conversation_id=conversation_id, site_key=_SITE, visitor_id=conversation_id,
                                        skill=group, created_at=now)
            await store.start_conversation(conversation, plan("open", "queue", skill=group, record=conversation,
                                                              now=now), now)
            if patience != math.inf:
                counter += 1
                heapq.heappush(events, (now + patience, counter, _ABANDON, conversation_id))
            await route(now)
            continue
        now, _, kind, payload = heapq.heappop(events)
        if kind == _ABANDON:
            if payload in arrived:  # still waiting: the visitor gives up
                await store.transition(payload, plan("queued", "close", actor_role="visitor"), now)
                handles.pop(payload)
                enqueued, group = arrived.pop(payload)
                if enqueued >= start:
                    abandoned[group] += 1
            continue
        agent_id, conversation_id, began = payload
        busy[agent_id] += max(0.0, min(now, end) - max(began, start))
        held[agent_id] -= 1
        await store.transition(conversation_id, plan("assigned", "close", current_agent=agent_id,
                                                     actor_role="agent", actor_id=agent_id), now)
        await route(now)
    await records.database.close()

    ci95 = None
    if all(batch_counts):
        means = [total / count for total, count in zip(batch_waits, batch_counts, strict=True)]
        ci95 = _T_975_9DF * stdev(means) / math.sqrt(_BATCHES)
    report = _report(scenario, seed, waits, abandoned, busy, threshold, start, end, ci95)
    if scenario.patience_seconds is None:
        report = replace(report, pooled_fifo_asa_seconds=pooled_fifo(scenario, seed)[0])
    return report


def _report(scenario: Scenario, seed: int, waits: Mapping[str, list[float]],
            abandoned: Mapping[str, int], busy: Mapping[str, float], threshold: float,
            start: float, end: float, asa_ci95: float | None) -> SimReport:
    all_waits = sorted(w for group_waits in waits.values() for w in group_waits)
    answered, lost = len(all_waits), sum(abandoned.values())
    offered = answered + lost
    slots = sum(spec.capacity for spec in scenario.agents)
    window = max(end - start, 1e-9)
    per_group = {}
    for name, group_waits in waits.items():
        group_offered = len(group_waits) + abandoned[name]
        per_group[name] = {
            "arrivals": group_offered,
            "asa_seconds": sum(group_waits) / len(group_waits) if group_waits else 0.0,
            "service_level": _within(group_waits, threshold) / group_offered
            if group_offered else 1.0,
            "abandonment_rate": abandoned[name] / group_offered if group_offered else 0.0,
        }
    algorithms = sorted({t.group.algorithm for t in scenario.traffic})
    return SimReport(
        scenario=scenario.name,
        policy="+".join(algorithms),
        seed=seed,
        arrivals=offered,
        answered=answered,
        abandoned=lost,
        asa_seconds=sum(all_waits) / answered if answered else 0.0,
        asa_ci95_seconds=asa_ci95,
        service_level=_within(all_waits, threshold) / offered if offered else 1.0,
        abandonment_rate=lost / offered if offered else 0.0,
        occupancy=sum(busy.values()) / (slots * window) if slots else 0.0,
        gini_load=gini(list(busy.values())),
        wait_p90_seconds=all_waits[int(0.9 * (answered - 1))] if answered else 0.0,
        per_group=per_group,
    )


def _within(waits: Sequence[float], threshold: float) -> int:
    return sum(1 for wait in waits if wait <= threshold)


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative ``values`` (0 even, towards 1 concentrated)."""
    ordered = sorted(values)
    count, total = len(ordered), sum(ordered)
    if count == 0 or total <= 0:
        return 0.0
    weighted = sum(rank * value for rank, value in enumerate(ordered, 1))
    return (2.0 * weighted) / (count * total) - (count + 1.0) / count


def pooled_erlang(scenario: Scenario) -> ErlangCFigures:
    """Erlang C for all slots serving all traffic as one pool (the flexible bound).

    With several groups the pooled AHT is the arrival-weighted mean.
    """
    arrivals = sum(t.arrivals_per_hour for t in scenario.traffic)
    aht = (sum(t.arrivals_per_hour * t.aht_seconds for t in scenario.traffic) / arrivals
           if arrivals else 0.0)
    slots = sum(spec.capacity for spec in scenario.agents)
    return erlang_c_figures(slots, arrivals, aht, scenario.sl_threshold_seconds)


def compare(scenario: Scenario, seeds: Sequence[int], policy: str = "skills_load",
            baseline: str = "round_robin") -> dict[str, Any]:
    """``policy`` and ``baseline`` over the same seeds, beside pooled Erlang C.

    A few simulated hours at high occupancy scatter the mean wait widely, so
    each policy also gets a long-run estimate of its ASA with the pooled FIFO
    queue of the same customers as a control variate (Law & Kelton, ch. 11):
    ``asa_estimate = ASA - pooled_fifo_ASA + ErlangC_ASA``. It is unbiased for
    the policy's long-run mean and carries only the noise of the difference,
    which common customers keep small. ``asa_estimate_over_pooled`` is that
    estimate over Erlang C's pooled ASA (1.0: as good as one pool of every
    agent); ``worst_group_over_mean`` the slowest group's ASA over the mean."""
    erlang = pooled_erlang(scenario)
    runs: dict[str, list[SimReport]] = {}
    for name in dict.fromkeys((policy, baseline)):
        runs[name] = [simulate(with_algorithm(scenario, name), seed) for seed in seeds]
    return {
        "scenario": scenario.name,
        "seeds": list(seeds),
        "policies": {name: _mean_figures(reports, erlang) for name, reports in runs.items()},
        "runs": {name: [r.to_dict() for r in reports] for name, reports in runs.items()},
        "erlang_c_pooled": erlang.to_dict(),
    }


_FIGURES = ("asa_seconds", "service_level", "abandonment_rate", "occupancy", "gini_load",
            "wait_p90_seconds")


def _mean_figures(reports: Sequence[SimReport], erlang: ErlangCFigures) -> dict[str, Any]:
    answered = sum(r.answered for r in reports)
    means: dict[str, Any] = {name: sum(getattr(r, name) for r in reports) / len(reports) for name in _FIGURES}
    # ASA over all runs weights each answered chat equally.
    means["asa_seconds"] = (sum(r.asa_seconds * r.answered for r in reports) / answered
                            if answered else 0.0)
    means["asa_estimate_seconds"] = means["asa_estimate_over_pooled"] = None
    if answered and all(r.pooled_fifo_asa_seconds is not None for r in reports) and math.isfinite(erlang.asa_seconds):
        fifo = sum(r.pooled_fifo_asa_seconds * r.answered for r in reports) / answered  # type: ignore[operator]
        means["asa_estimate_seconds"] = means["asa_seconds"] - fifo + erlang.asa_seconds
        if erlang.asa_seconds > 0:
            means["asa_estimate_over_pooled"] = means["asa_estimate_seconds"] / erlang.asa_seconds
    groups: dict[str, list[float]] = {}
    for report in reports:
        for name, figures in report.per_group.items():
            groups.setdefault(name, []).append(figures["asa_seconds"])
    group_asa = [sum(values) / len(values) for values in groups.values()]
    means["worst_group_over_mean"] = (max(group_asa) / means["asa_seconds"]
                                      if group_asa and means["asa_seconds"] > 0 else None)
    # Independent runs: the half-widths add in quadrature.
    widths = [r.asa_ci95_seconds for r in reports]
    means["asa_ci95_seconds"] = (math.sqrt(sum(w * w for w in widths)) / len(widths)
                                 if all(w is not None for w in widths) else None)
    means["arrivals"] = sum(r.arrivals for r in reports)
    return means


def _format(result: Mapping[str, Any]) -> str:
    erlang = result["erlang_c_pooled"]
    rows = [("figure", *result["policies"], "erlang_c")]
    labels = (("asa_seconds", "ASA (s)", "asa_seconds"),
              ("asa_ci95_seconds", "ASA 95% +/- (s)", None),
              ("asa_estimate_seconds", "ASA long-run estimate (s)", "asa_seconds"),
              ("asa_estimate_over_pooled", "estimate / pooled Erlang C", None),
              ("worst_group_over_mean", "slowest group / mean ASA", None),
              ("service_level", "service level", "service_level"),
              ("abandonment_rate", "abandonment", None),
              ("occupancy", "occupancy", "occupancy"),
              ("gini_load", "gini of load", None),
              ("wait_p90_seconds", "p90 wait (s)", None))
    for key, label, erlang_key in labels:
        values = ["-" if figures[key] is None else f"{figures[key]:.3f}"
                  for figures in result["policies"].values()]
        theory = erlang.get(erlang_key) if erlang_key else None
        rows.append((label, *values, "-" if theory is None else f"{theory:.3f}"))
    widths = [max(len(str(row[col])) for row in rows) for col in range(len(rows[0]))]
    lines = [f"scenario {result['scenario']}, seeds {result['seeds']}, "
             f"{erlang['servers']} slots, {erlang['offered_load']:.2f} Erlangs offered"]
    for row in rows:
        lines.append("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths, strict=True)))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m router.sim", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, help="JSON scenario (several skill groups)")
    parser.add_argument("--agents", type=int, default=55)
    parser.add_argument("--arrivals-per-hour", type=float, default=720.0)
    parser.add_argument("--aht-seconds", type=float, default=240.0)
    parser.add_argument("--concurrency", type=int, default=1, help="chats per agent at once")
    parser.add_argument("--hours", type=float, help="simulated hours (default 8)")
    parser.add_argument("--warmup-hours", type=float, help="not measured (default 0.5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1, help="seeds seed..seed+runs-1")
    parser.add_argument("--policy", choices=ALGORITHMS, default="skills_load")
    parser.add_argument("--patience-seconds", type=float, help="mean patience (abandonment)")
    parser.add_argument("--handle-dist", choices=("exp", "lognormal"))
    parser.add_argument("--handle-cv", type=float, help="log-normal coefficient of variation")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    if args.scenario is not None:
        scenario = load_scenario(args.scenario)
    else:
        scenario = single_group_scenario(args.agents, args.arrivals_per_hour,
                                         args.aht_seconds, concurrency=args.concurrency)
    overrides = {"hours": args.hours, "warmup_hours": args.warmup_hours,
                 "patience_seconds": args.patience_seconds,
                 "handle_dist": args.handle_dist, "handle_cv": args.handle_cv}
    scenario = replace(scenario, **{k: v for k, v in overrides.items() if v is not None})
    if scenario.warmup_hours >= scenario.hours:
        parser.error("--warmup-hours must be shorter than --hours")
    seeds = list(range(args.seed, args.seed + max(args.runs, 1)))
    result = compare(scenario, seeds, policy=args.policy)
    print(_format(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
