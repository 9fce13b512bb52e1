"""Record-store fixtures: every contract test runs on SQLite and on PostgreSQL.

PostgreSQL is a real server (``CHATD_TEST_POSTGRES_URL``, default the local
one on 127.0.0.1:5432); each test makes its own database there and
drops it afterwards. When no server answers these tests fail, never skip:
``make test`` installs and starts one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from chatd.records import Records, open_records
from chatd.records.migrate import upgrade
from chatd.records.sql import open_database, sql_records
from tests.support import postgres_database


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'records.db'}"
        return
    async with postgres_database() as url:
        yield url


@pytest_asyncio.fixture
async def records(database_url: str) -> AsyncIterator[Records]:
    """The uncached stores on a migrated database of each kind."""
    db = open_database(database_url)
    await upgrade(db)
    yield sql_records(db)
    await db.close()


@pytest_asyncio.fixture
async def cached_records(database_url: str) -> AsyncIterator[Records]:
    """The record store as chatd opens it (configuration reads cached)."""
    opened = open_records(database_url)
    await upgrade(opened.database)
    yield opened
    await opened.database.close()
