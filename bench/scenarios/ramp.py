"""ramp: the chat workload, stepping the rate up until p99 passes the
target or anything is lost (or the offered rate is no longer delivered);
then the same ramp against the python-socketio baseline.

Reports every step and the highest rate that held for chatd and for the
baseline, and their ratio.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.chatload import held, ratio, run_baseline_phase, run_chatd_deployment
from bench.loadgen import LoadGenerator
from bench.report import plot_ramp, plot_timeline
from bench.scenarios.chat import chat_options

__all__ = ["HELP", "add_arguments", "headline", "plot", "rates", "run"]

HELP = "step the rate up until p99 or loss fails; highest held rate vs the baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    chat_options(parser)
    parser.add_argument("--start-rate", type=float, default=500.0, help="first step, msgs/s")
    parser.add_argument("--factor", type=float, default=1.4, help="each step's rate is the previous times this")
    parser.add_argument("--max-rate", type=float, default=20000.0, help="stop stepping here")
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--step-seconds", type=float, default=8.0, help="measured seconds per step")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also ramp the python-socketio baseline (needs a local Redis)")


def rates(start: float, factor: float, maximum: float, steps: int) -> list[float]:
    out = []
    rate = start
    while rate <= maximum and len(out) < steps:
        out.append(round(rate))
        rate *= factor
    return out


def _highest(steps: list[dict[str, Any]], p99_ms: float) -> float | None:
    best = None
    for step in steps:
        if not held(step, p99_ms):
            break
        best = step["offered_msgs_per_s"]
    return best


def run(ctx: Any) -> dict[str, Any]:
    args = ctx.args
    plan = rates(args.start_rate, args.factor, args.max_rate, args.max_steps)
    steps = [{"step": 0, "rate": plan[0], "seconds": args.warmup, "warmup": True}] if args.warmup > 0 else []
    steps += [{"step": i + 1, "rate": rate, "seconds": args.step_seconds} for i, rate in enumerate(plan)]

    def keep_going(summary: dict[str, Any]) -> bool:
        return held(summary, args.p99_target)

    result: dict[str, Any] = {"targets": {"p99_ms": args.p99_target, "held_ratio_to_baseline": 3.0}, "plan": plan}
    with LoadGenerator(args.procs, ctx.loadgen_config(), on_progress=ctx.monitor.on_progress,
                       on_tick=ctx.monitor.on_tick) as gen:
        phase = run_chatd_deployment(ctx, gen, steps, keep_going=keep_going)
        phase["highest_held_msgs_per_s"] = _highest(phase["steps"], args.p99_target)
        result["chatd"] = phase
        if args.baseline and not args.url:
            phase = run_baseline_phase(ctx, gen, steps, conversations=args.conversations, per_agent=args.per_agent,
                                       keep_going=keep_going)
            phase["highest_held_msgs_per_s"] = _highest(phase["steps"], args.p99_target)
            result["baseline"] = phase
            held_ratio = ratio(result["chatd"]["highest_held_msgs_per_s"], phase["highest_held_msgs_per_s"])
            result["ratio_chatd_to_baseline"] = {"highest_held_msgs_per_s": held_ratio}
            result["target_met"] = held_ratio is not None and held_ratio >= 3.0
    # A ramp ends with a failing step by design; loss is a finding there, not a broken run.
    result["ok"] = bool(result["chatd"]["steps"])
    return result


def plot(ctx: Any, result: dict[str, Any]) -> list[Path | None]:
    curves = {name: result[name]["steps"] for name in ("chatd", "baseline") if name in result}
    return [plot_ramp(ctx.out_dir / "ramp.png", curves, ctx.args.p99_target,
                      f"ramp: {ctx.args.conversations} conversations"),
            plot_timeline(ctx.out_dir / "latency.png", result["timeline"], "ramp: latency over time")]


def headline(result: dict[str, Any]) -> str:
    lines = []
    for name in ("chatd", "baseline"):
        if name in result and "error" in result[name]:
            lines.append(f"{name:8}: failed: {result[name]['error'][:300]}")
        elif name in result:
            steps = ", ".join(f"{s['offered_msgs_per_s']:.0f}:{s['latency_ms']['all']['p99']}ms/{s['lost']}lost"
                              for s in result[name]["steps"])
            lines.append(f"{name:8}: highest held {result[name]['highest_held_msgs_per_s']} msgs/s  [{steps}]")
    if "ratio_chatd_to_baseline" in result:
        lines.append(f"ratio   : {result['ratio_chatd_to_baseline']}")
    return "\n".join(lines)
