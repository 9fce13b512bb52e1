"""Schema migrations (Alembic) and the one-time move of configuration
records out of the live engine.

``chatd db upgrade`` runs :func:`upgrade`; ``chatd serve`` runs
:func:`require_current` and refuses to start on a schema behind its code.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from chatd.records.sql import Database

__all__ = ["SchemaError", "current_revision", "head_revision", "require_current", "upgrade"]

_SCRIPTS = Path(__file__).resolve().parent / "migrations"


class SchemaError(RuntimeError):
    """The database's schema is not the one this code needs; the message says what to run."""


def _config(connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


_UPGRADE_LOCK = 0x63686174  # PostgreSQL advisory lock id: one migration at a time
_UPGRADE_TRIES = 5


async def upgrade(db: Database, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (the newest by default); returns the
    revision it is at. Safe when several nodes start at once: PostgreSQL
    migrations hold an advisory lock; on SQLite the loser of a race retries
    and finds the work done."""
    async with _lock():
        return await _upgrade(db, revision)


_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock() -> asyncio.Lock:
    """Alembic's context is one per process: migrations in one process go one at a time."""
    loop = asyncio.get_running_loop()
    if loop not in _LOCKS:
        _LOCKS[loop] = asyncio.Lock()
    return _LOCKS[loop]


async def _upgrade(db: Database, revision: str) -> str:
    for attempt in range(_UPGRADE_TRIES):
        try:
            async with db.engine.begin() as conn:
                if db.dialect == "postgresql":
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _UPGRADE_LOCK})
                await conn.run_sync(lambda sync: command.upgrade(_config(sync), revision))
            break
        except OperationalError:
            if db.dialect != "sqlite" or attempt == _UPGRADE_TRIES - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    return await current_revision(db) or ""


async def require_current(db: Database) -> None:
    """Raise :class:`SchemaError` unless the schema is exactly the code's."""
    try:
        found = await current_revision(db)
    except Exception as exc:
        raise SchemaError(f"cannot read the record store's schema: {exc}") from None
    head = head_revision()
    if found == head:
        return
    scripts = ScriptDirectory.from_config(_config())
    known = {script.revision for script in scripts.walk_revisions()}
    if found is not None and found not in known:
        raise SchemaError(f"the record store's schema ({found}) is newer than this chatd ({head}); "
                          "run the chatd release that made it")
    raise SchemaError(f"the record store's schema is {found or 'empty'}, this chatd needs {head}: "
                      "run `chatd db upgrade` first")
