"""storm: N connected clients all dropped at once, reconnecting with their
backoff while messages keep flowing.

Clients are C visitor/agent conversations with traffic (open-loop, like
chat) plus idle visitors up to N connections. The drop is a SIGKILL and
restart of the server (``--mode kill``, the default), a SIGTERM drain and
restart (``term``: clients are told 1012 and wait a random delay), or every
client cutting its own TCP connection (``client``, works against a remote
deployment). Reconnects use the widget's full-jitter backoff (0.5 s base,
30 s cap). A client has resumed when its new session got ``welcome`` and
``synced`` for each of its conversations.

Reports the time until all clients resumed (and p50/p99), the server's
restart time, replay gaps, and lost, duplicated and out-of-order messages.
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import Any

from bench.chatload import UsageError, run_steps, setup_chatd, start_deployment
from bench.ledger import delivery_summary, merge_tallies
from bench.loadgen import LoadGenerator, loadgen_summary
from bench.report import plot_storm

__all__ = ["HELP", "add_arguments", "headline", "plot", "run"]

HELP = "drop N clients at once (kill/restart, drain or client-side); time to all resumed, loss"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=10000, help="connections in all (visitors and agents)")
    parser.add_argument("--conversations", type=int, default=500, help="of them, conversations with traffic")
    parser.add_argument("--per-agent", type=int, default=25, help="chats each agent holds")
    parser.add_argument("--rate", type=float, default=200.0, help="msgs/s over the conversations, all along")
    parser.add_argument("--mode", choices=("kill", "term", "client"), default="kill",
                        help="kill: SIGKILL + restart; term: SIGTERM drain + restart; client: clients cut TCP")
    parser.add_argument("--before", type=float, default=5.0, help="seconds of traffic before the drop")
    parser.add_argument("--after", type=float, default=3.0, help="seconds of traffic after all resumed")
    parser.add_argument("--resume-timeout", type=float, default=60.0, help="give up waiting for resumes after this")
    parser.add_argument("--resume-target", type=float, default=30.0, help="target: all resumed within, seconds")


def run(ctx: Any) -> dict[str, Any]:
    args = ctx.args
    monitor = ctx.monitor
    if args.mode != "client" and (args.url or args.engine != "redis"):
        raise UsageError("storm --mode kill/term restarts a chatd the bench started with --engine redis; "
                         "use --mode client against --url or the memory engine")
    result: dict[str, Any] = {"targets": {"resumed_within_s": args.resume_target, "lost": 0}}
    with LoadGenerator(args.procs, ctx.loadgen_config(), on_progress=monitor.on_progress,
                       on_tick=monitor.on_tick) as gen:
        deployment = start_deployment(args, ctx.out_dir, workers=args.workers, engine=args.engine,
                                      run_id=ctx.run_id)
        try:
            monitor.follow(deployment.meter(), deployment.redis_meter())
            conversations = min(args.conversations, args.clients // 2)
            setup = setup_chatd(gen, monitor, deployment, conversations=conversations,
                                per_agent=args.per_agent, run_id=ctx.run_id) if conversations else {"agents": 0}
            idle = max(0, args.clients - conversations - setup["agents"])
            monitor.set_phase("setup idle visitors")
            urls = [deployment.urls[i % len(deployment.urls)] for i in range(idle)]
            connected = gen.call("connect_visitors", [{"urls": urls[i::gen.procs], "start": False}
                                                      for i in range(gen.procs)], timeout=args.max_seconds)
            failed = sum(r["failed"] for r in connected)
            if failed:
                raise RuntimeError(f"{failed} idle visitors could not connect: {connected}")
            clients = sum(s["peers"] for s in gen.call("status"))
            if conversations:  # a short unreported warm-up, so the first measured seconds are steady
                run_steps(gen, monitor, [{"step": 0, "rate": args.rate, "seconds": 2, "warmup": True}],
                          conversations=conversations, server=None, redis_meter=None, label="chatd")
            bound = args.before + args.resume_timeout + args.after + 5
            monitor.set_phase("storm: before the drop", args.before)
            start_at_ns = time.monotonic_ns() + 300_000_000
            traffic = gen.send("run_step", {"step": 1, "rate_per_stream": args.rate / (2 * max(1, conversations)),
                                            "seconds": bound, "start_at_ns": start_at_ns, "settle_seconds": 10})
            traffic_started = time.monotonic() + 0.3
            gen.pump(0.3 + args.before)
            drop_ns = time.monotonic_ns()
            gen.call("watch_resume", {"since_ns": drop_ns})
            drop_t = time.monotonic() - monitor.started
            restart_seconds = _drop(args.mode, deployment, gen)
            monitor.set_phase("storm: resuming", args.resume_timeout)
            deadline = time.monotonic() + args.resume_timeout
            while monitor.total("resumed") < clients and time.monotonic() < deadline:
                gen.pump(0.25)
            times = gen.call("resume_times")
            resumed_s = sorted(t / 1e9 for r in times for t in r["resumed_ns"])
            monitor.set_phase("storm: after", args.after)
            gen.pump(args.after)
            gen.call("stop_step")
            traffic_seconds = time.monotonic() - traffic_started
            gen.wait(traffic, timeout=60)
            loadgen = loadgen_summary(gen, traffic_started, time.monotonic())
            settle_deadline = time.monotonic() + 10
            while True:
                exports = gen.call("collect", {"steps": [1]})
                merged = merge_tallies([e["steps"]["1"] for e in exports])
                summary = delivery_summary(merged, traffic_seconds, args.rate)
                if (summary["lost"] == 0 and summary["unacked"] == 0) or time.monotonic() > settle_deadline:
                    break
                gen.pump(0.5)
            totals: dict[str, int] = {}
            for export in exports:
                for name, value in export["totals"].items():
                    totals[name] = totals.get(name, 0) + value
            monitor.set_phase("closing")
            gen.call("close_all", {"close_conversations": not deployment.servers}, timeout=120)
        finally:
            deployment.close()
    all_resumed = len(resumed_s) >= clients
    figures = {
        "deployment": deployment.describe(), "setup": setup, "mode": args.mode, "clients": clients,
        "conversations": conversations, "idle_visitors": idle,
        "server_restart_seconds": round(restart_seconds, 2) if restart_seconds is not None else None,
        "resumed": len(resumed_s), "all_resumed": all_resumed,
        "time_to_all_resumed_s": round(resumed_s[-1], 2) if all_resumed and resumed_s else None,
        "resume_s": _quantiles(resumed_s),
        "replay_gaps": totals.get("replay_gaps", 0),
        "resyncs": totals.get("resyncs", 0),
        "seq_gaps_seen": totals.get("seq_gaps_seen", 0),
        "reconnects": totals.get("reconnects", 0),
        "connect_failures": totals.get("connect_failures", 0),
        "drop_at_s": round(drop_t, 2),
        "messages": summary, "loadgen": loadgen,
    }
    result["chatd"] = figures
    result["resume_seconds"] = [round(t, 3) for t in resumed_s]
    no_loss = summary["lost"] == 0 and summary["unacked"] == 0 and summary["duplicated"] == 0
    result["target_met"] = bool(all_resumed and figures["time_to_all_resumed_s"] is not None
                                and figures["time_to_all_resumed_s"] <= args.resume_target and no_loss)
    result["ok"] = all_resumed and no_loss
    return result


def _drop(mode: str, deployment: Any, gen: LoadGenerator) -> float | None:
    """Drop every client; returns the server's restart time (None for client drops)."""
    if mode == "client":
        gen.call("drop")
        return None
    server = deployment.servers[0]
    started = time.monotonic()
    if mode == "kill":
        server.kill()
    else:
        server.signal(signal.SIGTERM)  # chatd drains: clients are closed with 1012
        while server.proc is not None and server.proc.poll() is None and time.monotonic() - started < 30:
            gen.pump(0.05)
        server.kill()
    server.start(idle=gen.pump)
    return time.monotonic() - started


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 3)  # noqa: E731
    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": round(values[-1], 3)}


def plot(ctx: Any, result: dict[str, Any]) -> list[Path | None]:
    figures = result["chatd"]
    return [plot_storm(ctx.out_dir / "storm.png", result["timeline"], result["resume_seconds"],
                       figures["drop_at_s"], f"storm ({figures['mode']}): {figures['clients']} clients")]


def headline(result: dict[str, Any]) -> str:
    f = result["chatd"]
    m = f["messages"]
    return (f"storm ({f['mode']}): {f['resumed']}/{f['clients']} resumed, all within {f['time_to_all_resumed_s']} s "
            f"(p50 {f['resume_s']['p50']} p99 {f['resume_s']['p99']} s), restart {f['server_restart_seconds']} s; "
            f"messages sent {m['sent']} delivered {m['delivered']} lost {m['lost']} dup {m['duplicated']} "
            f"out-of-order {m['out_of_order']} unacked {m['unacked']}, replay gaps {f['replay_gaps']}, "
            f"resyncs {f['resyncs']}; "
            f"target {'met' if result.get('target_met') else 'missed'}")
