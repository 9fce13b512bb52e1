"""Erlang B and Erlang C: the M/M/N reference figures for a staffing level.

``offered_load`` (in Erlangs) is arrival rate times average handle time. An
agent handling K chats at once counts as K servers of the same handle time
(the simulator makes the same assumption), so pass ``servers = agents * K``.

Erlang B is computed with the recursion ``B(0) = 1, B(n) = A B(n-1) / (n + A
B(n-1))``, which never forms ``A**n`` or ``n!`` and so stays exact to float
precision for thousands of servers; Erlang C follows from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ErlangCFigures",
    "average_speed_of_answer",
    "erlang_b",
    "erlang_c",
    "erlang_c_figures",
    "offered_load",
    "servers_for_service_level",
    "service_level",
]


def offered_load(arrivals_per_hour: float, aht_seconds: float) -> float:
    """Offered load in Erlangs: arrivals per second times handle time."""
    return arrivals_per_hour / 3600.0 * aht_seconds


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of an M/M/N/N system with ``load`` Erlangs."""
    if servers < 0 or load < 0:
        raise ValueError("servers and load must be non-negative")
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = load * blocking / (n + load * blocking)
    return blocking


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits in an M/M/N queue (1.0 when unstable)."""
    if load <= 0:
        return 0.0
    if load >= servers:
        return 1.0
    blocking = erlang_b(servers, load)
    return servers * blocking / (servers - load * (1.0 - blocking))


def average_speed_of_answer(servers: int, load: float, aht_seconds: float) -> float:
    """Mean wait of all arrivals (ASA), seconds; ``inf`` when unstable."""
    if load >= servers:
        return math.inf
    return erlang_c(servers, load) * aht_seconds / (servers - load)


def service_level(servers: int, load: float, aht_seconds: float,
                  threshold_seconds: float) -> float:
    """Share of arrivals answered within ``threshold_seconds``."""
    if load >= servers:
        return 0.0
    waiting = erlang_c(servers, load)
    return 1.0 - waiting * math.exp(-(servers - load) * threshold_seconds / aht_seconds)


@dataclass(frozen=True, slots=True)
class ErlangCFigures:
    """Erlang C figures for one staffing level and offered load."""

    servers: int
    offered_load: float
    occupancy: float
    probability_wait: float
    asa_seconds: float
    service_level: float
    threshold_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; an infinite ASA (unstable queue) becomes ``None``."""
        return {
            "servers": self.servers,
            "offered_load": self.offered_load,
            "occupancy": self.occupancy,
            "probability_wait": self.probability_wait,
            "asa_seconds": self.asa_seconds if math.isfinite(self.asa_seconds) else None,
            "service_level": self.service_level,
            "threshold_seconds": self.threshold_seconds,
        }


def erlang_c_figures(servers: int, arrivals_per_hour: float, aht_seconds: float,
                     threshold_seconds: float = 20.0) -> ErlangCFigures:
    """All Erlang C figures for ``servers`` and the given traffic."""
    load = offered_load(arrivals_per_hour, aht_seconds)
    return ErlangCFigures(
        servers=servers,
        offered_load=load,
        occupancy=min(load / servers, 1.0) if servers else 1.0,
        probability_wait=erlang_c(servers, load),
        asa_seconds=average_speed_of_answer(servers, load, aht_seconds),
        service_level=service_level(servers, load, aht_seconds, threshold_seconds),
        threshold_seconds=threshold_seconds,
    )


def servers_for_service_level(arrivals_per_hour: float, aht_seconds: float, target: float,
                              threshold_seconds: float = 20.0) -> int:
    """Fewest servers whose service level within ``threshold_seconds`` meets ``target``."""
    if not 0.0 <= target < 1.0:
        raise ValueError("target must be in [0, 1)")
    load = offered_load(arrivals_per_hour, aht_seconds)
    servers = max(math.floor(load) + 1, 1)
    while service_level(servers, load, aht_seconds, threshold_seconds) < target:
        servers += 1
    return servers
