"""The work of one load-generator process: its peers, the open-loop send
schedule and the answers to main's commands.

Main (``bench/loadgen.py``) calls the ``cmd_*`` coroutines by name; each
returns plain data. Sending is **open loop**: every stream (one side of one
conversation) has fixed intended send times, a random phase apart from the
others, and latency is measured from the intended time, so a slow server or
a late event loop shows up as latency instead of silently lowering the rate.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
from collections import Counter
from typing import Any

from bench.ledger import Ledger, encode_histogram, histogram, percentiles
from bench.peers import ChatdPeer, Hooks, Mix, SocketIOPeer

__all__ = ["Workload"]

CONNECT_ATTEMPTS = 3  # per peer while setting up
WINDOW_GRACE_NS = 1_000_000_000  # a delivery this long after a step's window still counts in its rate
HEARTBEAT_SECONDS = 20.0  # below the servers' default 25 s, so idle peers are never timed out


class Workload(Hooks):
    def __init__(self, index: int, config: dict[str, Any]) -> None:
        self.index = index
        self.config = config
        self.ledger = Ledger()
        self.mix = Mix(config.get("typing_probability", 0.5), config.get("read_probability", 0.5),
                       config.get("body_bytes", 64))
        self.fmt = config.get("format", "json")
        self.local_host = config.get("local_hosts", [None])[index % len(config.get("local_hosts", [None]))]
        self.concurrency = int(config.get("concurrency", 200))
        self.peers: list[Any] = []
        self.open_peers: set[int] = set()
        self.attached_count = 0
        self.resume_since = 0
        self.resumed_after_drop: dict[int, int] = {}  # id(peer) -> ns from the drop to its resume
        self.disconnects_since = 0
        self.connect_hist = histogram()
        self.stop_requested = False

    # --- hooks from peers ---------------------------------------------------------
    def on_welcomed(self, peer: Any) -> None:
        self.open_peers.add(id(peer))

    def on_disconnected(self, peer: Any) -> None:
        self.open_peers.discard(id(peer))
        if self.resume_since:
            self.disconnects_since += 1

    def on_attached(self, peer: Any, conversation_id: str) -> None:
        if peer.role == "agent":
            self.attached_count += 1

    def on_resumed(self, peer: Any) -> None:
        if self.resume_since and peer.session_start > self.resume_since and id(peer) not in self.resumed_after_drop:
            self.resumed_after_drop[id(peer)] = time.monotonic_ns() - self.resume_since

    # --- connecting ---------------------------------------------------------------
    async def _connect_all(self, peers: list[Any], after: Any = None) -> dict[str, Any]:
        """Connect (and ``after``) every peer, ``concurrency`` at a time; a
        failed attempt is retried after a pause, like a real client would."""
        gate = asyncio.Semaphore(self.concurrency)
        failures: Counter[str] = Counter()  # every failed attempt, by exception
        failed = 0

        async def one(peer: Any) -> None:
            nonlocal failed
            reconnect = peer.reconnect
            for attempt in range(CONNECT_ATTEMPTS):
                async with gate:
                    started = time.monotonic_ns()
                    try:
                        await peer.connect()
                        self.connect_hist.record_value(max(1, (time.monotonic_ns() - started) // 1000))
                        if after is not None:
                            await after(peer)
                        return
                    except Exception as exc:  # reported, never fatal for the others
                        failures[type(exc).__name__] += 1
                        peer.reconnect = False  # no background reconnect racing the retry
                        peer.drop()
                await asyncio.sleep(0.5 * (attempt + 1))
                peer.reconnect = reconnect
            peer.reconnect = False
            failed += 1

        started = time.monotonic()
        await asyncio.gather(*(one(p) for p in peers))
        return {"seconds": time.monotonic() - started, "failed": failed, "failed_attempts": dict(failures)}

    async def cmd_connect_agents(self, agents: list[dict[str, str]]) -> dict[str, Any]:
        peers = [ChatdPeer(self.ledger, self, self.mix, "agent", a["url"], token=a["token"], fmt=self.fmt,
                           prefix=f"w{self.index}a{i}-", local_host=self.local_host) for i, a in enumerate(agents)]
        self.peers += peers
        return await self._connect_all(peers)

    async def cmd_connect_visitors(self, urls: list[str], skill: str = "", start: bool = True) -> dict[str, Any]:
        first = len(self.peers)
        peers = [ChatdPeer(self.ledger, self, self.mix, "visitor", url, fmt=self.fmt,
                           prefix=f"w{self.index}v{first + i}-", local_host=self.local_host)
                 for i, url in enumerate(urls)]
        self.peers += peers

        async def start_conversation(peer: ChatdPeer) -> None:
            await peer.start(skill)

        return await self._connect_all(peers, start_conversation if start else None)

    async def cmd_connect_rooms(self, members: list[dict[str, Any]]) -> dict[str, Any]:
        """Baseline: ``members`` are ``{"role", "url", "rooms"}``."""
        peers = [SocketIOPeer(self.ledger, self, self.mix, m["role"], m["url"], m["rooms"], local_host=self.local_host)
                 for m in members]
        self.peers += peers
        result = await self._connect_all(peers)
        self.attached_count += sum(len(p.rooms) for p in peers if p.role == "agent" and p.state == "open")
        return result

    def cmd_status(self) -> dict[str, Any]:
        return {"peers": len(self.peers), "open": len(self.open_peers), "attached": self.attached_count,
                "conversations": sum(1 for p in self.peers if p.role == "visitor" and p.conversations),
                "unacked": sum(p.unacked() for p in self.peers), "resumed": len(self.resumed_after_drop)}

    def cmd_connect_stats(self) -> dict[str, Any]:
        return {"connect_hist": encode_histogram(self.connect_hist)}

    # --- the open-loop schedule -----------------------------------------------------
    def _streams(self) -> list[tuple[Any, str]]:
        streams = []
        for peer in self.peers:
            if peer.role == "visitor":
                streams += [(peer, c) for c in peer.conversations[:1]]
            else:
                streams += [(peer, c) for c in peer.conversations]
        return streams

    async def cmd_run_step(self, step: int, rate_per_stream: float, seconds: float, start_at_ns: int,
                           settle_seconds: float = 5.0) -> dict[str, Any]:
        """Send at ``rate_per_stream`` on every local stream from ``start_at_ns``
        for ``seconds``; then wait up to ``settle_seconds`` for the acks."""
        self.mix.step = step
        self.stop_requested = False
        streams = self._streams()
        self.ledger.step(step)
        if not streams or rate_per_stream <= 0:
            await _sleep_until(start_at_ns + int(seconds * 1e9))
            return {"streams": 0, "late_ms": None}
        interval = int(1e9 / rate_per_stream)
        end = start_at_ns + int(seconds * 1e9)
        self.ledger.step(step).window_end_ns = end + WINDOW_GRACE_NS
        heap = [(start_at_ns + random.randrange(interval), i) for i in range(len(streams))]
        heap = [item for item in heap if item[0] < end]
        heapq.heapify(heap)
        typing_probability = self.mix.typing_probability
        rand = random.random
        late = histogram()  # how far behind the schedule this process fell (a saturation sign)
        while heap and not self.stop_requested:
            now = time.monotonic_ns()
            while heap and heap[0][0] <= now:
                intended, i = heap[0]
                peer, conversation_id = streams[i]
                if typing_probability and rand() < typing_probability:
                    peer.send_typing(conversation_id, step)
                peer.send_message(conversation_id, step, intended)
                late.record_value(max(1, (now - intended) // 1000))
                following = intended + interval
                if following < end:
                    heapq.heapreplace(heap, (following, i))
                else:
                    heapq.heappop(heap)
            if heap:
                await asyncio.sleep(min(0.1, max(0.0, (heap[0][0] - time.monotonic_ns()) / 1e9)))
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline and any(p.unacked() for p in self.peers):
            await asyncio.sleep(0.05)
        return {"streams": len(streams), "schedule_lag_ms": percentiles(late)}

    def cmd_stop_step(self) -> dict[str, Any]:
        """End the running step's schedule now (its acks are still awaited)."""
        self.stop_requested = True
        return {}

    def cmd_collect(self, steps: list[int]) -> dict[str, Any]:
        unacked: Counter[int] = Counter()
        for peer in self.peers:
            for item in getattr(peer, "outbox", {}).values():
                unacked[item[2]] += 1
            for _room, step, _t in getattr(peer, "_acks", {}).values():
                unacked[step] += 1
        export = self.ledger.export(steps)
        for step in steps:
            export[str(step)]["counters"]["unacked"] = unacked.get(step, 0)
        return {"steps": export, "totals": dict(self.ledger.totals)}

    # --- storms ------------------------------------------------------------------------
    def cmd_watch_resume(self, since_ns: int) -> dict[str, Any]:
        """Count resumes (welcome, then ``synced`` for every conversation) of
        sessions started after ``since_ns`` (the moment of the drop)."""
        self.resume_since = since_ns
        self.resumed_after_drop.clear()
        self.disconnects_since = 0
        return {"peers": len(self.peers)}

    def cmd_drop(self) -> dict[str, Any]:
        """Cut every connection at once (they reconnect with their backoff)."""
        for peer in self.peers:
            peer.drop()
        return {"dropped": len(self.peers)}

    def cmd_resume_times(self) -> dict[str, Any]:
        return {"resumed_ns": sorted(self.resumed_after_drop.values()), "peers": len(self.peers),
                "disconnects": self.disconnects_since}

    # --- the end -------------------------------------------------------------------------
    async def cmd_close_all(self, close_conversations: bool = False) -> dict[str, Any]:
        if close_conversations:
            for peer in self.peers:
                if isinstance(peer, ChatdPeer) and peer.role == "visitor":
                    for conversation_id in peer.conversations:
                        peer.send_close(conversation_id)
            await asyncio.sleep(0.5)
        for peer in self.peers:
            peer.close()
        await asyncio.sleep(0.2)
        for peer in self.peers:
            peer.drop()
        count = len(self.peers)
        self.peers = []
        self.ledger = Ledger()  # the next phase (another server) starts from zero
        self.connect_hist = histogram()
        self.open_peers.clear()
        self.attached_count = 0
        return {"closed": count}

    # --- background ----------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Ping chatd peers that sent nothing for a while (the server's idle timeout)."""
        cutoff = time.monotonic() - HEARTBEAT_SECONDS
        for peer in self.peers:
            if peer.state == "open" and peer.last_sent < cutoff:
                peer.ping()

    def progress(self) -> dict[str, Any]:
        interval = self.ledger.take_interval()
        return {"open": len(self.open_peers), "attached": self.attached_count, "resumed": len(self.resumed_after_drop),
                "peers": len(self.peers), "interval": interval, "totals": dict(self.ledger.totals)}


async def _sleep_until(deadline_ns: int) -> None:
    delay = (deadline_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)
