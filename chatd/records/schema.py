"""The record store's tables (SQLAlchemy Core), one per kind of durable record.

Times are epoch seconds (floats), as everywhere in chatd. Each table keeps the
columns it is queried by as real columns and the rest of its record, whose
shape the domain module owns, in ``body`` (JSON; JSONB on PostgreSQL).
Changing a table means a new migration in ``migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "SEARCH_INDEX",
    "archived_conversations",
    "archived_messages",
    "bot_settings",
    "is_search_index",
    "kb_entries",
    "kb_meta",
    "message_terms",
    "metadata",
    "overflow_rules",
    "quick_replies",
    "ratings",
    "schedules",
    "search_ddl",
    "skill_groups",
    "tickets",
]

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
})

Body = JSON().with_variant(JSONB(), "postgresql")

skill_groups = Table(
    "skill_groups", metadata,
    Column("name", String(32), primary_key=True),
    Column("body", Body, nullable=False),
)

schedules = Table(
    "schedules", metadata,
    Column("owner", String(64), primary_key=True),  # the agent whose shifts these are
    Column("body", Body, nullable=False),
)

quick_replies = Table(
    "quick_replies", metadata,
    Column("reply_id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),  # "team" or an agent id
    Column("body", Body, nullable=False),
)

kb_entries = Table(
    "kb_entries", metadata,
    Column("entry_id", String(64), primary_key=True),
    Column("body", Body, nullable=False),
)

kb_meta = Table(  # one row: the knowledge base's version, changed by every edit
    "kb_meta", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", String(32), nullable=False),
)

overflow_rules = Table(
    "overflow_rules", metadata,
    Column("skill_group", String(32), primary_key=True),
    Column("body", Body, nullable=False),
)

bot_settings = Table(
    "bot_settings", metadata,
    Column("site_key", String(64), primary_key=True),
    Column("body", Body, nullable=False),
)

tickets = Table(
    "tickets", metadata,
    Column("ticket_id", String(40), primary_key=True),
    Column("site_key", String(64), nullable=False, index=True),
    Column("visitor_id", String(128), nullable=False, default=""),
    Column("conversation_id", String(64), nullable=False, default="", index=True),
    Column("category", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("body", Body, nullable=False),
    Index(None, "status", "created_at"),
)

ratings = Table(
    "ratings", metadata,
    Column("conversation_id", String(64), primary_key=True),  # one rating per conversation; a new one replaces it
    Column("site_key", String(64), nullable=False),
    Column("agent_id", String(64), nullable=False, default="", index=True),
    Column("skill", String(32), nullable=False, default=""),
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("rated_at", Float, nullable=False),
)

archived_conversations = Table(
    "archived_conversations", metadata,
    Column("conversation_id", String(64), primary_key=True),
    Column("site_key", String(64), nullable=False),
    Column("visitor_id", String(128), nullable=False),
    Column("visitor_name", String(128), nullable=False, default=""),
    Column("agent_id", String(64), nullable=False, default="", index=True),  # who handled it last
    Column("skill", String(32), nullable=False, default=""),
    Column("outcome", String(16), nullable=False),  # chatd.archive.OUTCOMES
    Column("created_at", Float, nullable=False),
    Column("queued_at", Float),
    Column("first_offered_at", Float),
    Column("assigned_at", Float),
    Column("first_response_at", Float),
    Column("closed_at", Float, nullable=False, index=True),
    Column("transfers", Integer, nullable=False, default=0),
    Column("messages", Integer, nullable=False, default=0),
    Column("last_seq", Integer, nullable=False, default=0),
    Column("epoch", String(64), nullable=False, default=""),  # the live log's epoch when archived
    Column("participants", Body, nullable=False),  # [{"role", "id"}] in order of first appearance
    Column("conversation", Body, nullable=False),  # the Conversation record as it closed
    Column("archived_at", Float, nullable=False),
    Index(None, "site_key", "visitor_id", "created_at"),
)

archived_messages = Table(
    "archived_messages", metadata,
    Column("conversation_id", String(64), ForeignKey("archived_conversations.conversation_id", ondelete="CASCADE"),
           primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("sender_role", String(16), nullable=False),
    Column("sender_id", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("ts", Float, nullable=False),
    Column("client_msg_id", String(64), nullable=False, default=""),
    Column("data", Body, nullable=False),
)

# What the full-text index holds per message: chatd.search.index_terms(body).
message_terms = Table(
    "message_terms", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), ForeignKey("archived_conversations.conversation_id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("terms", Text, nullable=False),
)

SEARCH_INDEX = "message_index"  # the full-text index over message_terms.terms (below: per dialect)


def search_ddl(dialect: str) -> list[str]:
    """The full-text index over ``message_terms``, which Core cannot describe:
    an FTS5 table kept in step by triggers on SQLite, a GIN index on
    PostgreSQL. Made by migration 0002 and for a private in-memory database."""
    if dialect == "postgresql":
        return [f"CREATE INDEX {SEARCH_INDEX} ON message_terms USING gin (to_tsvector('simple', terms))"]
    return [
        f"CREATE VIRTUAL TABLE {SEARCH_INDEX} USING fts5(terms, content='message_terms', content_rowid='id', "
        "tokenize='unicode61')",
        f"CREATE TRIGGER message_terms_added AFTER INSERT ON message_terms BEGIN "
        f"INSERT INTO {SEARCH_INDEX}(rowid, terms) VALUES (new.id, new.terms); END",
        f"CREATE TRIGGER message_terms_removed AFTER DELETE ON message_terms BEGIN "
        f"INSERT INTO {SEARCH_INDEX}({SEARCH_INDEX}, rowid, terms) VALUES ('delete', old.id, old.terms); END",
    ]


def is_search_index(name: str) -> bool:
    """Whether a table or index is part of the full-text index (not in :data:`metadata`)."""
    return name == SEARCH_INDEX or name.startswith(SEARCH_INDEX + "_")
