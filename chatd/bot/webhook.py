"""The external-bot webhook: chatd POSTs conversation events to a site's bot, signed.

Contract (see docs/bot.md):

- chatd sends ``POST <webhook_url>`` with a JSON event and the headers
  ``X-Chatd-Timestamp: <unix seconds>`` and
  ``X-Chatd-Signature: sha256=<hex HMAC-SHA256(webhook_secret, "<timestamp>.<body>")>``.
  The bot must check the signature over the exact body bytes and refuse timestamps more
  than :data:`TOLERANCE_SECONDS` away from its clock.
- The bot answers within the site's ``webhook_timeout_seconds``:

  * ``200`` with ``{"replies": [{"text", "buttons"}], "handoff": null | true | {...}}``:
    chatd posts the replies (and hands the chat to a human when asked);
  * ``202``: the bot will answer later through ``POST /api/v1/bot/reply``, signed the
    same way with the same secret, within ``webhook_reply_seconds``;
  * anything else (an error status, an empty answer, invalid JSON, a timeout, a refused
    connection) is a failure: the built-in bot or a human takes over, never silence.

:func:`sign`, :func:`verify` and :func:`parse_reply` are pure; :class:`WebhookClient`
is the only I/O, with the transport injectable as in httpx.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from chatd.bot.config import BotSettings

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "BotMessage",
    "Delivery",
    "ExternalReply",
    "SignatureError",
    "WebhookClient",
    "parse_reply",
    "sign",
    "verify",
]

log = logging.getLogger("chatd.bot.webhook")

TIMESTAMP_HEADER = "X-Chatd-Timestamp"
SIGNATURE_HEADER = "X-Chatd-Signature"
EVENT_HEADER = "X-Chatd-Event"
# A signed request older or newer than this is refused (bounds replays and clock skew).
TOLERANCE_SECONDS = 300
_MAX_REPLIES = 5
_MAX_BUTTONS = 10
_MAX_TEXT = 4000
_MAX_RESPONSE_BYTES = 64 * 1024
_SKILL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-f]{64})$")


class SignatureError(Exception):
    """A missing, stale or wrong signature; ``str()`` says which."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Chatd-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float,
           tolerance: float = TOLERANCE_SECONDS) -> int:
    """Check a signed request; returns its timestamp or raises :class:`SignatureError`."""
    if not secret:
        raise SignatureError("the site has no webhook secret")
    if not timestamp or not signature:
        raise SignatureError(f"send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds")
    moment = int(timestamp)
    if abs(now - moment) > tolerance:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {tolerance:g} s away from the server's clock")
    if _SIGNATURE.match(signature) is None or not hmac.compare_digest(sign(secret, moment, body), signature):
        raise SignatureError("the signature does not match the body")
    return moment


@dataclass(frozen=True, slots=True)
class BotMessage:
    """One message of an external bot: text and quick-reply buttons (``{kind, label, entry_id}``)."""

    text: str
    buttons: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ExternalReply:
    """What an external bot wants: messages to post, and a handoff when not ``None``
    (``{"skill_group", "intent", "note"}``, each optional)."""

    messages: tuple[BotMessage, ...] = ()
    handoff: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        return not self.messages and self.handoff is None


def _button(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    kind = raw.get("kind", "question")
    label = raw.get("label")
    entry_id = raw.get("entry_id")
    if kind not in ("question", "handoff"):
        raise ValueError(f"{where}.kind must be question or handoff")
    if not isinstance(label, str) or not 0 < len(label.strip()) <= 100:
        raise ValueError(f"{where}.label must be a string of 1 to 100 characters")
    if entry_id is not None and (not isinstance(entry_id, str) or len(entry_id) > 64):
        raise ValueError(f"{where}.entry_id must be a string of at most 64 characters")
    return {"kind": kind, "label": label.strip(), "entry_id": entry_id}


def _message(raw: Any, where: str) -> BotMessage:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    text = raw.get("text")
    if not isinstance(text, str) or not 0 < len(text.strip()) <= _MAX_TEXT:
        raise ValueError(f"{where}.text must be a string of 1 to {_MAX_TEXT} characters")
    buttons = raw.get("buttons") or []
    if not isinstance(buttons, list) or len(buttons) > _MAX_BUTTONS:
        raise ValueError(f"{where}.buttons must be a list of at most {_MAX_BUTTONS} buttons")
    return BotMessage(text.strip(), tuple(_button(b, f"{where}.buttons[{i}]") for i, b in enumerate(buttons)))


def _handoff(raw: Any) -> dict[str, Any] | None:
    if raw is None or raw is False:
        return None
    if raw is True:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("handoff must be null, true or an object")
    handoff: dict[str, Any] = {}
    skill = raw.get("skill_group")
    if skill is not None:
        if not isinstance(skill, str) or not _SKILL.match(skill):
            raise ValueError("handoff.skill_group must be a skill group name")
        handoff["skill_group"] = skill
    for name, limit in (("intent", 64), ("note", 500)):
        value = raw.get(name)
        if value is not None:
            if not isinstance(value, str) or len(value) > limit:
                raise ValueError(f"handoff.{name} must be a string of at most {limit} characters")
            handoff[name] = value
    return handoff


def parse_reply(payload: Any) -> ExternalReply:
    """An external bot's answer: ``{"replies": [...], "handoff": ...}``, or one message as
    ``{"text", "buttons"}``. Raises ``ValueError`` naming the bad field."""
    if not isinstance(payload, dict):
        raise ValueError("the reply must be a JSON object")
    if "replies" in payload:
        replies = payload["replies"]
        if not isinstance(replies, list) or len(replies) > _MAX_REPLIES:
            raise ValueError(f"replies must be a list of at most {_MAX_REPLIES} messages")
        messages = tuple(_message(m, f"replies[{i}]") for i, m in enumerate(replies))
    elif "text" in payload:
        messages = (_message(payload, "reply"),)
    else:
        messages = ()
    return ExternalReply(messages, _handoff(payload.get("handoff")))


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a webhook call went: ``outcome`` is ``reply`` (use :attr:`reply`),
    ``deferred`` (202: the bot replies through the API) or ``failed`` (:attr:`reason`)."""

    outcome: str
    reply: ExternalReply = field(default_factory=ExternalReply)
    reason: str = ""


class WebhookClient:
    """Delivers events to external bots over one pooled HTTP client."""

    def __init__(self, clock: Callable[[], float], transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._clock = clock
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self.counted: Callable[[str], None] | None = None  # told each delivery's outcome

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            # No redirects: a signed event goes to the configured URL or nowhere.
            self._http = httpx.AsyncClient(transport=self._transport, follow_redirects=False,
                                           headers={"user-agent": "chatd-webhook/1"})
        return self._http

    async def deliver(self, settings: BotSettings, event: dict[str, Any]) -> Delivery:
        """POST ``event`` to the site's bot and interpret the answer. Never raises."""
        delivery = await self._deliver(settings, event)
        if self.counted is not None:
            self.counted(delivery.outcome)
        return delivery

    async def _deliver(self, settings: BotSettings, event: dict[str, Any]) -> Delivery:
        body = orjson.dumps(event)
        timestamp = int(self._clock())
        headers = {"content-type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(settings.webhook_secret, timestamp, body),
                   EVENT_HEADER: str(event.get("type", ""))}
        try:
            response = await self._client().post(settings.webhook_url, content=body, headers=headers,
                                                 timeout=settings.webhook_timeout_seconds)
        except httpx.TimeoutException:
            return Delivery("failed", reason="timeout")
        except httpx.HTTPError as exc:
            return Delivery("failed", reason=f"unreachable: {type(exc).__name__}")
        if response.status_code == 202:
            return Delivery("deferred")
        if response.status_code != 200:
            return Delivery("failed", reason=f"status {response.status_code}")
        if len(response.content) > _MAX_RESPONSE_BYTES:
            return Delivery("failed", reason="answer too large")
        try:
            reply = parse_reply(orjson.loads(response.content or b"{}"))
        except (orjson.JSONDecodeError, ValueError) as exc:
            return Delivery("failed", reason=f"invalid answer: {exc}")
        if reply.empty:
            return Delivery("failed", reason="empty answer")
        return Delivery("reply", reply)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
