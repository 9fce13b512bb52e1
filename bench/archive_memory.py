"""Redis memory per live conversation, before and after a long archived history.

On a redis-server of its own, with the real Redis store, record store and
:class:`chatd.archiving.Archiver` (hold 0: forgotten as soon as archived):

1. ``--live`` conversations are opened, each with ``--messages`` messages,
   and kept open: Redis memory per live conversation is measured.
2. A control: ``--control`` conversations are opened, talked in and closed,
   and the memory they keep while not yet forgotten is measured (what every
   closed conversation cost before the archive: Redis grew with history).
3. ``--archived`` more conversations go the same way, the archive pass
   running as they close: archived, then forgotten.
4. Memory is measured again with the same live conversations, which must
   still all be there; every closed conversation must be in the archive once.

Run from the repository root::

    python -m bench.archive_memory [--live 1000] [--archived 100000] [--messages 10] [--json out.json]
        [--database-url postgresql+asyncpg://...]  (default: an SQLite file of the run's own)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from bench.redis_server import RedisServer
from chatd.archiving import Archiver
from chatd.conversation import plan
from chatd.model import Conversation
from chatd.records import open_records
from chatd.records.migrate import upgrade
from chatd.settings import Settings
from chatd.store import open_engine
from chatd.store.base import Store

__all__ = ["main", "run"]

BATCH = 50  # conversations made at once (under the store's pool size)
TEXTS = ("你好，我的订单 {n} 什么时候发货？", "Hello, where is order {n}?", "好的，谢谢", "请问可以开发票吗")


def _used_memory(client: redis.Redis) -> int:
    """The data's bytes (``used_memory_dataset``: without client buffers and
    other overhead, which move with the run's connections, not its data)."""
    return int(client.info("memory")["used_memory_dataset"])


async def _conversation(store: Store, cid: str, messages: int, now: float, close: bool) -> None:
    conversation = Conversation(conversation_id=cid, site_key="bench", visitor_id="v-" + cid, skill="general",
                                created_at=now)
    await store.start_conversation(conversation, plan("open", "queue", record=conversation, now=now), now)
    for n in range(messages):
        await store.append(cid, kind="message", sender_role="visitor", sender_id="v-" + cid, now=now + n,
                           body=TEXTS[n % len(TEXTS)].format(n=n), client_msg_id=secrets.token_hex(6))
    if close:
        await store.transition(cid, plan("queued", "close", actor_role="visitor", actor_id="v-" + cid),
                               now + messages)


async def _make(store: Store, prefix: str, count: int, messages: int, close: bool,
                archiver: Archiver | None = None) -> None:
    now = time.time() - messages - 1  # every close lies in the past: due at once with hold 0
    for start in range(0, count, BATCH):
        await asyncio.gather(*(_conversation(store, f"{prefix}{i}", messages, now, close)
                               for i in range(start, min(count, start + BATCH))))
        if archiver is not None and (start // BATCH) % 20 == 19:
            while await archiver.run_pass():
                pass


async def run(live: int, archived: int, control: int, messages: int, database_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chatd-bench-archive-") as scratch, \
            RedisServer(Path(scratch) / "redis") as server:
        client = redis.Redis.from_url(server.url)
        engine = open_engine(Settings(engine="redis", redis_url=server.url, redis_prefix="bench"))
        records = open_records(database_url or f"sqlite+aiosqlite:///{Path(scratch) / 'records.db'}")
        await upgrade(records.database)
        store = engine.store
        archiver = Archiver(store, records.archive, time.time, hold=0.0)
        try:
            baseline = _used_memory(client)
            await _make(store, "live-", live, messages, close=False)
            with_live = _used_memory(client)

            await _make(store, "control-", control, messages, close=True)
            unforgotten = _used_memory(client)
            while await archiver.run_pass():
                pass
            after_control = _used_memory(client)

            started = time.monotonic()
            await _make(store, "done-", archived, messages, close=True, archiver=archiver)
            while await archiver.run_pass():
                pass
            churn_seconds = time.monotonic() - started
            after = _used_memory(client)

            still_live = len(await store.list_conversations(("queued",)))
            left_closed = len(await store.list_conversations(("closed",)))
            in_archive = await records.archive.count()
            return {
                "live": live, "archived": archived, "control": control, "messages": messages,
                "database": records.database.dialect,
                "redis_bytes_baseline": baseline,
                "redis_bytes_per_live_before": (with_live - baseline) / max(live, 1),
                "redis_bytes_per_closed_unforgotten": (unforgotten - with_live) / max(control, 1),
                "redis_bytes_after_control_forgotten": after_control - baseline,
                "redis_bytes_per_live_after": (after - baseline) / max(live, 1),
                "redis_growth_bytes_over_archive": after - with_live,
                "archive_seconds": round(churn_seconds, 1),
                "archived_per_second": round(archived / churn_seconds, 1) if churn_seconds else None,
                "checks": {"live_kept": still_live == live, "closed_left_live": left_closed,
                           "archived_once": in_archive == archived + control},
                "machine": {"python": platform.python_version(), "cpus": _cpus()},
            }
        finally:
            await records.database.close()
            await engine.broker.close()
            await store.close()
            client.close()


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--live", type=int, default=1000)
    parser.add_argument("--archived", type=int, default=100_000)
    parser.add_argument("--control", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.live, args.archived, args.control, args.messages, args.database_url))
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    checks = report["checks"]
    return 0 if checks["live_kept"] and checks["archived_once"] and checks["closed_left_live"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
