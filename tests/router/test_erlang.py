"""Erlang B/C against textbook values and an independent direct formula."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from router import erlang
from router.erlang import (
    average_speed_of_answer,
    erlang_b,
    erlang_c,
    erlang_c_figures,
    offered_load,
    servers_for_service_level,
    service_level,
)


def direct_erlang_c(servers: int, load: int | Fraction) -> Fraction:
    """The closed form with exact rationals: A^N/N! * N/(N-A) over the sum."""
    load = Fraction(load)
    top = load**servers / math.factorial(servers) * servers / (servers - load)
    bottom = sum(load**k / math.factorial(k) for k in range(servers)) + top
    return top / bottom


def test_exports() -> None:
    assert set(erlang.__all__) == {
        "ErlangCFigures", "average_speed_of_answer", "erlang_b", "erlang_c", "erlang_c_figures",
        "offered_load", "servers_for_service_level", "service_level",
    }


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        (0, 3.0, 1.0),
        (1, 1.0, 0.5),
        (2, 1.0, 0.2),
        (10, 5.0, 0.018385),  # Erlang B table: 10 trunks, 5 E, about 1.8 % blocked
        (20, 15.0, 0.045593),
    ],
)
def test_erlang_b_table_values(servers: int, load: float, expected: float) -> None:
    assert erlang_b(servers, load) == pytest.approx(expected, abs=5e-6)


def test_erlang_c_two_servers_half_loaded_is_one_third() -> None:
    # M/M/2 at rho = 0.5: P(wait) = 2 rho^2 / (1 + rho) = 1/3.
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-12)


def test_mm1_reduces_to_rho() -> None:
    assert erlang_c(1, 0.75) == pytest.approx(0.75)
    # M/M/1 mean wait: rho / (1 - rho) * service time.
    assert average_speed_of_answer(1, 0.75, 100.0) == pytest.approx(300.0)


def test_worked_contact_centre_example() -> None:
    """The classic worked example: 100 calls per 30 minutes, AHT 180 s, 14 agents."""
    figures = erlang_c_figures(14, arrivals_per_hour=200, aht_seconds=180, threshold_seconds=20)
    assert figures.offered_load == pytest.approx(10.0)
    assert figures.probability_wait == pytest.approx(0.1741, abs=1e-4)
    assert figures.asa_seconds == pytest.approx(7.84, abs=0.01)
    assert figures.service_level == pytest.approx(0.8883, abs=1e-4)
    assert figures.occupancy == pytest.approx(10 / 14)


def test_routing_validation_reference_figures() -> None:
    """The figures the simulator is validated against (55 agents, 720/h, AHT 240 s)."""
    figures = erlang_c_figures(55, 720, 240)
    assert figures.offered_load == pytest.approx(48.0)
    assert figures.asa_seconds == pytest.approx(8.18, abs=0.01)
    assert figures.service_level == pytest.approx(0.8668, abs=1e-4)


@pytest.mark.parametrize("servers", [1, 2, 5, 13, 40, 90])
@pytest.mark.parametrize("utilisation", [Fraction(1, 10), Fraction(1, 2), Fraction(9, 10),
                                         Fraction(49, 50)])
def test_recursion_matches_exact_closed_form(servers: int, utilisation: Fraction) -> None:
    load = utilisation * servers
    assert erlang_c(servers, float(load)) == pytest.approx(float(direct_erlang_c(servers, load)),
                                                           rel=1e-10)


def test_large_systems_stay_finite() -> None:
    # A**N / N! overflows a float long before N = 2000; the recursion does not.
    waiting = erlang_c(2000, 1950.0)
    assert 0.0 < waiting < 1.0
    assert math.isfinite(average_speed_of_answer(2000, 1950.0, 240.0))
    assert 0.0 <= erlang_b(5000, 10.0) < 1e-300


def test_unstable_queue() -> None:
    figures = erlang_c_figures(10, arrivals_per_hour=3600, aht_seconds=12)  # 12 E on 10 agents
    assert figures.probability_wait == 1.0
    assert figures.asa_seconds == math.inf
    assert figures.service_level == 0.0
    assert figures.to_dict()["asa_seconds"] is None
    assert erlang_c(5, 0.0) == 0.0


def test_more_agents_never_hurt() -> None:
    load = offered_load(720, 240)
    waits = [erlang_c(n, load) for n in range(49, 70)]
    levels = [service_level(n, load, 240, 20) for n in range(49, 70)]
    assert waits == sorted(waits, reverse=True)
    assert levels == sorted(levels)


def test_servers_for_service_level_is_minimal() -> None:
    servers = servers_for_service_level(720, 240, target=0.8, threshold_seconds=20)
    assert service_level(servers, 48.0, 240, 20) >= 0.8
    assert service_level(servers - 1, 48.0, 240, 20) < 0.8
    with pytest.raises(ValueError):
        servers_for_service_level(720, 240, target=1.0)


def test_negative_inputs_rejected() -> None:
    with pytest.raises(ValueError):
        erlang_b(-1, 1.0)
