"""chat: C conversations (a visitor and an agent each, agents holding k
chats) exchanging messages at a fixed total rate on an open-loop schedule,
with typing and read receipts mixed in; then the same against the
python-socketio baseline relay on the same load generator.

Reports offered and delivered msgs/s, end-to-end latency per direction
(p50/p90/p99/p99.9/max, from the intended send time), lost, duplicated and
out-of-order messages, server, Redis and load-generator CPU, and the ratio
of chatd's figures to the baseline's.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.chatload import check_chat_target, ratio, run_baseline_phase, run_chatd_deployment
from bench.loadgen import LoadGenerator
from bench.report import plot_timeline

__all__ = ["HELP", "add_arguments", "chat_options", "compare", "headline", "plot", "run"]

HELP = "conversations at a fixed rate: latency, loss, CPU; baseline in the same run"


def chat_options(parser: argparse.ArgumentParser, *, conversations: int = 1000, per_agent: int = 25) -> None:
    parser.add_argument("--conversations", type=int, default=conversations, help="visitor/agent conversations")
    parser.add_argument("--per-agent", type=int, default=per_agent,
                        help="chats each agent holds (1-50; agents = conversations / this)")
    parser.add_argument("--p99-target", type=float, default=10.0, help="end-to-end p99 target, ms")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unreported traffic first")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    chat_options(parser)
    parser.add_argument("--rate", type=float, default=2000.0,
                        help="messages per second over all conversations, both directions (= delivered msgs/s)")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the python-socketio baseline (needs a local Redis)")


def compare(chatd: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """chatd's figures divided by the baseline's (latency: lower is better; rate: higher is better)."""
    a, b = chatd["latency_ms"]["all"], baseline["latency_ms"]["all"]
    return {
        "p50_latency": ratio(a["p50"], b["p50"]),
        "p99_latency": ratio(a["p99"], b["p99"]),
        "max_latency": ratio(a["max"], b["max"]),
        "delivered_msgs_per_s": ratio(chatd["delivered_msgs_per_s"], baseline["delivered_msgs_per_s"]),
        "server_cpu_per_msg": ratio(chatd["server"].get("cpu_ms_per_1000_msgs"),
                                    baseline["server"].get("cpu_ms_per_1000_msgs")),
    }


def run(ctx: Any) -> dict[str, Any]:
    args = ctx.args
    steps = [{"step": 0, "rate": args.rate, "seconds": args.warmup, "warmup": True},
             {"step": 1, "rate": args.rate, "seconds": args.duration}]
    steps = [s for s in steps if s["seconds"] > 0]
    result: dict[str, Any] = {"targets": {"p99_ms": args.p99_target, "delivered_msgs_per_s": args.rate}}
    with LoadGenerator(args.procs, ctx.loadgen_config(), on_progress=ctx.monitor.on_progress,
                       on_tick=ctx.monitor.on_tick) as gen:
        phase = run_chatd_deployment(ctx, gen, steps)
        chatd = {**{k: v for k, v in phase.items() if k != "steps"}, **phase["steps"][0]}
        chatd["target"] = check_chat_target(chatd, args.p99_target, args.rate)
        result["chatd"] = chatd
        if args.baseline and not args.url:
            phase = run_baseline_phase(ctx, gen, steps, conversations=args.conversations, per_agent=args.per_agent)
            if phase["steps"]:
                baseline = {**{k: v for k, v in phase.items() if k != "steps"}, **phase["steps"][0]}
                baseline["target"] = check_chat_target(baseline, args.p99_target, args.rate)
                result["baseline"] = baseline
                result["ratio_chatd_to_baseline"] = compare(chatd, baseline)
            else:
                result["baseline"] = phase
    result["ok"] = chatd["lost"] == 0 and chatd["unacked"] == 0 and chatd["duplicated"] == 0
    return result


def plot(ctx: Any, result: dict[str, Any]) -> list[Path | None]:
    return [plot_timeline(ctx.out_dir / "latency.png", result["timeline"],
                          f"chat: {ctx.args.conversations} conversations at {ctx.args.rate:g} msgs/s")]


def headline(result: dict[str, Any]) -> str:
    lines = []
    for name in ("chatd", "baseline"):
        figures = result.get(name)
        if not figures:
            continue
        if "error" in figures:
            lines.append(f"{name:8}: failed: {figures['error'][:300]}")
            continue
        lat = figures["latency_ms"]
        lines.append(
            f"{name:8}: delivered {figures['delivered_msgs_per_s']:.0f}/{figures['offered_msgs_per_s']:.0f} msgs/s, "
            f"p50 {lat['all']['p50']} p99 v→a {lat['visitor_to_agent']['p99']} a→v {lat['agent_to_visitor']['p99']} "
            f"max {lat['all']['max']} ms, lost {figures['lost']} dup {figures['duplicated']}, "
            f"server cpu {figures['server'].get('cpu_percent')}%, redis cpu {figures['redis'].get('cpu_percent')}%, "
            f"target {'met' if figures['target']['met'] else 'missed'}")
    if "ratio_chatd_to_baseline" in result:
        lines.append(f"ratio   : {result['ratio_chatd_to_baseline']}")
    return "\n".join(lines)
