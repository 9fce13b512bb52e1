"""The Redis engine: state shared by any number of chatd processes and hosts.

Key layout and hash tags are in :mod:`chatd.store.keys`; every change that
touches several keys is one Lua script from ``lua/`` (or one MULTI/EXEC when it
has no condition), and reads are batched in pipelines.

**Appending** is one script in the conversation's slot: check the state
mirror (state, owner, visitor), dedupe on ``(sender, client_msg_id)``, INCR
the seq, XADD ``<seq>-1``, trim, and PUBLISH, in one round trip. The entry is
encoded once, in Python; the script only splices the seq and the log's epoch
into the publication (see ``append.lua``). Dedupe keys live exactly as long as
their entries: the trim that drops an entry deletes its key.

**Transitions** touch two slots, so they run two scripts:

1. ``transition.lua`` in ``{rt}``: compare-and-set on the state, loads, queues,
   indexes, and a numbered *event record* added to the conversation's pending
   set (and the conversation to the ``unlogged`` index). It returns every
   pending record.
2. ``append.lua`` in ``{c:<id>}``: log every returned record whose number is
   above the mirror's ``tn`` (applied numbers are skipped, so this step is
   idempotent), in number order, each one moving the state mirror.

Step 2 replays earlier records too, so two transitions racing on one
conversation log their events in the order their first steps ran. The
newest number logged is acknowledged with this node's next routing script
call, which drops the logged records. If a node dies between the steps, the
change holds but its event is missing from the log (and appends still see the
old state) until the conversation's next transition, or the routing worker's
sweep (:meth:`RedisStore.complete_transitions`), logs it: a few seconds at
most, and the log stays in one order throughout.

**Faults.** Every call is safe to repeat: appends dedupe, transitions carry
an op id the script recognises, log steps are numbered, reads read. So each
call is retried across a lost connection (a Redis restart, a failover, the
AOF still loading) for up to ``retry_seconds``; only then does it fail, with
``ChatdError("unavailable")``. Each log carries an *epoch* that is renewed
when the server holding it is not the one that last wrote it
(``lua/include/log_epoch.lua``), so a client never trusts seqs across a
possible loss of history.
"""

from __future__ import annotations

import asyncio
import functools
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgpack
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from chatd.errors import ChatdError
from chatd.model import (
    AGENT_STATUSES,
    Agent,
    ApiKey,
    AppendResult,
    AssignResult,
    Conversation,
    LogEntry,
    ReadResult,
    Site,
)
from chatd.store.base import (
    EXTRA_FIELDS,
    ROUTING_RECORDS_KEPT,
    Engine,
    Transition,
    check_kind,
    conversation_channel,
)
from chatd.store.keys import Keys
from chatd.store.lifecycle import entry_from_fields, event_data, refusal, try_assign
from chatd.store.redis_broker import RedisBroker
from chatd.store.redis_wire import CLUSTER_SCHEME, cluster_client, open_pool

__all__ = ["RedisStore", "open_redis_engine"]

# Changes per transition script call: one call runs alone on the server, so
# it is kept to a millisecond or two.
TRANSITIONS_PER_CALL = 50
READS_PER_CALL = 500  # conversation hashes read per script call
EVENT_GROUP = "webhooks"  # the outbox's consumer group: every node delivers from it
EVENT_OUTBOX_MAX = 1_000_000  # events kept undelivered at most (approximate trim)
RETRY_SECONDS = 5.0  # how long a call keeps trying across a lost connection (a restart takes a second or two)
SWEEP_LIMIT = 200  # half-done transitions completed per sweep
_LUA = Path(__file__).with_name("lua")
# What a lost or not yet usable connection raises (BusyLoadingError, while the
# AOF loads, is a ConnectionError; ReadOnlyError, from a replica during a failover).
_RETRYABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, ConnectionError, OSError)
_CONVERSATION_TYPES = {f.name: str(f.type) for f in dataclass_fields(Conversation)}
_TIMES = frozenset(name for name, kind in _CONVERSATION_TYPES.items() if kind == "float")
# stored field name -> (Conversation field, decoder of the stored bytes)
_CONVERSATION_DECODERS: dict[bytes, tuple[str, Callable[[bytes], Any]]] = {
    name.encode(): (name, {"float": float, "int": int}.get(kind, bytes.decode))
    for name, kind in _CONVERSATION_TYPES.items()}
# {"type": "entry", "entry": {<10 pairs>: "conversation_id" first, the stored 7, "seq", "epoch"}}
_PUBLICATION_HEAD = b"".join((b"\x82", msgpack.packb("type"), msgpack.packb("entry"), msgpack.packb("entry"),
                              b"\x8a", msgpack.packb("conversation_id")))


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _time(value: float) -> str:
    return repr(float(value))


def _stored_entry(kind: str, sender_role: str, sender_id: str, body: str, ts: float, client_msg_id: str,
                  data: dict[str, Any] | None) -> bytes:
    """An entry as kept in the stream: a msgpack map of 7 fields (see append.lua)."""
    return _pack({"kind": kind, "sender_role": sender_role, "sender_id": sender_id, "body": body,
                  "ts": float(ts), "client_msg_id": client_msg_id, "data": data or {}})


def _entry(conversation_id: str, stream_id: bytes, fields: dict[bytes, bytes]) -> LogEntry:
    seq = int(stream_id.split(b"-", 1)[0])
    return entry_from_fields(conversation_id, seq, _unpack(fields[b"e"]))


def _conversation(raw: dict[bytes, bytes]) -> Conversation | None:
    if not raw:
        return None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        field = _CONVERSATION_DECODERS.get(key)
        if field is not None:  # not e.g. the transition counter
            values[field[0]] = field[1](value)
    return Conversation(**values)


def _extra_fields(change: Transition) -> list[str]:
    pairs: list[str] = []
    for name, value in (change.fields or {}).items():
        if name not in EXTRA_FIELDS:
            raise ValueError(f"a transition may not set {name!r}")
        pairs += [name, _time(value) if _CONVERSATION_TYPES[name] == "float" else str(value)]
    return pairs


def _pairs(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _agent(profile: bytes, status: bytes | None) -> Agent:
    agent = Agent.from_dict(_unpack(profile))
    if status is not None:
        agent.status = status.decode()
    return agent


def _script(name: str, *includes: str) -> str:
    """A script's source, with the shared code it uses prepended."""
    return "".join((_LUA / "include" / f"{include}.lua").read_text() for include in includes) + \
        (_LUA / f"{name}.lua").read_text()


def _retried(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Run a store method again across a lost connection (see the module docs)."""
    @functools.wraps(method)
    async def call(self: RedisStore, *args: Any, **kwargs: Any) -> Any:
        return await self._retrying(method, self, *args, **kwargs)
    return call


class RedisStore:
    """The :class:`~chatd.store.base.Store` contract on Redis (see module docs)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, *, log_retention: int = 10_000,
                 retry_seconds: float = RETRY_SECONDS, slot_checked: bool = False) -> None:
        if log_retention < 1:
            raise ValueError("log_retention must be at least 1")
        self._redis = client
        self._keys = keys
        self._retention = str(log_retention)
        self.retry_seconds = retry_seconds
        # slot_checked (Redis 7+, for the tests' cluster-mode server): with the
        # shebang, Redis refuses a script touching any key outside its declared
        # keys' hash slot, declared or not.
        head = "#!lua\n" if slot_checked else ""

        def script(name: str, *includes: str) -> Any:
            return client.register_script(head + _script(name, *includes))

        self._append = script("append", "log_epoch")
        self._read_log = script("read_log", "log_epoch")
        self._log_epoch = script("log_epoch", "log_epoch")
        self._transition = script("transition", "routing_change")
        self._start = script("start_conversation", "routing_change")
        self._reopen = script("reopen_conversation", "routing_change")
        self._unlogged = script("unlogged", "routing_change")
        self._read_conversations = script("read_conversations")
        self._agent_status = script("agent_status")
        self._routing_lease = script("routing_lease")
        self._requeue_due = script("requeue_due")
        self._forget = script("forget_conversation")
        self._restore_log = script("restore_log")
        self._restore = script("restore_conversation")
        self._event_group_ready = False
        # conversation id -> newest transition number this node saw logged, not yet told to {rt}
        self._acks: dict[str, int] = {}
        self._cluster = type(client).__name__ == "RedisCluster"
        self.timed: Callable[[str, float], None] | None = None  # (store call, seconds) of each one that answered

    async def _scripts(self, script: Any, calls: Sequence[tuple[list[Any], list[Any]]]) -> list[Any]:
        """``script`` for each (keys, args), in order, each atomic on its own:
        pipelined in one round trip on one server; one after another on a
        cluster, whose client refuses scripts in pipelines."""
        if self._cluster:
            return [await script(keys=keys, args=args) for keys, args in calls]
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await script(keys=keys, args=args, client=pipe)
            return list(await pipe.execute())

    async def _retrying(self, method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_seconds
        delay = 0.05
        while True:
            started = loop.time()
            try:
                result = await method(*args, **kwargs)
            except _RETRYABLE as exc:
                if loop.time() + delay > deadline:
                    raise ChatdError("unavailable", f"Redis is unreachable: {exc}") from exc
            else:
                if self.timed is not None:
                    self.timed(getattr(method, "__name__", "script"), loop.time() - started)
                return result
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    # --- liveness -------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()

    # --- agents, sites, tokens ------------------------------------------------
    @_retried
    async def put_agent(self, agent: Agent) -> None:
        profile = agent.to_dict()
        status = profile.pop("status")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.agents, agent.agent_id, _pack(profile))
            pipe.hset(self._keys.agent_status, agent.agent_id, status)
            await pipe.execute()

    @_retried
    async def get_agent(self, agent_id: str) -> Agent | None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._keys.agents, agent_id)
            pipe.hget(self._keys.agent_status, agent_id)
            profile, status = await pipe.execute()
        return None if profile is None else _agent(profile, status)

    @_retried
    async def list_agents(self) -> list[Agent]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.agents)
            pipe.hgetall(self._keys.agent_status)
            profiles, statuses = await pipe.execute()
        return [_agent(profiles[k], statuses.get(k)) for k in sorted(profiles)]

    @_retried
    async def delete_agent(self, agent_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._keys.agents, agent_id)
            pipe.hdel(self._keys.agent_status, agent_id)
            pipe.hdel(self._keys.agent_last_assigned, agent_id)
            removed, _, _ = await pipe.execute()
        return bool(removed)

    @_retried
    async def put_site(self, site: Site) -> None:
        await self._redis.hset(self._keys.sites, site.site_key, _pack(site.to_dict()))

    @_retried
    async def get_site(self, site_key: str) -> Site | None:
        raw = await self._redis.hget(self._keys.sites, site_key)
        return None if raw is None else Site.from_dict(_unpack(raw))

    @_retried
    async def list_sites(self) -> list[Site]:
        raw = await self._redis.hgetall(self._keys.sites)
        return [Site.from_dict(_unpack(raw[k])) for k in sorted(raw)]

    @_retried
    async def delete_site(self, site_key: str) -> bool:
        return bool(await self._redis.hdel(self._keys.sites, site_key))

    @_retried
    async def revoke_token(self, token_id: str, expires_at: float, now: float) -> None:
        if expires_at > now:
            ttl_ms = max(1, math.ceil((expires_at - now) * 1000))
            await self._redis.set(self._keys.revoked(token_id), b"1", px=ttl_ms)

    @_retried
    async def is_token_revoked(self, token_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.revoked(token_id)))

    @_retried
    async def put_api_key(self, key: ApiKey) -> None:
        await self._redis.hset(self._keys.api_keys, key.key_id, _pack(key.to_dict()))

    @_retried
    async def get_api_key(self, key_id: str) -> ApiKey | None:
        raw = await self._redis.hget(self._keys.api_keys, key_id)
        return None if raw is None else ApiKey.from_dict(_unpack(raw))

    @_retried
    async def list_api_keys(self) -> list[ApiKey]:
        keys = [ApiKey.from_dict(_unpack(raw)) for raw in (await self._redis.hgetall(self._keys.api_keys)).values()]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    # --- the event outbox ---------------------------------------------------------------
    async def _event_group(self) -> None:
        if self._event_group_ready:
            return
        try:
            await self._redis.xgroup_create(self._keys.events, EVENT_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._event_group_ready = True

    @_retried
    async def enqueue_events(self, events: Sequence[dict[str, Any]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(self._keys.events, {"e": _pack(event)}, maxlen=EVENT_OUTBOX_MAX, approximate=True)
            await pipe.execute()

    @_retried
    async def claim_events(self, consumer: str, count: int, stale_seconds: float) -> list[tuple[str, dict[str, Any]]]:
        await self._event_group()
        key = self._keys.events
        stale = await self._redis.xautoclaim(key, EVENT_GROUP, consumer, min_idle_time=int(stale_seconds * 1000),
                                             start_id="0-0", count=count)
        found = [(entry_id, fields) for entry_id, fields in stale[1] if fields]
        if len(found) < count:
            fresh = await self._redis.xreadgroup(EVENT_GROUP, consumer, {key: ">"}, count=count - len(found))
            for _stream, entries in fresh or []:
                found += [(entry_id, fields) for entry_id, fields in entries if fields]
        return [(entry_id.decode(), _unpack(fields[b"e"])) for entry_id, fields in found]

    @_retried
    async def finish_event(self, outbox_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._keys.events, EVENT_GROUP, outbox_id)
            pipe.xdel(self._keys.events, outbox_id)
            await pipe.execute()

    @_retried
    async def retry_event(self, outbox_id: str, event: dict[str, Any], due_at: float) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:  # both keys in {rt}: one MULTI
            pipe.zadd(self._keys.event_retries, {_pack(event): due_at})
            pipe.xack(self._keys.events, EVENT_GROUP, outbox_id)
            pipe.xdel(self._keys.events, outbox_id)
            await pipe.execute()

    @_retried
    async def requeue_due(self, now: float, count: int = 100) -> int:
        return int(await self._requeue_due(keys=[self._keys.event_retries, self._keys.events], args=[now, count]))

    @_retried
    async def add_delivery(self, site_key: str, record: dict[str, Any], keep: int = 200) -> None:
        key = self._keys.deliveries(site_key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, _pack(record))
            pipe.ltrim(key, 0, keep - 1)
            await pipe.execute()

    @_retried
    async def deliveries(self, site_key: str, limit: int = 200) -> list[dict[str, Any]]:
        return [_unpack(raw) for raw in await self._redis.lrange(self._keys.deliveries(site_key), 0, limit - 1)]

    @_retried
    async def count_login_failure(self, subject: str, window_seconds: float) -> tuple[int, float]:
        key = self._keys.login_failures(subject)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, px=max(1, math.ceil(window_seconds * 1000)), nx=True)
            pipe.incr(key)
            pipe.pttl(key)
            _created, count, ttl_ms = await pipe.execute()
        return int(count), max(0, ttl_ms) / 1000

    @_retried
    async def login_failures(self, subject: str) -> tuple[int, float]:
        key = self._keys.login_failures(subject)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            count, ttl_ms = await pipe.execute()
        return (0, 0.0) if count is None else (int(count), max(0, ttl_ms) / 1000)

    @_retried
    async def clear_login_failures(self, subject: str) -> None:
        await self._redis.delete(self._keys.login_failures(subject))

    # --- visitors -------------------------------------------------------------
    @_retried
    async def update_visitor(self, site_key: str, visitor_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        key = self._keys.visitor(site_key, visitor_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            if attributes:
                pipe.hset(key, mapping={name: _pack(value) for name, value in attributes.items()})
            pipe.hgetall(key)
            profile = (await pipe.execute())[-1]
        return {k.decode(): _unpack(v) for k, v in profile.items()}

    @_retried
    async def get_visitor(self, site_key: str, visitor_id: str) -> dict[str, Any]:
        profile = await self._redis.hgetall(self._keys.visitor(site_key, visitor_id))
        return {k.decode(): _unpack(v) for k, v in profile.items()}

    # --- conversations --------------------------------------------------------
    def _routing_head(self, now: float, acks: Sequence[tuple[str, int]]) -> tuple[list[str], list[Any]]:
        """The keys and arguments every routing script starts with
        (``lua/include/routing_change.lua``), with acknowledgements."""
        k = self._keys
        keys = [k.agents, k.agent_last_assigned, k.queued_skills, k.routing_clock, k.unlogged]
        args: list[Any] = [k.queue_prefix, k.active_prefix, k.state_index_prefix, _time(now), ROUTING_RECORDS_KEPT,
                           k.conversation_prefix, k.pending_prefix, len(acks)]
        for conversation_id, n in acks:
            args += [conversation_id, n]
        return keys, args

    def _take_acks(self) -> list[tuple[str, int]]:
        acks, self._acks = list(self._acks.items()), {}
        return acks

    def _keep_acks(self, acks: Sequence[tuple[str, int]]) -> None:
        """Acknowledgements whose call failed go with the next one."""
        for conversation_id, n in acks:
            self._acks[conversation_id] = max(n, self._acks.get(conversation_id, 0))

    @staticmethod
    def _change_args(conversation_id: str, change: Transition, op: str) -> list[Any]:
        own = [conversation_id, " ".join(change.allowed_from), change.to_state, change.agent_id,
               change.skill or "", "" if change.priority is None else str(int(change.priority)),
               change.queue, repr(float(change.queue_key)), change.event, change.actor_role,
               change.actor_id, _pack(change.data or {}),
               b"" if change.routing_record is None else _pack(change.routing_record),
               op, *_extra_fields(change)]
        return [len(own), *own]

    @_retried
    async def start_conversation(self, conversation: Conversation, queue: Transition | None,
                                 now: float) -> tuple[Conversation, bool]:
        record = Conversation.from_dict({**conversation.to_dict(), "state": "open", "agent_id": ""})
        cid = record.conversation_id
        k = self._keys
        keys, args = self._routing_head(now, ())
        keys += [k.conversation(cid), k.pending_events(cid), k.routing_records(cid),
                 k.visitor_conversations(record.site_key, record.visitor_id),
                 k.visitor_open(record.site_key, record.visitor_id)]
        fields: list[str] = []
        for name, value in record.to_dict().items():
            fields += [name, _time(value) if name in _TIMES else str(value)]
        args += [cid, _time(record.created_at), len(fields) // 2, *fields]
        if queue is not None:
            args += self._change_args(cid, queue, "")
        reply = await self._start(keys=keys, args=args)
        if reply[0] == b"bad_state":
            raise ChatdError("bad_state", f"conversation {cid} already exists")
        started = _conversation(_pairs(reply[1]))
        assert started is not None
        # Log what is pending: the queued event of a new one, or whatever a
        # crash left unlogged in the visitor's open one (a retry completes it).
        await self._log(started.conversation_id, reply[2])
        # "exists" with our own id: this is a retry of a start whose reply was lost.
        return started, reply[0] == b"created" or started.conversation_id == cid

    @_retried
    async def reopen_conversation(self, conversation_id: str, change: Transition,
                                  now: float) -> tuple[Conversation, LogEntry]:
        current = await self.get_conversation(conversation_id)
        if current is None:
            raise ChatdError("unknown_conversation")
        return await self._retrying(self._reopen_once, current, change, secrets.token_hex(8), now)

    async def _reopen_once(self, current: Conversation, change: Transition, op: str,
                           now: float) -> tuple[Conversation, LogEntry]:
        k, cid = self._keys, current.conversation_id
        keys, args = self._routing_head(now, ())
        keys += [k.conversation(cid), k.pending_events(cid), k.routing_records(cid),
                 k.visitor_open(current.site_key, current.visitor_id)]
        reply = await self._reopen(keys=keys, args=[*args, *self._change_args(cid, change, op)])
        if reply[0] != b"ok":
            raise refusal(reply[0].decode())
        conversation = _conversation(_pairs(reply[1]))
        entry = await self._log(cid, reply[2])
        assert conversation is not None and entry is not None
        return conversation, entry

    @_retried
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return _conversation(await self._redis.hgetall(self._keys.conversation(conversation_id)))

    async def _conversations(self, ids: Iterable[bytes | str]) -> list[Conversation]:
        ids = list(ids)
        if not ids:
            return []
        keys = [self._keys.conversation(_text(cid)) for cid in ids]
        found = []
        for start in range(0, len(keys), READS_PER_CALL):
            for flat in await self._read_conversations(keys=keys[start:start + READS_PER_CALL], args=[]):
                conversation = _conversation(_pairs(flat))
                if conversation is not None:
                    found.append(conversation)
        return found

    @_retried
    async def visitor_conversations(self, site_key: str, visitor_id: str, limit: int = 20) -> list[Conversation]:
        if limit <= 0:
            return []
        ids = await self._redis.zrevrange(self._keys.visitor_conversations(site_key, visitor_id), 0, limit - 1)
        return await self._conversations(ids)

    @_retried
    async def agent_conversations(self, agent_id: str) -> list[Conversation]:
        return await self._conversations(await self._redis.zrange(self._keys.active(agent_id), 0, -1))

    @_retried
    async def list_conversations(self, states: Iterable[str] = ("queued", "assigned")) -> list[Conversation]:
        states = sorted(set(states))
        if not states:
            return []
        async with self._redis.pipeline(transaction=True) as pipe:
            for state in states:
                pipe.zrange(self._keys.state_index(state), 0, -1, withscores=True)
            indexes = await pipe.execute()
        ranked = sorted((score, cid) for index in indexes for cid, score in index)
        return await self._conversations(cid for _, cid in ranked)

    async def transition(self, conversation_id: str, change: Transition, now: float) -> tuple[Conversation, LogEntry]:
        [result] = await self.transition_many([(conversation_id, change)], now)
        if isinstance(result, ChatdError):
            raise result
        return result

    async def transition_many(self, changes: Sequence[tuple[str, Transition]],
                              now: float) -> list[tuple[Conversation, LogEntry] | ChatdError]:
        """Both steps of every transition, each step for all of them in one
        round trip. Each change gets its op id once, so retries apply it once."""
        if not changes:
            return []
        ops = [secrets.token_hex(8) for _ in changes]
        return await self._retrying(self._transition_many, changes, ops, now)

    async def _transition_many(self, changes: Sequence[tuple[str, Transition]], ops: Sequence[str],
                               now: float) -> list[tuple[Conversation, LogEntry] | ChatdError]:
        acks = self._take_acks()
        calls = []
        for start in range(0, len(changes), TRANSITIONS_PER_CALL):
            keys, args = self._routing_head(now, acks if start == 0 else ())
            for (conversation_id, change), op in zip(changes[start:start + TRANSITIONS_PER_CALL],
                                                     ops[start:start + TRANSITIONS_PER_CALL], strict=True):
                keys += [self._keys.conversation(conversation_id), self._keys.pending_events(conversation_id),
                         self._keys.routing_records(conversation_id)]
                args += self._change_args(conversation_id, change, op)
            calls.append((keys, args))
        try:
            if len(calls) == 1:
                replies = await self._transition(keys=calls[0][0], args=calls[0][1])
            else:
                replies = [reply for call_replies in await self._scripts(self._transition, calls)
                           for reply in call_replies]
        except BaseException:
            self._keep_acks(acks)
            raise
        results: list[Any] = []
        done = []
        for (conversation_id, _), reply in zip(changes, replies, strict=True):
            if reply[0] != b"ok":
                results.append(refusal(reply[0].decode()))
                continue
            conversation = _conversation(_pairs(reply[1]))
            assert conversation is not None
            results.append(conversation)
            done.append((len(results) - 1, conversation_id, reply[2]))
        if done:
            entries = await self._log_many([(cid, records) for _, cid, records in done])
            for (i, _, _), entry in zip(done, entries, strict=True):
                results[i] = (results[i], entry)
        return results

    def _log_call(self, conversation_id: str,
                  records: Sequence[bytes]) -> tuple[list[str], list[Any], dict[str, Any] | None, int]:
        """Step 2 of a transition: log the pending event records. Also returns
        the newest record's entry fields (``None`` if it logs nothing) and number."""
        args: list[Any] = [self._retention, self._keys.channel(conversation_channel(conversation_id)),
                           _PUBLICATION_HEAD + _pack(conversation_id)]
        entry_fields: dict[str, Any] | None = None
        newest = 0
        for record in records:
            n, event, state, agent_id, skill, role, actor, now, details, tick, _op, visitor = \
                msgpack.unpackb(record, raw=True)
            state, agent_id, skill = state.decode(), agent_id.decode(), skill.decode()
            entry_fields = None
            if event:
                entry_fields = {"kind": "event", "sender_role": role.decode(), "sender_id": actor.decode(),
                                "body": event.decode(), "ts": float(now), "client_msg_id": "",
                                "data": event_data(_unpack(details), state, agent_id, skill, tick)}
            args += ["", n, state, agent_id, visitor.decode(), b"" if entry_fields is None else _pack(entry_fields)]
            newest = n
        return self._message_keys(conversation_id), args, entry_fields, newest

    async def _log(self, conversation_id: str, records: Sequence[bytes]) -> LogEntry | None:
        [entry] = await self._log_many([(conversation_id, records)])
        return entry

    async def _log_many(self, pending: Sequence[tuple[str, Sequence[bytes]]]) -> list[Any]:
        """Step 2 for several conversations in one round trip; the entry of
        each one's newest record (``None`` when it logs nothing)."""
        calls = [self._log_call(cid, records) for cid, records in pending if records]
        if not calls:
            return [None] * len(pending)
        if len(calls) == 1:
            replies = [await self._append(keys=calls[0][0], args=calls[0][1])]
        else:
            replies = await self._scripts(self._append, [(keys, args) for keys, args, _, _ in calls])
        entries = iter(zip(calls, replies, strict=True))
        found: list[Any] = []
        for conversation_id, records in pending:
            if not records:
                found.append(None)
                continue
            (_, _, entry_fields, _), reply = next(entries)
            _, seq, _, _, _, applied = reply
            self._acks[conversation_id] = max(int(applied), self._acks.get(conversation_id, 0))
            found.append(None if entry_fields is None else entry_from_fields(conversation_id, int(seq), entry_fields))
        return found

    @_retried
    async def settle(self, conversation_id: str) -> None:
        await self._log(conversation_id, await self._redis.zrange(self._keys.pending_events(conversation_id), 0, -1))

    @_retried
    async def complete_transitions(self, now: float, older_than: float) -> int:
        keys, args = self._routing_head(now - older_than, acks := self._take_acks())
        try:
            found = await self._unlogged(keys=keys, args=[*args, SWEEP_LIMIT])
        except BaseException:
            self._keep_acks(acks)
            raise
        await self._log_many([(cid.decode(), records) for cid, records in found])
        return len(found)

    async def assign(self, conversation_id: str, agent_id: str, now: float,
                     allowed_from: tuple[str, ...] = ("queued",), data: dict[str, Any] | None = None) -> AssignResult:
        return await try_assign(self, conversation_id, agent_id, now, allowed_from, data)

    # --- the message log ------------------------------------------------------
    def _message_keys(self, conversation_id: str) -> list[str]:
        k = self._keys
        return [k.seq(conversation_id), k.log(conversation_id), k.dedupe(conversation_id), k.mirror(conversation_id)]

    async def append(self, conversation_id: str, *, kind: str, sender_role: str, sender_id: str,
                     body: str, client_msg_id: str, now: float,
                     data: dict[str, Any] | None = None) -> AppendResult:
        stored = _stored_entry(kind, sender_role, sender_id, body, now, client_msg_id, data)
        # An entry without a client id gets an op id, so that a retry stores it once too.
        dedupe = f"{sender_role}|{sender_id}|{client_msg_id}" if client_msg_id else "op|" + secrets.token_hex(8)
        args = [self._retention, self._keys.channel(conversation_channel(conversation_id)),
                _PUBLICATION_HEAD + _pack(conversation_id), dedupe, "", sender_role, sender_id, "", stored]
        keys = self._message_keys(conversation_id)
        started = time.monotonic()
        try:
            reply = await self._append(keys=keys, args=args)
        except _RETRYABLE:
            reply = await self._retrying(self._append, keys=keys, args=args)
        if self.timed is not None:
            self.timed("append", time.monotonic() - started)
        status, seq, duplicate, first_copy, _, _ = reply
        if status != b"ok":
            raise refusal(status.decode())
        if duplicate:
            ts = float(_unpack(first_copy)["ts"]) if first_copy else 0.0
            return AppendResult(int(seq), ts, True)
        return AppendResult(int(seq), float(now), False)

    @_retried
    async def _read(self, conversation_id: str, low: str, high: str, limit: int, newest: bool) -> ReadResult:
        k = self._keys
        epoch, first_seq, last_seq, rows = await self._read_log(
            keys=[k.seq(conversation_id), k.log(conversation_id), k.mirror(conversation_id)],
            args=[low, high, max(limit, 0), "1" if newest else "0"])
        if newest:
            rows.reverse()
        entries = [_entry(conversation_id, stream_id, _pairs(fields)) for stream_id, fields in rows]
        return ReadResult(entries, int(first_seq), int(last_seq), epoch.decode())

    @_retried
    async def log_epochs(self, conversation_ids: Sequence[str]) -> dict[str, str]:
        if not conversation_ids:
            return {}
        epochs = await self._scripts(self._log_epoch, [([self._keys.mirror(cid), self._keys.seq(cid)], [])
                                                       for cid in conversation_ids])
        return {cid: epoch.decode() for cid, epoch in zip(conversation_ids, epochs, strict=True) if epoch}

    async def read(self, conversation_id: str, after_seq: int, limit: int = 500) -> ReadResult:
        return await self._read(conversation_id, f"{max(after_seq, 0) + 1}-0", "+", limit, False)

    async def read_before(self, conversation_id: str, before_seq: int, limit: int = 50) -> ReadResult:
        if before_seq == 1:
            limit = 0  # nothing is older than seq 1: statistics only
        high = "+" if before_seq <= 0 else f"{before_seq - 1}-1"
        return await self._read(conversation_id, "-", high, limit, True)

    # --- queues -----------------------------------------------------------------
    @_retried
    async def queue(self, skill: str) -> list[Conversation]:
        return await self._conversations(await self._redis.zrange(self._keys.queue(skill), 0, -1))

    @_retried
    async def queued_skills(self) -> list[str]:
        return sorted(s.decode() for s in await self._redis.smembers(self._keys.queued_skills))

    # --- agent runtime ----------------------------------------------------------
    @_retried
    async def agent_runtime(self) -> dict[str, dict[str, Any]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hkeys(self._keys.agents)
            pipe.hgetall(self._keys.agent_status)
            pipe.hgetall(self._keys.agent_last_assigned)
            agent_ids, statuses, last = await pipe.execute()
        agent_ids = sorted(agent_ids)
        async with self._redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.zcard(self._keys.active(agent_id.decode()))
            loads = await pipe.execute()
        return {
            agent_id.decode(): {
                "load": int(load),
                "last_assigned_at": float(last.get(agent_id, 0.0)),
                "status": statuses.get(agent_id, b"offline").decode(),
            }
            for agent_id, load in zip(agent_ids, loads, strict=True)
        }

    @_retried
    async def set_agent_status(self, agent_id: str, status: str) -> None:
        if status not in AGENT_STATUSES:
            raise ValueError(f"agent status must be one of {AGENT_STATUSES}, not {status!r}")
        result = await self._agent_status(keys=[self._keys.agents, self._keys.agent_status], args=[agent_id, status])
        if result != b"ok":
            raise refusal(result.decode())

    @_retried
    async def touch_presence(self, agent_id: str, node_id: str, expires_at: float) -> None:
        if "|" in node_id:
            raise ValueError("node ids cannot contain '|'")
        await self._redis.zadd(self._keys.presence, {f"{agent_id}|{node_id}": expires_at})

    @_retried
    async def drop_presence(self, agent_id: str, node_id: str) -> None:
        await self._redis.zrem(self._keys.presence, f"{agent_id}|{node_id}")

    @_retried
    async def connected_agents(self, now: float) -> set[str]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(self._keys.presence, "-inf", now)
            pipe.zrange(self._keys.presence, 0, -1)
            _, members = await pipe.execute()
        return {member.decode().rpartition("|")[0] for member in members}

    @_retried
    async def claim_routing(self, node_id: str, lease_seconds: float, now: float) -> bool:
        # Redis keeps the lease's time: node clocks may disagree.
        return bool(await self._routing_lease(keys=[self._keys.routing_lease],
                                              args=[node_id, max(1, int(lease_seconds * 1000))]))

    @_retried
    async def release_routing(self, node_id: str) -> None:
        await self._routing_lease(keys=[self._keys.routing_lease], args=[node_id, 0])

    # --- routing explanations -----------------------------------------------------
    async def add_routing_record(self, conversation_id: str, record: dict[str, Any],
                                 keep: int = ROUTING_RECORDS_KEPT) -> None:
        await self.add_routing_records([(conversation_id, record)], keep)

    @_retried
    async def add_routing_records(self, records: Sequence[tuple[str, dict[str, Any]]],
                                  keep: int = ROUTING_RECORDS_KEPT) -> None:
        if not records:
            return
        # RPUSH then LTRIM on one key from one connection: no other client's
        # command can make the trim drop a record it should keep.
        async with self._redis.pipeline(transaction=False) as pipe:
            for conversation_id, record in records:
                key = self._keys.routing_records(conversation_id)
                pipe.rpush(key, _pack(record))
                pipe.ltrim(key, -keep, -1) if keep > 0 else pipe.ltrim(key, 1, 0)  # (1, 0): emptied, so deleted
            await pipe.execute()

    @_retried
    async def routing_records(self, conversation_id: str) -> list[dict[str, Any]]:
        return [_unpack(raw) for raw in await self._redis.lrange(self._keys.routing_records(conversation_id), 0, -1)]

    # --- live bot memory, missed offers, samples --------------------------------------
    @_retried
    async def bot_state(self, conversation_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self._keys.bot_state(conversation_id))
        return None if raw is None else _unpack(raw)

    @_retried
    async def put_bot_state(self, conversation_id: str, state: dict[str, Any]) -> None:
        await self._redis.set(self._keys.bot_state(conversation_id), _pack(state))

    @_retried
    async def drop_bot_state(self, conversation_id: str) -> None:
        await self._redis.delete(self._keys.bot_state(conversation_id))

    @_retried
    async def missed_offers(self) -> dict[str, int]:
        found = await self._redis.hgetall(self._keys.missed_offers())
        return {_text(agent): int(count) for agent, count in found.items()}

    @_retried
    async def set_missed_offers(self, agent_id: str, count: int) -> None:
        if count:
            await self._redis.hset(self._keys.missed_offers(), agent_id, str(int(count)))
        else:
            await self._redis.hdel(self._keys.missed_offers(), agent_id)

    @_retried
    async def archived_marks(self) -> dict[str, float]:
        found = await self._redis.zrange(self._keys.archived(), 0, -1, withscores=True)
        return {_text(cid): float(closed_at) for cid, closed_at in found}

    @_retried
    async def mark_archived(self, marks: Sequence[tuple[str, float]]) -> None:
        if marks:
            await self._redis.zadd(self._keys.archived(), {cid: closed_at for cid, closed_at in marks})

    @_retried
    async def restore_conversation(self, conversation: Conversation, entries: Sequence[LogEntry],
                                   epoch: str) -> bool:
        if conversation.state != "closed":
            return False
        k, cid = self._keys, conversation.conversation_id
        args: list[Any] = [entries[-1].seq if entries else 0, epoch, conversation.visitor_id]
        for e in entries:
            dedupe = f"{e.sender_role}|{e.sender_id}|{e.client_msg_id}" if e.kind == "message" and e.client_msg_id \
                else ""
            args += [e.seq, _stored_entry(e.kind, e.sender_role, e.sender_id, e.body, e.ts, e.client_msg_id, e.data),
                     dedupe]
        await self._restore_log(keys=[k.seq(cid), k.log(cid), k.dedupe(cid), k.mirror(cid)], args=args)
        fields: list[str] = []
        for name, value in conversation.to_dict().items():
            fields += [name, _time(value) if name in _TIMES else str(value)]
        made = await self._restore(
            keys=[k.conversation(cid), k.state_index("closed"),
                  k.visitor_conversations(conversation.site_key, conversation.visitor_id), k.archived()],
            args=[cid, _time(conversation.created_at), _time(conversation.closed_at), len(fields) // 2, *fields])
        return bool(made)

    @_retried
    async def forget_archived(self, marks: Sequence[tuple[str, float]]) -> list[str]:
        k = self._keys
        calls = [([k.conversation(cid), k.state_index("closed"), k.archived(), k.routing_records(cid),
                   k.pending_events(cid), k.unlogged, k.forgetting()],
                  [cid, _time(closed_at), _time(time.time()), k.visitor_conversations_prefix,
                   k.visitor_open_prefix]) for cid, closed_at in marks]
        forgotten = [cid for (cid, _), done in zip(marks, await self._scripts(self._forget, calls), strict=True)
                     if done]
        # Then each one's message data, slot {c:<id>}; one left by a crash is finished on the next call.
        leftover = [_text(cid) for cid in await self._redis.zrange(k.forgetting(), 0, -1)]
        for cid in dict.fromkeys([*forgotten, *leftover]):
            await self._redis.delete(k.seq(cid), k.log(cid), k.dedupe(cid), k.mirror(cid), k.bot_state(cid))
            await self._redis.zrem(k.forgetting(), cid)
            self._acks.pop(cid, None)
        return forgotten

    # --- what releases before the record store kept here (read once by `chatd db upgrade`) ----
    @_retried
    async def legacy_records(self, kinds: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """kind -> key -> record, for each of ``kinds`` that has any."""
        found = {}
        for kind in kinds:
            raw = await self._redis.hgetall(self._keys.records(kind))
            if raw:
                found[kind] = {_text(key): _unpack(value) for key, value in raw.items()}
        return found

    @_retried
    async def drop_legacy_records(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            await self._redis.delete(self._keys.records(kind))

    @_retried
    async def add_sample(self, kind: str, key: str, value: float, keep: int = 100) -> None:
        name = self._keys.samples(check_kind(kind), key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(name, repr(float(value)))
            pipe.ltrim(name, -max(keep, 1), -1)
            await pipe.execute()

    @_retried
    async def samples(self, kind: str, key: str) -> list[float]:
        return [float(v) for v in await self._redis.lrange(self._keys.samples(check_kind(kind), key), 0, -1)]


REDIS_POOL_SIZE = 64  # connections per process for commands (pub/sub has its own)
REDIS_POOL_WAIT_SECONDS = 10.0  # a command waits this long for a free connection, then fails


def open_redis_engine(url: str, *, prefix: str, log_retention: int, retry_seconds: float = RETRY_SECONDS,
                      slot_checked: bool = False) -> Engine:
    """A Redis engine; nothing connects until the first command."""
    # Commands beyond the pool's size wait for a free connection instead of
    # failing with MaxConnectionsError (redis-py's default pool does not wait).
    # The store retries whole calls within a bound (RedisStore.retry_seconds), so
    # redis-py's own per-command retries are off: they would stretch the bound.
    if urlsplit(url).scheme == CLUSTER_SCHEME:
        # Every script, transaction and multi-key command is single-slot
        # (tests/store: the redis-slots engine), which is what a cluster needs.
        client, broker_urls = cluster_client(url, decode_responses=False, max_connections=REDIS_POOL_SIZE,
                                             retry=Retry(NoBackoff(), 0))
        store = RedisStore(client, Keys(prefix), log_retention=log_retention, retry_seconds=retry_seconds,
                           slot_checked=slot_checked)
        return Engine("redis", store, RedisBroker(broker_urls, Keys(prefix), publisher=client,
                                                  ack_timeout=retry_seconds))
    pool = open_pool(url, waiting=True, decode_responses=False, max_connections=REDIS_POOL_SIZE,
                     timeout=REDIS_POOL_WAIT_SECONDS, retry=Retry(NoBackoff(), 0))
    client = aioredis.Redis.from_pool(pool)  # the client owns the pool: closing it closes the pool
    keys = Keys(prefix)
    store = RedisStore(client, keys, log_retention=log_retention, retry_seconds=retry_seconds,
                       slot_checked=slot_checked)
    return Engine("redis", store,
                  RedisBroker(url, keys, publisher=client, ack_timeout=retry_seconds))
