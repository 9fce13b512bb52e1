"""Wire protocol v1 (see docs/protocol.md): codecs, frame validation, errors.

Pure: no I/O. The endpoint feeds raw WebSocket payloads to :func:`decode`
and :func:`parse`, and encodes server frames with :func:`encode`.
"""

from __future__ import annotations

from typing import Any

import msgpack
import orjson

from chatd.errors import ERRORS, ChatdError

__all__ = [
    "CLOSE_AUTH",
    "CLOSE_DRAINING",
    "CLOSE_IDLE",
    "CLOSE_ORIGIN",
    "CLOSE_SLOW",
    "CLOSE_UNAVAILABLE",
    "PROTOCOL_VERSION",
    "SUBPROTOCOL_JSON",
    "SUBPROTOCOL_MSGPACK",
    "choose_format",
    "decode",
    "encode",
    "entry_frame",
    "error_frame",
    "parse",
    "resume_points",
]

PROTOCOL_VERSION = 1
SUBPROTOCOL_JSON = "chatd.v1.json"
SUBPROTOCOL_MSGPACK = "chatd.v1.msgpack"

CLOSE_UNAVAILABLE = 1011  # the server cannot go on with this connection now: reconnect and resume
CLOSE_DRAINING = 1012
CLOSE_SLOW = 1013
CLOSE_AUTH = 4001
CLOSE_ORIGIN = 4003
CLOSE_IDLE = 4008

MAX_ID = 64
MAX_BODY = 4000


def choose_format(offered: list[str]) -> tuple[str, str | None]:
    """Pick the encoding from the client's offered subprotocols.

    Returns ``("json"|"msgpack", subprotocol to accept or None)``."""
    for name in offered:
        if name == SUBPROTOCOL_MSGPACK:
            return "msgpack", name
        if name == SUBPROTOCOL_JSON:
            return "json", name
    return "json", None


def decode(payload: str | bytes, fmt: str) -> dict[str, Any]:
    """Decode one frame. Raises ``ChatdError('bad_frame')``."""
    try:
        if fmt == "msgpack" and isinstance(payload, bytes):
            frame = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        else:
            frame = orjson.loads(payload)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError):
        raise ChatdError("bad_frame") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ChatdError("bad_frame")
    return frame


def encode(frame: dict[str, Any], fmt: str) -> str | bytes:
    """Encode one server frame: ``str`` for JSON text frames, ``bytes`` for msgpack."""
    if fmt == "msgpack":
        return msgpack.packb(frame, use_bin_type=True)
    return orjson.dumps(frame).decode()


# Field specs per client frame type: name -> (kind, required)
_STR, _INT, _BOOL, _MAP = "str", "int", "bool", "map"
_FRAMES: dict[str, dict[str, tuple[str, bool]]] = {
    "hello": {"site": (_STR, False), "token": (_STR, False), "identity": (_STR, False),
              "name": (_STR, False), "resume": (_MAP, False), "status": (_STR, False)},
    "ping": {"ts": ("any", False)},
    "start": {"skill": (_STR, False), "attributes": (_MAP, False)},
    "send": {"conversation_id": (_STR, True), "client_msg_id": (_STR, True), "body": (_STR, True),
             "internal": (_BOOL, False)},
    "suggest": {"text": (_STR, True)},
    "rate": {"conversation_id": (_STR, True), "score": (_INT, True), "comment": (_STR, False)},
    "accept": {"conversation_id": (_STR, True)},
    "watch": {"conversation_id": (_STR, True)},
    "unwatch": {"conversation_id": (_STR, True)},
    "decline": {"conversation_id": (_STR, True)},
    "typing": {"conversation_id": (_STR, True), "active": (_BOOL, True)},
    "read": {"conversation_id": (_STR, True), "seq": (_INT, True)},
    "close": {"conversation_id": (_STR, True), "disposition": (_STR, False)},
    "transfer": {"conversation_id": (_STR, True), "to_agent": (_STR, False),
                 "to_skill": (_STR, False), "note": (_STR, False)},
    "status": {"status": (_STR, True)},
}
_ROLE_FRAMES = {
    "visitor": frozenset({"hello", "ping", "start", "send", "typing", "read", "close", "suggest", "rate"}),
    "agent": frozenset({"hello", "ping", "send", "typing", "read", "close", "transfer", "status", "accept",
                        "decline", "watch", "unwatch"}),
}


def _check(kind: str, value: Any) -> bool:
    if kind == _STR:
        return isinstance(value, str) and len(value) <= MAX_BODY
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _MAP:
        return isinstance(value, dict)
    return True


def parse(frame: dict[str, Any], role: str) -> dict[str, Any]:
    """Validate a decoded client frame for ``role`` (``visitor`` or ``agent``).

    Returns the frame unchanged when valid; raises :class:`ChatdError`
    (``unknown_type`` or ``bad_request``) naming the offending field."""
    kind = frame["type"]
    ref = frame.get("ref")
    if ref is not None and not (isinstance(ref, str) and len(ref) <= MAX_ID):
        raise ChatdError("bad_request", "ref must be a string of at most 64 characters")
    if kind not in _ROLE_FRAMES.get(role, ()):
        raise ChatdError("unknown_type", f"unknown frame type {kind!r}", ref=ref)
    for name, (field_kind, required) in _FRAMES[kind].items():
        if name not in frame or frame[name] is None:
            if required:
                raise ChatdError("bad_request", f"{name} is required", ref=ref)
            continue
        if not _check(field_kind, frame[name]):
            raise ChatdError("bad_request", f"{name} must be a {field_kind}", ref=ref)
    if kind == "send":
        if not 0 < len(frame["client_msg_id"]) <= MAX_ID:
            raise ChatdError("bad_request", "client_msg_id must have 1 to 64 characters", ref=ref)
        if not frame["body"].strip():
            raise ChatdError("bad_request", "body must not be empty", ref=ref)
    if kind == "send" and frame.get("internal") and role != "agent":
        raise ChatdError("bad_request", "only agents write internal notes", ref=ref)
    if kind == "rate" and not 1 <= frame["score"] <= 5:
        raise ChatdError("bad_request", "score must be 1 to 5", ref=ref)
    if kind == "suggest" and len(frame["text"]) > 200:
        raise ChatdError("bad_request", "text is limited to 200 characters", ref=ref)
    if "conversation_id" in _FRAMES[kind] and len(frame["conversation_id"]) > MAX_ID:
        raise ChatdError("bad_request", "conversation_id is too long", ref=ref)
    if kind == "transfer" and not (frame.get("to_agent") or frame.get("to_skill")):
        raise ChatdError("bad_request", "transfer needs to_agent or to_skill", ref=ref)
    if kind == "status" and frame["status"] not in ("online", "away", "offline"):
        raise ChatdError("bad_request", "status must be online, away or offline", ref=ref)
    if kind == "hello" and "resume" in frame:
        resume = frame["resume"]
        if len(resume) > 100 or not all(isinstance(k, str) and len(k) <= MAX_ID and _resume_point(v) is not None
                                        for k, v in resume.items()):
            raise ChatdError("bad_request", 'resume must map conversation ids to a seq or {"seq", "epoch"}',
                             ref=ref)
    return frame


def _resume_point(value: Any) -> tuple[int, str] | None:
    if _check(_INT, value):
        return value, ""
    if isinstance(value, dict) and _check(_INT, value.get("seq")) and isinstance(value.get("epoch", ""), str) \
            and len(value.get("epoch", "")) <= MAX_ID:
        return value["seq"], value.get("epoch", "")
    return None


def resume_points(hello: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """``hello.resume`` of a parsed hello as ``{conversation_id: (seq, epoch)}``:
    the last seq the client saw and the log epoch it saw it in (``""`` when
    the client did not say: its seq is then trusted)."""
    points: dict[str, tuple[int, str]] = {}
    for conversation_id, value in (hello.get("resume") or {}).items():
        point = _resume_point(value)
        if point is not None:
            points[conversation_id] = point
    return points


def error_frame(code: str, message: str = "", ref: str | None = None,
                conversation_id: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message or ERRORS[code].sentence}
    if ref is not None:
        frame["ref"] = ref
    if conversation_id is not None:
        frame["conversation_id"] = conversation_id
    return frame


def entry_frame(entry: dict[str, Any], epoch: str | None = None) -> dict[str, Any]:
    """The server frame for a log entry (a ``LogEntry.to_dict()`` shape):
    ``message``, ``event`` or ``note`` (agents' internal notes), with the
    log's ``epoch`` (given, or the entry's own ``epoch`` key)."""
    sender = {"role": entry["sender_role"], "id": entry["sender_id"]}
    if epoch is None:
        epoch = entry.get("epoch", "")
    if entry["kind"] == "note":
        return {"type": "note", "conversation_id": entry["conversation_id"], "seq": entry["seq"], "epoch": epoch,
                "from": sender, "body": entry["body"], "ts": entry["ts"],
                "client_msg_id": entry.get("client_msg_id", "")}
    if entry["kind"] == "event":
        return {"type": "event", "conversation_id": entry["conversation_id"], "seq": entry["seq"], "epoch": epoch,
                "event": entry["body"], "from": sender, "ts": entry["ts"], "data": entry.get("data") or {}}
    frame = {"type": "message", "conversation_id": entry["conversation_id"], "seq": entry["seq"], "epoch": epoch,
             "from": sender, "body": entry["body"], "ts": entry["ts"],
             "client_msg_id": entry.get("client_msg_id", "")}
    if entry.get("data"):
        frame["data"] = entry["data"]
    return frame
