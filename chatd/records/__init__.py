"""The record store: what a support team keeps (archive, tickets, ratings,
configuration), on PostgreSQL in production and SQLite embedded.

:func:`open_records` is the one place that picks the database. Ports in
:mod:`chatd.records.base`, the implementation in :mod:`chatd.records.sql`,
migrations in :mod:`chatd.records.migrate`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from chatd.records.base import Records
from chatd.records.cache import read_cached
from chatd.records.sql import open_database, sql_records

__all__ = ["MEMORY_URL", "Records", "open_records", "prepare_records"]

MEMORY_URL = "sqlite+aiosqlite:///:memory:"  # a private database per process (tests, trying chatd)


def open_records(url: str) -> Records:
    """The record store at ``url`` (nothing connects yet; an SQLite file's
    directory is made), configuration reads cached (:mod:`chatd.records.cache`). Check its schema with
    :func:`chatd.records.migrate.require_current`."""
    if url.startswith("sqlite") and ":memory:" not in url:
        path = url.split(":///", 1)[-1]
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    records = sql_records(open_database(url))
    return dataclasses.replace(  # read many times a second, changed a few times a day
        records, skill_groups=read_cached(records.skill_groups), schedules=read_cached(records.schedules),
        overflow_rules=read_cached(records.overflow_rules), bot_settings=read_cached(records.bot_settings))


async def prepare_records(records: Records, *, migrate: bool) -> None:
    """At start: with ``migrate`` (``--demo``) or a private in-memory database,
    bring the schema up to date; otherwise require it to be (raises
    :class:`chatd.records.migrate.SchemaError` saying what to run)."""
    if records.database.memory:
        async with records.database.connect():  # made on first use
            return
    from chatd.records.migrate import require_current, upgrade  # Alembic: only when needed

    if migrate:
        await upgrade(records.database)
    else:
        await require_current(records.database)
