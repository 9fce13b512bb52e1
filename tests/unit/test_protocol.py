"""Pure tests of the wire codec and frame validation (no sockets, no loop)."""

from __future__ import annotations

import msgpack
import pytest

from chatd import protocol
from chatd.errors import ChatdError
from chatd.protocol import choose_format, decode, encode, entry_frame, parse, resume_points


def test_exported_names_are_pinned() -> None:
    assert set(protocol.__all__) == {
        "PROTOCOL_VERSION", "SUBPROTOCOL_JSON", "SUBPROTOCOL_MSGPACK", "CLOSE_AUTH", "CLOSE_ORIGIN",
        "CLOSE_IDLE", "CLOSE_DRAINING", "CLOSE_SLOW", "CLOSE_UNAVAILABLE", "choose_format", "decode", "encode",
        "parse", "error_frame", "entry_frame", "resume_points"}


@pytest.mark.parametrize(("offered", "expected"), [
    ([], ("json", None)),
    (["chatd.v1.json"], ("json", "chatd.v1.json")),
    (["chatd.v1.msgpack", "chatd.v1.json"], ("msgpack", "chatd.v1.msgpack")),
    (["other", "chatd.v1.json"], ("json", "chatd.v1.json")),
])
def test_choose_format(offered: list[str], expected: tuple[str, str | None]) -> None:
    assert choose_format(offered) == expected


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_round_trip(fmt: str) -> None:
    frame = {"type": "send", "conversation_id": "c1", "client_msg_id": "m", "body": "你好 🙂"}
    assert decode(encode(frame, fmt), fmt) == frame


@pytest.mark.parametrize(("payload", "fmt"), [
    ("{", "json"), ("[]", "json"), ('"x"', "json"), ('{"type": 1}', "json"), ("{}", "json"),
    (b"\xc1", "msgpack"), (msgpack.packb([1, 2]), "msgpack"), (msgpack.packb({"x": 1}), "msgpack"),
    (b"\x81\xa4type", "msgpack"),
])
def test_decode_rejects_bad_frames(payload: str | bytes, fmt: str) -> None:
    with pytest.raises(ChatdError) as caught:
        decode(payload, fmt)
    assert caught.value.code == "bad_frame"


@pytest.mark.parametrize(("role", "frame", "code"), [
    ("visitor", {"type": "transfer", "conversation_id": "c", "to_skill": "x"}, "unknown_type"),
    ("visitor", {"type": "status", "status": "online"}, "unknown_type"),
    ("agent", {"type": "start"}, "unknown_type"),
    ("agent", {"type": "nope"}, "unknown_type"),
    ("visitor", {"type": "send", "conversation_id": "c", "client_msg_id": "", "body": "x"}, "bad_request"),
    ("visitor", {"type": "send", "conversation_id": "c", "client_msg_id": "m", "body": ""}, "bad_request"),
    ("visitor", {"type": "send", "conversation_id": "c" * 65, "client_msg_id": "m", "body": "x"}, "bad_request"),
    ("visitor", {"type": "read", "conversation_id": "c", "seq": True}, "bad_request"),
    ("visitor", {"type": "typing", "conversation_id": "c", "active": "yes"}, "bad_request"),
    ("agent", {"type": "transfer", "conversation_id": "c"}, "bad_request"),
    ("agent", {"type": "status", "status": "busy"}, "bad_request"),
    ("visitor", {"type": "hello", "resume": {"c": "x"}}, "bad_request"),
    ("visitor", {"type": "ping", "ref": "r" * 65}, "bad_request"),
])
def test_parse_rejects_with_stable_codes(role: str, frame: dict[str, object], code: str) -> None:
    with pytest.raises(ChatdError) as caught:
        parse(frame, role)
    assert caught.value.code == code


def test_parse_accepts_valid_frames_and_keeps_ref() -> None:
    frame = {"type": "send", "conversation_id": "c", "client_msg_id": "m", "body": "hi", "ref": "r1"}
    assert parse(frame, "visitor") is frame
    with pytest.raises(ChatdError) as caught:
        parse({"type": "read", "conversation_id": "c", "ref": "r2"}, "agent")
    assert caught.value.ref == "r2"


def test_entry_frames() -> None:
    message = entry_frame({"conversation_id": "c", "seq": 3, "kind": "message", "sender_role": "agent",
                           "sender_id": "ana", "body": "<b>hi</b>", "ts": 1.5, "client_msg_id": "m", "data": {}},
                          "e1")
    assert message == {"type": "message", "conversation_id": "c", "seq": 3, "epoch": "e1",
                       "from": {"role": "agent", "id": "ana"}, "body": "<b>hi</b>", "ts": 1.5, "client_msg_id": "m"}
    event = entry_frame({"conversation_id": "c", "seq": 4, "kind": "event", "sender_role": "system",
                         "sender_id": "", "body": "assigned", "ts": 2.0, "data": [], "epoch": "e2"})
    assert event["event"] == "assigned" and event["data"] == {} and event["epoch"] == "e2"


def test_resume_points_take_a_seq_or_a_seq_with_its_epoch() -> None:
    hello = parse({"type": "hello", "resume": {"a": 4, "b": {"seq": 9, "epoch": "9f2c1a7b"}, "c": {"seq": 0}}},
                  "visitor")
    assert resume_points(hello) == {"a": (4, ""), "b": (9, "9f2c1a7b"), "c": (0, "")}
    for bad in ({"a": -1}, {"a": {"epoch": "x"}}, {"a": {"seq": 1, "epoch": 5}}, {"a": "1"}):
        with pytest.raises(ChatdError) as caught:
            parse({"type": "hello", "resume": bad}, "visitor")
        assert caught.value.code == "bad_request"
