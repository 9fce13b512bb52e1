"""Prometheus metrics of one chatd process (base units, ``_total`` counters,
no per-user labels). Each app owns its registry so several apps can live in
one test process."""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    __slots__ = ("_stored", "ack_latency", "assignments", "connections", "draining", "errors", "gc_frozen",
                 "gc_pauses", "messages", "registry", "signals_lost")

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge("chatd_connections", "Open WebSocket connections.", ["role"],
                                 registry=self.registry)
        self.messages = Counter("chatd_messages_total", "Messages stored, by sender role.", ["role"],
                                registry=self.registry)
        self.ack_latency = Histogram(
            "chatd_ack_latency_seconds", "From receiving a send frame to queuing its ack.",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry)
        self.errors = Counter("chatd_errors_total", "Error frames sent, by code.", ["code"],
                              registry=self.registry)
        self.signals_lost = Counter("chatd_signals_lost_total",
                                    "Typing and read signals that could not be published (best effort).",
                                    registry=self.registry)
        self.assignments = Counter("chatd_assignments_total", "Conversations assigned to agents.",
                                   registry=self.registry)
        self.draining = Gauge("chatd_draining", "1 while the node drains.", registry=self.registry)
        self.gc_pauses = Histogram(
            "chatd_gc_pause_seconds", "Garbage-collector passes (every connection waits meanwhile), by generation.",
            ["generation"], buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry)
        self.gc_frozen = Gauge("chatd_gc_frozen_objects",
                               "Objects kept out of collections (frozen when the server started).",
                               registry=self.registry)
        for role in ("visitor", "agent"):
            self.connections.labels(role)
        self._stored = {role: self.messages.labels(role) for role in ("visitor", "agent")}

    def message_stored(self, role: str) -> None:
        """Count a stored message (the labelled child is looked up once per role)."""
        child = self._stored.get(role)
        if child is None:
            child = self._stored[role] = self.messages.labels(role)
        child.inc()

    def watch_gc(self) -> None:
        """Time every collector pass. For a served process only: the hook is process-wide."""
        by_generation = [self.gc_pauses.labels(str(generation)) for generation in range(3)]
        started = 0.0

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            else:
                by_generation[info["generation"]].observe(time.perf_counter() - started)

        gc.callbacks.append(on_gc)
        self.gc_frozen.set_function(gc.get_freeze_count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
