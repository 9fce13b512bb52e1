"""The bot's configuration records: what each one holds and how it is validated.

Each is kept in its own store of :mod:`chatd.records` (bot settings, quick
replies, overflow rules; the knowledge base in :mod:`chatd.bot.kb`'s shape).
Validation raises :class:`ConfigError` naming the bad field; the HTTP API turns it into
``400 bad_request`` and the runtime never sees an invalid record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfoNotFoundError

from chatd.bot.overflow import OverflowRule, rules_from_config
from chatd.bot.quick_replies import QuickReply

__all__ = [
    "FALLBACKS",
    "BotSettings",
    "ConfigError",
    "overflow_rule_from_record",
    "quick_reply_from_record",
    "validate_overflow_rule",
    "validate_quick_reply",
]


FALLBACKS = ("builtin", "human")
_LOCALES = ("zh-CN", "en")
_SKILL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field."""


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{name} must be a number from {low:g} to {high:g}")
    return float(value)


def _webhook_url(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 2000:
        raise ConfigError("webhook_url must be an http(s) URL of at most 2000 characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("webhook_url must be an http(s) URL")
    return value


@dataclass(frozen=True, slots=True)
class BotSettings:
    """How the bot serves one site.

    - ``bot_first``: new chats are answered by the bot until the visitor asks for a human
      (otherwise they queue at once, unless an overflow rule says otherwise).
    - ``webhook_url`` / ``webhook_secret`` / ``webhook_timeout_seconds``: an external bot
      answers instead of the built-in one (see :mod:`chatd.bot.webhook`);
      ``webhook_reply_seconds`` bounds how long a bot that answered ``202`` may take to
      reply through the API.
    - ``fallback``: when the external bot fails, ``builtin`` answers from the knowledge
      base, ``human`` hands the chat to the queue.
    - ``locale``: the language of greetings before the visitor has written anything.
    - ``greeting``: the bot's first message (a default per locale when empty).
    - ``skill_by_category``: knowledge-base category -> skill group for handoffs; a
      category not listed keeps the conversation's own skill group.
    """

    site_key: str
    bot_first: bool = False
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    webhook_timeout_seconds: float = 3.0
    webhook_reply_seconds: float = 10.0
    fallback: str = "builtin"
    locale: str = "zh-CN"
    greeting: str = ""
    skill_by_category: Mapping[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["skill_by_category"] = dict(self.skill_by_category)
        return record

    @classmethod
    def from_record(cls, site_key: str, record: Mapping[str, Any] | None) -> BotSettings:
        """Settings from a stored record (already validated); defaults when there is none."""
        if not record:
            return cls(site_key)
        known = {name: record[name] for name in cls.__slots__ if name in record and name != "site_key"}
        return cls(site_key, **known)

    def updated(self, changes: Mapping[str, Any]) -> BotSettings:
        """These settings with ``changes`` applied and validated; raises :class:`ConfigError`."""
        unknown = sorted(set(changes) - set(self.__slots__) - {"site_key"})
        if unknown:
            raise ConfigError(f"unknown field(s) {', '.join(unknown)}")
        values = self.to_record()
        if "bot_first" in changes:
            if not isinstance(changes["bot_first"], bool):
                raise ConfigError("bot_first must be true or false")
            values["bot_first"] = changes["bot_first"]
        if "webhook_url" in changes:
            values["webhook_url"] = _webhook_url(changes["webhook_url"])
        if "webhook_secret" in changes:
            secret = changes["webhook_secret"]
            if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
                raise ConfigError("webhook_secret must be a string of 16 to 200 characters")
            values["webhook_secret"] = secret
        if "webhook_timeout_seconds" in changes:
            values["webhook_timeout_seconds"] = _number(changes["webhook_timeout_seconds"],
                                                        "webhook_timeout_seconds", 0.1, 30)
        if "webhook_reply_seconds" in changes:
            values["webhook_reply_seconds"] = _number(changes["webhook_reply_seconds"], "webhook_reply_seconds",
                                                      0.1, 120)
        if "fallback" in changes:
            if changes["fallback"] not in FALLBACKS:
                raise ConfigError(f"fallback must be one of {', '.join(FALLBACKS)}")
            values["fallback"] = changes["fallback"]
        if "locale" in changes:
            if changes["locale"] not in _LOCALES:
                raise ConfigError(f"locale must be one of {', '.join(_LOCALES)}")
            values["locale"] = changes["locale"]
        if "greeting" in changes:
            greeting = changes["greeting"]
            if not isinstance(greeting, str) or len(greeting) > 1000:
                raise ConfigError("greeting must be a string of at most 1000 characters")
            values["greeting"] = greeting.strip()
        if "skill_by_category" in changes:
            mapping = changes["skill_by_category"]
            if not isinstance(mapping, dict) or len(mapping) > 200 or not all(
                    isinstance(k, str) and _CATEGORY.match(k) and isinstance(v, str) and _SKILL.match(v)
                    for k, v in mapping.items()):
                raise ConfigError("skill_by_category must map knowledge-base categories to skill group names")
            values["skill_by_category"] = dict(mapping)
        values.pop("site_key")
        return BotSettings(self.site_key, **values)

    def public(self) -> dict[str, Any]:
        """The settings for an admin: the secret is shown only as whether it is set."""
        record = self.to_record()
        record["webhook_secret_set"] = bool(record.pop("webhook_secret"))
        return record


def validate_overflow_rule(skill_group: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The record to store for ``skill_group`` from an admin's ``body``; raises :class:`ConfigError`."""
    allowed = {"skill_group", "max_queue", "max_wait_seconds", "peak", "business_hours"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(unknown)}")
    if body.get("skill_group", skill_group) != skill_group:
        raise ConfigError("skill_group in the body must match the path")
    record: dict[str, Any] = {"skill_group": skill_group, "max_queue": None, "max_wait_seconds": None,
                              "peak": None, "business_hours": None}
    max_queue = body.get("max_queue")
    if max_queue is not None:
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or not 0 <= max_queue <= 100_000:
            raise ConfigError("max_queue must be an integer from 0 to 100000, or null")
        record["max_queue"] = max_queue
    if body.get("max_wait_seconds") is not None:
        record["max_wait_seconds"] = _number(body["max_wait_seconds"], "max_wait_seconds", 1, 86_400)
    for name in ("peak", "business_hours"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, dict) or not isinstance(value.get("timezone"), str):
            raise ConfigError(f"{name} must be an object with a timezone")
        record[name] = value
    try:
        overflow_rule_from_record(record)
    except ConfigError:
        raise
    except ZoneInfoNotFoundError as exc:
        raise ConfigError(f"unknown time zone: {exc}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"invalid peak or business_hours: {exc}") from None
    return record


def overflow_rule_from_record(record: Mapping[str, Any]) -> OverflowRule:
    """The pure rule of a stored record."""
    return rules_from_config([record])[str(record["skill_group"])]


_QUICK_REPLY_FIELDS = ("shortcut", "title", "text", "category")
_QUICK_REPLY_LIMITS = {"title": 100, "text": 4000, "category": 64}
_SHORTCUT = re.compile(r"^/[^\s/{}]{1,32}$")


def validate_quick_reply(body: Mapping[str, Any], current: Mapping[str, Any] | None = None, *,
                         reply_id: str = "", owner: str = "team") -> dict[str, Any]:
    """The quick-reply record to store: ``current`` (when editing) with ``body`` applied.

    ``owner`` is ``"team"`` or the agent id of a personal reply; the record is
    ``{id, shortcut, title, text, category, owner}``. A shortcut without the leading
    ``/`` gets one. Raises :class:`ConfigError` naming the field."""
    allowed = set(_QUICK_REPLY_FIELDS) | ({"scope"} if current is None else set())
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(unknown)}")
    record: dict[str, Any] = dict(current) if current is not None else {
        "id": reply_id, "shortcut": "", "title": "", "text": "", "category": "", "owner": owner}
    for name in _QUICK_REPLY_FIELDS:
        if name not in body:
            if current is None and name in ("shortcut", "text"):
                raise ConfigError(f"{name} is required")
            continue
        value = body[name]
        if name == "category" and value is None:
            value = ""
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string")
        value = value.strip()
        if name == "shortcut":
            value = value if value.startswith("/") else "/" + value
            if not _SHORTCUT.match(value):
                raise ConfigError("shortcut must be '/' then 1 to 32 characters without spaces, '/' or braces")
        elif len(value) > _QUICK_REPLY_LIMITS[name] or (name == "text" and not value):
            raise ConfigError(f"{name} must be a string of {'1' if name == 'text' else '0'} to "
                              f"{_QUICK_REPLY_LIMITS[name]} characters")
        record[name] = value
    if not record["title"]:
        record["title"] = record["shortcut"][1:]
    return record


def quick_reply_from_record(record: Mapping[str, Any]) -> QuickReply:
    """The pure reply of a stored record (``owner`` "team" becomes ``None``)."""
    owner = record.get("owner") or "team"
    return QuickReply(id=str(record["id"]), shortcut=str(record["shortcut"]), title=str(record["title"]),
                      text=str(record["text"]), category=str(record.get("category") or ""),
                      owner=None if owner == "team" else str(owner))
