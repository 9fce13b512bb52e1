"""Tickets (工单) and the leave-a-message form (留言): validation and record shape. Pure.

A ticket is what chat could not solve: a visitor's offline message, or a conversation
an agent escalates. It is kept in the record store's tickets (:class:`chatd.records.base.TicketStore`)
with these fields:

``ticket_id, site_key, visitor_id, conversation_id, category, contact {name, phone,
email}, message, status ("open" | "closed"), created_at, created_by, source
("leave_message" | "conversation"), locale, page_url, attributes, updated_at,
closed_by``.

Every function raises :class:`TicketError` naming the bad field; nothing is stored
until the whole body is valid.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

__all__ = [
    "STATUSES",
    "TicketError",
    "close_or_reopen",
    "contact_from",
    "leave_message_ticket",
    "new_ticket_id",
    "validate_attributes",
    "validate_category",
]

STATUSES = ("open", "closed")
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{3,30}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_LOCALES = ("zh-CN", "en")
_MAX_MESSAGE = 4000
_LEAVE_FIELDS = frozenset({"site", "name", "phone", "email", "body", "category", "locale", "page_url", "attributes"})


class TicketError(ValueError):
    """Invalid ticket data; the message names the field."""


def new_ticket_id(now: float) -> str:
    """``t_<milliseconds in hex>_<random>``: unique, and sorts by creation time."""
    return f"t_{int(now * 1000):011x}_{secrets.token_hex(3)}"


def _optional_text(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise TicketError(f"{name} must be a string of at most {limit} characters")
    return value.strip()


def validate_category(value: Any, default: str = "general") -> str:
    if value in (None, ""):
        return default
    if not isinstance(value, str) or not _CATEGORY.match(value):
        raise TicketError("category must be lowercase letters, digits, '.', '_' or '-' (at most 64)")
    return value


def validate_attributes(value: Any) -> dict[str, Any]:
    """What the widget knows about the visitor: at most 30 short scalars."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or len(value) > 30:
        raise TicketError("attributes must be an object of at most 30 fields")
    for key, item in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= 40:
            raise TicketError("attribute names are strings of 1 to 40 characters")
        if (item is not None and not isinstance(item, (str, int, float, bool))) or (
                isinstance(item, str) and len(item) > 500):
            raise TicketError(f"attribute {key!r} must be a short string, number or boolean")
    return dict(value)


def contact_from(body: Mapping[str, Any], *, require: bool = True) -> dict[str, str]:
    """``{name, phone, email}`` from ``body``; with ``require``, a phone or an email is needed."""
    name = _optional_text(body, "name", 64)
    phone = _optional_text(body, "phone", 32)
    email = _optional_text(body, "email", 254)
    if phone and not _PHONE.match(phone):
        raise TicketError("phone must be a phone number (digits, spaces, '-', '(', ')', an optional '+')")
    if email and not _EMAIL.match(email):
        raise TicketError("email must be an email address")
    if require and not (phone or email):
        raise TicketError("contact: give a phone number or an email address so that we can answer")
    return {"name": name, "phone": phone, "email": email}


def leave_message_ticket(body: Mapping[str, Any], *, site_key: str, visitor_id: str, conversation_id: str,
                         now: float) -> dict[str, Any]:
    """The ticket record for a leave-a-message form ``body`` (already checked: ``site``)."""
    unknown = sorted(set(body) - _LEAVE_FIELDS)
    if unknown:
        raise TicketError(f"unknown field(s) {', '.join(unknown)}")
    message = body.get("body")
    if not isinstance(message, str) or not 0 < len(message.strip()) <= _MAX_MESSAGE:
        raise TicketError(f"body must be a message of 1 to {_MAX_MESSAGE} characters")
    locale = body.get("locale") or "zh-CN"
    if locale not in _LOCALES:
        locale = "zh-CN" if str(locale).lower().startswith("zh") else "en"
    page_url = _optional_text(body, "page_url", 2000)
    return {
        "ticket_id": new_ticket_id(now), "site_key": site_key, "visitor_id": visitor_id,
        "conversation_id": conversation_id, "category": validate_category(body.get("category")),
        "contact": contact_from(body), "message": message.strip(), "status": "open", "created_at": now,
        "created_by": "visitor", "source": "leave_message", "locale": locale, "page_url": page_url,
        "attributes": validate_attributes(body.get("attributes")), "updated_at": now, "closed_by": "",
    }


def close_or_reopen(ticket: Mapping[str, Any], body: Mapping[str, Any], agent_id: str, now: float) -> dict[str, Any]:
    """The ticket after an agent's ``{"status": "open" | "closed", "category"?}`` change."""
    unknown = sorted(set(body) - {"status", "category"})
    if unknown:
        raise TicketError(f"unknown field(s) {', '.join(unknown)}")
    if not body:
        raise TicketError("send a status or a category")
    updated = dict(ticket)
    if "status" in body:
        if body["status"] not in STATUSES:
            raise TicketError(f"status must be one of {', '.join(STATUSES)}")
        updated["status"] = body["status"]
        updated["closed_by"] = agent_id if body["status"] == "closed" else ""
    if "category" in body:
        updated["category"] = validate_category(body["category"], default=str(ticket.get("category") or "general"))
    updated["updated_at"] = now
    return updated
