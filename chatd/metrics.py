"""Prometheus metrics of chatd (base units, ``_total`` counters, no per-user
labels).

One process: each app owns its registry, so several apps can live in one
test process, and the registry also carries the process and Python
collectors. Several worker processes (``chatd serve --workers N``): the
parent sets ``PROMETHEUS_MULTIPROC_DIR`` before they start, every value is
kept in a file per process there, and :func:`render` reads all of them, so
any worker (or the parent's metrics port) answers for the whole node.
Gauges say how they combine across workers (``multiprocess_mode``).

The store-wide figures (queue length and oldest wait per skill group, agents
online by status) are read from the store by every node every few seconds:
all nodes report the same values, so aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["MULTIPROCESS_ENV", "Metrics", "WorkerProcesses", "multiprocess_registry"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_WAIT_BUCKETS = (1, 5, 10, 20, 30, 60, 120, 300, 600, 1800)


def multiprocessing_dir() -> str:
    return os.environ.get(MULTIPROCESS_ENV, "")


class Metrics:
    __slots__ = ("_gc_pauses", "_store_calls", "_store_wide", "_stored", "ack_latency", "agents_online", "assignments",
                 "connections", "draining", "errors", "gc_frozen", "gc_pauses", "messages", "queue_length",
                 "queue_oldest_wait", "queue_wait", "registry", "routing_leader", "signals_lost", "store_calls",
                 "webhooks")

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("chatd_connections", "Open WebSocket connections.", ["role"],
                                 registry=r, multiprocess_mode="livesum")
        self.messages = Counter("chatd_messages_total", "Messages stored, by sender role.", ["role"], registry=r)
        self.ack_latency = Histogram("chatd_ack_latency_seconds", "From receiving a send frame to queuing its ack.",
                                     buckets=_LATENCY_BUCKETS[1:], registry=r)
        self.errors = Counter("chatd_errors_total", "Error frames sent, by code.", ["code"], registry=r)
        self.signals_lost = Counter("chatd_signals_lost_total",
                                    "Typing and read signals that could not be published (best effort).", registry=r)
        self.assignments = Counter("chatd_assignments_total",
                                   "Conversations placed with an agent (offered or assigned) by this node's router.",
                                   registry=r)
        self.queue_wait = Histogram("chatd_queue_wait_seconds",
                                    "From queued to placed with an agent, by skill group.", ["skill"],
                                    buckets=_WAIT_BUCKETS, registry=r)
        self.routing_leader = Gauge("chatd_routing_leader", "1 while this process holds the routing lease.",
                                    registry=r, multiprocess_mode="livemax")
        self.queue_length = Gauge("chatd_queue_length", "Conversations waiting, by skill group (store-wide).",
                                  ["skill"], registry=r, multiprocess_mode="livemostrecent")
        self.queue_oldest_wait = Gauge("chatd_queue_oldest_wait_seconds",
                                       "How long the oldest waiting conversation has waited (store-wide).",
                                       ["skill"], registry=r, multiprocess_mode="livemostrecent")
        self.agents_online = Gauge("chatd_agents_online", "Connected agents by status (store-wide).", ["status"],
                                   registry=r, multiprocess_mode="livemostrecent")
        self.store_calls = Histogram("chatd_store_call_seconds",
                                     "Redis store calls, from send to answer, by operation.", ["op"],
                                     buckets=_LATENCY_BUCKETS, registry=r)
        self.webhooks = Counter("chatd_webhook_deliveries_total",
                                "Calls to webhooks (external bot, customer info), by hook and outcome.",
                                ["hook", "outcome"], registry=r)
        self.draining = Gauge("chatd_draining", "1 while the node drains.", registry=r, multiprocess_mode="livemax")
        self.gc_pauses = Histogram(
            "chatd_gc_pause_seconds", "Garbage-collector passes (every connection waits meanwhile), by generation.",
            ["generation"], buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0), registry=r)
        self.gc_frozen = Gauge("chatd_gc_frozen_objects",
                               "Objects kept out of collections (frozen when the server started).",
                               registry=r, multiprocess_mode="livesum")
        if not multiprocessing_dir():
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                r.register(collector)
        for role in ("visitor", "agent"):
            self.connections.labels(role)
        self._stored = {role: self.messages.labels(role) for role in ("visitor", "agent")}
        self._store_calls: dict[str, Any] = {}
        self._store_wide: dict[str, set[str]] = {}  # gauge -> labels this process has set
        self._gc_pauses: list[tuple[int, float]] = []  # (generation, seconds) not yet observed

    def message_stored(self, role: str) -> None:
        """Count a stored message (the labelled child is looked up once per role)."""
        child = self._stored.get(role)
        if child is None:
            child = self._stored[role] = self.messages.labels(role)
        child.inc()

    def store_call(self, op: str, seconds: float) -> None:
        child = self._store_calls.get(op)
        if child is None:
            child = self._store_calls[op] = self.store_calls.labels(op)
        child.observe(seconds)

    def placed(self, skill: str, waited: float) -> None:
        """The router placed a conversation that had waited ``waited`` seconds."""
        self.assignments.inc()
        self.queue_wait.labels(skill or "-").observe(max(0.0, waited))

    def store_wide(self, queues: dict[str, tuple[int, float]], agents: dict[str, int]) -> None:
        """Set the store-wide gauges: per skill (waiting, oldest wait), agents per status."""
        for gauge, values in ((self.queue_length, {k: v[0] for k, v in queues.items()}),
                              (self.queue_oldest_wait, {k: v[1] for k, v in queues.items()}),
                              (self.agents_online, agents)):
            known = self._store_wide.setdefault(gauge.describe()[0].name, set())
            for label in known - set(values):
                gauge.labels(label).set(0)  # a group whose queue emptied reads 0, not its last length
            for label, value in values.items():
                gauge.labels(label).set(value)
            known |= set(values)

    def watch_gc(self) -> None:
        """Time every collector pass. For a served process only: the hook is process-wide.

        The hook only appends to a list: a collection can start inside a
        metric's update, under the lock the update holds (one lock for every
        value in multiprocess mode), so observing there could deadlock. The
        pauses reach the histogram in :meth:`flush_gc`."""
        started = 0.0
        pauses = self._gc_pauses

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            elif len(pauses) < 100_000:
                pauses.append((info["generation"], time.perf_counter() - started))

        gc.callbacks.append(on_gc)
        self.gc_frozen.set(gc.get_freeze_count())

    def flush_gc(self) -> None:
        """Move the pauses timed since the last flush into the histogram."""
        by_generation = [self.gc_pauses.labels(str(generation)) for generation in range(3)]
        count = len(self._gc_pauses)
        pending = self._gc_pauses[:count]
        del self._gc_pauses[:count]  # passes timed meanwhile stay for the next flush
        for generation, seconds in pending:
            by_generation[generation].observe(seconds)

    def render(self) -> bytes:
        self.flush_gc()
        if multiprocessing_dir():
            return generate_latest(multiprocess_registry())
        return generate_latest(self.registry)


class WorkerProcesses:
    """Process figures of every live worker, read from ``/proc`` by pid (the
    pids are those with files in the multiprocess directory): CPU seconds,
    resident memory and open files, labelled by ``pid``."""

    def __init__(self, directory: str) -> None:
        self._dir = Path(directory)
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _pids(self) -> list[str]:
        pids = set()
        for path in self._dir.glob("*.db"):
            pid = path.stem.rpartition("_")[2]
            if pid.isdigit() and Path("/proc", pid).exists():
                pids.add(pid)
        return sorted(pids, key=int)

    def collect(self) -> Any:
        cpu = CounterMetricFamily("process_cpu_seconds", "CPU time of each worker process.", labels=["pid"])
        rss = GaugeMetricFamily("process_resident_memory_bytes", "Resident memory of each worker process.",
                                labels=["pid"])
        fds = GaugeMetricFamily("process_open_fds", "Open file descriptors of each worker process.", labels=["pid"])
        for pid in self._pids():
            try:
                stat = Path("/proc", pid, "stat").read_text().rpartition(")")[2].split()
                open_fds = len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                continue
            cpu.add_metric([pid], (int(stat[11]) + int(stat[12])) / self._ticks)
            rss.add_metric([pid], int(stat[21]) * self._page)
            fds.add_metric([pid], open_fds)
        yield from (cpu, rss, fds)


def multiprocess_registry() -> CollectorRegistry:
    """All workers' figures, summed or kept apart as each metric says."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(WorkerProcesses(multiprocessing_dir()))
    registry.register(PLATFORM_COLLECTOR)
    return registry
