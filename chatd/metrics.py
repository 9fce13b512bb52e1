"""Prometheus metrics of one chatd process (base units, ``_total`` counters,
no per-user labels). Each app owns its registry so several apps can live in
one test process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    __slots__ = ("ack_latency", "assignments", "connections", "draining", "errors", "messages", "registry",
                 "signals_lost")

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
        for role in ("visitor", "agent"):
            self.connections.labels(role)
            self.messages.labels(role)

    def render(self) -> bytes:
        return generate_latest(self.registry)
