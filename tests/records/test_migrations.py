"""Migrations on SQLite and PostgreSQL: empty to head, several nodes
migrating at once, refusing a schema behind or ahead of the code, and the
move of an older release's records out of Redis by ``chatd db upgrade``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import msgpack
import redis
from sqlalchemy import inspect, text

from chatd.records import open_records
from chatd.records.migrate import SchemaError, current_revision, head_revision, require_current, upgrade
from chatd.records.schema import is_search_index, metadata
from chatd.records.sql import open_database
from chatd.store.keys import Keys
from tests.support import REDIS_URL, REPO, delete_redis_prefix, require_redis


async def test_an_empty_database_is_migrated_to_head(database_url: str) -> None:
    db = open_database(database_url)
    try:
        assert await current_revision(db) is None
        try:
            await require_current(db)
            raise AssertionError("an empty schema passed")
        except SchemaError as exc:
            assert "chatd db upgrade" in str(exc)
        assert await upgrade(db) == head_revision()
        assert await upgrade(db) == head_revision()  # again: nothing to do
        await require_current(db)
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        assert set(metadata.tables) <= tables
    finally:
        await db.close()


async def test_nodes_starting_together_migrate_once(database_url: str) -> None:
    dbs = [open_database(database_url) for _ in range(3)]
    try:
        assert await asyncio.gather(*(upgrade(db) for db in dbs)) == [head_revision()] * 3
    finally:
        for db in dbs:
            await db.close()


async def test_a_schema_newer_than_the_code_is_refused(database_url: str) -> None:
    db = open_database(database_url)
    try:
        await upgrade(db)
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
        try:
            await require_current(db)
            raise AssertionError("a newer schema passed")
        except SchemaError as exc:
            assert "newer" in str(exc)
    finally:
        await db.close()


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    env["CHATD_DATABASE_URL"] = database_url
    runs = [subprocess.Popen([sys.executable, "-m", "chatd.cli", "db", "upgrade"], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0 and head_revision() in out, err
    assert _chatd("db", "status", env=env).returncode == 0


def _chatd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatd.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_serve_refuses_a_schema_behind_the_code(database_url: str, tmp_path: object) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    env.update({"CHATD_DATABASE_URL": database_url, "CHATD_SECRET": "s" * 40, "CHATD_PORT": "1"})
    refused = _chatd("serve", env=env)
    assert refused.returncode == 2 and "run `chatd db upgrade` first" in refused.stderr, refused.stderr
    status = _chatd("db", "status", env=env)
    assert status.returncode == 1 and "schema empty" in status.stdout
    upgraded = _chatd("db", "upgrade", env=env)
    assert upgraded.returncode == 0 and head_revision() in upgraded.stdout, upgraded.stderr
    assert _chatd("db", "status", env=env).returncode == 0


async def test_upgrade_moves_an_older_releases_records_out_of_redis(database_url: str) -> None:
    import os

    require_redis()
    prefix = f"chatdtest:{uuid.uuid4().hex[:12]}"
    keys = Keys(prefix)
    client = redis.Redis.from_url(REDIS_URL)

    def put(kind: str, key: str, record: dict[str, object]) -> None:
        client.hset(keys.records(kind), key, msgpack.packb(record, use_bin_type=True))

    put("skill_group", "vip", {"name": "vip", "algorithm": "round_robin"})
    put("schedule", "ana", {"owner": "ana", "timezone": "Asia/Shanghai", "hours": {"mon-fri": "09:00-18:00"}})
    put("quick_reply", "qr_1", {"id": "qr_1", "owner": "team", "shortcut": "/hi", "text": "您好"})
    put("kb_entry", "returns", {"id": "returns", "question": "怎么退货", "answer": "七天无理由"})
    put("kb_meta", "version", {"version": "abc123"})
    put("bot_settings", "shop", {"bot_first": True})
    put("overflow_rule", "after_sales", {"skill_group": "after_sales", "max_queue": 5})
    put("ticket", "tk_1", {"ticket_id": "tk_1", "site_key": "shop", "visitor_id": "v1", "status": "open",
                           "category": "order", "created_at": 10.0, "updated_at": 10.0})
    put("rating", "c1", {"conversation_id": "c1", "score": 4, "comment": "好", "agent_id": "ana", "skill": "general",
                         "site_key": "shop", "at": 20.0})
    put("bot_state", "c2", {"step": "menu"})
    put("missed_offers", "bo", {"agent_id": "bo", "count": 2})
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    env.update({"CHATD_DATABASE_URL": database_url, "CHATD_ENGINE": "redis", "CHATD_REDIS_URL": REDIS_URL,
                "CHATD_REDIS_PREFIX": prefix})
    try:
        upgraded = _chatd("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "moved from Redis" in upgraded.stdout and "1 ticket" in upgraded.stdout
        assert not [key for key in client.scan_iter(match=f"{prefix}:*records:*")]  # gone from Redis
        assert client.get(keys.bot_state("c2")) is not None and client.hget(keys.missed_offers(), "bo") == b"2"
        records = open_records(database_url)
        try:
            assert await records.skill_groups.get("vip") == {"name": "vip", "algorithm": "round_robin"}
            assert (await records.schedules.get("ana"))["timezone"] == "Asia/Shanghai"
            assert [r["id"] for r in await records.quick_replies.list(("team",))] == ["qr_1"]
            assert await records.knowledge_base.version() == "abc123"
            assert (await records.knowledge_base.get("returns"))["answer"] == "七天无理由"
            assert await records.bot_settings.get("shop") == {"bot_first": True}
            assert (await records.overflow_rules.get("after_sales"))["max_queue"] == 5
            assert [t["ticket_id"] for t in await records.tickets.query(site_key="shop")] == ["tk_1"]
            assert (await records.ratings.get("c1"))["score"] == 4
        finally:
            await records.database.close()
        again = _chatd("db", "upgrade", env=env)  # nothing left to move
        assert again.returncode == 0 and "moved" not in again.stdout
    finally:
        delete_redis_prefix(prefix)
        client.close()


async def test_the_migrations_make_exactly_the_tables_the_code_defines(database_url: str) -> None:
    """No drift between chatd.records.schema (which a private in-memory
    database is made from directly) and what the migrations build."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = open_database(database_url)
    try:
        await upgrade(db)
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, parent: not (name and is_search_index(name))}), metadata))
        assert differences == []
    finally:
        await db.close()


async def test_an_archive_made_by_the_previous_schema_is_searchable_after_the_upgrade(database_url: str) -> None:
    """A database at 0001 (no search index) with an archived conversation in it:
    upgrading indexes its messages."""
    from chatd.archive import HistoryFilter
    from chatd.records.schema import archived_conversations, archived_messages
    from chatd.records.sql import SqlArchive
    from chatd.search import query_terms

    db = open_database(database_url)
    try:
        assert await upgrade(db, "0001") == "0001"
        async with db.engine.begin() as conn:
            await conn.execute(archived_conversations.insert().values(
                conversation_id="old", site_key="shop", visitor_id="v1", visitor_name="", agent_id="ana",
                skill="general", outcome="human", created_at=10.0, closed_at=20.0, transfers=0, messages=1,
                last_seq=2, epoch="e", participants=[], archived_at=30.0,
                conversation={"conversation_id": "old", "site_key": "shop", "visitor_id": "v1", "state": "closed",
                              "closed_at": 20.0, "created_at": 10.0}))
            await conn.execute(archived_messages.insert().values(
                conversation_id="old", seq=2, kind="message", sender_role="visitor", sender_id="v1",
                body="退款什么时候到账", ts=15.0, client_msg_id="m1", data={}))
        assert await upgrade(db) == head_revision()
        hits = await SqlArchive(db).search(query_terms("退款"), HistoryFilter())
        assert [(h.conversation.conversation.conversation_id, h.seq) for h in hits] == [("old", 2)]
    finally:
        await db.close()
