"""The Redis engine: state shared by any number of chatd processes and hosts.

Key layout and hash tags are in :mod:`chatd.store.keys`; every change that
touches several keys is one Lua script from ``lua/`` (or one MULTI/EXEC when it
has no condition), and reads are batched in pipelines.

**Appending** is one script in the conversation's slot: check the state
mirror, dedupe ``client_msg_id``, INCR the seq, XADD ``<seq>-1``, trim, and
PUBLISH, in one round trip. The entry is encoded once, in Python; the script
only splices the seq into the publication (see ``append.lua``). Dedupe ids live
exactly as long as their entries: they are deleted by the trim that drops the
entry, so dedupe memory is bounded by the retention.

**Transitions** touch two slots, so they run two scripts:

1. ``transition.lua`` in ``{rt}``: compare-and-set on the state, loads, queues,
   indexes, and a numbered *event record* pushed on the conversation's pending
   list (the newest few kept). It returns that list.
2. ``append.lua`` in ``{c:<id>}``: log every returned record whose number is
   above the mirror's ``tn`` (applied numbers are skipped, so this step is
   idempotent), in number order, each one moving the state mirror.

Step 2 replays earlier records too, so two transitions racing on one
conversation log their events in the order their first steps ran, and the
mirror ends in the record's final state. If a node dies between the steps, the
change holds but its event is missing from the log (and appends still see the
old state) until the next transition of that conversation replays it. That
window is one round trip long.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import msgpack
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from chatd.model import AGENT_STATUSES, Agent, AppendResult, AssignResult, Conversation, LogEntry, ReadResult, Site
from chatd.store.base import (
    EXTRA_FIELDS,
    ROUTING_RECORDS_KEPT,
    Engine,
    StoreError,
    Transition,
    check_kind,
    conversation_channel,
)
from chatd.store.keys import Keys
from chatd.store.lifecycle import entry_from_fields, event_data, refusal, try_assign
from chatd.store.redis_broker import RedisBroker
from chatd.store.redis_wire import WaitingConnectionPool, pool_options

__all__ = ["RedisStore", "open_redis_engine"]

PENDING_EVENTS_KEPT = 8  # event records kept for replay (concurrent transitions tolerated)
# Changes per transition script call: one call runs alone on the server, so
# it is kept to a millisecond or two.
TRANSITIONS_PER_CALL = 50
READS_PER_CALL = 500  # conversation hashes read per script call
_LUA = Path(__file__).with_name("lua")
_CONVERSATION_TYPES = {f.name: str(f.type) for f in dataclass_fields(Conversation)}
_TIMES = frozenset(name for name, kind in _CONVERSATION_TYPES.items() if kind == "float")
# stored field name -> (Conversation field, decoder of the stored bytes)
_CONVERSATION_DECODERS: dict[bytes, tuple[str, Callable[[bytes], Any]]] = {
    name.encode(): (name, {"float": float, "int": int}.get(kind, bytes.decode))
    for name, kind in _CONVERSATION_TYPES.items()}
# {"type": "entry", "entry": {<9 pairs>: "conversation_id" first, then the stored 7, then "seq"}}
_PUBLICATION_HEAD = b"".join((b"\x82", msgpack.packb("type"), msgpack.packb("entry"), msgpack.packb("entry"),
                              b"\x89", msgpack.packb("conversation_id")))


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


class RedisStore:
    """The :class:`~chatd.store.base.Store` contract on Redis (see module docs)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, *, log_retention: int = 10_000) -> None:
        if log_retention < 1:
            raise ValueError("log_retention must be at least 1")
        self._redis = client
        self._keys = keys
        self._retention = str(log_retention)
        self._append = client.register_script((_LUA / "append.lua").read_text())
        self._transition = client.register_script((_LUA / "transition.lua").read_text())
        self._read_conversations = client.register_script((_LUA / "read_conversations.lua").read_text())
        self._create = client.register_script((_LUA / "create_conversation.lua").read_text())
        self._agent_status = client.register_script((_LUA / "agent_status.lua").read_text())

    # --- liveness -------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()

    # --- agents, sites, tokens ------------------------------------------------
    async def put_agent(self, agent: Agent) -> None:
        profile = agent.to_dict()
        status = profile.pop("status")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.agents, agent.agent_id, _pack(profile))
            pipe.hset(self._keys.agent_status, agent.agent_id, status)
            await pipe.execute()

    async def get_agent(self, agent_id: str) -> Agent | None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._keys.agents, agent_id)
            pipe.hget(self._keys.agent_status, agent_id)
            profile, status = await pipe.execute()
        return None if profile is None else _agent(profile, status)

    async def list_agents(self) -> list[Agent]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._keys.agents)
            pipe.hgetall(self._keys.agent_status)
            profiles, statuses = await pipe.execute()
        return [_agent(profiles[k], statuses.get(k)) for k in sorted(profiles)]

    async def delete_agent(self, agent_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._keys.agents, agent_id)
            pipe.hdel(self._keys.agent_status, agent_id)
            pipe.hdel(self._keys.agent_last_assigned, agent_id)
            removed, _, _ = await pipe.execute()
        return bool(removed)

    async def put_site(self, site: Site) -> None:
        await self._redis.hset(self._keys.sites, site.site_key, _pack(site.to_dict()))

    async def get_site(self, site_key: str) -> Site | None:
        raw = await self._redis.hget(self._keys.sites, site_key)
        return None if raw is None else Site.from_dict(_unpack(raw))

    async def list_sites(self) -> list[Site]:
        raw = await self._redis.hgetall(self._keys.sites)
        return [Site.from_dict(_unpack(raw[k])) for k in sorted(raw)]

    async def delete_site(self, site_key: str) -> bool:
        return bool(await self._redis.hdel(self._keys.sites, site_key))

    async def revoke_token(self, token_id: str, expires_at: float, now: float) -> None:
        if expires_at > now:
            ttl_ms = max(1, math.ceil((expires_at - now) * 1000))
            await self._redis.set(self._keys.revoked(token_id), b"1", px=ttl_ms)

    async def is_token_revoked(self, token_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.revoked(token_id)))

    # --- visitors -------------------------------------------------------------
    async def update_visitor(self, site_key: str, visitor_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        key = self._keys.visitor(site_key, visitor_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            if attributes:
                pipe.hset(key, mapping={name: _pack(value) for name, value in attributes.items()})
            pipe.hgetall(key)
            profile = (await pipe.execute())[-1]
        return {k.decode(): _unpack(v) for k, v in profile.items()}

    async def get_visitor(self, site_key: str, visitor_id: str) -> dict[str, Any]:
        profile = await self._redis.hgetall(self._keys.visitor(site_key, visitor_id))
        return {k.decode(): _unpack(v) for k, v in profile.items()}

    # --- conversations --------------------------------------------------------
    async def create_conversation(self, conversation: Conversation) -> Conversation:
        record = Conversation.from_dict({**conversation.to_dict(), "state": "open", "agent_id": ""})
        cid = record.conversation_id
        fields: list[str] = []
        for name, value in record.to_dict().items():
            fields += [name, _time(value) if name in _TIMES else str(value)]
        status = await self._create(
            keys=[self._keys.conversation(cid), self._keys.visitor_conversations(record.site_key, record.visitor_id),
                  self._keys.state_index("open")],
            args=[cid, _time(record.created_at), *fields])
        if status != b"ok":
            raise StoreError("bad_state", f"conversation {cid} already exists")
        # The mirror is written second: if this node dies in between, appends say
        # unknown_conversation until the first transition writes it. HSETNX never
        # overwrites a state a racing transition has already mirrored.
        await self._redis.hsetnx(self._keys.mirror(cid), "state", "open")
        return record

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

    async def visitor_conversations(self, site_key: str, visitor_id: str, limit: int = 20) -> list[Conversation]:
        if limit <= 0:
            return []
        ids = await self._redis.zrevrange(self._keys.visitor_conversations(site_key, visitor_id), 0, limit - 1)
        return await self._conversations(ids)

    async def agent_conversations(self, agent_id: str) -> list[Conversation]:
        return await self._conversations(await self._redis.zrange(self._keys.active(agent_id), 0, -1))

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
        [(keys, args)] = self._transition_calls([(conversation_id, change)], now)
        [reply] = await self._transition(keys=keys, args=args)
        conversation, records = self._transitioned(reply)
        keys, args, entry_fields = self._log_call(conversation_id, records)
        return conversation, self._logged(conversation_id, await self._append(keys=keys, args=args), entry_fields)

    async def transition_many(self, changes: Sequence[tuple[str, Transition]],
                              now: float) -> list[tuple[Conversation, LogEntry] | StoreError]:
        """Both steps of every transition, each step for all of them in one round trip."""
        if not changes:
            return []
        calls = self._transition_calls(changes, now)
        if len(calls) == 1:
            replies = await self._transition(keys=calls[0][0], args=calls[0][1])
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    await self._transition(keys=keys, args=args, client=pipe)
                replies = [reply for call_replies in await pipe.execute() for reply in call_replies]
        results: list[Any] = []
        for reply in replies:
            try:
                results.append(self._transitioned(reply))
            except StoreError as exc:
                results.append(exc)
        done = [(i, cid) for i, ((cid, _), result) in enumerate(zip(changes, results, strict=True))
                if not isinstance(result, StoreError)]
        if not done:
            return results
        log_calls = [self._log_call(cid, results[i][1]) for i, cid in done]
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in log_calls:
                await self._append(keys=keys, args=args, client=pipe)
            appended = await pipe.execute()
        for (i, cid), (_, _, entry_fields), reply in zip(done, log_calls, appended, strict=True):
            results[i] = (results[i][0], self._logged(cid, reply, entry_fields))
        return results

    def _transition_calls(self, changes: Sequence[tuple[str, Transition]],
                          now: float) -> list[tuple[list[str], list[Any]]]:
        """Step 1 of transitions: the state changes and their pending event
        records, ``TRANSITIONS_PER_CALL`` changes per script call."""
        k = self._keys
        calls = []
        for start in range(0, len(changes), TRANSITIONS_PER_CALL):
            keys = [k.agents, k.agent_last_assigned, k.queued_skills, k.routing_clock]
            args: list[Any] = [k.queue_prefix, k.active_prefix, k.state_index_prefix, _time(now),
                               PENDING_EVENTS_KEPT, ROUTING_RECORDS_KEPT]
            for conversation_id, change in changes[start:start + TRANSITIONS_PER_CALL]:
                keys += [k.conversation(conversation_id), k.pending_events(conversation_id),
                         k.routing_records(conversation_id)]
                own = [conversation_id, " ".join(change.allowed_from), change.to_state, change.agent_id,
                       change.skill or "", "" if change.priority is None else str(int(change.priority)),
                       change.queue, "1" if change.queue_front else "0", change.event, change.actor_role,
                       change.actor_id, _pack(change.data or {}),
                       b"" if change.routing_record is None else _pack(change.routing_record),
                       *_extra_fields(change)]
                args += [len(own), *own]
            calls.append((keys, args))
        return calls

    @staticmethod
    def _transitioned(reply: Sequence[Any]) -> tuple[Conversation, Sequence[bytes]]:
        if reply[0] != b"ok":
            raise refusal(reply[0].decode())
        conversation = _conversation(_pairs(reply[1]))
        assert conversation is not None
        return conversation, reply[2]

    def _log_call(self, conversation_id: str,
                  records: Sequence[bytes]) -> tuple[list[str], list[Any], dict[str, Any]]:
        """Step 2 of a transition: log the pending event records (the last one
        is this transition's); also returns this transition's entry fields."""
        args: list[Any] = [self._retention, self._keys.channel(conversation_channel(conversation_id)),
                           _PUBLICATION_HEAD + _pack(conversation_id)]
        entry_fields: dict[str, Any] = {}
        for record in records:
            n, event, state, agent_id, skill, role, actor, now, details, tick = msgpack.unpackb(record, raw=True)
            state, agent_id, skill = state.decode(), agent_id.decode(), skill.decode()
            entry_fields = {"kind": "event", "sender_role": role.decode(), "sender_id": actor.decode(),
                            "body": event.decode(), "ts": float(now), "client_msg_id": "",
                            "data": event_data(_unpack(details), state, agent_id, skill, tick)}
            args += ["", n, state, _pack(entry_fields)]
        return self._message_keys(conversation_id), args, entry_fields

    @staticmethod
    def _logged(conversation_id: str, reply: Sequence[Any], entry_fields: dict[str, Any]) -> LogEntry:
        _, seq, _, _ = reply
        return entry_from_fields(conversation_id, int(seq), entry_fields)

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
        status, seq, duplicate, first_copy = await self._append(
            keys=self._message_keys(conversation_id),
            args=[self._retention, self._keys.channel(conversation_channel(conversation_id)),
                  _PUBLICATION_HEAD + _pack(conversation_id), client_msg_id, "", "", stored])
        if status != b"ok":
            raise refusal(status.decode())
        if duplicate:
            ts = float(_unpack(first_copy)["ts"]) if first_copy else 0.0
            return AppendResult(int(seq), ts, True)
        return AppendResult(int(seq), float(now), False)

    async def _read(self, conversation_id: str, low: str, high: str, limit: int, newest: bool) -> ReadResult:
        log = self._keys.log(conversation_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            if newest:
                pipe.xrevrange(log, max=high, min=low, count=max(limit, 1))
            else:
                pipe.xrange(log, min=low, max=high, count=max(limit, 1))
            pipe.xrange(log, count=1)
            pipe.get(self._keys.seq(conversation_id))
            rows, first, last = await pipe.execute()
        if limit <= 0:
            rows = []
        elif newest:
            rows.reverse()
        entries = [_entry(conversation_id, stream_id, fields) for stream_id, fields in rows]
        first_seq = int(first[0][0].split(b"-", 1)[0]) if first else 0
        return ReadResult(entries, first_seq, int(last or 0))

    async def read(self, conversation_id: str, after_seq: int, limit: int = 500) -> ReadResult:
        return await self._read(conversation_id, f"{max(after_seq, 0) + 1}-0", "+", limit, False)

    async def read_before(self, conversation_id: str, before_seq: int, limit: int = 50) -> ReadResult:
        if before_seq == 1:
            limit = 0  # nothing is older than seq 1: statistics only
        high = "+" if before_seq <= 0 else f"{before_seq - 1}-1"
        return await self._read(conversation_id, "-", high, limit, True)

    # --- queues -----------------------------------------------------------------
    async def queue(self, skill: str) -> list[Conversation]:
        return await self._conversations(await self._redis.zrange(self._keys.queue(skill), 0, -1))

    async def queued_skills(self) -> list[str]:
        return sorted(s.decode() for s in await self._redis.smembers(self._keys.queued_skills))

    # --- agent runtime ----------------------------------------------------------
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

    async def set_agent_status(self, agent_id: str, status: str) -> None:
        if status not in AGENT_STATUSES:
            raise ValueError(f"agent status must be one of {AGENT_STATUSES}, not {status!r}")
        result = await self._agent_status(keys=[self._keys.agents, self._keys.agent_status], args=[agent_id, status])
        if result != b"ok":
            raise refusal(result.decode())

    async def touch_presence(self, agent_id: str, node_id: str, expires_at: float) -> None:
        if "|" in node_id:
            raise ValueError("node ids cannot contain '|'")
        await self._redis.zadd(self._keys.presence, {f"{agent_id}|{node_id}": expires_at})

    async def drop_presence(self, agent_id: str, node_id: str) -> None:
        await self._redis.zrem(self._keys.presence, f"{agent_id}|{node_id}")

    async def connected_agents(self, now: float) -> set[str]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(self._keys.presence, "-inf", now)
            pipe.zrange(self._keys.presence, 0, -1)
            _, members = await pipe.execute()
        return {member.decode().rpartition("|")[0] for member in members}

    # --- routing explanations -----------------------------------------------------
    async def add_routing_record(self, conversation_id: str, record: dict[str, Any],
                                 keep: int = ROUTING_RECORDS_KEPT) -> None:
        await self.add_routing_records([(conversation_id, record)], keep)

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
                if keep > 0:
                    pipe.ltrim(key, -keep, -1)
                else:
                    pipe.delete(key)
            await pipe.execute()

    async def routing_records(self, conversation_id: str) -> list[dict[str, Any]]:
        return [_unpack(raw) for raw in await self._redis.lrange(self._keys.routing_records(conversation_id), 0, -1)]

    # --- configuration records and samples ---------------------------------------
    async def put_record(self, kind: str, key: str, record: dict[str, Any]) -> None:
        await self._redis.hset(self._keys.records(check_kind(kind)), key, _pack(record))

    async def put_records(self, kind: str, records: Mapping[str, dict[str, Any]], delete: Iterable[str] = ()) -> None:
        key, delete = self._keys.records(check_kind(kind)), list(delete)
        if not records and not delete:
            return
        async with self._redis.pipeline(transaction=True) as pipe:  # one key: MULTI/EXEC is atomic
            if records:
                pipe.hset(key, mapping={name: _pack(record) for name, record in records.items()})
            if delete:
                pipe.hdel(key, *delete)
            await pipe.execute()

    async def get_record(self, kind: str, key: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(self._keys.records(check_kind(kind)), key)
        return None if raw is None else _unpack(raw)

    async def list_records(self, kind: str) -> list[dict[str, Any]]:
        found = await self._redis.hgetall(self._keys.records(check_kind(kind)))
        return [_unpack(found[name]) for name in sorted(found)]

    async def delete_record(self, kind: str, key: str) -> bool:
        return bool(await self._redis.hdel(self._keys.records(check_kind(kind)), key))

    async def add_sample(self, kind: str, key: str, value: float, keep: int = 100) -> None:
        name = self._keys.samples(check_kind(kind), key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(name, repr(float(value)))
            pipe.ltrim(name, -max(keep, 1), -1)
            await pipe.execute()

    async def samples(self, kind: str, key: str) -> list[float]:
        return [float(v) for v in await self._redis.lrange(self._keys.samples(check_kind(kind), key), 0, -1)]


REDIS_POOL_SIZE = 64  # connections per process for commands (pub/sub has its own)
REDIS_POOL_WAIT_SECONDS = 10.0  # a command waits this long for a free connection, then fails


def open_redis_engine(url: str, *, prefix: str, log_retention: int) -> Engine:
    """A Redis engine; nothing connects until the first command."""
    # Commands beyond the pool's size wait for a free connection instead of
    # failing with MaxConnectionsError (redis-py's default pool does not wait).
    pool = WaitingConnectionPool.from_url(url, decode_responses=False, max_connections=REDIS_POOL_SIZE,
                                          timeout=REDIS_POOL_WAIT_SECONDS, **pool_options(url))
    client = aioredis.Redis.from_pool(pool)  # the client owns the pool: closing it closes the pool
    keys = Keys(prefix)
    return Engine("redis", RedisStore(client, keys, log_retention=log_retention),
                  RedisBroker(url, keys, publisher=client))
