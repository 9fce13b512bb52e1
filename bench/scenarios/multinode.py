"""multinode: the chat workload against K chatd processes sharing one Redis
(started here on consecutive free ports with one secret and key prefix, or
given with repeated ``--url``). Agents and visitors are spread round-robin
over the nodes, with each visitor on a different node from the agents listed
before it, so most messages cross nodes through Redis.

Reports the chat figures, with server CPU and RSS summed over all nodes and
per node.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.chatload import UsageError, check_chat_target, run_chatd_phase, start_deployment
from bench.loadgen import LoadGenerator
from bench.report import plot_timeline
from bench.scenarios.chat import chat_options
from bench.servers import ProcessMeter

__all__ = ["HELP", "add_arguments", "headline", "plot", "run"]

HELP = "the chat workload over K chatd nodes on one Redis"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    chat_options(parser)
    parser.add_argument("--nodes", type=int, default=2, help="chatd processes to start (ignored with --url)")
    parser.add_argument("--rate", type=float, default=2000.0, help="messages per second over all conversations")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")


def run(ctx: Any) -> dict[str, Any]:
    args = ctx.args
    if args.engine != "redis" and not args.url:
        raise UsageError("multinode needs the redis engine")
    steps = [{"step": 0, "rate": args.rate, "seconds": args.warmup, "warmup": True},
             {"step": 1, "rate": args.rate, "seconds": args.duration}]
    steps = [s for s in steps if s["seconds"] > 0]
    with LoadGenerator(args.procs, ctx.loadgen_config(), on_progress=ctx.monitor.on_progress,
                       on_tick=ctx.monitor.on_tick) as gen:
        deployment = start_deployment(args, ctx.out_dir, nodes=args.nodes, workers=args.workers, engine="redis",
                                      run_id=ctx.run_id)
        nodes = [ProcessMeter(server.pids) for server in deployment.servers]
        before = [meter.sample() for meter in nodes]
        try:
            phase = run_chatd_phase(ctx, gen, deployment, steps, conversations=args.conversations,
                                    per_agent=args.per_agent)
            after = [meter.sample() for meter in nodes]
        finally:
            deployment.close()
    chatd = {**{k: v for k, v in phase.items() if k != "steps"}, **phase["steps"][0]}
    chatd["per_node"] = [{"url": url, "rss_mib": round(a["rss_bytes"] / 2**20, 1),
                          "cpu_seconds_whole_run": round(a["cpu_s"] - b["cpu_s"], 1)}
                         for url, b, a in zip(deployment.urls, before, after, strict=False)]
    chatd["target"] = check_chat_target(chatd, args.p99_target, args.rate)
    return {"targets": {"p99_ms": args.p99_target, "delivered_msgs_per_s": args.rate}, "chatd": chatd,
            "ok": chatd["lost"] == 0 and chatd["unacked"] == 0 and chatd["duplicated"] == 0}


def plot(ctx: Any, result: dict[str, Any]) -> list[Path | None]:
    nodes = result["chatd"]["deployment"]["nodes"]
    return [plot_timeline(ctx.out_dir / "latency.png", result["timeline"],
                          f"multinode: {nodes} nodes, {ctx.args.conversations} conversations "
                          f"at {ctx.args.rate:g} msgs/s")]


def headline(result: dict[str, Any]) -> str:
    f = result["chatd"]
    lat = f["latency_ms"]
    return (f"multinode ({f['deployment']['nodes']} nodes): delivered {f['delivered_msgs_per_s']:.0f}/"
            f"{f['offered_msgs_per_s']:.0f} msgs/s, p50 {lat['all']['p50']} p99 {lat['all']['p99']} "
            f"max {lat['all']['max']} ms, lost {f['lost']} dup {f['duplicated']}, servers cpu "
            f"{f['server'].get('cpu_percent')}%, redis {f['redis'].get('cpu_percent')}%")
