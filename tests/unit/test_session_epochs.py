"""A session never lets its client compare seqs across log epochs, and never
sends an entry twice within one.

Driven with a store of a few entries whose epoch the test changes (as a
Redis restart does) and a list for the socket: resuming in another epoch,
a live entry of a new epoch, and a conversation that comes back to the
session after its epoch changed are all answered with ``resync`` and the
whole log. Within an epoch, what the client holds (its resume points, or
what it was sent before a chat left it) is never sent again, whichever
replay attaches the conversation first.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from chatd.hub import Hub
from chatd.model import LogEntry, ReadResult
from chatd.protocol import entry_frame
from chatd.session import Outgoing, Replay, Session


class Log:
    """One conversation's log in an epoch the test sets."""

    def __init__(self, count: int, epoch: str) -> None:
        self.entries = [LogEntry("c1", n, "message", "visitor", "v1", f"m{n}", float(n)) for n in range(1, count + 1)]
        self.epoch = epoch

    async def read(self, conversation_id: str, after_seq: int, limit: int = 500) -> ReadResult:
        found = [e for e in self.entries if e.seq > after_seq][:limit]
        return ReadResult(found, 1 if self.entries else 0, len(self.entries), self.epoch)


class NoChannels:
    """Stands in for the hub's subscriptions (the session follows no channel here)."""

    def leave(self, session: Session, channel: str) -> None:
        return None


async def session_on(log: Log) -> tuple[Session, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(data: str | bytes) -> None:
        sent.append(orjson.loads(data))

    async def close(code: int) -> None:
        return None

    session = Session(1, "agent", "json", send, log, queue_limit=100, rate=10, burst=10,  # type: ignore[arg-type]
                      now=0.0, close=close)
    session.role, session.principal_id, session.agent_role = "agent", "ana", "agent"
    session.start()
    return session, sent


async def settle(session: Session) -> None:
    for _ in range(100):
        if session.writer is None:
            return
        await asyncio.sleep(0)
    raise AssertionError("the writer did not finish")


def kinds(sent: list[dict[str, Any]]) -> list[str]:
    return [f["type"] if f["type"] != "message" else f"m{f['seq']}" for f in sent]


async def test_resuming_with_another_epoch_resyncs_with_the_whole_log() -> None:
    log = Log(3, "e2")
    session, sent = await session_on(log)
    session.push(Replay("c1", 3, "e1"))
    await settle(session)
    assert kinds(sent) == ["resync", "m1", "m2", "m3", "synced"] and sent[0]["epoch"] == "e2"


async def test_a_client_ahead_of_the_log_is_resynced_even_in_the_same_epoch() -> None:
    log = Log(2, "e1")  # history lost under the same epoch: the client saw seq 5
    session, sent = await session_on(log)
    session.push(Replay("c1", 5, "e1"))
    await settle(session)
    assert kinds(sent) == ["resync", "m1", "m2", "synced"]


async def test_a_live_entry_of_a_new_epoch_resyncs_instead_of_being_skipped() -> None:
    log = Log(3, "e1")
    session, sent = await session_on(log)
    session.push(Replay("c1", 0, ""))
    await settle(session)
    # Redis came back without seq 3 and handed it out again, in a new epoch.
    log.entries[2] = LogEntry("c1", 3, "message", "visitor", "v1", "new m3", 9.0)
    log.epoch = "e2"
    frame = entry_frame(log.entries[2].to_dict(), "e2")
    session.push(Outgoing(frame, "c1", 3, epoch="e2"))
    await settle(session)
    assert kinds(sent) == ["m1", "m2", "m3", "synced", "resync", "m1", "m2", "m3", "synced"]
    assert sent[-2]["body"] == "new m3" and sent[-2]["epoch"] == "e2"


async def test_a_conversation_that_comes_back_after_its_epoch_changed_is_resynced() -> None:
    log = Log(2, "e1")
    session, sent = await session_on(log)
    session.push(Replay("c1", 0, ""))
    await settle(session)
    Hub.detach(NoChannels(), session, "c1")  # type: ignore[arg-type]  # the chat left this agent ...
    log.epoch = "e2"  # ... Redis restarted meanwhile ...
    session.push(Replay("c1", 0, ""))  # ... and the chat is theirs again
    await settle(session)
    assert kinds(sent) == ["m1", "m2", "synced", "resync", "m1", "m2", "synced"]


async def test_no_replay_resends_what_the_client_said_it_holds_whichever_comes_first() -> None:
    log = Log(5, "e1")
    session, sent = await session_on(log)
    session.holds({"c1": (3, "e1")})  # hello: resume from seq 3
    session.push(Replay("c1", 0, ""))  # a catch-up after a broker outage gets there first ...
    session.push(Replay("c1", 3, "e1"))  # ... then the hello's own replay
    await settle(session)
    assert kinds(sent) == ["m4", "m5", "synced", "synced"]


async def test_what_the_client_held_in_an_older_epoch_is_resynced_not_trusted() -> None:
    log = Log(2, "e2")
    session, sent = await session_on(log)
    session.holds({"c1": (2, "e1")})
    session.push(Replay("c1", 0, ""))
    await settle(session)
    assert kinds(sent) == ["resync", "m1", "m2", "synced"]


async def test_a_conversation_that_comes_back_goes_on_from_what_the_client_was_sent() -> None:
    log = Log(2, "e1")
    session, sent = await session_on(log)
    session.push(Replay("c1", 0, ""))
    await settle(session)
    Hub.detach(NoChannels(), session, "c1")  # type: ignore[arg-type]  # handed to another agent ...
    log.entries.append(LogEntry("c1", 3, "message", "visitor", "v1", "m3", 3.0))
    session.push(Replay("c1", 0, ""))  # ... and back
    await settle(session)
    assert kinds(sent) == ["m1", "m2", "synced", "m3", "synced"]
