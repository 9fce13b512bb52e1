"""Main's view of a run while it happens: the progress line on stderr and
the per-second timeline (latency, rates, server, Redis and load-generator
CPU) that ends up in the JSON and the plots."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from bench.ledger import DIRECTIONS, histogram, merge_histograms
from bench.servers import ProcessMeter, RedisMeter, cpu_percent

__all__ = ["Monitor", "ProgressLine"]


class ProgressLine:
    """One status line on stderr, redrawn in place on a terminal and
    printed every few seconds otherwise (CI logs)."""

    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True, every: float = 5.0) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self.every = every
        self._last = 0.0
        self._width = 0

    def show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
            self.stream.flush()
        elif force or now - self._last >= self.every:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last = now

    def finish(self, text: str = "") -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width) + "\n")
            self._width = 0
        elif text:
            self.stream.write(text + "\n")
        self.stream.flush()


class Monitor:
    """Collects the load generator's progress reports and samples the
    servers once a second."""

    def __init__(self, scenario: str, progress: ProgressLine) -> None:
        self.scenario = scenario
        self.progress = progress
        self.started = time.monotonic()
        self.phase = "setup"
        self.phase_started = self.started
        self.deadline: float | None = None
        self.server: ProcessMeter | None = None
        self.redis: RedisMeter | None = None
        self.latest: dict[int, dict[str, Any]] = {}
        self.timeline: list[dict[str, Any]] = []
        self._blobs: dict[str, list[str]] = {d: [] for d in DIRECTIONS}
        self._delivered = 0
        self._sent = 0
        self._cpu: dict[int, tuple[float, float]] = {}
        self._loadgen_cpu: dict[int, float] = {}
        self._bucket_started = self.started
        self._server_sample: dict[str, Any] | None = None
        self._redis_sample: dict[str, Any] | None = None

    def follow(self, server: ProcessMeter | None, redis_meter: RedisMeter | None) -> None:
        self.server, self.redis = server, redis_meter
        self._server_sample = server.sample() if server else None
        self._redis_sample = redis_meter.sample() if redis_meter else None

    def set_phase(self, phase: str, seconds: float | None = None) -> None:
        self.phase = phase
        self.phase_started = time.monotonic()
        self.deadline = self.phase_started + seconds if seconds else None

    # --- from the load generator --------------------------------------------------
    def on_progress(self, index: int, report: dict[str, Any]) -> None:
        self.latest[index] = report
        interval = report.get("interval") or {}
        for direction, blob in (interval.get("hist") or {}).items():
            if blob:
                self._blobs[direction].append(blob)
        self._delivered += interval.get("delivered", 0)
        self._sent += interval.get("sent", 0)
        previous = self._cpu.get(index)
        if previous is not None and report["wall"] > previous[0]:
            self._loadgen_cpu[index] = (report["cpu"] - previous[1]) / (report["wall"] - previous[0])
        self._cpu[index] = (report["wall"], report["cpu"])

    def total(self, name: str) -> int:
        return sum(int(r.get(name, 0)) for r in self.latest.values())

    def on_tick(self) -> None:
        now = time.monotonic()
        if now - self._bucket_started < 1.0:
            return
        self._close_bucket(now)

    def _close_bucket(self, now: float) -> None:
        seconds = now - self._bucket_started
        self._bucket_started = now
        entry: dict[str, Any] = {"t": round(now - self.started, 2), "phase": self.phase,
                                 "sent_per_s": round(self._sent / seconds, 1),
                                 "delivered_per_s": round(self._delivered / seconds, 1),
                                 "open": self.total("open"), "resumed": self.total("resumed"),
                                 "loadgen_cpu_percent": [round(v * 100, 1)
                                                         for _, v in sorted(self._loadgen_cpu.items())]}
        both = histogram()
        for _direction, blobs in self._blobs.items():
            merged = merge_histograms(blobs)
            both.add(merged)
            blobs.clear()
        if both.get_total_count():
            entry.update({"p50_ms": both.get_value_at_percentile(50) / 1000,
                          "p99_ms": both.get_value_at_percentile(99) / 1000,
                          "max_ms": both.get_max_value() / 1000})
        self._sent = self._delivered = 0
        if self.server is not None:
            sample = self.server.sample()
            if self._server_sample is not None:
                entry["server_cpu_percent"] = cpu_percent(self._server_sample, sample)
            entry["server_rss_mib"] = round(sample["rss_bytes"] / 2**20, 1)
            self._server_sample = sample
        if self.redis is not None:
            sample = self.redis.sample()
            if self._redis_sample is not None and sample.get("cpu_s") is not None:
                entry["redis_cpu_percent"] = cpu_percent(self._redis_sample, sample)
            self._redis_sample = sample
        self.timeline.append(entry)
        self._show(entry)

    def _show(self, entry: dict[str, Any]) -> None:
        parts = [f"[{self.scenario}] {self.phase}", f"{time.monotonic() - self.phase_started:5.0f}s"]
        if self.deadline:
            parts[-1] += f"/{self.deadline - self.phase_started:.0f}s"
        parts.append(f"open {entry['open']}")
        if entry["sent_per_s"] or entry["delivered_per_s"]:
            parts.append(f"sent {entry['sent_per_s']:.0f}/s delivered {entry['delivered_per_s']:.0f}/s")
        if "p99_ms" in entry:
            parts.append(f"p50 {entry['p50_ms']:.1f} p99 {entry['p99_ms']:.1f} max {entry['max_ms']:.0f} ms")
        if self.phase.startswith("storm"):
            parts.append(f"resumed {entry['resumed']}")
        if entry.get("server_cpu_percent") is not None:
            parts.append(f"server {entry['server_cpu_percent']:.0f}%")
        if entry.get("redis_cpu_percent") is not None:
            parts.append(f"redis {entry['redis_cpu_percent']:.0f}%")
        if entry["loadgen_cpu_percent"]:
            parts.append("loadgen " + "/".join(f"{v:.0f}" for v in entry["loadgen_cpu_percent"]) + "%")
        self.progress.show("  ".join(parts))

    def note(self, text: str) -> None:
        self.progress.show(f"[{self.scenario}] {text}", force=True)
