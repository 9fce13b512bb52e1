"""The one error type of chatd: a refused operation with a stable code.

The store, the state machine, the services, the socket endpoints and the HTTP
API raise and pass on the same :class:`ChatdError`. Each code is defined once
in :data:`ERRORS`, with the sentence clients see when no better one is given,
the WebSocket close code it implies (0: the connection stays open) and the
HTTP status the API answers with. Pure: no imports beyond the standard library.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ERRORS", "ChatdError", "ErrorCode"]


class ErrorCode(NamedTuple):
    sentence: str
    close: int  # WebSocket close code, 0 when the connection stays open
    status: int  # HTTP status


ERRORS: dict[str, ErrorCode] = {
    # the frame or request itself
    "bad_frame": ErrorCode("The frame is not a valid JSON/msgpack map with a type.", 0, 400),
    "unknown_type": ErrorCode("This frame type is not known for this role.", 0, 400),
    "bad_request": ErrorCode("A field is missing or invalid.", 0, 400),
    "frame_too_large": ErrorCode("The frame is larger than the limit.", 0, 413),
    "payload_too_large": ErrorCode("The body is larger than the limit.", 0, 413),
    "rate_limited": ErrorCode("Too many frames; slow down.", 0, 429),
    "hello_required": ErrorCode("Send hello first.", 0, 400),
    "already_hello": ErrorCode("This connection already said hello.", 0, 400),
    # who is asking
    "unknown_site": ErrorCode("No such site.", 4001, 404),
    "origin_not_allowed": ErrorCode("This origin may not embed the site.", 4003, 403),
    "unauthorized": ErrorCode("The token is missing or invalid.", 4001, 401),
    "token_expired": ErrorCode("The token has expired.", 4001, 401),
    "token_revoked": ErrorCode("The token has been revoked.", 4001, 401),
    "too_many_attempts": ErrorCode("Too many failed logins; wait and try again.", 0, 429),
    "forbidden": ErrorCode("You do not take part in this conversation.", 0, 403),
    # what the state allows
    "not_found": ErrorCode("No such thing.", 0, 404),
    "conflict": ErrorCode("That conflicts with what exists.", 0, 409),
    "unknown_conversation": ErrorCode("No such conversation.", 0, 404),
    "unknown_agent": ErrorCode("No such agent.", 0, 404),
    "unknown_skill": ErrorCode("No such skill group.", 0, 404),
    "conversation_closed": ErrorCode("The conversation is closed.", 0, 409),
    "bad_state": ErrorCode("The conversation's state does not allow this.", 0, 409),
    "at_capacity": ErrorCode("The agent has no free capacity.", 0, 409),
    # the server
    "slow_consumer": ErrorCode("The connection fell too far behind; reconnect and resume.", 1013, 503),
    "unavailable": ErrorCode("The service is briefly unavailable; reconnect and resume.", 1011, 503),
    "internal_error": ErrorCode("Something went wrong; the frame had no effect.", 0, 500),
}


class ChatdError(Exception):
    """A refused operation. ``code`` is a key of :data:`ERRORS`; ``ref`` and
    ``conversation_id`` are echoed in the socket's error frame when set.
    Nothing was changed by the operation that raised it."""

    def __init__(self, code: str, message: str = "", *, ref: str | None = None,
                 conversation_id: str | None = None) -> None:
        if code not in ERRORS:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message or ERRORS[code].sentence)
        self.code = code
        self.ref = ref
        self.conversation_id = conversation_id

    @property
    def close_code(self) -> int:
        return ERRORS[self.code].close

    @property
    def status(self) -> int:
        return ERRORS[self.code].status
