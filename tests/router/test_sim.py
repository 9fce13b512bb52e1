"""The routing simulator, validated against queueing theory.

The simulator drives the server's own routing worker on the memory engine.
The reference is the textbook FIFO M/M/c recursion (each customer takes the
server that frees first), :func:`router.sim.pooled_fifo`, written apart from
the router. Fed with the simulator's own customers it must give exactly the
simulator's waits in a single skill group, whatever the algorithm: that pins
the event loop, the queue order and the capacity bookkeeping. Erlang C then
checks the numbers.

Mean waits at 87-94 % occupancy are noisy: a single 40-hour run of the
55-agent case scatters by about 30 % around its mean. Rather than simulate
thousands of hours through the policy, the Erlang checks use the FIFO
reference fed with the same customers as a control variate (Law & Kelton,
ch. 11): ``estimate = sim(T) - reference(T) + E[reference]``. The estimate
is unbiased for the simulator's long-run mean and only carries the noise of
``sim - reference``, which common customers make small. ``E[reference]`` is
measured over 4,800 cheap hours for the 55-agent case (so the reference is
itself checked against Erlang C) and taken from Erlang C for the chained
case.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import router.sim
from router.erlang import erlang_c_figures
from router.model import ALGORITHMS
from router.sim import (
    load_scenario,
    main,
    pooled_erlang,
    simulate,
    single_group_scenario,
    with_algorithm,
    workload,
)

SCENARIOS = Path(router.sim.__file__).parent / "scenarios"
REPO = Path(router.sim.__file__).resolve().parent.parent


fifo_reference = router.sim.pooled_fifo


def test_exports() -> None:
    assert set(router.sim.__all__) == {
        "AgentSpec", "GroupTraffic", "Scenario", "SimReport", "compare", "gini", "load_scenario",
        "main", "pooled_erlang", "pooled_fifo", "simulate", "single_group_scenario", "with_algorithm", "workload",
    }


@pytest.mark.parametrize(("values", "expected"), [
    ([5, 5, 5, 5], 0.0),
    ([0, 0, 0, 12], 0.75),
    ([1, 2, 3, 4], 0.25),
    ([], 0.0),
    ([0, 0], 0.0),
])
def test_gini(values: list[float], expected: float) -> None:
    assert router.sim.gini(values) == pytest.approx(expected)


def test_workload_is_seeded_and_independent_of_agents_and_policy() -> None:
    scenario = load_scenario(SCENARIOS / "chained_two_skill.json")
    silos = load_scenario(SCENARIOS / "strict_silos.json")
    first = workload(scenario, 3)
    assert first == workload(with_algorithm(scenario, "round_robin"), 3) == workload(silos, 3)
    assert first != workload(scenario, 4)
    assert [a[0] for a in first] == sorted(a[0] for a in first)
    assert {a[1] for a in first} == {"A", "B", "C", "D"}
    # About 4 x 198 arrivals per hour over 8 hours.
    assert len(first) == pytest.approx(4 * 198 * 8, rel=0.05)


@pytest.mark.parametrize("dist", ["exp", "lognormal"])
def test_handle_times_have_the_configured_mean(dist: str) -> None:
    scenario = single_group_scenario(10, 3600, 240, hours=10, handle_dist=dist, handle_cv=1.5)
    handles = [a[2] for a in workload(scenario, 1)]
    assert sum(handles) / len(handles) == pytest.approx(240, rel=0.05)


def test_shipped_scenarios() -> None:
    chained = load_scenario(SCENARIOS / "chained_two_skill.json")
    silos = load_scenario(SCENARIOS / "strict_silos.json")
    assert [t.group.name for t in chained.traffic] == ["A", "B", "C", "D"]
    assert chained.traffic == silos.traffic
    assert len(chained.agents) == len(silos.agents) == 56
    pairs = {tuple(sorted(spec.skills)) for spec in chained.agents}
    assert pairs == {("A", "B"), ("B", "C"), ("C", "D"), ("A", "D")}
    assert all(len(spec.skills) == 1 for spec in silos.agents)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(("agents", "concurrency", "dist"), [
    (55, 1, "exp"), (27, 2, "exp"), (18, 3, "lognormal"),
])
def test_single_group_reproduces_fifo_mmc_exactly(algorithm: str, agents: int, concurrency: int,
                                                  dist: str) -> None:
    scenario = single_group_scenario(agents, 720, 240, concurrency=concurrency, algorithm=algorithm,
                                     hours=6, handle_dist=dist)
    report = simulate(scenario, seed=7)
    asa, level, answered = fifo_reference(scenario, seed=7)
    assert report.answered == answered
    assert report.abandoned == 0
    assert report.asa_seconds == pytest.approx(asa, rel=1e-9)
    assert report.service_level == pytest.approx(level, rel=1e-12)


def test_single_group_matches_erlang_c() -> None:
    """55 agents, 720 chats/h, AHT 240 s, one chat each, no abandonment.

    Erlang C: ASA 8.18 s, 86.7 % answered within 20 s, occupancy 87.3 %.
    """
    scenario = single_group_scenario(55, 720, 240, hours=20)
    theory = erlang_c_figures(55, 720, 240, threshold_seconds=20)
    sim = simulate(scenario, seed=2024)
    ref_asa, ref_level, _ = fifo_reference(scenario, seed=2024)
    # E[reference]: 4,800 hours of the cheap recursion (6 x 800 h, other seeds).
    long_runs = [fifo_reference(replace(scenario, hours=800), seed) for seed in range(101, 107)]
    mean_asa = sum(run[0] * run[2] for run in long_runs) / sum(run[2] for run in long_runs)
    mean_level = sum(run[1] * run[2] for run in long_runs) / sum(run[2] for run in long_runs)

    asa = sim.asa_seconds - ref_asa + mean_asa
    level = sim.service_level - ref_level + mean_level
    assert asa == pytest.approx(theory.asa_seconds, rel=0.10)
    assert level == pytest.approx(theory.service_level, abs=0.03)
    # Occupancy is far less noisy: the plain simulated figure is compared.
    assert sim.occupancy == pytest.approx(theory.occupancy, abs=0.02)
    assert sim.abandonment_rate == 0.0
    assert 0.0 <= sim.gini_load < 0.05


def test_chained_two_skill_is_near_pooled_and_beats_silos() -> None:
    """4 groups at 94 % occupancy; every agent holds 2 skills in a chain A-B, B-C, C-D, D-A.

    Pooled Erlang C (56 agents serving every chat): ASA 42 s. Strict silos
    (4 x 14 agents): Erlang C ASA 230 s per group.
    """
    chained = replace(load_scenario(SCENARIOS / "chained_two_skill.json"), hours=20)
    silos = replace(load_scenario(SCENARIOS / "strict_silos.json"), hours=10)
    theory = pooled_erlang(chained)
    assert theory.offered_load == pytest.approx(52.8)

    seed = 2024
    chained_run = simulate(chained, seed)
    silos_run = simulate(silos, seed)  # the same customers (their first ten hours)
    pooled_asa, pooled_level, _ = fifo_reference(chained, seed)

    estimate = chained_run.asa_seconds - pooled_asa + theory.asa_seconds
    assert estimate == pytest.approx(theory.asa_seconds, rel=0.15)
    assert chained_run.asa_seconds < 0.5 * silos_run.asa_seconds
    assert chained_run.service_level > silos_run.service_level
    level_estimate = chained_run.service_level - pooled_level + theory.service_level
    assert level_estimate == pytest.approx(theory.service_level, abs=0.05)
    # The chain shares the work evenly: no group waits much longer than the mean.
    group_asa = [figures["asa_seconds"] for figures in chained_run.per_group.values()]
    assert max(group_asa) < 1.5 * chained_run.asa_seconds


def test_abandonment() -> None:
    base = single_group_scenario(50, 720, 240, hours=3)  # 96 % occupancy
    patient = simulate(replace(base, patience_seconds=600), seed=5)
    hasty = simulate(replace(base, patience_seconds=30), seed=5)
    for report in (patient, hasty):
        assert report.answered + report.abandoned == report.arrivals
        assert 0.0 < report.abandonment_rate < 1.0
    assert hasty.abandonment_rate > patient.abandonment_rate
    # Those who give up early stop waiting, so those who stay wait less.
    assert hasty.asa_seconds < patient.asa_seconds
    assert simulate(base, seed=5).abandonment_rate == 0.0


def test_round_robin_spreads_load_evenly_too() -> None:
    scenario = single_group_scenario(20, 180, 240, hours=4)  # 60 % occupancy
    results = router.sim.compare(scenario, seeds=[1], policy="least_busy")
    figures = results["policies"]
    assert set(figures) == {"least_busy", "round_robin"}
    # Same customers, work-conserving FIFO: identical waits, different agents.
    assert figures["least_busy"]["asa_seconds"] == pytest.approx(figures["round_robin"]["asa_seconds"])
    assert 0.0 <= figures["round_robin"]["gini_load"] < 0.1
    assert results["erlang_c_pooled"]["servers"] == 20


def test_cli_single_group_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figures.json"
    status = main(["--agents", "30", "--arrivals-per-hour", "360", "--aht-seconds", "240",
                   "--concurrency", "2", "--hours", "2", "--seed", "3", "--policy", "longest_idle",
                   "--patience-seconds", "120", "--handle-dist", "lognormal", "--json", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert "ASA (s)" in text and "longest_idle" in text and "round_robin" in text
    result = json.loads(out.read_text("utf-8"))
    assert set(result["policies"]) == {"longest_idle", "round_robin"}
    assert result["erlang_c_pooled"]["servers"] == 60
    assert result["erlang_c_pooled"]["offered_load"] == pytest.approx(24.0)
    assert math.isfinite(result["policies"]["longest_idle"]["asa_seconds"])


def test_cli_scenario_as_a_module(tmp_path: Path) -> None:
    out = tmp_path / "chain.json"
    completed = subprocess.run(
        [sys.executable, "-m", "router.sim", "--scenario", str(SCENARIOS / "chained_two_skill.json"),
         "--hours", "1", "--warmup-hours", "0.25", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "chained_two_skill" in completed.stdout
    result = json.loads(out.read_text("utf-8"))
    assert result["runs"]["skills_load"][0]["per_group"].keys() == {"A", "B", "C", "D"}


def test_cli_rejects_a_warmup_longer_than_the_run() -> None:
    with pytest.raises(SystemExit):
        main(["--hours", "1", "--warmup-hours", "2"])


def test_fallback_group_absorbs_overflow() -> None:
    """Group A alone is overloaded (110 %); with B as its fallback the pair copes."""
    raw = {
        "name": "overflow", "hours": 6, "warmup_hours": 0.5,
        "groups": [
            {"name": "A", "arrivals_per_hour": 165, "aht_seconds": 240,
             "fallback_group": "B", "sticky_budget_seconds": 20},
            {"name": "B", "arrivals_per_hour": 60, "aht_seconds": 240},
        ],
        "agents": [{"count": 10, "prefix": "a", "skills": {"A": 4}},
                   {"count": 10, "prefix": "b", "skills": {"B": 4}}],
    }
    with_fallback = simulate(load_scenario(raw), seed=8)
    for group in raw["groups"]:
        group.pop("fallback_group", None)
    without = simulate(load_scenario(raw), seed=8)
    assert with_fallback.per_group["A"]["asa_seconds"] < 0.2 * without.per_group["A"]["asa_seconds"]
    assert with_fallback.per_group["B"]["asa_seconds"] > without.per_group["B"]["asa_seconds"]
    # Without fallback A's agents are always busy and B's mostly idle: the load evens out.
    assert with_fallback.gini_load < 0.75 * without.gini_load
