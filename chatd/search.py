"""Full-text search over transcripts: one analysis at index and at query
time, and the highlighting of hits. Pure.

Chinese runs are segmented with jieba (the bot's dictionary, see
:mod:`chatd.bot.text`) and a long word also gives its dictionary sub-words
(物流进度 -> 物流, 进度), so a search for either finds it; Latin words are
lower-cased and lightly stemmed ("refunds" meets "refund"); digits stay
(order numbers are what agents look for). Nothing else is dropped: a query
is analysed the same way, and every one of its terms must match.

The database sees space-separated terms only (SQLite FTS5 ``unicode61``,
PostgreSQL ``to_tsvector('simple', ...)``), so both backends match the same
way.
"""

from __future__ import annotations

import html
import re

from chatd.bot.text import normalize, segment, segment_for_search, split_runs, stem

__all__ = ["MAX_QUERY_TERMS", "highlight", "hit_fragments", "index_terms", "query_terms"]

MAX_QUERY_TERMS = 8  # terms of a query beyond these are ignored
_SAFE_TERM = re.compile(r"^[\w\u3400-\u4dbf\u4e00-\u9fff]+$")


def _terms(text: str, *, with_parts: bool) -> list[str]:
    terms: list[str] = []
    for lang, piece in split_runs(normalize(text)):
        if lang == "zh":
            for word in segment(piece):
                terms.append(word)
                if with_parts:
                    terms.extend(segment_for_search(word))
        else:
            terms.append(stem(piece) if not piece.isdigit() else piece)
    return [t for t in terms if _SAFE_TERM.match(t)]


def index_terms(text: str) -> str:
    """What the index stores for a message: its terms, space-separated."""
    return " ".join(_terms(text, with_parts=True))


def query_terms(text: str) -> list[str]:
    """A query's terms (each must match), without repeats, at most :data:`MAX_QUERY_TERMS`."""
    return list(dict.fromkeys(_terms(text, with_parts=False)))[:MAX_QUERY_TERMS]


def hit_fragments(body: str, query: str) -> list[tuple[str, bool]]:
    """``body`` cut into ``(text, matched)`` pieces: what ``query`` matched is
    marked where it occurs in the text as typed (case and width folded), so
    "refund" marks the start of "Refunds". Where nothing is found (a sub-word
    of another segmentation), the whole text is one unmarked piece."""
    folded = normalize(body)
    if len(folded) != len(body):  # NFKC changed the length: mark nothing rather than the wrong place
        return [(body, False)] if body else []
    spans: list[tuple[int, int]] = []
    for term in sorted(set(query_terms(query)) | set(normalize(query).split()), key=len, reverse=True):
        start = folded.find(term) if term else -1
        while start >= 0:
            spans.append((start, start + len(term)))
            start = folded.find(term, start + len(term))
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin < merged[-1][1]:  # overlapping; touching matches stay two
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    pieces: list[tuple[str, bool]] = []
    at = 0
    for begin, end in merged:
        if begin > at:
            pieces.append((body[at:begin], False))
        pieces.append((body[begin:end], True))
        at = end
    if at < len(body):
        pieces.append((body[at:], False))
    return pieces


def highlight(body: str, query: str) -> str:
    """``body`` as HTML-escaped text with what ``query`` matched in ``<mark>``."""
    return "".join(f"<mark>{html.escape(text)}</mark>" if hit else html.escape(text)
                   for text, hit in hit_fragments(body, query))
