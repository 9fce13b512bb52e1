"""The archive pass: closed conversations go from the live engine into the
record store's archive (:mod:`chatd.archive` says what a record holds).

Every few seconds the node that holds the routing lease looks at the
closed conversations and archives each whose latest close the archive does
not have yet (the live engine keeps that as a mark: conversation ->
``closed_at`` archived). The save comes first and the mark after it, and
saving is idempotent, so a node that dies between a close and its archive,
or between the save and the mark, leaves it to the next pass, never to no
pass; a conversation reopened and closed again is archived again, replacing
its older copy.

``hold`` seconds (``CHATD_LIVE_RETENTION``) after an archived close, the
live engine forgets the conversation (unless it was reopened since), so its
memory follows live load, not history. :class:`ArchiveBackedStore` then
answers reads of it from the archive: history, resume and the visitor's
list of conversations go on working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from chatd.archive import summarize
from chatd.model import Conversation, LogEntry, ReadResult
from chatd.records.base import ArchiveStore
from chatd.store.base import Store
from chatd.tasks import cancel_and_wait

__all__ = ["ARCHIVE_SECONDS", "ArchiveBackedStore", "Archiver"]

log = logging.getLogger("chatd.archive")

ARCHIVE_SECONDS = 5.0  # between passes
BATCH = 200  # conversations archived per pass at most
READ_LIMIT = 1000  # log entries per read
CONCURRENCY = 8  # conversations read and saved at once


class Archiver:
    def __init__(self, store: Store, archive: ArchiveStore, clock: Callable[[], float], *, hold: float = 86_400.0,
                 leading: Callable[[], bool] = lambda: True, every: float = ARCHIVE_SECONDS) -> None:
        self.store = store
        self.archive = archive
        self.clock = clock
        self.hold = hold
        self.leading = leading
        self.every = every
        self.archived = 0  # conversations this node archived
        self.forgotten = 0  # and let the live engine forget
        self._task: asyncio.Task[None] | None = None

    async def due(self) -> list[Conversation]:
        """Closed conversations whose latest close is not archived, oldest close first."""
        marks = await self.store.archived_marks()
        closed = [c for c in await self.store.list_conversations(("closed",))
                  if marks.get(c.conversation_id) != c.closed_at]
        return sorted(closed, key=lambda c: c.closed_at)

    async def transcript(self, conversation_id: str) -> tuple[list[LogEntry], str]:
        """The whole log the live engine still keeps, and its epoch."""
        entries: list[LogEntry] = []
        after, epoch = 0, ""
        while True:
            page = await self.store.read(conversation_id, after, READ_LIMIT)
            epoch = page.epoch
            entries += page.entries
            if not page.entries or page.entries[-1].seq >= page.last_seq:
                return entries, epoch
            after = page.entries[-1].seq

    async def run_pass(self, limit: int = BATCH) -> int:
        """Archive what is due (at most ``limit``), then let the live engine
        forget what was archived ``hold`` seconds ago or more; how many were archived."""
        done = await self._archive(limit)
        now = self.clock()
        held = sorted((closed_at, cid) for cid, closed_at in (await self.store.archived_marks()).items()
                      if closed_at + self.hold <= now)
        if held:
            self.forgotten += len(await self.store.forget_archived([(cid, at) for at, cid in held[:limit]]))
        return done

    async def _archive(self, limit: int) -> int:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(conversation: Conversation) -> tuple[str, float] | None:
            async with gate:
                entries, epoch = await self.transcript(conversation.conversation_id)
                current = await self.store.get_conversation(conversation.conversation_id)
                if current is None or current.state != "closed" or current.closed_at != conversation.closed_at:
                    return None  # reopened (or closed again) meanwhile: a later pass has it
                await self.archive.save(summarize(current, entries, epoch, archived_at=self.clock()), entries)
                return current.conversation_id, current.closed_at

        saved = [mark for mark in await asyncio.gather(*(one(c) for c in (await self.due())[:limit])) if mark]
        await self.store.mark_archived(saved)  # after every save: a crash before it means saving again, not never
        self.archived += len(saved)
        return len(saved)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            if not self.leading():
                continue
            try:
                while await self.run_pass() == BATCH:
                    pass
            except Exception:  # a store or database outage: the next pass tries again
                log.warning("archive pass failed; retrying in %.0f s", self.every, exc_info=True)


class ArchiveBackedStore:
    """A live store whose reads of a conversation it has forgotten come from
    the archive: the record as it closed, its transcript, its epoch. Every
    other call goes to the live store unchanged."""

    def __init__(self, store: Store, archive: ArchiveStore) -> None:
        self._store = store
        self._archive = archive

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if callable(found):  # a method: looked up here once, not on every call (append is per message)
            setattr(self, name, found)
        return found

    async def reopen_conversation(self, conversation_id: str, change: Any, now: float) -> Any:
        """Reopening a forgotten conversation first brings it back live as archived."""
        if await self._store.get_conversation(conversation_id) is None:
            archived = await self._archive.get(conversation_id)
            if archived is not None:
                entries = await self._archive.entries(conversation_id, limit=archived.last_seq + 1)
                await self._store.restore_conversation(archived.conversation, entries, archived.epoch)
        return await self._store.reopen_conversation(conversation_id, change, now)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        live = await self._store.get_conversation(conversation_id)
        if live is not None:
            return live
        archived = await self._archive.get(conversation_id)
        return archived.conversation if archived is not None else None

    async def _archived_read(self, conversation_id: str, *, after_seq: int = 0, before_seq: int | None = None,
                             limit: int) -> ReadResult | None:
        archived = await self._archive.get(conversation_id)
        if archived is None:
            return None
        if before_seq is None:
            entries = await self._archive.entries(conversation_id, after_seq=after_seq, limit=limit)
        else:
            entries = await self._archive.entries(conversation_id, before_seq=before_seq or archived.last_seq + 1,
                                                  limit=limit)
        first = await self._archive.entries(conversation_id, limit=1)
        return ReadResult(entries, first[0].seq if first else 0, archived.last_seq, archived.epoch)

    async def read(self, conversation_id: str, after_seq: int, limit: int = 500) -> ReadResult:
        live = await self._store.read(conversation_id, after_seq, limit)
        if live.last_seq or await self._store.get_conversation(conversation_id) is not None:
            return live
        return await self._archived_read(conversation_id, after_seq=after_seq, limit=limit) or live

    async def read_before(self, conversation_id: str, before_seq: int, limit: int = 50) -> ReadResult:
        live = await self._store.read_before(conversation_id, before_seq, limit)
        if live.last_seq or await self._store.get_conversation(conversation_id) is not None:
            return live
        return await self._archived_read(conversation_id, before_seq=before_seq, limit=limit) or live

    async def log_epochs(self, conversation_ids: Sequence[str]) -> dict[str, str]:
        epochs = await self._store.log_epochs(conversation_ids)
        for conversation_id in conversation_ids:
            if conversation_id not in epochs:
                archived = await self._archive.get(conversation_id)
                if archived is not None:
                    epochs[conversation_id] = archived.epoch
        return epochs

    async def visitor_conversations(self, site_key: str, visitor_id: str, limit: int = 20) -> list[Conversation]:
        live = await self._store.visitor_conversations(site_key, visitor_id, limit)
        if len(live) >= limit:
            return live
        seen = {c.conversation_id for c in live}
        archived = [a.conversation for a in await self._archive.for_visitor(site_key, visitor_id, limit)
                    if a.conversation.conversation_id not in seen]
        return sorted([*live, *archived], key=lambda c: c.created_at, reverse=True)[:limit]
