"""Found by the chat bench: more concurrent Redis commands than the client's
connection pool holds must wait for a connection, not fail (they used to
fail with ``MaxConnectionsError``, i.e. ``internal_error`` for the send)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chatd.settings import Settings
from chatd.store import open_engine
from tests.store.helpers import T0, new_conversation
from tests.support import REDIS_URL, delete_redis_prefix, require_redis

pytestmark = pytest.mark.asyncio

CONCURRENT = 400  # well above redis-py's default pool of 100


async def test_more_concurrent_appends_than_pooled_connections_all_succeed() -> None:
    require_redis()
    prefix = f"chatdtest:{uuid.uuid4().hex[:12]}"
    engine = open_engine(Settings(engine="redis", redis_url=REDIS_URL, redis_prefix=prefix))
    try:
        await new_conversation(engine.store, "c1")
        results = await asyncio.gather(*(
            engine.store.append("c1", kind="message", sender_role="visitor", sender_id="v-c1", body=f"m{n}",
                                client_msg_id=f"m{n}", now=T0 + n) for n in range(CONCURRENT)))
        assert sorted(r.seq for r in results) == list(range(1, CONCURRENT + 1))
        assert not any(r.duplicate for r in results)
    finally:
        await engine.broker.close()
        await engine.store.close()
        delete_redis_prefix(prefix)
