"""A bench peer fed server frames directly (no socket): what it counts as
delivered, duplicated, out of order, stored twice or acknowledged."""

from __future__ import annotations

import time

import orjson

from bench.ledger import Ledger, delivery_summary, merge_tallies, message_body
from bench.peers import ChatdPeer, Hooks, Mix, SocketIOPeer


def _agent() -> tuple[ChatdPeer, Ledger]:
    ledger = Ledger()
    peer = ChatdPeer(ledger, Hooks(), Mix(typing_probability=0, read_probability=0), "agent", "ws://127.0.0.1:1")
    return peer, ledger


def _message(seq: int, counter: int, conversation: str = "c1", role: str = "visitor") -> str:
    return orjson.dumps({"type": "message", "conversation_id": conversation, "seq": seq,
                         "from": {"role": role, "id": "v1"}, "client_msg_id": f"m{counter}",
                         "body": message_body(1, time.monotonic_ns(), counter, "")}).decode()


def _summary(ledger: Ledger) -> dict:
    return delivery_summary(merge_tallies([ledger.export([1])["1"]]), seconds=1.0, offered_rate=1)


def test_chatd_peer_counts_duplicates_late_entries_and_gaps() -> None:
    peer, ledger = _agent()
    for seq, counter in ((1, 1), (2, 2), (2, 2), (5, 5), (4, 4)):
        peer._on_message(_message(seq, counter))
    summary = _summary(ledger)
    assert summary["delivered"] == 4
    assert summary["duplicated"] == 1
    assert summary["out_of_order"] == 1
    assert ledger.totals["seq_gaps_seen"] == 2
    assert peer.last_seq["c1"] == 5  # what the next hello resumes from


def test_chatd_peer_detects_a_message_stored_twice() -> None:
    peer, ledger = _agent()
    peer._on_message(_message(1, 1))
    peer._on_message(_message(2, 1))  # a new seq, but the sender's counter repeats
    summary = _summary(ledger)
    assert summary["delivered"] == 1
    assert summary["stored_twice"] == 1
    assert summary["duplicated"] == 1


def test_chatd_peer_ack_and_own_echo_settle_the_outbox() -> None:
    peer, ledger = _agent()
    peer.send_message("c1", 1, time.monotonic_ns())
    peer.send_message("c1", 1, time.monotonic_ns())
    assert peer.unacked() == 2
    first, second = list(peer.outbox)
    peer._on_message(orjson.dumps({"type": "ack", "conversation_id": "c1", "client_msg_id": first,
                                   "seq": 1, "duplicate": False}).decode())
    echo = {"type": "message", "conversation_id": "c1", "seq": 2, "from": {"role": "agent", "id": "a1"},
            "client_msg_id": second, "body": peer.outbox[second][1]}
    peer._on_message(orjson.dumps(echo).decode())
    assert peer.unacked() == 0
    summary = _summary(ledger)
    assert summary["sent"] == 2
    assert summary["acked"] == 2
    assert summary["lost"] == 2  # acknowledged, but no visitor received them here


def test_socketio_peer_counts_duplicates_by_counter() -> None:
    ledger = Ledger()
    peer = SocketIOPeer(ledger, Hooks(), Mix(0, 0), "agent", "ws://127.0.0.1:1", ["r1"])
    for counter in (1, 2, 2, 4, 3):
        data = {"room": "r1", "from": "visitor", "body": message_body(1, time.monotonic_ns(), counter, "")}
        peer._on_message("42" + orjson.dumps(["msg", data]).decode())
    summary = _summary(ledger)
    assert summary["delivered"] == 4
    assert summary["duplicated"] == 1
    assert summary["out_of_order"] == 1


def test_chatd_peer_counts_a_refused_send_and_keeps_it_for_a_resend() -> None:
    peer, ledger = _agent()
    peer.send_message("c1", 1, time.monotonic_ns())
    (client_msg_id,) = peer.outbox
    peer._on_message(orjson.dumps({"type": "error", "code": "internal_error", "message": "x",
                                   "ref": client_msg_id, "conversation_id": "c1"}).decode())
    assert peer.unacked() == 1
    assert ledger.totals["error_internal_error"] == 1
    assert _summary(ledger)["refused"] == 1


def test_socketio_peer_answers_an_open_packet_that_came_with_the_handshake() -> None:
    peer = SocketIOPeer(Ledger(), Hooks(), Mix(0, 0), "visitor", "ws://127.0.0.1:1", ["r1"])
    peer._on_message('0{"sid":"s1","pingInterval":25000,"pingTimeout":20000}')  # before ``conn`` is set
    assert peer._open_early
