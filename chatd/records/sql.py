"""The record store on SQLAlchemy 2 (async Core): PostgreSQL (asyncpg) in
production, SQLite (aiosqlite) embedded. Every port of :mod:`chatd.records.base`.

Writes that must be one step (an import, an archive with its transcript) run
in one transaction; an upsert is the dialect's ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, delete, event, func, insert, literal_column, select, table, text
from sqlalchemy import column as sql_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from chatd.archive import ArchivedConversation, HistoryFilter, SearchHit
from chatd.model import Conversation, LogEntry
from chatd.records import schema
from chatd.records.base import Records
from chatd.search import index_terms

__all__ = ["Database", "open_database", "sql_records"]

Record = dict[str, Any]

class Database:
    """One database's engine, shared by every store on it."""

    def __init__(self, engine: AsyncEngine, url: str, *, memory: bool = False) -> None:
        self.engine = engine
        self.url = url
        self.memory = memory  # a private in-memory database: its schema is made on first use
        self._made = False
        self._making = asyncio.Lock()

    async def _ensure_schema(self) -> None:
        """A private in-memory database gets the schema on first use, straight
        from the table definitions (nobody else opens it: no version to keep)."""
        if not self.memory or self._made:
            return
        async with self._making:
            if not self._made:
                async with self.engine.begin() as conn:
                    await conn.run_sync(schema.metadata.create_all)
                    for statement in schema.search_ddl(self.dialect):
                        await conn.execute(text(statement))
                self._made = True

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads."""
        await self._ensure_schema()
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed when the block ends without an error."""
        await self._ensure_schema()
        async with self.engine.begin() as conn:
            yield conn

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def close(self) -> None:
        await self.engine.dispose()

    def upsert(self, table: Table, values: Record, keys: Sequence[str]) -> Any:
        """``INSERT ... ON CONFLICT (keys) DO UPDATE`` setting every other column."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        statement = dialect.insert(table).values(**values)
        changed = {name: statement.excluded[name] for name in values if name not in keys}
        if not changed:
            return statement.on_conflict_do_nothing(index_elements=list(keys))
        return statement.on_conflict_do_update(index_elements=list(keys), set_=changed)

def open_database(url: str) -> Database:
    """An engine for ``url`` (nothing connects yet). SQLite gets foreign keys,
    a busy timeout and WAL (several processes may share the file); an
    in-memory SQLite database is one connection shared by all."""
    options: dict[str, Any] = {}
    if url.startswith("sqlite"):
        if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
            options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            options = {"connect_args": {"timeout": 30}}
    else:
        options = {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        memory = "poolclass" in options

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
    return Database(engine, url, memory="poolclass" in options)

class _Keyed:
    """A table of JSON records by one key column (the common part of the
    configuration stores; each store below names its own methods)."""

    def __init__(self, db: Database, table: Table, key: str, field: str) -> None:
        self._db, self._table, self._key, self._field = db, table, key, field

    async def _list(self, where: Any = None) -> list[Record]:
        query = select(self._table.c.body).order_by(self._table.c[self._key])
        if where is not None:
            query = query.where(where)
        async with self._db.connect() as conn:
            return [row.body for row in await conn.execute(query)]

    async def _get(self, key: str) -> Record | None:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(self._table.c.body).where(self._table.c[self._key] == key))).first()
        return row.body if row is not None else None

    def _values(self, record: Record) -> Record:
        return {self._key: str(record[self._field]), "body": record}

    async def _put(self, record: Record, conn: AsyncConnection | None = None) -> None:
        statement = self._db.upsert(self._table, self._values(record), [self._key])
        if conn is not None:
            await conn.execute(statement)
            return
        async with self._db.begin() as conn:
            await conn.execute(statement)

    async def _delete(self, key: str) -> bool:
        async with self._db.begin() as conn:
            result = await conn.execute(delete(self._table).where(self._table.c[self._key] == key))
        return bool(result.rowcount)

class SqlSkillGroups(_Keyed):
    def __init__(self, db: Database) -> None:
        super().__init__(db, schema.skill_groups, "name", "name")

    async def list(self) -> list[Record]:
        return await self._list()

    async def get(self, name: str) -> Record | None:
        return await self._get(name)

    async def put(self, record: Record) -> None:
        await self._put(record)

    async def delete(self, name: str) -> bool:
        return await self._delete(name)

class SqlSchedules(_Keyed):
    def __init__(self, db: Database) -> None:
        super().__init__(db, schema.schedules, "owner", "owner")

    async def list(self) -> list[Record]:
        return await self._list()

    async def get(self, owner: str) -> Record | None:
        return await self._get(owner)

    async def put(self, record: Record) -> None:
        await self._put(record)

    async def delete(self, owner: str) -> bool:
        return await self._delete(owner)

class SqlOverflowRules(_Keyed):
    def __init__(self, db: Database) -> None:
        super().__init__(db, schema.overflow_rules, "skill_group", "skill_group")

    async def list(self) -> list[Record]:
        return await self._list()

    async def get(self, skill_group: str) -> Record | None:
        return await self._get(skill_group)

    async def put(self, record: Record) -> None:
        await self._put(record)

    async def delete(self, skill_group: str) -> bool:
        return await self._delete(skill_group)

class SqlQuickReplies(_Keyed):
    def __init__(self, db: Database) -> None:
        super().__init__(db, schema.quick_replies, "reply_id", "id")

    def _values(self, record: Record) -> Record:
        return {**super()._values(record), "owner": str(record.get("owner", "team"))}

    async def list(self, owners: Iterable[str] | None = None) -> list[Record]:
        if owners is None:
            return await self._list()
        return await self._list(schema.quick_replies.c.owner.in_(list(owners)))

    async def get(self, reply_id: str) -> Record | None:
        return await self._get(reply_id)

    async def put(self, record: Record) -> None:
        await self._put(record)

    async def delete(self, reply_id: str) -> bool:
        return await self._delete(reply_id)

class SqlKnowledgeBase(_Keyed):
    def __init__(self, db: Database) -> None:
        super().__init__(db, schema.kb_entries, "entry_id", "id")

    async def _set_version(self, conn: AsyncConnection, version: str) -> None:
        await conn.execute(self._db.upsert(schema.kb_meta, {"id": 1, "version": version}, ["id"]))

    async def list(self) -> list[Record]:
        return await self._list()

    async def get(self, entry_id: str) -> Record | None:
        return await self._get(entry_id)

    async def put(self, record: Record, version: str) -> None:
        async with self._db.begin() as conn:
            await self._put(record, conn)
            await self._set_version(conn, version)

    async def replace(self, records: Mapping[str, Record], delete_ids: Iterable[str], version: str) -> None:
        async with self._db.begin() as conn:
            gone = list(delete_ids)
            if gone:
                await conn.execute(delete(schema.kb_entries).where(schema.kb_entries.c.entry_id.in_(gone)))
            for record in records.values():
                await self._put(record, conn)
            await self._set_version(conn, version)

    async def delete(self, entry_id: str, version: str) -> bool:
        async with self._db.begin() as conn:
            result = await conn.execute(delete(schema.kb_entries).where(schema.kb_entries.c.entry_id == entry_id))
            await self._set_version(conn, version)
        return bool(result.rowcount)

    async def version(self) -> str:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(schema.kb_meta.c.version).where(schema.kb_meta.c.id == 1))).first()
        return row.version if row is not None else ""

class SqlBotSettings(_Keyed):
    def __init__(self, db: Database) -> None:
        super().__init__(db, schema.bot_settings, "site_key", "site_key")

    async def get(self, site_key: str) -> Record | None:
        return await self._get(site_key)

    async def put(self, site_key: str, record: Record) -> None:
        async with self._db.begin() as conn:
            await conn.execute(self._db.upsert(schema.bot_settings, {"site_key": site_key, "body": record},
                                               ["site_key"]))

class SqlTickets:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, ticket: Record) -> None:
        values = {"ticket_id": ticket["ticket_id"], "site_key": ticket.get("site_key", ""),
                  "visitor_id": ticket.get("visitor_id", ""), "conversation_id": ticket.get("conversation_id", ""),
                  "category": ticket.get("category", ""), "status": ticket.get("status", "open"),
                  "created_at": float(ticket.get("created_at", 0)),
                  "updated_at": float(ticket.get("updated_at", ticket.get("created_at", 0))), "body": ticket}
        async with self._db.begin() as conn:
            await conn.execute(self._db.upsert(schema.tickets, values, ["ticket_id"]))

    async def get(self, ticket_id: str) -> Record | None:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(schema.tickets.c.body)
                                      .where(schema.tickets.c.ticket_id == ticket_id))).first()
        return row.body if row is not None else None

    async def query(self, *, status: str = "", category: str = "", site_key: str = "", conversation_id: str = "",
                    visitor_id: str = "", limit: int = 100) -> list[Record]:
        t = schema.tickets
        query = select(t.c.body).order_by(t.c.created_at.desc(), t.c.ticket_id.desc()).limit(limit)
        for column, value in ((t.c.status, status), (t.c.category, category), (t.c.site_key, site_key),
                              (t.c.conversation_id, conversation_id), (t.c.visitor_id, visitor_id)):
            if value:
                query = query.where(column == value)
        async with self._db.connect() as conn:
            return [row.body for row in await conn.execute(query)]

class SqlRatings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, rating: Record) -> None:
        values = {"conversation_id": rating["conversation_id"], "site_key": rating.get("site_key", ""),
                  "agent_id": rating.get("agent_id", ""), "skill": rating.get("skill", ""),
                  "score": int(rating["score"]), "comment": rating.get("comment", ""),
                  "rated_at": float(rating.get("at", 0))}
        async with self._db.begin() as conn:
            await conn.execute(self._db.upsert(schema.ratings, values, ["conversation_id"]))

    async def get(self, conversation_id: str) -> Record | None:
        r = schema.ratings
        async with self._db.connect() as conn:
            row = (await conn.execute(select(r).where(r.c.conversation_id == conversation_id))).first()
        if row is None:
            return None
        return {"conversation_id": row.conversation_id, "score": row.score, "comment": row.comment,
                "agent_id": row.agent_id, "skill": row.skill, "site_key": row.site_key, "at": row.rated_at}

_ARCHIVE_BATCH = 500  # transcript rows per INSERT
_MAX_SEQ = 2**31 - 2

class SqlArchive:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, record: ArchivedConversation, entries: list[LogEntry]) -> None:
        c = record.conversation
        values = {**record.to_dict(), "last_seq": record.last_seq, "epoch": record.epoch,
                  "conversation": c.to_dict(), "archived_at": record.archived_at}
        a, m = schema.archived_conversations, schema.archived_messages
        async with self._db.begin() as conn:
            await conn.execute(self._db.upsert(a, values, ["conversation_id"]))
            # the transcript is replaced whole: a reopened and closed again conversation has more of it
            await conn.execute(delete(m).where(m.c.conversation_id == c.conversation_id))
            rows = [{"conversation_id": c.conversation_id, "seq": e.seq, "kind": e.kind,
                     "sender_role": e.sender_role, "sender_id": e.sender_id, "body": e.body, "ts": e.ts,
                     "client_msg_id": e.client_msg_id, "data": e.data or {}} for e in entries]
            for start in range(0, len(rows), _ARCHIVE_BATCH):
                await conn.execute(insert(m), rows[start:start + _ARCHIVE_BATCH])
            t = schema.message_terms
            await conn.execute(delete(t).where(t.c.conversation_id == c.conversation_id))
            terms = [{"conversation_id": c.conversation_id, "seq": e.seq, "terms": index_terms(e.body)}
                     for e in entries if e.kind == "message" and e.body]
            for start in range(0, len(terms), _ARCHIVE_BATCH):
                await conn.execute(insert(t), terms[start:start + _ARCHIVE_BATCH])

    @staticmethod
    def _record(row: Any) -> ArchivedConversation:
        return ArchivedConversation(
            conversation=Conversation.from_dict(row.conversation), outcome=row.outcome, queued_at=row.queued_at,
            first_offered_at=row.first_offered_at, assigned_at=row.assigned_at,
            first_response_at=row.first_response_at, transfers=row.transfers, messages=row.messages,
            last_seq=row.last_seq, epoch=row.epoch, participants=list(row.participants),
            archived_at=row.archived_at)

    async def get(self, conversation_id: str) -> ArchivedConversation | None:
        a = schema.archived_conversations
        async with self._db.connect() as conn:
            row = (await conn.execute(select(a).where(a.c.conversation_id == conversation_id))).first()
        return self._record(row) if row is not None else None

    async def entries(self, conversation_id: str, *, after_seq: int = 0, before_seq: int = 0,
                      limit: int = 500) -> list[LogEntry]:
        m = schema.archived_messages
        after_seq, before_seq = min(after_seq, _MAX_SEQ), min(before_seq, _MAX_SEQ + 1)  # the column is 32-bit
        query = select(m).where(m.c.conversation_id == conversation_id, m.c.seq > after_seq)
        if before_seq:
            query = query.where(m.c.seq < before_seq).order_by(m.c.seq.desc())
        else:
            query = query.order_by(m.c.seq)
        async with self._db.connect() as conn:
            rows = list(await conn.execute(query.limit(limit)))
        if before_seq:
            rows.reverse()
        return [LogEntry(conversation_id=r.conversation_id, seq=r.seq, kind=r.kind, sender_role=r.sender_role,
                         sender_id=r.sender_id, body=r.body, ts=r.ts, client_msg_id=r.client_msg_id,
                         data=dict(r.data or {})) for r in rows]

    async def for_visitor(self, site_key: str, visitor_id: str, limit: int = 20) -> list[ArchivedConversation]:
        a = schema.archived_conversations
        query = (select(a).where(a.c.site_key == site_key, a.c.visitor_id == visitor_id)
                 .order_by(a.c.created_at.desc()).limit(limit))
        async with self._db.connect() as conn:
            return [self._record(row) for row in await conn.execute(query)]

    async def count(self) -> int:
        async with self._db.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(schema.archived_conversations)))
                       .scalar_one())

    @staticmethod
    def _filtered(query: Any, filters: HistoryFilter) -> Any:
        a = schema.archived_conversations
        for column, value in ((a.c.agent_id, filters.agent_id), (a.c.skill, filters.skill),
                              (a.c.site_key, filters.site_key), (a.c.visitor_id, filters.visitor_id),
                              (a.c.outcome, filters.outcome)):
            if value:
                query = query.where(column == value)
        if filters.since:
            query = query.where(a.c.closed_at >= filters.since)
        if filters.until:
            query = query.where(a.c.closed_at < filters.until)
        if filters.rating:
            r = schema.ratings
            query = query.where(a.c.conversation_id.in_(select(r.c.conversation_id).where(r.c.score == filters.rating)))
        return query

    async def history(self, filters: HistoryFilter, *, limit: int = 50, offset: int = 0) -> list[ArchivedConversation]:
        a = schema.archived_conversations
        query = self._filtered(select(a), filters).order_by(a.c.closed_at.desc(), a.c.conversation_id)
        async with self._db.connect() as conn:
            return [self._record(row) for row in await conn.execute(query.limit(limit).offset(offset))]

    def _matches(self, terms: Sequence[str]) -> Any:
        """Messages holding every term, newest archived first (SQLite: straight
        from the FTS index in rowid order, so a LIMIT stops early)."""
        a, t = schema.archived_conversations, schema.message_terms
        if self._db.dialect == "postgresql":
            return (select(t.c.conversation_id, t.c.seq).join(a, a.c.conversation_id == t.c.conversation_id)
                    .where(func.to_tsvector("simple", t.c.terms).op("@@")(func.to_tsquery("simple", " & ".join(terms))))
                    .order_by(t.c.id.desc()))
        index = table(schema.SEARCH_INDEX, sql_column("rowid"))
        match = " ".join(f'"{term}"' for term in terms)  # every term, each as a phrase of its own
        return (select(t.c.conversation_id, t.c.seq)
                .select_from(index.join(t, t.c.id == index.c.rowid).join(a, a.c.conversation_id == t.c.conversation_id))
                .where(literal_column(schema.SEARCH_INDEX).op("MATCH")(match)).order_by(index.c.rowid.desc()))

    async def search(self, terms: Sequence[str], filters: HistoryFilter, *, limit: int = 50,
                     offset: int = 0) -> list[SearchHit]:
        if not terms:
            return []
        a, m = schema.archived_conversations, schema.archived_messages
        query = self._filtered(self._matches(terms), filters).limit(limit).offset(offset)
        async with self._db.connect() as conn:
            found = [(row.conversation_id, row.seq) for row in await conn.execute(query)]
            if not found:
                return []
            ids = sorted({cid for cid, _ in found})
            records = {row.conversation_id: self._record(row)
                       for row in await conn.execute(select(a).where(a.c.conversation_id.in_(ids)))}
            messages = {(row.conversation_id, row.seq): row for row in await conn.execute(
                select(m.c.conversation_id, m.c.seq, m.c.sender_role, m.c.body, m.c.ts)
                .where(m.c.conversation_id.in_(ids), m.c.seq.in_(sorted({seq for _, seq in found}))))}
        return [SearchHit(conversation=records[cid], seq=seq, sender_role=messages[(cid, seq)].sender_role,
                          body=messages[(cid, seq)].body, ts=messages[(cid, seq)].ts)
                for cid, seq in found if (cid, seq) in messages]

def sql_records(db: Database) -> Records:
    return Records(skill_groups=SqlSkillGroups(db), schedules=SqlSchedules(db), quick_replies=SqlQuickReplies(db),
                   knowledge_base=SqlKnowledgeBase(db), overflow_rules=SqlOverflowRules(db),
                   bot_settings=SqlBotSettings(db), tickets=SqlTickets(db), ratings=SqlRatings(db),
                   archive=SqlArchive(db), database=db)
