"""idle: N visitor connections that only say hello and send heartbeats.

Reports the connect rate (connections per second until all are welcomed)
and connect latency, the server's RSS per connection (RSS growth over N,
from /proc of the server processes), server CPU while connecting and while
holding, Redis memory growth, and the load generator's CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from bench.chatload import ratio, start_deployment, start_profilers
from bench.ledger import merge_histograms, percentiles
from bench.loadgen import LoadGenerator, loadgen_summary
from bench.report import plot_idle
from bench.servers import BaselineServer, ProcessMeter, cpu_percent

__all__ = ["HELP", "add_arguments", "headline", "plot", "run"]

HELP = "N idle visitors: connect rate, server RSS per connection, CPU"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connections", type=int, default=20000, help="visitor connections")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds to hold them open after connecting")
    parser.add_argument("--rss-target-kib", type=float, default=20.0, help="target RSS per connection, KiB")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also hold the same connections on the python-socketio baseline (each in a room)")


def run(ctx: Any) -> dict[str, Any]:
    args = ctx.args
    monitor = ctx.monitor
    result: dict[str, Any] = {"targets": {"connections": args.connections,
                                          "rss_per_connection_kib": args.rss_target_kib}}
    with LoadGenerator(args.procs, ctx.loadgen_config(), on_progress=monitor.on_progress,
                       on_tick=monitor.on_tick) as gen:
        deployment = start_deployment(args, ctx.out_dir, workers=args.workers, engine=args.engine,
                                      run_id=ctx.run_id)
        try:
            server, redis_meter = deployment.meter(), deployment.redis_meter()
            monitor.follow(server, redis_meter)
            gen.pump(1.0)
            before = server.sample() if server else None
            redis_before = redis_meter.sample() if redis_meter else None
            urls = [deployment.urls[i % len(deployment.urls)] for i in range(args.connections)]
            monitor.set_phase("connect")
            # With --profile, py-spy records the server while the connections arrive (stopped like Ctrl-C).
            profilers = (start_profilers(ctx.out_dir, deployment.pids(), "idle-connect", args.max_seconds)
                         if args.profile else [])
            started = time.monotonic()
            connected = gen.call("connect_visitors", [{"urls": urls[i::gen.procs], "start": False}
                                                      for i in range(gen.procs)], timeout=args.max_seconds)
            for profiler in profilers:
                profiler.send_signal(signal.SIGINT)
            connect_seconds = max(r["seconds"] for r in connected)
            connect_end = time.monotonic()
            after_connect = server.sample() if server else None
            monitor.set_phase("hold", args.hold)
            gen.pump(args.hold)
            for profiler in profilers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    profiler.wait(30)
            hold_end = time.monotonic()
            after_hold = server.sample() if server else None
            redis_after = redis_meter.sample() if redis_meter else None
            status = gen.call("status")
            stats = gen.call("connect_stats")
            open_now = sum(s["open"] for s in status)
            failed = sum(r["failed"] for r in connected)
            figures: dict[str, Any] = {
                "deployment": deployment.describe(),
                "connections": args.connections, "open_after_hold": open_now, "failed": failed,
                "failed_attempts": _sum_dicts(r["failed_attempts"] for r in connected),
                "connect_seconds": round(connect_seconds, 2),
                "connect_rate_per_s": (round((args.connections - failed) / connect_seconds, 1)
                                       if connect_seconds else None),
                "connect_ms": _merge_connect(stats),
                "loadgen_connect": loadgen_summary(gen, started, connect_end),
                "loadgen_hold": loadgen_summary(gen, connect_end, hold_end),
                "file_limit": _file_limits(deployment.pids()),
            }
            cap = figures["file_limit"].get("max_connections_per_server_process")
            if cap is not None and args.workers <= 1 and args.connections > cap:
                figures["file_limit"]["warning"] = (
                    f"{args.connections} connections need more descriptors than the server's open-file limit "
                    f"allows (about {cap} connections); the hard limit of this machine cannot be raised without "
                    "root's CAP_SYS_RESOURCE")
            if before and after_hold and after_connect:
                grown = after_hold["rss_bytes"] - before["rss_bytes"]
                figures["server"] = {
                    "processes": after_hold["processes"],
                    "rss_before_mib": round(before["rss_bytes"] / 2**20, 1),
                    "rss_after_mib": round(after_hold["rss_bytes"] / 2**20, 1),
                    "rss_per_connection_kib": round(grown / max(1, open_now) / 1024, 2),
                    "cpu_percent_connecting": cpu_percent(before, after_connect),
                    "cpu_percent_holding": cpu_percent(after_connect, after_hold),
                }
            if redis_before and redis_after and "used_memory" in redis_after:
                figures["redis"] = {"memory_growth_mib": round(
                    (redis_after["used_memory"] - redis_before["used_memory"]) / 2**20, 1),
                    "memory_per_connection_bytes": round(
                        (redis_after["used_memory"] - redis_before["used_memory"]) / max(1, open_now))}
            monitor.set_phase("closing")
            gen.call("close_all", timeout=120)
        finally:
            deployment.close()
        if args.baseline and not args.url:
            result["baseline"] = _baseline(ctx, gen, args.connections, args.hold)
            if "error" not in result["baseline"]:
                base = result["baseline"]
                result["ratio_chatd_to_baseline"] = {
                    "rss_per_connection": ratio(figures.get("server", {}).get("rss_per_connection_kib"),
                                                base["server"]["rss_per_connection_kib"]),
                    "connect_rate": ratio(figures["connect_rate_per_s"], base["connect_rate_per_s"]),
                    "cpu_percent_holding": ratio(figures.get("server", {}).get("cpu_percent_holding"),
                                                 base["server"]["cpu_percent_holding"])}
    result["chatd"] = figures
    per_connection = figures.get("server", {}).get("rss_per_connection_kib")
    result["target_met"] = (open_now >= args.connections and per_connection is not None
                            and per_connection <= args.rss_target_kib)
    result["ok"] = failed == 0 and open_now == args.connections
    return result


def _baseline(ctx: Any, gen: LoadGenerator, connections: int, hold: float) -> dict[str, Any]:
    """The same connections on the python-socketio relay, each joined to a room of its own."""
    monitor = ctx.monitor
    server = BaselineServer(redis_url=ctx.args.redis_url, channel=f"chatdbench:{ctx.run_id}:socketio",
                            log_dir=ctx.out_dir)
    try:
        server.start()
        meter = ProcessMeter(server.pids)
        monitor.follow(meter, None)
        gen.pump(1.0)
        before = meter.sample()
        monitor.set_phase("baseline connect")
        members = [{"role": "visitor", "url": server.ws_url, "rooms": [f"r{n}"]} for n in range(connections)]
        connected = gen.call("connect_rooms", [{"members": members[i::gen.procs]} for i in range(gen.procs)],
                             timeout=ctx.args.max_seconds)
        after_connect = meter.sample()
        monitor.set_phase("baseline hold", hold)
        gen.pump(hold)
        after_hold = meter.sample()
        open_now = sum(s["open"] for s in gen.call("status"))
        connect_seconds = max(r["seconds"] for r in connected)
        failed = sum(r["failed"] for r in connected)
        return {
            "server": {"processes": after_hold["processes"],
                       "rss_before_mib": round(before["rss_bytes"] / 2**20, 1),
                       "rss_after_mib": round(after_hold["rss_bytes"] / 2**20, 1),
                       "rss_per_connection_kib": round(
                           (after_hold["rss_bytes"] - before["rss_bytes"]) / max(1, open_now) / 1024, 2),
                       "cpu_percent_connecting": cpu_percent(before, after_connect),
                       "cpu_percent_holding": cpu_percent(after_connect, after_hold)},
            "connections": connections, "open_after_hold": open_now, "failed": failed,
            "connect_seconds": round(connect_seconds, 2),
            "connect_rate_per_s": round((connections - failed) / connect_seconds, 1) if connect_seconds else None,
        }
    except Exception as exc:  # the baseline failing must not cost chatd's figures
        return {"error": f"{type(exc).__name__}: {str(exc)[-2000:]}"}
    finally:
        with contextlib.suppress(Exception):
            gen.call("close_all", timeout=120)
        server.terminate(timeout=5)


def _file_limits(pids: list[int]) -> dict[str, Any]:
    """Open-file limits (soft, hard) of the bench and the server processes: a
    connection is a descriptor, so the hard limit caps connections per process."""
    limits: dict[str, Any] = {"bench": list(resource.getrlimit(resource.RLIMIT_NOFILE)), "servers": {}}
    for pid in pids:
        with contextlib.suppress(psutil.Error, AttributeError):
            limits["servers"][str(pid)] = list(psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE))
    soft = min((v[0] for v in limits["servers"].values()), default=None)
    if soft is not None:
        limits["max_connections_per_server_process"] = soft - 64  # listening socket, Redis, logs, ...
    return limits


def _sum_dicts(items: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for item in items:
        for key, value in item.items():
            total[key] = total.get(key, 0) + value
    return total


def _merge_connect(stats: list[dict[str, Any]]) -> dict[str, Any]:
    blobs = [s["connect_hist"] for s in stats if s.get("connect_hist")]
    return percentiles(merge_histograms(blobs)) if blobs else {}


def plot(ctx: Any, result: dict[str, Any]) -> list[Path | None]:
    return [plot_idle(ctx.out_dir / "idle.png", result["timeline"],
                      f"idle: {ctx.args.connections} visitor connections")]


def headline(result: dict[str, Any]) -> str:
    figures = result["chatd"]
    server = figures.get("server", {})
    base = result.get("baseline")
    if base is not None:
        base_line = (f"\nbaseline: failed: {base['error'][:300]}" if "error" in base else
                     f"\nbaseline: {base['open_after_hold']}/{base['connections']} open, connect "
                     f"{base['connect_rate_per_s']}/s, RSS/conn {base['server']['rss_per_connection_kib']} KiB, "
                     f"server cpu holding {base['server']['cpu_percent_holding']}%"
                     f"\nratio   : {result.get('ratio_chatd_to_baseline')}")
    else:
        base_line = ""
    return (f"idle: {figures['open_after_hold']}/{figures['connections']} open, {figures['failed']} failed, "
            f"connect {figures['connect_rate_per_s']}/s (p99 {figures['connect_ms'].get('p99')} ms), "
            f"RSS/conn {server.get('rss_per_connection_kib')} KiB "
            f"({server.get('rss_before_mib')} -> {server.get('rss_after_mib')} MiB), "
            f"server cpu connecting {server.get('cpu_percent_connecting')}% holding "
            f"{server.get('cpu_percent_holding')}%; target {'met' if result.get('target_met') else 'missed'}"
            + base_line)
