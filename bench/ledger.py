"""What the load generator saw: latency histograms and delivery counts.

A :class:`Ledger` lives in each load-generator process; peers record into it.
:class:`StepTally` is one measured step (a chat run has one, a ramp one per
rate). Main merges the processes' tallies with :func:`merge_tallies` and
:func:`delivery_summary` turns them into the reported figures. Loss is counted
per conversation and direction: a message acknowledged by the server but never
delivered to the other side is lost; one delivered twice is a duplicate.

Message bodies carry ``<step>:<intended send time, monotonic ns>:<sender
counter>:<padding>`` so the receiver knows the step and the latency without
any shared state (``CLOCK_MONOTONIC`` is one clock for every process of the
machine).
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = [
    "DIRECTIONS",
    "Ledger",
    "SeqTracker",
    "StepTally",
    "delivery_summary",
    "direction_of",
    "encode_histogram",
    "histogram",
    "merge_histograms",
    "merge_tallies",
    "message_body",
    "parse_body",
    "percentiles",
]

DIRECTIONS = ("visitor_to_agent", "agent_to_visitor")
_HIGHEST_US = 120_000_000  # two minutes, in microseconds
_DIGITS = 3


def histogram() -> HdrHistogram:
    """A latency histogram in microseconds, 1 µs to 2 min, 3 significant digits."""
    return HdrHistogram(1, _HIGHEST_US, _DIGITS)


def encode_histogram(hist: HdrHistogram) -> str:
    return base64.b64encode(hist.encode()).decode() if hist.get_total_count() else ""


def merge_histograms(encoded: list[str]) -> HdrHistogram:
    merged = histogram()
    for blob in encoded:
        if blob:
            merged.decode_and_add(base64.b64decode(blob))
    return merged


def percentiles(hist: HdrHistogram) -> dict[str, float | int]:
    """p50/p90/p99/p99.9/max in milliseconds, and the sample count."""
    count = hist.get_total_count()
    if not count:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "p99_9": None, "max": None}  # type: ignore[dict-item]
    ms = lambda us: round(us / 1000.0, 3)  # noqa: E731
    return {"count": count, "p50": ms(hist.get_value_at_percentile(50)), "p90": ms(hist.get_value_at_percentile(90)),
            "p99": ms(hist.get_value_at_percentile(99)), "p99_9": ms(hist.get_value_at_percentile(99.9)),
            "max": ms(hist.get_max_value())}


def direction_of(sender_role: str) -> str:
    return "visitor_to_agent" if sender_role == "visitor" else "agent_to_visitor"


def message_body(step: int, intended_ns: int, counter: int, padding: str) -> str:
    return f"{step}:{intended_ns}:{counter}:{padding}"


def parse_body(body: str) -> tuple[int, int, int]:
    """(step, intended send time in ns, sender counter); (-1, 0, 0) for foreign bodies."""
    parts = body.split(":", 3)
    if len(parts) < 3:
        return -1, 0, 0
    try:
        return int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return -1, 0, 0


class SeqTracker:
    """Gap-free numbering checked on the receiving side (pure).

    For each stream (a conversation's seqs, or one sender's counters in one
    conversation) it keeps the highest number seen and the numbers skipped
    on the way. :meth:`observe` classifies each arrival:

    - ``"new"``: the next number, or a later one (the skipped ones become
      holes and are counted in :attr:`gaps`);
    - ``"late"``: fills a hole, i.e. arrived out of order;
    - ``"duplicate"``: seen before.
    """

    __slots__ = ("_holes", "_last", "gaps")

    def __init__(self) -> None:
        self._last: dict[Any, int] = {}
        self._holes: dict[Any, set[int]] = {}
        self.gaps = 0  # numbers skipped at some point (filled later or not)

    def observe(self, stream: Any, number: int) -> str:
        last = self._last.get(stream, 0)
        if number > last:
            if number > last + 1:
                self._holes.setdefault(stream, set()).update(range(last + 1, number))
                self.gaps += number - last - 1
            self._last[stream] = number
            return "new"
        holes = self._holes.get(stream)
        if holes is not None and number in holes:
            holes.discard(number)
            if not holes:
                del self._holes[stream]
            return "late"
        return "duplicate"

    def forget(self, matches: Callable[[Any], bool]) -> None:
        """Start the streams ``matches`` picks afresh (their numbers come again)."""
        for stream in [s for s in self._last if matches(s)]:
            self._last.pop(stream, None)
            self._holes.pop(stream, None)

    def last(self, stream: Any) -> int:
        return self._last.get(stream, 0)

    def missing(self) -> int:
        """Numbers skipped and still not seen."""
        return sum(len(h) for h in self._holes.values())


class StepTally:
    """Counts and histograms of one measured step in one process."""

    __slots__ = ("acked", "counters", "delivered", "hist", "sent", "window_end_ns")

    def __init__(self) -> None:
        self.window_end_ns = 0  # deliveries after this are late (counted, but not in the rate); 0: none are
        self.hist = {name: histogram() for name in (*DIRECTIONS, "ack")}
        self.sent: Counter[str] = Counter()  # direction -> messages scheduled
        self.acked: Counter[tuple[str, str]] = Counter()  # (conversation, direction) -> acknowledged
        self.delivered: Counter[tuple[str, str]] = Counter()  # (conversation, direction) -> first deliveries
        self.counters: Counter[str] = Counter()  # duplicates, out_of_order, typing_sent, ...

    def export(self) -> dict[str, Any]:
        return {"hist": {name: encode_histogram(h) for name, h in self.hist.items()},
                "sent": dict(self.sent),
                "acked": [[c, d, n] for (c, d), n in self.acked.items()],
                "delivered": [[c, d, n] for (c, d), n in self.delivered.items()],
                "counters": dict(self.counters)}


class Ledger:
    """Per-process record of every step, plus a rolling interval histogram
    for the latency-over-time plot."""

    def __init__(self) -> None:
        self.steps: dict[int, StepTally] = {}
        self.interval = {name: histogram() for name in DIRECTIONS}
        self.interval_delivered = 0
        self.interval_sent = 0
        self.totals: Counter[str] = Counter()  # connection-level counts (errors, reconnects, gaps)

    def step(self, step: int) -> StepTally:
        tally = self.steps.get(step)
        if tally is None:
            tally = self.steps[step] = StepTally()
        return tally

    def on_sent(self, step: int, direction: str) -> None:
        self.step(step).sent[direction] += 1
        self.interval_sent += 1

    def on_acked(self, step: int, conversation: str, direction: str, intended_ns: int) -> None:
        tally = self.step(step)
        tally.acked[conversation, direction] += 1
        tally.hist["ack"].record_value(_latency_us(intended_ns))

    def on_delivered(self, step: int, conversation: str, direction: str, intended_ns: int) -> None:
        tally = self.step(step)
        tally.delivered[conversation, direction] += 1
        now = time.monotonic_ns()
        if not tally.window_end_ns or now <= tally.window_end_ns:
            tally.counters["delivered_in_window"] += 1
        latency = min(_HIGHEST_US, max(1, (now - intended_ns) // 1000))
        tally.hist[direction].record_value(latency)
        self.interval[direction].record_value(latency)
        self.interval_delivered += 1

    def count(self, step: int, name: str, n: int = 1) -> None:
        self.step(step).counters[name] += n

    def take_interval(self) -> dict[str, Any]:
        """The interval histograms and counts since the last call (then reset)."""
        out = {"hist": {name: encode_histogram(h) for name, h in self.interval.items()},
               "delivered": self.interval_delivered, "sent": self.interval_sent}
        for h in self.interval.values():
            h.reset()
        self.interval_delivered = self.interval_sent = 0
        return out

    def export(self, steps: list[int]) -> dict[str, Any]:
        return {str(s): self.step(s).export() for s in steps}


def _latency_us(intended_ns: int) -> int:
    return min(_HIGHEST_US, max(1, (time.monotonic_ns() - intended_ns) // 1000))


def merge_tallies(exports: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge one step's exports from every process."""
    sent: Counter[str] = Counter()
    acked: Counter[tuple[str, str]] = Counter()
    delivered: Counter[tuple[str, str]] = Counter()
    counters: Counter[str] = Counter()
    hists: dict[str, list[str]] = {}
    for export in exports:
        sent.update(export["sent"])
        counters.update(export["counters"])
        for conversation, direction, n in export["acked"]:
            acked[conversation, direction] += n
        for conversation, direction, n in export["delivered"]:
            delivered[conversation, direction] += n
        for name, blob in export["hist"].items():
            hists.setdefault(name, []).append(blob)
    return {"sent": sent, "acked": acked, "delivered": delivered, "counters": counters,
            "hist": {name: merge_histograms(blobs) for name, blobs in hists.items()}}


def delivery_summary(merged: dict[str, Any], seconds: float, offered_rate: float) -> dict[str, Any]:
    """The reported figures of one step: rates, loss, duplicates, latency."""
    acked, delivered = merged["acked"], merged["delivered"]
    lost = sum(max(0, n - delivered.get(key, 0)) for key, n in acked.items())
    unexpected = sum(max(0, n - acked.get(key, 0)) for key, n in delivered.items())
    counters = merged["counters"]
    sent_total = sum(merged["sent"].values())
    delivered_total = sum(delivered.values())
    in_window = int(counters.get("delivered_in_window", delivered_total))
    latency = {d: percentiles(merged["hist"].get(d) or histogram()) for d in DIRECTIONS}
    both = histogram()
    for d in DIRECTIONS:
        if d in merged["hist"]:
            both.add(merged["hist"][d])
    latency["all"] = percentiles(both)
    return {
        "seconds": round(seconds, 3),
        "offered_msgs_per_s": round(offered_rate, 1),
        "sent": sent_total,
        "sent_msgs_per_s": round(sent_total / seconds, 1) if seconds else None,
        "acked": sum(acked.values()),
        "delivered": delivered_total,
        # deliveries by the end of the window (plus a second for those in flight), over its seconds
        "delivered_msgs_per_s": round(in_window / seconds, 1) if seconds else None,
        "delivered_late": delivered_total - in_window,
        "lost": lost,
        "unacked": int(counters.get("unacked", 0)),
        "refused": int(counters.get("refused", 0)),  # sends answered with an error (e.g. internal_error)
        "delivered_without_ack": unexpected,
        # a seq delivered twice, or one message stored under two seqs (the sender's counter repeats)
        "duplicated": int(counters.get("duplicates", 0)) + int(counters.get("stored_twice", 0)),
        "stored_twice": int(counters.get("stored_twice", 0)),
        "out_of_order": int(counters.get("out_of_order", 0)),
        "latency_ms": latency,
        "ack_latency_ms": percentiles(merged["hist"].get("ack") or histogram()),
        "typing": {"sent": int(counters.get("typing_sent", 0)), "delivered": int(counters.get("typing_received", 0))},
        "read": {"sent": int(counters.get("read_sent", 0)), "delivered": int(counters.get("read_received", 0))},
    }
