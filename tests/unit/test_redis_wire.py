"""Commands packed by hiredis are byte for byte what redis-py would send."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import DataError

from chatd.store.redis_wire import HiredisConnection, pool_options

COMMANDS = [
    ("PING",),
    ("SET", "key", "value"),
    ("SET", b"\x00\xffraw", b""),
    ("HSET", "会话", "名字", "李雷"),
    ("EVALSHA", "abc", 2, "k1", "k2", 0, -7, 12345678901234567890),
    ("ZADD", "z", 1.5, "a", 0.1, "b", 1e20, "c", -0.0, "d", 1 / 3, "e"),
    ("SCRIPT LOAD", "return 1"),
    ("CONFIG GET", "maxmemory"),
    ("SET", "big", b"x" * 100_000),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: str(args[0]))
def test_packing_matches_redis_py(args: tuple[object, ...]) -> None:
    ours = b"".join(HiredisConnection().pack_command(*args))
    theirs = b"".join(aioredis.Connection().pack_command(*args))
    assert ours == theirs


def test_what_hiredis_does_not_take_goes_through_redis_py() -> None:
    view = memoryview(b"abc")
    packed = b"".join(HiredisConnection().pack_command("SET", "k", view))
    assert packed == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nabc\r\n"
    for bad in (None, True, ["list"]):
        with pytest.raises(DataError):
            HiredisConnection().pack_command("SET", "k", bad)


def test_pipelines_use_it_too() -> None:
    commands = [("SET", "a", 1), ("EVALSHA", "sha", 1, "k", 2.5)]
    ours = b"".join(HiredisConnection().pack_commands(commands))
    assert ours == b"".join(aioredis.Connection().pack_commands(commands))


def test_only_tcp_urls_ask_for_it() -> None:
    assert pool_options("redis://127.0.0.1:6379/3") == {"connection_class": HiredisConnection}
    assert pool_options("rediss://cache.example:6380/0") == {}
    assert pool_options("unix:///run/redis.sock?db=2") == {}
    pool = aioredis.ConnectionPool.from_url("redis://127.0.0.1:6379/3", **pool_options("redis://127.0.0.1:6379/3"))
    assert pool.connection_class is HiredisConnection and pool.connection_kwargs["db"] == 3


def test_sentinel_urls_name_the_sentinels_service_db_and_passwords() -> None:
    from chatd.store.redis_wire import parse_sentinel_url

    parsed = parse_sentinel_url("redis+sentinel://:p%40ss@10.0.0.1:26379,10.0.0.2:26380/mymaster/3"
                                "?sentinel_password=s3")
    assert parsed.sentinels == [("10.0.0.1", 26379), ("10.0.0.2", 26380)]
    assert (parsed.service, parsed.db, parsed.password, parsed.sentinel_password) == ("mymaster", 3, "p@ss", "s3")
    plain = parse_sentinel_url("redis+sentinel://s1:26379/chatd")
    assert (plain.db, plain.password, plain.sentinel_password) == (0, None, None)
    for bad in ("redis://x:1/0", "redis+sentinel://s1/chatd", "redis+sentinel://s1:26379",
                "redis+sentinel://s1:26379/chatd/zero", "redis+sentinel://s1:26379/a/1/2"):
        with pytest.raises(ValueError):
            parse_sentinel_url(bad)
