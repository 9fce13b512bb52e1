"""Results: one folder per run (``results/<scenario>-<timestamp>/``) with
``result.json`` and PNG plots drawn with matplotlib's Agg backend."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

__all__ = ["plot_idle", "plot_ramp", "plot_storm", "plot_timeline", "results_dir", "write_json"]


def results_dir(root: str | Path, scenario: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{scenario}-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(root) / f"{scenario}-{stamp}-{suffix}"
    path.mkdir(parents=True)
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_timeline(path: Path, timeline: list[dict[str, Any]], title: str) -> Path | None:
    """Latency percentiles (per second) and delivered rate over time, one colour per measured phase."""
    points = [e for e in timeline if "p99_ms" in e]
    if not points:
        return None
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    phases = list(dict.fromkeys(e["phase"] for e in points))
    for phase in phases:
        rows = [e for e in points if e["phase"] == phase]
        t = [e["t"] for e in rows]
        line = top.plot(t, [e["p99_ms"] for e in rows], label=f"{phase} p99")[0]
        top.plot(t, [e["p50_ms"] for e in rows], linestyle="--", color=line.get_color(), label=f"{phase} p50")
        top.plot(t, [e["max_ms"] for e in rows], linestyle=":", color=line.get_color(), alpha=0.6)
        bottom.plot(t, [e["delivered_per_s"] for e in rows], color=line.get_color(), label=phase)
    top.set_yscale("log")
    top.set_ylabel("latency, ms (p50 dashed, p99 solid, max dotted)")
    top.grid(True, which="both", alpha=0.3)
    top.legend(fontsize=7)
    top.set_title(title)
    bottom.set_ylabel("delivered msgs/s")
    bottom.set_xlabel("seconds since the run started")
    bottom.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_ramp(path: Path, curves: dict[str, list[dict[str, Any]]], p99_target: float, title: str) -> Path | None:
    """p99 latency and delivered rate against the offered rate, one curve per server."""
    if not any(curves.values()):
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    for label, steps in curves.items():
        offered = [s["offered_msgs_per_s"] for s in steps]
        left.plot(offered, [s["latency_ms"]["all"]["p99"] or 0 for s in steps], marker="o", label=label)
        right.plot(offered, [s["delivered_msgs_per_s"] for s in steps], marker="o", label=label)
    left.axhline(p99_target, color="red", linestyle="--", label=f"target {p99_target:g} ms")
    left.set_yscale("log")
    left.set_xlabel("offered msgs/s")
    left.set_ylabel("p99 end-to-end latency, ms")
    left.grid(True, which="both", alpha=0.3)
    left.legend()
    top = max((s["offered_msgs_per_s"] for steps in curves.values() for s in steps), default=1)
    right.plot([0, top], [0, top], color="grey", linestyle=":", label="delivered = offered")
    right.set_xlabel("offered msgs/s")
    right.set_ylabel("delivered msgs/s")
    right.grid(True, alpha=0.3)
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_idle(path: Path, timeline: list[dict[str, Any]], title: str) -> Path | None:
    if not timeline:
        return None
    plt = _pyplot()
    fig, left = plt.subplots(figsize=(10, 5))
    t = [e["t"] for e in timeline]
    left.plot(t, [e["open"] for e in timeline], color="tab:blue", label="open connections")
    left.set_xlabel("seconds since the run started")
    left.set_ylabel("open connections", color="tab:blue")
    right = left.twinx()
    right.plot(t, [e.get("server_rss_mib", 0) for e in timeline], color="tab:red", label="server RSS")
    right.set_ylabel("server RSS, MiB", color="tab:red")
    left.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_storm(path: Path, timeline: list[dict[str, Any]], resume_seconds: list[float], drop_t: float,
               title: str) -> Path | None:
    if not timeline:
        return None
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7))
    t = [e["t"] - drop_t for e in timeline]
    top.plot(t, [e["open"] for e in timeline], label="open connections")
    if resume_seconds:
        ordered = sorted(resume_seconds)
        top.step(ordered, range(1, len(ordered) + 1), where="post", label="resumed (cumulative)")
    top.axvline(0, color="red", linestyle="--", label="drop")
    top.set_ylabel("clients")
    top.legend()
    top.grid(True, alpha=0.3)
    top.set_title(title)
    points = [(e["t"] - drop_t, e) for e in timeline if "p99_ms" in e]
    if points:
        bottom.plot([p[0] for p in points], [p[1]["p99_ms"] for p in points], label="p99")
        bottom.plot([p[0] for p in points], [p[1]["max_ms"] for p in points], linestyle=":", label="max")
        bottom.set_yscale("log")
    bottom.axvline(0, color="red", linestyle="--")
    bottom.set_xlabel("seconds since the drop")
    bottom.set_ylabel("message latency, ms")
    bottom.grid(True, which="both", alpha=0.3)
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
