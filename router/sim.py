"""Discrete-event routing simulator, driven by the real policy.

Every arrival is routed by :func:`router.policy.decide` and every freed chat
slot drains the queue with :func:`router.policy.pick_for_agent`, so the
figures measure the code that runs in production. Model:

- Poisson arrivals per skill group; handle times exponential or log-normal
  (mean ``aht_seconds``, coefficient of variation ``handle_cv``);
- an agent of capacity K holds up to K chats, each in its own slot, and a
  chat's handle time does not depend on how many others the agent holds
  (so K slots behave like K servers, as in :mod:`router.erlang`);
- offers are accepted at once; optional exponential customer patience
  (abandonment while queued);
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
import heapq
import json
import math
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import stdev
from typing import Any

from router.erlang import ErlangCFigures, erlang_c_figures
from router.model import ALGORITHMS, AgentIndex, AgentSnapshot, ConversationRequest, SkillGroup
from router.policy import decide, pick_for_agent

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


def simulate(scenario: Scenario, seed: int = 1) -> SimReport:
    """Run ``scenario`` once; deterministic for a given seed."""
    groups = {t.group.name: t.group for t in scenario.traffic}
    snapshots = {spec.agent_id: AgentSnapshot(spec.agent_id, "online", spec.skills,
                                              spec.capacity) for spec in scenario.agents}
    index = AgentIndex(snapshots.values())
    rr_cursors: dict[str, str] = {}
    start, end = scenario.warmup_hours * 3600.0, scenario.hours * 3600.0
    threshold = scenario.sl_threshold_seconds
    busy: dict[str, float] = dict.fromkeys(snapshots, 0.0)
    queue: dict[str, ConversationRequest] = {}
    events: list[tuple[float, int, int, Any]] = []
    counter = 0
    waits: dict[str, list[float]] = {name: [] for name in groups}
    abandoned: dict[str, int] = dict.fromkeys(groups, 0)
    arrivals = workload(scenario, seed)
    # Batch means over time for the ASA confidence interval.
    batch_waits, batch_counts = [0.0] * _BATCHES, [0] * _BATCHES
    batch_scale = _BATCHES / max(end - start, 1e-9)
    handles: dict[str, float] = {}
    arrived: dict[str, float] = {}

    def assign(agent_id: str, request: ConversationRequest, now: float) -> None:
        nonlocal counter
        agent = snapshots[agent_id]
        if agent.active >= agent.capacity or (
                request.skill not in agent.skills
                and groups[request.skill].fallback_group not in agent.skills):
            # The simulator doubles as a check of the policy's contract.
            raise RuntimeError(f"policy gave {request.conversation_id} to ineligible {agent_id}")
        agent = AgentSnapshot(agent_id, "online", agent.skills, agent.capacity,
                              agent.active + 1, now)
        snapshots[agent_id] = agent
        index.update(agent)
        conversation_id = request.conversation_id
        finish = now + handles.pop(conversation_id)
        counter += 1
        heapq.heappush(events, (finish, counter, _COMPLETE, (agent_id, now)))
        enqueued = arrived.pop(conversation_id)
        if enqueued >= start:
            wait = now - enqueued
            waits[request.skill].append(wait)
            batch = min(int((enqueued - start) * batch_scale), _BATCHES - 1)
            batch_waits[batch] += wait
            batch_counts[batch] += 1

    position = 0
    total = len(arrivals)
    while position < total or events:
        if position < total and (not events or arrivals[position][0] <= events[0][0]):
            now, skill, handle, patience = arrivals[position]
            conversation_id = f"c{position}"
            position += 1
            if now >= end:
                continue
            handles[conversation_id] = handle
            arrived[conversation_id] = now
            request = ConversationRequest(conversation_id, skill, enqueued_at=now)
            decision = decide(request, index, groups, now, rr_cursors=rr_cursors,
                              report_limit=0)
            if decision.agent_id is not None:
                if decision.rr_cursor is not None:
                    rr_cursors[decision.group] = decision.rr_cursor
                assign(decision.agent_id, request, now)
            else:
                queue[conversation_id] = request
                if patience != math.inf:
                    counter += 1
                    heapq.heappush(events, (now + patience, counter, _ABANDON, conversation_id))
            continue
        now, _, kind, payload = heapq.heappop(events)
        if kind == _ABANDON:
            request = queue.pop(payload, None)
            if request is not None:
                handles.pop(payload)
                if arrived.pop(payload) >= start:
                    abandoned[request.skill] += 1
            continue
        agent_id, began = payload
        busy[agent_id] += max(0.0, min(now, end) - max(began, start))
        agent = snapshots[agent_id]
        agent = AgentSnapshot(agent_id, "online", agent.skills, agent.capacity,
                              agent.active - 1, agent.last_assigned_at)
        snapshots[agent_id] = agent
        index.update(agent)
        if queue:
            chosen = pick_for_agent(agent, queue.values(), groups, now)
            if chosen is not None:
                del queue[chosen.conversation_id]
                assign(agent_id, chosen, now)

    ci95 = None
    if all(batch_counts):
        means = [total / count for total, count in zip(batch_waits, batch_counts, strict=True)]
        ci95 = _T_975_9DF * stdev(means) / math.sqrt(_BATCHES)
    return _report(scenario, seed, waits, abandoned, busy, threshold, start, end, ci95)


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
    """``policy`` and ``baseline`` over the same seeds, beside pooled Erlang C."""
    runs: dict[str, list[SimReport]] = {}
    for name in dict.fromkeys((policy, baseline)):
        runs[name] = [simulate(with_algorithm(scenario, name), seed) for seed in seeds]
    return {
        "scenario": scenario.name,
        "seeds": list(seeds),
        "policies": {name: _mean_figures(reports) for name, reports in runs.items()},
        "runs": {name: [r.to_dict() for r in reports] for name, reports in runs.items()},
        "erlang_c_pooled": pooled_erlang(scenario).to_dict(),
    }


_FIGURES = ("asa_seconds", "service_level", "abandonment_rate", "occupancy", "gini_load",
            "wait_p90_seconds")


def _mean_figures(reports: Sequence[SimReport]) -> dict[str, Any]:
    answered = sum(r.answered for r in reports)
    means = {name: sum(getattr(r, name) for r in reports) / len(reports) for name in _FIGURES}
    # ASA over all runs weights each answered chat equally.
    means["asa_seconds"] = (sum(r.asa_seconds * r.answered for r in reports) / answered
                            if answered else 0.0)
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
