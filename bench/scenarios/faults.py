"""faults: what chatd loses, duplicates or delays when a node or Redis fails.

Two chatd nodes share a Redis server the bench starts for the run (AOF,
``appendfsync everysec``, as production runs). ``--conversations``
conversations (a visitor and an agent each, spread over both nodes) exchange
``--rate`` messages per second for ``--duration`` seconds while the bench
injects, one after the other:

- ``node_kill``: kill -9 of a node, started again a second later;
- ``node_drain``: SIGTERM of a node (it drains: clients are told 1012), started again;
- ``redis_restart``: Redis stopped by SIGTERM and started again (nothing is lost);
- ``redis_kill``: Redis killed by SIGKILL and started again (the OS keeps what
  Redis wrote, so nothing acknowledged is lost);
- ``host_crash``: Redis killed and started from a copy of its append-only
  files taken a second earlier: what a crash of Redis's machine leaves.

Clients keep the protocol's half of the delivery contract (an outbox resent
with the same ids, resume by seq and epoch, reconnect with backoff). After a
settling time every conversation's log is read back. Per fault (each owns the
messages sent from it to the next fault) the run reports: acknowledged and
lost (absent from the final log; only the host crash may lose, and only what
was acknowledged in its last second), acknowledged but never delivered to the
other side (target 0), stored twice (0), stored out of order for a sender
(0), client-visible errors (error frames and abnormal closes) during a Redis
restart (target 0) and the recovery time: until every conversation again
delivered a message sent after the fault.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from pathlib import Path
from typing import Any

import httpx

from bench.chatload import UsageError
from bench.redis_server import RedisServer
from bench.servers import ChatdServer, http_url
from chatd.client import ChatClient

__all__ = ["FAULTS", "HELP", "add_arguments", "headline", "plot", "run"]

HELP = "node kill -9, drain, Redis restarts and a host crash under load: lost, undelivered, duplicated"
FAULTS = ("node_kill", "node_drain", "redis_restart", "redis_kill", "host_crash")
SETTLE_SECONDS = 20.0  # after the traffic: clients reconnect, outboxes drain, deliveries finish
HOST_CRASH_LAG_SECONDS = 1.0  # the AOF copy a host crash goes back to is this much older
IN_FLIGHT_SECONDS = 0.05  # an ack Redis gave just before the kill may reach its client this much later
NODE_ENV = {"CHATD_AGENT_GRACE_SECONDS": "60", "CHATD_IDLE_TIMEOUT_SECONDS": "600"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversations", type=int, default=100, help="visitor/agent conversations")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second, both directions")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--only", action="append", choices=FAULTS, default=[],
                        help="inject only these faults (repeat; default: all, in the order above)")


class Participant:
    """A visitor or an agent with a client that reconnects (with backoff,
    to any node) whenever its socket ends, as the widget and console do."""

    def __init__(self, run: FaultRun, role: str, token: str = "") -> None:
        self.run = run
        self.role = role
        self.client = ChatClient(run.pick_url(), role, token=token, on_entry=self._entry)
        self.client._on_frame = self._observe(self.client._on_frame)  # type: ignore[method-assign]
        self.task: asyncio.Task[None] | None = None
        self.conversation = ""

    def _observe(self, handle: Any) -> Any:
        def on_frame(frame: dict[str, Any]) -> None:
            if frame.get("type") == "ack":
                self.run.acked(frame["client_msg_id"], frame["seq"])
            elif frame.get("type") == "error":
                self.run.error(self.role, str(frame.get("code")))
            elif frame.get("type") == "resync":
                self.run.resyncs += 1
            handle(frame)
        return on_frame

    def _entry(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "message":
            self.run.delivered(self.role, frame)

    async def connect(self) -> None:
        await self.client.connect()
        self.task = asyncio.get_running_loop().create_task(self._stay_connected())

    async def _stay_connected(self) -> None:
        attempt = 0
        while not self.run.stopping:
            reader = self.client._reader  # ends when the socket closes
            if reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(reader)
            code = self.client.ws.close_code if self.client.ws is not None else None
            if code not in (None, 1000, 1012):
                self.run.error(self.role, f"close_{code}")
            while not self.run.stopping:
                await asyncio.sleep(random.random() * min(2.0, 0.2 * 2 ** attempt) if code != 1012 else
                                    random.random() * 2.0)
                attempt += 1
                self.client.url = self.run.pick_url()
                try:
                    await self.client.connect()
                    attempt = 0
                    break
                except Exception:  # a node or Redis still down: try again
                    code = None

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await self.client.close()


class FaultRun:
    """The deployment, the traffic and the ledger of one run."""

    def __init__(self, args: Any, out_dir: Path) -> None:
        self.args = args
        self.out_dir = out_dir
        self.redis = RedisServer(out_dir / "redis", appendfsync="everysec")
        self.nodes: list[ChatdServer] = []
        self.stopping = False
        self.t0 = 0.0
        self.sent: dict[str, tuple[str, str, int, float]] = {}  # cmid -> (conversation, role, counter, sent at)
        self.acks: dict[str, tuple[float, int]] = {}  # cmid -> (acknowledged at, seq)
        self.deliveries: dict[tuple[str, str, int], float] = {}  # (conversation, sender role, counter) -> first
        self.redeliveries = 0
        self.seen_order: dict[tuple[str, str], int] = {}  # (conversation, sender role) -> last counter seen
        self.reordered_seen = 0
        self.errors: list[tuple[float, str, str]] = []  # (at, role, code)
        self.resyncs = 0
        self.faults: list[dict[str, Any]] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def pick_url(self) -> str:
        alive = [node for node in self.nodes if node.proc is not None and node.proc.poll() is None] or self.nodes
        return random.choice(alive).ws_url

    # --- the ledger ---------------------------------------------------------------------
    def acked(self, cmid: str, seq: int) -> None:
        if cmid in self.sent and cmid not in self.acks:
            self.acks[cmid] = (self.now(), seq)

    def delivered(self, receiver: str, frame: dict[str, Any]) -> None:
        parts = str(frame.get("body", "")).split("|")
        if len(parts) != 4 or parts[0] != "f" or frame["from"]["role"] == receiver:
            return
        key = (parts[1], parts[2], int(parts[3]))
        if key in self.deliveries:
            self.redeliveries += 1  # the whole log again after a resync: expected, not a duplicate
            self.seen_order[(key[0], key[1])] = max(self.seen_order.get((key[0], key[1]), 0), key[2])
            return
        self.deliveries[key] = self.now()
        last = self.seen_order.get((key[0], key[1]), 0)
        if key[2] < last:
            self.reordered_seen += 1
        self.seen_order[(key[0], key[1])] = max(last, key[2])

    def error(self, role: str, code: str) -> None:
        self.errors.append((self.now(), role, code))

    # --- the deployment -------------------------------------------------------------------
    def start(self) -> None:
        self.redis.start()
        for n in range(2):
            node = ChatdServer(engine="redis", redis_url=self.redis.url, prefix="chatd", log_dir=self.out_dir,
                               name=f"chatd-{n}", env={**NODE_ENV, "CHATD_DEMO": "true" if n == 0 else "false"})
            node.start()
            self.nodes.append(node)

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        self.redis.kill()


async def _setup(run: FaultRun, conversations: int) -> tuple[list[Participant], list[Participant]]:
    admin_password = run.nodes[0].passwords()["admin"]
    base = http_url(run.nodes[0].ws_url)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        token = (await http.post("/api/v1/auth/login", json={"agent_id": "admin", "password": admin_password})).json()
        http.headers["authorization"] = f"Bearer {token['token']}"
        for name in ("ana", "bo", "sam"):  # the demo agents stay out of the bench's group
            await http.patch(f"/api/v1/agents/{name}", json={"skills": {"none": 1}})
        agents_needed = max(1, (conversations + 4) // 5)
        tokens = []
        for n in range(agents_needed):
            await http.post("/api/v1/agents", json={"agent_id": f"f{n:03d}", "name": f"Agent {n}",
                                                    "password": "fault-pass-1", "skills": {"general": 3},
                                                    "capacity": 6})
            answer = await http.post("/api/v1/auth/login", json={"agent_id": f"f{n:03d}", "password": "fault-pass-1"})
            tokens.append(answer.json()["token"])
    agents = [Participant(run, "agent", token) for token in tokens]
    for agent in agents:
        await agent.connect()
    visitors = [Participant(run, "visitor") for _ in range(conversations)]
    for visitor in visitors:
        await visitor.connect()
        visitor.conversation = (await visitor.client.start(skill="general"))["conversation_id"]
    deadline = time.monotonic() + 30
    while sum(len(a.client.conversations) for a in agents) < conversations and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return agents, visitors


def _owner(agents: list[Participant], cid: str) -> Participant | None:
    return next((a for a in agents if cid in a.client.conversations), None)


async def _traffic(run: FaultRun, agents: list[Participant], visitors: list[Participant], rate: float,
                   seconds: float) -> None:
    """Open loop: every conversation's visitor and agent send in turn at a fixed period."""
    period = 2 * len(visitors) / rate  # each side of each conversation sends once per period
    counters: dict[tuple[str, str], int] = {}

    async def one(visitor: Participant) -> None:
        cid = visitor.conversation
        await asyncio.sleep(random.random() * period)
        end = run.now() + seconds
        role_turn = 0
        while run.now() < end:
            role = ("visitor", "agent")[role_turn % 2]
            role_turn += 1
            sender = visitor if role == "visitor" else _owner(agents, cid)
            if sender is not None:
                counter = counters[(cid, role)] = counters.get((cid, role), 0) + 1
                cmid = sender.client.new_message_id()
                run.sent[cmid] = (cid, role, counter, run.now())
                await sender.client.send(cid, f"f|{cid}|{role}|{counter}", client_msg_id=cmid)
            await asyncio.sleep(period / 2)

    await asyncio.gather(*(one(visitor) for visitor in visitors))


async def _inject(run: FaultRun, faults: list[str], seconds: float) -> None:
    """The faults, evenly spread over the traffic (the first after a calm start)."""
    gap = seconds / (len(faults) + 1)
    loop = asyncio.get_running_loop()
    for n, fault in enumerate(faults, start=1):
        await asyncio.sleep(max(0.0, n * gap - run.now()))
        record: dict[str, Any] = {"fault": fault, "at": round(run.now(), 3)}
        if fault == "host_crash":
            # The state on disk now is what a crash a second later leaves: the
            # window of this fault starts here, what Redis acknowledges next is at risk.
            copy = await loop.run_in_executor(None, run.redis.copy_aof, run.out_dir / "aof-copy")
            await asyncio.sleep(HOST_CRASH_LAG_SECONDS)
            await loop.run_in_executor(None, run.redis.kill)
            # Redis answers nothing after the kill returns; a reply it sent just
            # before reaches the client through chatd within a few milliseconds.
            record["crashed_at"] = round(run.now() + IN_FLIGHT_SECONDS, 3)
            await loop.run_in_executor(None, run.redis.restore, copy)
        elif fault in ("redis_restart", "redis_kill"):
            await loop.run_in_executor(None, run.redis.stop if fault == "redis_restart" else run.redis.kill)
            await loop.run_in_executor(None, run.redis.start)
        else:
            node = run.nodes[n % 2]
            if fault == "node_kill":
                await loop.run_in_executor(None, node.kill)
                await asyncio.sleep(1.0)
            else:
                await loop.run_in_executor(None, node.terminate)
            await loop.run_in_executor(None, node.start)
        record["back_at"] = round(run.now(), 3)
        run.faults.append(record)


async def _final_logs(run: FaultRun, cids: list[str]) -> dict[str, list[dict[str, Any]]]:
    admin_password = run.nodes[0].passwords()["admin"]
    logs: dict[str, list[dict[str, Any]]] = {}
    async with httpx.AsyncClient(base_url=http_url(run.pick_url()), timeout=30) as http:
        token = (await http.post("/api/v1/auth/login", json={"agent_id": "admin", "password": admin_password})).json()
        http.headers["authorization"] = f"Bearer {token['token']}"
        for cid in cids:
            entries: list[dict[str, Any]] = []
            after = 0
            while True:
                page = (await http.get(f"/api/v1/conversations/{cid}/messages",
                                       params={"after": after, "limit": 500})).json()
                entries += page["entries"]
                if not page["entries"] or entries[-1]["seq"] >= page["last_seq"]:
                    break
                after = entries[-1]["seq"]
            logs[cid] = entries
    return logs


def _report(run: FaultRun, logs: dict[str, list[dict[str, Any]]], seconds: float) -> dict[str, Any]:
    stored: dict[tuple[str, str, int], int] = {}
    twice = 0
    out_of_order = 0
    for entries in logs.values():
        last: dict[str, int] = {}
        for entry in entries:
            parts = str(entry.get("body", "")).split("|")
            if entry["kind"] != "message" or len(parts) != 4 or parts[0] != "f":
                continue
            key = (parts[1], parts[2], int(parts[3]))
            if key in stored:
                twice += 1
            stored[key] = entry["seq"]
            if key[2] < last.get(key[1], 0):
                out_of_order += 1
            last[key[1]] = max(last.get(key[1], 0), key[2])
    windows = [{"fault": "before any fault", "at": 0.0}, *run.faults]
    per_fault = []
    for n, window in enumerate(windows):
        start = window["at"]
        end = windows[n + 1]["at"] if n + 1 < len(windows) else float("inf")
        mine = {cmid: meta for cmid, meta in run.sent.items() if start <= meta[3] < end}
        acked = {cmid: meta for cmid, meta in mine.items() if cmid in run.acks}
        lost = [cmid for cmid, meta in acked.items() if (meta[0], meta[1], meta[2]) not in stored]
        undelivered = [cmid for cmid, meta in acked.items()
                       if (meta[0], meta[1], meta[2]) in stored and (meta[0], meta[1], meta[2]) not in run.deliveries]
        figures: dict[str, Any] = {
            "fault": window["fault"], "at_seconds": start, "sent": len(mine), "acknowledged": len(acked),
            "acknowledged_and_lost": len(lost), "acknowledged_but_undelivered": len(undelivered),
        }
        if "back_at" in window:
            figures["down_seconds"] = round(window["back_at"] - start, 2)
            figures["errors_seen_by_clients"] = sorted({code for at, _, code in run.errors
                                                        if start <= at < window["back_at"] + 5})
            figures["error_count"] = sum(1 for at, _, _ in run.errors if start <= at < window["back_at"] + 5)
            figures["recovery_seconds"] = _recovery(run, start, end)
        if window["fault"] == "host_crash":
            # Only what Redis acknowledged after the state the crash went back to may be gone.
            crashed = window["crashed_at"]
            figures["crash_seconds_after_copy"] = round(crashed - start, 2)
            figures["lost_within_documented_window"] = all(start <= run.acks[c][0] <= crashed for c in lost)
            if lost:
                figures["lost_acknowledged_between_seconds"] = [round(min(run.acks[c][0] for c in lost), 3),
                                                                 round(max(run.acks[c][0] for c in lost), 3)]
        per_fault.append(figures)
    total_lost = sum(f["acknowledged_and_lost"] for f in per_fault)
    return {
        "conversations": len(logs), "rate": run.args.rate, "duration_seconds": seconds,
        "sent": len(run.sent), "acknowledged": len(run.acks), "stored_twice": twice,
        "stored_out_of_order_for_a_sender": out_of_order, "delivered_out_of_order": run.reordered_seen,
        "redelivered_after_resync": run.redeliveries, "resyncs": run.resyncs,
        "acknowledged_and_lost": total_lost,
        "acknowledged_but_undelivered": sum(f["acknowledged_but_undelivered"] for f in per_fault),
        "per_fault": per_fault,
    }


def _recovery(run: FaultRun, start: float, end: float) -> float | None:
    """Seconds from the fault until every conversation delivered a message sent after it."""
    firsts: dict[str, float] = {}
    for cid, role, counter, sent_at in run.sent.values():
        if start <= sent_at < end:
            delivered = run.deliveries.get((cid, role, counter))
            if delivered is not None and (cid not in firsts or delivered < firsts[cid]):
                firsts[cid] = delivered
    if not firsts:
        return None
    return round(max(firsts.values()) - start, 2)


async def _run_async(run: FaultRun, faults: list[str]) -> dict[str, Any]:
    args = run.args
    agents, visitors = await _setup(run, args.conversations)
    run.t0 = time.monotonic()
    try:
        await asyncio.gather(_traffic(run, agents, visitors, args.rate, args.duration),
                             _inject(run, faults, args.duration))
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline and any(p.client.outbox for p in (*agents, *visitors)):
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # the last deliveries
        logs = await _final_logs(run, [v.conversation for v in visitors])
    finally:
        run.stopping = True
        for participant in (*agents, *visitors):
            await participant.close()
    return _report(run, logs, args.duration)


def run(ctx: Any) -> dict[str, Any]:
    args = ctx.args
    if args.url:
        raise UsageError("faults starts its own Redis and nodes (it kills them): --url is not supported")
    faults = args.only or list(FAULTS)
    fault_run = FaultRun(args, ctx.out_dir)
    fault_run.start()
    try:
        report = asyncio.run(_run_async(fault_run, faults))
    finally:
        fault_run.close()
    restarts = [f for f in report["per_fault"] if f["fault"] in ("redis_restart", "redis_kill")]
    crash = [f for f in report["per_fault"] if f["fault"] == "host_crash"]
    report["ok"] = (report["acknowledged_but_undelivered"] == 0 and report["stored_twice"] == 0
                    and report["stored_out_of_order_for_a_sender"] == 0
                    and all(f["acknowledged_and_lost"] == 0 for f in report["per_fault"] if f["fault"] != "host_crash")
                    and all(f.get("lost_within_documented_window", True) for f in crash)
                    and all(f["error_count"] == 0 for f in restarts))
    return report


def plot(ctx: Any, result: dict[str, Any]) -> list[Path | None]:
    return []


def headline(result: dict[str, Any]) -> str:
    parts = [f"{f['fault']}: lost {f['acknowledged_and_lost']}, undelivered {f['acknowledged_but_undelivered']}"
             + (f", errors {f['error_count']}, recovery {f['recovery_seconds']} s" if "error_count" in f else "")
             for f in result["per_fault"]]
    return (f"faults: sent {result['sent']}, acknowledged {result['acknowledged']}, stored twice "
            f"{result['stored_twice']}, out of order {result['stored_out_of_order_for_a_sender']}; "
            + "; ".join(parts))
