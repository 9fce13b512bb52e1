"""Full-text search latency over a large archive.

Fills a record store of its own (an SQLite file by default, or
``--database-url``) with ``--conversations`` archived conversations of
``--messages`` messages each, written through the real archive
(:class:`chatd.records.sql.SqlArchive`: transcript and search index in one
transaction per conversation), in Chinese and English from templates with
order numbers, products and cities, so terms range from very common (订单,
order) to unique (an order number). Then runs ``--queries`` searches as the
history API does (analysis, the indexed query with filters, the highlighting
of each hit) and reports latency percentiles per kind of query.

Run from the repository root::

    python -m bench.archive_search [--conversations 50000] [--messages 20] [--queries 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hdrh.histogram import HdrHistogram

from chatd.archive import HistoryFilter, summarize
from chatd.model import Conversation, LogEntry
from chatd.records import open_records
from chatd.records.migrate import upgrade
from chatd.search import highlight, query_terms

__all__ = ["main", "run"]

PRODUCTS = ("蓝牙耳机", "扫地机器人", "电饭煲", "运动鞋", "羽绒服", "保温杯", "机械键盘", "空气净化器", "儿童座椅",
            "咖啡机")
CITIES = ("上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆")
EN_PRODUCTS = ("headphones", "vacuum", "rice cooker", "sneakers", "jacket", "thermos", "keyboard", "purifier")
ZH = ("你好，我的订单 {order} 什么时候发货？", "{product}收到了但是有点问题，可以退货吗", "快递到{city}要几天？",
      "请问{product}有优惠券吗", "物流信息一直没有更新，订单号 {order}", "我想开发票，抬头是公司", "好的，谢谢您",
      "您好，已经为您查询到订单 {order}，预计明天送达{city}", "退款已经提交，三到五个工作日到账",
      "{product}的保修期是多久")
EN = ("Hi, where is my order {order}?", "The {product} arrived broken, can I get a refund?",
      "How long does shipping to {city} take?", "Thanks, that solved it", "Your refund for order {order} is on its way",
      "Can I change the delivery address for my {product}?")
SITES = ("shop", "app", "mini")
AGENTS = tuple(f"agent{n}" for n in range(40))
LATENCY_MAX_US = 60_000_000


def _line(rng: random.Random, n: int) -> tuple[str, str]:
    english = rng.random() < 0.3
    template = rng.choice(EN if english else ZH)
    body = template.format(order=rng.randrange(100_000, 999_999), product=rng.choice(EN_PRODUCTS if english
                                                                                     else PRODUCTS),
                           city=rng.choice(CITIES))
    return ("visitor" if n % 2 == 0 else "agent"), body


async def _fill(records: Any, conversations: int, messages: int, seed: int) -> tuple[list[str], float]:
    rng = random.Random(seed)
    orders: list[str] = []
    started = time.monotonic()
    t0 = time.time() - 90 * 86_400
    for i in range(conversations):
        cid, agent = f"c{i}", rng.choice(AGENTS)
        closed_at = t0 + i * (90 * 86_400 / conversations)
        conversation = Conversation(conversation_id=cid, site_key=rng.choice(SITES),
                                    visitor_id=f"v{rng.randrange(10**6)}", state="closed", last_agent_id=agent,
                                    skill=rng.choice(("general", "after_sales", "billing")),
                                    created_at=closed_at - 600, closed_at=closed_at)
        entries = []
        for seq in range(1, messages + 1):
            role, body = _line(rng, seq)
            if "订单 " in body and rng.random() < 0.01:
                orders.append(body.split("订单 ")[1][:6])
            entries.append(LogEntry(conversation_id=cid, seq=seq, kind="message", sender_role=role,
                                    sender_id=agent if role == "agent" else conversation.visitor_id, body=body,
                                    ts=closed_at - 600 + seq, client_msg_id=f"m{seq}"))
        await records.archive.save(summarize(conversation, entries), entries)
    return orders, time.monotonic() - started


def _queries(rng: random.Random, orders: list[str], count: int) -> list[tuple[str, str, HistoryFilter]]:
    kinds = (("common word", lambda: rng.choice(("订单", "物流", "退款", "order", "refund"))),
             ("product", lambda: rng.choice(PRODUCTS)),
             ("two words", lambda: f"{rng.choice(PRODUCTS)} {rng.choice(('退货', '保修期', '优惠券'))}"),
             ("order number", lambda: rng.choice(orders) if orders else "123456"))
    out = []
    for n in range(count):
        name, make = kinds[n % len(kinds)]
        filters = HistoryFilter(agent_id=rng.choice(AGENTS)) if rng.random() < 0.25 else HistoryFilter()
        out.append((name + (" + agent" if filters.agent_id else ""), make(), filters))
    return out


async def run(conversations: int, messages: int, queries: int, database_url: str, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chatd-bench-search-") as scratch:
        records = open_records(database_url or f"sqlite+aiosqlite:///{Path(scratch) / 'records.db'}")
        await upgrade(records.database)
        try:
            orders, fill_seconds = await _fill(records, conversations, messages, seed)
            histograms: dict[str, HdrHistogram] = {}
            hits = 0
            rng = random.Random(seed + 1)
            for name, text, filters in _queries(rng, orders, queries):
                started = time.perf_counter()
                found = await records.archive.search(query_terms(text), filters, limit=50)
                for hit in found:
                    highlight(hit.body, text)
                elapsed_us = int((time.perf_counter() - started) * 1e6)
                hits += len(found)
                histograms.setdefault(name, HdrHistogram(1, LATENCY_MAX_US, 3)).record_value(elapsed_us)
                histograms.setdefault("all", HdrHistogram(1, LATENCY_MAX_US, 3)).record_value(elapsed_us)
            return {
                "conversations": conversations, "messages": conversations * messages, "queries": queries,
                "database": records.database.dialect, "fill_seconds": round(fill_seconds, 1),
                "archived_messages_per_second": round(conversations * messages / fill_seconds),
                "mean_hits_per_query": round(hits / max(queries, 1), 1),
                "latency_ms": {name: {"p50": h.get_value_at_percentile(50) / 1000,
                                      "p99": h.get_value_at_percentile(99) / 1000,
                                      "max": h.get_max_value() / 1000, "count": h.get_total_count()}
                               for name, h in sorted(histograms.items())},
                "machine": {"python": platform.python_version()},
            }
        finally:
            await records.database.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.conversations, args.messages, args.queries, args.database_url, args.seed))
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
