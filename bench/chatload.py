"""The chat workload from main's side, shared by the chat, ramp, storm and
multinode scenarios: the deployment under test (chatd nodes started here, or
URLs of a remote one), setting up C conversations (visitor + agent, agents
holding k chats each) on chatd or on the baseline relay, and running measured
steps at a given rate.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.admin import AdminClient, BenchAgent
from bench.ledger import delivery_summary, merge_tallies
from bench.loadgen import LoadGenerator, loadgen_summary
from bench.monitor import Monitor
from bench.servers import (
    BaselineServer,
    ChatdServer,
    MachineMeter,
    ProcessMeter,
    RedisMeter,
    cpu_percent,
    delete_redis_prefix,
    http_url,
)

__all__ = ["BENCH_SKILL", "Deployment", "UsageError", "check_chat_target", "held", "ratio", "run_baseline_phase",
           "run_chatd_deployment", "run_chatd_phase", "run_steps", "setup_baseline", "setup_chatd", "start_deployment"]

BENCH_SKILL = "bench"  # bench agents and conversations use their own skill group, away from real agents


class UsageError(Exception):
    """Options that cannot work together: the run stops before starting anything (exit status 2)."""


class Deployment:
    """The chatd nodes under test. ``servers`` is empty for a remote deployment."""

    def __init__(self, urls: list[str], servers: list[ChatdServer], admin: AdminClient, *, redis_url: str = "",
                 prefix: str = "", server_pids: list[int] | None = None) -> None:
        self.urls = urls
        self.servers = servers
        self.admin = admin
        self.redis_url = redis_url
        self.prefix = prefix
        self.agents: list[BenchAgent] = []
        self._server_pids = server_pids or []

    def pids(self) -> list[int]:
        if self.servers:
            return [pid for server in self.servers for pid in server.pids()]
        return list(self._server_pids)

    def meter(self) -> ProcessMeter | None:
        return ProcessMeter(self.pids) if (self.servers or self._server_pids) else None

    def redis_meter(self) -> RedisMeter | None:
        return RedisMeter(self.redis_url) if self.redis_url else None

    def describe(self) -> dict[str, Any]:
        return {"urls": self.urls, "started_by_bench": bool(self.servers),
                "nodes": len(self.servers) or len(self.urls),
                "engine": self.servers[0].engine if self.servers else "remote",
                "workers_per_node": self.servers[0].workers if self.servers else None}

    def close(self) -> None:
        if not self.servers and self.agents:
            self.admin.delete_agents(self.agents)
        for server in self.servers:
            server.terminate(timeout=15)
        if self.servers and self.prefix and self.redis_url:
            delete_redis_prefix(self.redis_url, self.prefix)


def start_deployment(args: Any, out_dir: Path, *, nodes: int = 1, workers: int = 1, engine: str = "redis",
                     run_id: str = "") -> Deployment:
    """Start ``nodes`` chatd processes on one Redis prefix (or attach to ``args.url``)."""
    if args.url:
        admin = AdminClient(http_url(args.url[0]), args.admin_id, args.admin_password or "",
                            token=args.admin_token or "")
        return Deployment(list(args.url), [], admin, redis_url=args.redis_url if args.measure_redis else "",
                          server_pids=args.server_pid or [])
    prefix = f"chatdbench:{run_id or secrets.token_hex(4)}" if engine == "redis" else ""
    servers: list[ChatdServer] = []
    try:
        for n in range(nodes):
            server = ChatdServer(engine=engine, workers=workers, redis_url=args.redis_url, prefix=prefix,
                                 log_dir=out_dir, name=f"chatd-{n}" if nodes > 1 else "chatd")
            servers.append(server)
            server.start()
        passwords = servers[0].passwords()
        if "admin" not in passwords:
            raise RuntimeError(f"chatd printed no demo admin password; see {servers[0].log_path}")
        admin = AdminClient(http_url(servers[0].ws_url), "admin", passwords["admin"])
    except BaseException:
        for server in servers:
            server.kill()
        if prefix:
            delete_redis_prefix(args.redis_url, prefix)
        raise
    return Deployment([s.ws_url for s in servers], servers, admin,
                      redis_url=args.redis_url if engine == "redis" else "", prefix=prefix)


def _spread(items: list[Any], procs: int) -> list[list[Any]]:
    return [items[i::procs] for i in range(procs)]


def _wait_status(gen: LoadGenerator, monitor: Monitor, field: str, wanted: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        have = sum(s[field] for s in gen.call("status"))
        if have >= wanted or time.monotonic() > deadline:
            return int(have)
        monitor.note(f"{field} {have}/{wanted}")
        gen.pump(0.5)


def setup_chatd(gen: LoadGenerator, monitor: Monitor, deployment: Deployment, *, conversations: int,
                per_agent: int, run_id: str) -> dict[str, Any]:
    """Create and connect ceil(C/k) agents, then C visitors who each start a
    conversation; wait until every conversation is assigned and replayed to its agent."""
    started = time.monotonic()
    count = math.ceil(conversations / per_agent)
    monitor.set_phase("setup agents")
    monitor.note(f"creating and logging in {count} agents (password hashing makes this slow)")
    agents = deployment.admin.create_agents(f"b{run_id}-", count, capacity=per_agent, skill=BENCH_SKILL)
    deployment.agents = agents
    agents_seconds = time.monotonic() - started
    urls = deployment.urls
    plan = [{"agent_id": a.agent_id, "token": a.token, "url": urls[i % len(urls)]} for i, a in enumerate(agents)]
    connected = gen.call("connect_agents", [{"agents": part} for part in _spread(plan, gen.procs)])
    failed = sum(r["failed"] for r in connected)
    if failed:
        raise RuntimeError(f"{failed} agents could not connect: {connected}")
    monitor.set_phase("setup visitors")
    visitor_urls = [urls[(i + 1) % len(urls)] for i in range(conversations)]
    started_visitors = time.monotonic()
    results = gen.call("connect_visitors", [{"urls": part, "skill": BENCH_SKILL, "start": True}
                                            for part in _spread(visitor_urls, gen.procs)], timeout=300)
    failed = sum(r["failed"] for r in results)
    if failed:
        raise RuntimeError(f"{failed} visitors could not connect or start: {results}")
    attached = _wait_status(gen, monitor, "attached", conversations, timeout=120)
    if attached < conversations:
        raise RuntimeError(f"only {attached} of {conversations} conversations reached their agents in time")
    return {"agents": count, "per_agent": per_agent, "agents_setup_seconds": round(agents_seconds, 1),
            "visitors_setup_seconds": round(time.monotonic() - started_visitors, 1),
            "setup_seconds": round(time.monotonic() - started, 1)}


def setup_baseline(gen: LoadGenerator, monitor: Monitor, url: str, *, conversations: int,
                   per_agent: int) -> dict[str, Any]:
    """The same shape on the relay: C rooms, one visitor each, agents holding k rooms."""
    started = time.monotonic()
    monitor.set_phase("setup baseline")
    rooms = [f"r{n}" for n in range(conversations)]
    members = [{"role": "agent", "url": url, "rooms": rooms[i:i + per_agent]}
               for i in range(0, conversations, per_agent)]
    members += [{"role": "visitor", "url": url, "rooms": [room]} for room in rooms]
    results = gen.call("connect_rooms", [{"members": part} for part in _spread(members, gen.procs)], timeout=300)
    failed = sum(r["failed"] for r in results)
    if failed:
        raise RuntimeError(f"{failed} baseline clients could not connect: {results}")
    return {"agents": math.ceil(conversations / per_agent), "per_agent": per_agent,
            "setup_seconds": round(time.monotonic() - started, 1)}


def run_steps(gen: LoadGenerator, monitor: Monitor, steps: list[dict[str, Any]], *, conversations: int,
              server: ProcessMeter | None, redis_meter: RedisMeter | None, settle_seconds: float = 5.0,
              keep_going: Any = None, label: str = "chatd", profile_dir: Path | None = None) -> list[dict[str, Any]]:
    """Run each ``{"step", "rate", "seconds", "warmup"}`` and return its figures.
    ``keep_going(summary)`` (optional) decides whether to run the next step.
    With ``profile_dir``, each measured step of each server process is
    recorded with py-spy into ``profile-<label>-step<N>-<pid>.folded`` (collapsed
    stacks: flamegraph.pl or speedscope draw them) and summarised in the step."""
    results = []
    machine = MachineMeter()
    for spec in steps:
        step, rate, seconds = spec["step"], float(spec["rate"]), float(spec["seconds"])
        name = "warm-up" if spec.get("warmup") else f"step {step}"
        monitor.set_phase(f"{label} {name} @ {rate:.0f} msg/s", seconds)
        start_at_ns = time.monotonic_ns() + 500_000_000
        ids = gen.send("run_step", {"step": step, "rate_per_stream": rate / (2 * conversations),
                                    "seconds": seconds, "start_at_ns": start_at_ns,
                                    "settle_seconds": settle_seconds})
        gen.pump(max(0.0, (start_at_ns - time.monotonic_ns()) / 1e9))
        server_before = server.sample() if server else None
        redis_before = redis_meter.sample() if redis_meter else None
        machine_before = machine.sample()
        profilers = (start_profilers(profile_dir, server.pids_of(), f"{label}-step{step}", seconds)
                     if profile_dir is not None and server is not None and not spec.get("warmup") else [])
        window_start = time.monotonic()
        gen.pump(max(0.0, (start_at_ns + seconds * 1e9 - time.monotonic_ns()) / 1e9))
        window_end = time.monotonic()
        server_after = server.sample() if server else None
        redis_after = redis_meter.sample() if redis_meter else None
        machine_after = machine.sample()
        lag = gen.wait(ids, timeout=seconds + settle_seconds + 60)
        for profiler in profilers:
            profiler.wait(30)
        summary = _collect(gen, step, seconds, rate, settle_seconds)
        if spec.get("warmup"):
            continue
        summary["step"] = step
        summary["server"] = _resource_summary(server_before, server_after)
        summary["redis"] = _resource_summary(redis_before, redis_after, rss=False)
        summary["loadgen"] = loadgen_summary(gen, window_start, window_end)
        summary["loadgen"]["schedule_lag_p99_ms"] = max(
            (r["schedule_lag_ms"]["p99"] or 0 for r in lag if r.get("schedule_lag_ms")), default=None)
        summary["machine"] = _machine_summary(machine_before, machine_after, summary)
        delivered = summary["delivered"] - summary["delivered_late"]  # what the measured CPU window delivered
        if summary["server"].get("cpu_percent") is not None and delivered:
            summary["server"]["cpu_ms_per_1000_msgs"] = round(
                summary["server"]["cpu_percent"] * 10 * seconds / delivered * 1000, 1)
        results.append(summary)
        monitor.note(_one_line(label, summary))
        if keep_going is not None and not keep_going(summary):
            break
    return results


def start_profilers(out_dir: Path, pids: list[int], name: str, seconds: float) -> list[subprocess.Popen[bytes]]:
    """py-spy flame graphs of ``pids`` for ``seconds`` (skipped when py-spy is missing)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return []
    return [subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
                              "--rate", "200", "--nonblocking", "--format", "raw",
                              "--output", str(out_dir / f"profile-{name}-{pid}.folded")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]


def _collect(gen: LoadGenerator, step: int, seconds: float, rate: float, settle_seconds: float) -> dict[str, Any]:
    """Gather the step from every process, again until nothing is missing, or
    nothing more arrived for ``settle_seconds``, waiting two minutes at most
    (late deliveries still count, with their latency)."""
    deadline = time.monotonic() + settle_seconds
    hard_deadline = time.monotonic() + max(120.0, settle_seconds)
    progress = None
    while True:
        exports = gen.call("collect", {"steps": [step]})
        merged = merge_tallies([e["steps"][str(step)] for e in exports])
        summary = delivery_summary(merged, seconds, rate)
        if (summary["acked"], summary["delivered"]) != progress:  # still arriving: give it more time
            progress = (summary["acked"], summary["delivered"])
            deadline = time.monotonic() + settle_seconds
        now = time.monotonic()
        if (summary["lost"] == 0 and summary["unacked"] == 0) or now > deadline or now > hard_deadline:
            totals: dict[str, int] = {}
            for export in exports:
                for name, value in export["totals"].items():
                    totals[name] = totals.get(name, 0) + value
            summary["connection_events"] = {k: v for k, v in sorted(totals.items())
                                            if k.startswith(("error_", "close_", "reconnects", "replay_gaps", "resyncs",
                                                             "seq_gaps", "connect_failures"))}
            return summary
        gen.pump(0.5)


def _machine_summary(before: dict[str, Any], after: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """All cores' busy time, and the part not used by the server, Redis or the load generator."""
    busy = cpu_percent(before, after) or 0.0
    ours = sum(v for v in (summary["server"].get("cpu_percent"), summary["redis"].get("cpu_percent")) if v)
    ours += sum(summary["loadgen"]["cpu_percent"])
    return {"cpus": os.cpu_count(), "busy_percent": busy, "other_processes_percent": round(max(0.0, busy - ours), 1)}


def _resource_summary(before: dict[str, Any] | None, after: dict[str, Any] | None, rss: bool = True) -> dict[str, Any]:
    if before is None or after is None or before.get("cpu_s") is None:
        return {"cpu_percent": None}
    out: dict[str, Any] = {"cpu_percent": cpu_percent(before, after)}
    if rss and "rss_bytes" in after:
        out["rss_mib"] = round(after["rss_bytes"] / 2**20, 1)
        out["processes"] = after.get("processes")
    return out


def _one_line(label: str, s: dict[str, Any]) -> str:
    lat = s["latency_ms"]["all"]
    return (f"{label} step {s['step']}: offered {s['offered_msgs_per_s']:.0f}/s delivered "
            f"{s['delivered_msgs_per_s']:.0f}/s p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} ms, "
            f"lost {s['lost']} dup {s['duplicated']} unacked {s['unacked']} refused {s['refused']}, server cpu "
            f"{s['server'].get('cpu_percent')}%, loadgen {s['loadgen']['cpu_percent']}%")


def check_chat_target(summary: dict[str, Any], p99_ms: float, min_rate: float) -> dict[str, Any]:
    """Whether a step met the chat target: p99 within ``p99_ms`` in both
    directions at ``min_rate`` delivered msgs/s, nothing lost or duplicated."""
    p99s = [summary["latency_ms"][d]["p99"] for d in ("visitor_to_agent", "agent_to_visitor")]
    worst = max((p for p in p99s if p is not None), default=None)
    checks = {
        "p99_ms": worst,
        "p99_within_target": worst is not None and worst <= p99_ms,
        "rate_reached": (summary["delivered_msgs_per_s"] or 0) >= 0.98 * min_rate,
        "no_loss": summary["lost"] == 0 and summary["unacked"] == 0,
        "no_duplicates": summary["duplicated"] == 0,
        "in_order": summary["out_of_order"] == 0,
    }
    checks["met"] = all(v for k, v in checks.items() if k != "p99_ms")
    return checks


def held(summary: dict[str, Any], p99_ms: float) -> bool:
    """A ramp step held: p99 within target, nothing lost, everything sent delivered
    (the open-loop schedule sends the offered rate, give or take its random phases)."""
    check = check_chat_target(summary, p99_ms, summary["sent_msgs_per_s"] or summary["offered_msgs_per_s"])
    return bool(check["met"])


def run_chatd_deployment(ctx: Any, gen: LoadGenerator, steps: list[dict[str, Any]], *,
                         keep_going: Any = None) -> dict[str, Any]:
    """The chatd phase of the chat and ramp scenarios: a deployment as ``ctx.args``
    asks (started here, or ``--url``), ``steps`` run on it, then closed."""
    args = ctx.args
    deployment = start_deployment(args, ctx.out_dir, workers=args.workers, engine=args.engine, run_id=ctx.run_id)
    try:
        return run_chatd_phase(ctx, gen, deployment, steps, conversations=args.conversations,
                               per_agent=args.per_agent, keep_going=keep_going)
    finally:
        deployment.close()


def run_chatd_phase(ctx: Any, gen: LoadGenerator, deployment: Deployment, steps: list[dict[str, Any]], *,
                    conversations: int, per_agent: int, keep_going: Any = None) -> dict[str, Any]:
    """Set up the conversations on ``deployment``, run ``steps``, close everything."""
    monitor = ctx.monitor
    monitor.follow(deployment.meter(), deployment.redis_meter())
    setup = setup_chatd(gen, monitor, deployment, conversations=conversations, per_agent=per_agent,
                        run_id=ctx.run_id)
    results = run_steps(gen, monitor, steps, conversations=conversations, server=monitor.server,
                        redis_meter=monitor.redis, keep_going=keep_going, label="chatd",
                        profile_dir=ctx.out_dir if ctx.args.profile else None)
    gen.call("close_all", {"close_conversations": not deployment.servers})
    return {"deployment": deployment.describe(), "setup": setup, "steps": results}


def run_baseline_phase(ctx: Any, gen: LoadGenerator, steps: list[dict[str, Any]], *, conversations: int,
                       per_agent: int, keep_going: Any = None) -> dict[str, Any]:
    """The same steps against the python-socketio relay, started here. A
    failure is returned as ``{"error": ...}`` so chatd's figures are kept."""
    monitor = ctx.monitor
    described = {"server": "python-socketio AsyncServer + AsyncRedisManager on uvicorn/uvloop"}
    server = BaselineServer(redis_url=ctx.args.redis_url, channel=f"chatdbench:{ctx.run_id}:socketio",
                            log_dir=ctx.out_dir)
    redis_meter = RedisMeter(ctx.args.redis_url)
    try:
        server.start()
        meter = ProcessMeter(server.pids)
        monitor.follow(meter, redis_meter)
        setup = setup_baseline(gen, monitor, server.ws_url, conversations=conversations, per_agent=per_agent)
        results = run_steps(gen, monitor, steps, conversations=conversations, server=meter,
                            redis_meter=redis_meter, keep_going=keep_going, label="baseline",
                            profile_dir=ctx.out_dir if ctx.args.profile else None)
    except Exception as exc:  # the baseline failing must not cost chatd's figures
        monitor.note(f"baseline failed: {exc}")
        return {**described, "error": f"{type(exc).__name__}: {str(exc)[-2000:]}", "steps": []}
    finally:
        with contextlib.suppress(Exception):
            gen.call("close_all")
        redis_meter.close()
        server.terminate(timeout=5)
    return {**described, "setup": setup, "steps": results}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)
