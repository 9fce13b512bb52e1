"""``GET /api/v1/history``: closed conversations from the archive, filtered,
and full-text search over their messages with the hits highlighted.

Supervisors and admins see every conversation; an agent sees those they
handled. Query parameters (each optional): ``q`` (search words: every one
must match), ``since`` and ``until`` (close time, epoch seconds), ``agent``,
``skill``, ``site``, ``visitor``, ``outcome`` (chatd.archive.OUTCOMES),
``rating`` (1 to 5), ``limit`` (1 to 200, default 50) and ``offset``.
A hit carries its message twice: ``highlighted`` (HTML, escaped, the
matches in ``<mark>``) and ``fragments`` (``{text, hit}`` pieces, for
clients that build their own markup).
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from chatd.api.common import context, json, require_role
from chatd.archive import OUTCOMES, HistoryFilter
from chatd.errors import ChatdError
from chatd.search import highlight, hit_fragments, query_terms

__all__ = ["history"]

_MAX_OFFSET = 100_000


def _number(request: Request, name: str) -> float:
    raw = request.query_params.get(name, "")
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ChatdError("bad_request", f"{name} must be a time in epoch seconds")
    return value


def _whole(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ChatdError("bad_request", f"{name} must be an integer from {low} to {high}")
    return int(raw)


async def history(request: Request) -> Response:
    """Archived conversations (or, with ``q``, the messages that match), newest close first."""
    who = await require_role(request)
    params = request.query_params
    agent = params.get("agent", "")
    if who.role not in ("supervisor", "admin"):
        if agent and agent != who.subject:
            raise ChatdError("forbidden", "agents read the history of their own conversations")
        agent = who.subject
    outcome = params.get("outcome", "")
    if outcome and outcome not in OUTCOMES:
        raise ChatdError("bad_request", f"outcome must be one of {', '.join(OUTCOMES)}")
    filters = HistoryFilter(since=_number(request, "since"), until=_number(request, "until"), agent_id=agent,
                            skill=params.get("skill", ""), site_key=params.get("site", ""),
                            visitor_id=params.get("visitor", ""), outcome=outcome,
                            rating=_whole(request, "rating", 0, 1, 5))
    limit, offset = _whole(request, "limit", 50, 1, 200), _whole(request, "offset", 0, 0, _MAX_OFFSET)
    archive = context(request).records.archive
    query = params.get("q", "").strip()
    if not query:
        found = await archive.history(filters, limit=limit, offset=offset)
        return json({"conversations": [c.to_dict() for c in found], "limit": limit, "offset": offset})
    if len(query) > 200:
        raise ChatdError("bad_request", "a search is at most 200 characters")
    terms = query_terms(query)
    if not terms:
        raise ChatdError("bad_request", "the search has no words to look for")
    hits = await archive.search(terms, filters, limit=limit, offset=offset)
    return json({"terms": terms, "limit": limit, "offset": offset,
                 "hits": [{"conversation": h.conversation.to_dict(), "seq": h.seq, "sender_role": h.sender_role,
                           "ts": h.ts, "highlighted": highlight(h.body, query),
                           "fragments": [{"text": text, "hit": hit} for text, hit in hit_fragments(h.body, query)]}
                          for h in hits]})
