"""The record store's ports: one small interface per kind of durable record.

The live engine (:mod:`chatd.store`) keeps what changes by the second
(conversations in progress, queues, presence); the record store keeps what
a support team must still have next year. One implementation
(:mod:`chatd.records.sql`) serves SQLite and PostgreSQL; one contract suite
(``tests/records``) runs against both. Records cross these interfaces in the
shape their domain module defines (e.g. :func:`chatd.bot.kb.entry_to_dict`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chatd.archive import ArchivedConversation, HistoryFilter, SearchHit
from chatd.model import LogEntry

__all__ = [
    "ArchiveStore",
    "BotSettingsStore",
    "KnowledgeBaseStore",
    "OverflowRuleStore",
    "QuickReplyStore",
    "RatingStore",
    "Records",
    "ScheduleStore",
    "SkillGroupStore",
    "TicketStore",
]

Record = dict[str, Any]


class SkillGroupStore(Protocol):
    """Skill groups, by ``name`` (router.policy.skill_group_from_record's shape)."""

    async def list(self) -> list[Record]:
        """All groups, ordered by name."""

    async def get(self, name: str) -> Record | None: ...

    async def put(self, record: Record) -> None: ...

    async def delete(self, name: str) -> bool: ...


class ScheduleStore(Protocol):
    """Agents' shift schedules, by ``owner`` (the agent id)."""

    async def list(self) -> list[Record]: ...

    async def get(self, owner: str) -> Record | None: ...

    async def put(self, record: Record) -> None: ...

    async def delete(self, owner: str) -> bool: ...


class QuickReplyStore(Protocol):
    """Quick replies, by ``id``; ``owner`` is ``team`` or an agent id."""

    async def list(self, owners: Iterable[str] | None = None) -> list[Record]:
        """Replies of the given owners (all when ``None``), ordered by id."""

    async def get(self, reply_id: str) -> Record | None: ...

    async def put(self, record: Record) -> None: ...

    async def delete(self, reply_id: str) -> bool: ...


class KnowledgeBaseStore(Protocol):
    """Knowledge-base entries, by ``id``. Every change also changes
    :meth:`version`, which each node's search index follows."""

    async def list(self) -> list[Record]: ...

    async def get(self, entry_id: str) -> Record | None: ...

    async def put(self, record: Record, version: str) -> None: ...

    async def replace(self, records: Mapping[str, Record], delete_ids: Iterable[str], version: str) -> None:
        """Put ``records``, delete ``delete_ids`` and set the version, in one transaction (an import)."""

    async def delete(self, entry_id: str, version: str) -> bool: ...

    async def version(self) -> str:
        """The version set by the latest change ("" before any)."""


class OverflowRuleStore(Protocol):
    """Peak-hour overflow rules, by ``skill_group``."""

    async def list(self) -> list[Record]: ...

    async def get(self, skill_group: str) -> Record | None: ...

    async def put(self, record: Record) -> None: ...

    async def delete(self, skill_group: str) -> bool: ...


class BotSettingsStore(Protocol):
    """The bot's settings per site (chatd.bot.config.BotSettings.to_record)."""

    async def get(self, site_key: str) -> Record | None: ...

    async def put(self, site_key: str, record: Record) -> None: ...


class TicketStore(Protocol):
    """Tickets (chatd.bot.tickets' shape), by ``ticket_id``."""

    async def put(self, ticket: Record) -> None:
        """Create or replace a ticket."""

    async def get(self, ticket_id: str) -> Record | None: ...

    async def query(self, *, status: str = "", category: str = "", site_key: str = "", conversation_id: str = "",
                    visitor_id: str = "", limit: int = 100) -> list[Record]:
        """Tickets matching every filter given (empty: any), newest first."""


class RatingStore(Protocol):
    """Satisfaction ratings: one per conversation, a later one replaces it."""

    async def put(self, rating: Record) -> None:
        """``{conversation_id, site_key, agent_id, skill, score, comment, at}``."""

    async def get(self, conversation_id: str) -> Record | None: ...


class ArchiveStore(Protocol):
    """Closed conversations with their whole transcripts."""

    async def save(self, record: ArchivedConversation, entries: list[LogEntry]) -> None:
        """Archive a conversation, idempotently: saving it again (a retry, or
        after it was reopened and closed again) leaves one copy, the newest."""

    async def get(self, conversation_id: str) -> ArchivedConversation | None: ...

    async def entries(self, conversation_id: str, *, after_seq: int = 0, before_seq: int = 0,
                      limit: int = 500) -> list[LogEntry]:
        """Transcript entries with ``after_seq < seq`` (and ``seq < before_seq``
        when not 0), oldest first: the first ``limit`` of them, or with
        ``before_seq`` the newest ``limit``."""

    async def for_visitor(self, site_key: str, visitor_id: str, limit: int = 20) -> list[ArchivedConversation]:
        """The visitor's archived conversations, newest first."""

    async def count(self) -> int: ...

    async def history(self, filters: HistoryFilter, *, limit: int = 50, offset: int = 0) -> list[ArchivedConversation]:
        """Archived conversations matching ``filters``, newest close first."""

    async def search(self, terms: Sequence[str], filters: HistoryFilter, *, limit: int = 50,
                     offset: int = 0) -> list[SearchHit]:
        """Messages holding every one of ``terms`` (chatd.search.query_terms) in
        conversations matching ``filters``, newest first (the latest archived,
        its latest message first)."""


@dataclass(slots=True)
class Records:
    """The record store: every typed store on one database."""

    skill_groups: SkillGroupStore
    schedules: ScheduleStore
    quick_replies: QuickReplyStore
    knowledge_base: KnowledgeBaseStore
    overflow_rules: OverflowRuleStore
    bot_settings: BotSettingsStore
    tickets: TicketStore
    ratings: RatingStore
    archive: ArchiveStore
    database: Any  # chatd.records.sql.Database: ping, close, schema checks
