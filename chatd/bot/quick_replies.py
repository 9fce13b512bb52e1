"""Agents' quick replies (快捷回复): canned answers inserted with ``/shortcut``.

A reply is either a *team* reply (``owner`` is None, visible to every agent) or a
*personal* one (``owner`` is the agent id, visible to that agent only). Personal
replies come first for their owner, and a personal reply hides a team reply with
the same shortcut.

Texts may contain variables in braces, rendered by :func:`render`:

- known variables (:data:`VARIABLES`, e.g. ``{visitor.name}``, ``{agent.name}``) are
  replaced by their value, or by the default after ``|`` (``{visitor.name|亲}``), or
  by the empty string when there is neither;
- unknown names are left exactly as written (``{order.idd}`` stays visible so that
  the agent notices the typo before sending), and so are stray braces.

Rendering never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chatd.bot.text import normalize

__all__ = [
    "VARIABLES",
    "QuickReply",
    "QuickReplyBook",
    "QuickReplyError",
    "quick_replies_from_json",
    "render",
]

VARIABLES = frozenset(
    {
        "visitor.name",
        "visitor.email",
        "visitor.phone",
        "agent.name",
        "agent.id",
        "site.name",
        "conversation.id",
        "order.id",
    }
)
_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?:\|([^{}]*))?\}")
_SHORTCUT = re.compile(r"^/[^\s/]{1,32}$")


class QuickReplyError(ValueError):
    """Invalid quick-reply data; the message names the item and the field."""


@dataclass(frozen=True, slots=True)
class QuickReply:
    """One canned answer. ``shortcut`` starts with '/' (``/refund``, ``/退款``)."""

    id: str
    shortcut: str
    title: str
    text: str
    category: str = ""
    owner: str | None = None  # agent id for a personal reply, None for the team

    def problems(self) -> list[str]:
        """What is wrong with this reply (empty when valid)."""
        found = []
        if not self.id.strip():
            found.append("id is empty")
        if not _SHORTCUT.match(self.shortcut):
            found.append(f"shortcut {self.shortcut!r} must be '/' then 1-32 characters without spaces")
        if not self.title.strip():
            found.append("title is empty")
        if not self.text.strip():
            found.append("text is empty")
        if self.owner is not None and not self.owner.strip():
            found.append("owner must be an agent id or null")
        return found


def render(text: str, values: Mapping[str, str | None]) -> str:
    """Fill ``{variables}`` in ``text`` from ``values`` (see the module docstring)."""

    def fill(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = values.get(name)
        if value:
            return str(value)
        if name in VARIABLES or name in values:
            return default or ""
        return match.group(0)

    return _VARIABLE.sub(fill, text)


def _fold(text: str) -> str:
    return "".join(normalize(text).split())


class QuickReplyBook:
    """A searchable, immutable set of quick replies."""

    def __init__(self, replies: Iterable[QuickReply]) -> None:
        self._replies = tuple(replies)
        seen: set[str] = set()
        for number, reply in enumerate(self._replies, start=1):
            problems = reply.problems()
            if problems:
                raise QuickReplyError(f"quick reply {number} (id {reply.id!r}): {'; '.join(problems)}")
            if reply.id in seen:
                raise QuickReplyError(f"quick reply {number}: duplicate id {reply.id!r}")
            seen.add(reply.id)

    @property
    def replies(self) -> tuple[QuickReply, ...]:
        return self._replies

    def visible_to(self, agent_id: str) -> list[QuickReply]:
        """The agent's personal replies, then team replies not hidden by a personal one."""
        personal = [r for r in self._replies if r.owner == agent_id]
        taken = {r.shortcut.lower() for r in personal}
        team = [r for r in self._replies if r.owner is None and r.shortcut.lower() not in taken]
        return personal + team

    def get(self, agent_id: str, shortcut: str) -> QuickReply | None:
        """The reply the agent gets for an exact ``shortcut`` (case-insensitive)."""
        wanted = shortcut.lower()
        return next((r for r in self.visible_to(agent_id) if r.shortcut.lower() == wanted), None)

    def search(self, agent_id: str, query: str, limit: int = 10) -> list[QuickReply]:
        """Replies for what the agent typed, personal first within each kind of match.

        ``/ref`` matches shortcuts by prefix; any other text matches shortcut, title,
        text and category by substring. An empty query (or a bare ``/``) lists all.
        """
        visible = self.visible_to(agent_id)
        needle = _fold(query)
        if needle in ("", "/"):
            return visible[:limit]
        if needle.startswith("/"):
            hits = [r for r in visible if r.shortcut.lower().startswith(needle)]
            # Exact shortcut first, then shorter shortcuts; personal before team.
            hits.sort(key=lambda r: (r.shortcut.lower() != needle, r.owner is None, len(r.shortcut)))
            return hits[:limit]
        scored = []
        for position, reply in enumerate(visible):
            if needle in reply.shortcut.lower():
                rank = 0
            elif needle in _fold(reply.title):
                rank = 1
            elif needle in _fold(reply.text) or needle in _fold(reply.category):
                rank = 2
            else:
                continue
            scored.append((rank, reply.owner is None, position, reply))
        scored.sort(key=lambda item: item[:3])
        return [item[3] for item in scored[:limit]]


def quick_replies_from_json(text: str | bytes) -> list[QuickReply]:
    """Parse ``{"quick_replies": [...]}`` or a bare list; raises :class:`QuickReplyError`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QuickReplyError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if isinstance(data, dict):
        data = data.get("quick_replies")
    if not isinstance(data, list):
        raise QuickReplyError("expected a list of quick replies or an object with 'quick_replies'")
    replies = []
    for number, raw in enumerate(data, start=1):
        if not isinstance(raw, dict):
            raise QuickReplyError(f"quick reply {number}: expected an object")
        try:
            replies.append(
                QuickReply(
                    id=str(raw["id"]),
                    shortcut=str(raw["shortcut"]),
                    title=str(raw["title"]),
                    text=str(raw["text"]),
                    category=str(raw.get("category") or ""),
                    owner=None if raw.get("owner") is None else str(raw["owner"]),
                )
            )
        except KeyError as exc:
            raise QuickReplyError(f"quick reply {number}: missing field {exc.args[0]}") from None
    QuickReplyBook(replies)  # validates
    return replies
