"""The one-time move of what releases before the record store kept in Redis.

Those releases kept configuration, tickets, ratings and the bot's memory in
one Redis hash per kind (``records:<kind>``, key -> record). ``chatd db
upgrade`` reads them (:meth:`chatd.store.redis.RedisStore.legacy_records`),
writes each into its typed store here, and only then deletes the hashes.
Every write is an upsert, so a move cut short is simply run again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatd.records.base import Records
from chatd.store.base import Store

__all__ = ["LEGACY_KINDS", "move_legacy_records"]

LEGACY_KINDS = ("skill_group", "schedule", "quick_reply", "kb_entry", "kb_meta", "bot_settings", "overflow_rule",
                "ticket", "rating", "bot_state", "missed_offers")

Found = Mapping[str, Mapping[str, dict[str, Any]]]


async def move_legacy_records(found: Found, records: Records, store: Store) -> dict[str, int]:
    """Write ``found`` (kind -> key -> record) into ``records`` (and the bot's
    memory and missed offers, which stay live, into ``store``); how many of each kind."""
    moved: dict[str, int] = {}

    def kind(name: str) -> Mapping[str, dict[str, Any]]:
        records_of_kind = found.get(name, {})
        if records_of_kind:
            moved[name] = len(records_of_kind)
        return records_of_kind

    for record in kind("skill_group").values():
        await records.skill_groups.put(record)
    for record in kind("schedule").values():
        await records.schedules.put(record)
    for record in kind("quick_reply").values():
        await records.quick_replies.put({"owner": "team", **record})
    for record in kind("overflow_rule").values():
        await records.overflow_rules.put(record)
    for site_key, record in kind("bot_settings").items():
        await records.bot_settings.put(site_key, record)
    entries = kind("kb_entry")
    meta = kind("kb_meta").get("version") or {}
    if entries or meta:
        version = str(meta.get("version") or "legacy")
        await records.knowledge_base.replace(dict(entries), (), version)
    for record in kind("ticket").values():
        await records.tickets.put(record)
    for conversation_id, record in kind("rating").items():
        await records.ratings.put({"conversation_id": conversation_id, **record})
    for conversation_id, record in kind("bot_state").items():
        await store.put_bot_state(conversation_id, record)
    for agent_id, record in kind("missed_offers").items():
        await store.set_missed_offers(agent_id, int(record.get("count", 0)))
    return moved
