"""A small in-memory BM25 (Okapi) inverted index over weighted term bags.

Why not rank-bm25: it scores every document for every query term in Python
(cost grows with the corpus on each query) and takes plain token lists, while the
knowledge base needs weighted query terms (sub-words, typo corrections) and
sub-millisecond queries on thousands of entries. An inverted index touches only
the documents that share a term with the query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["Bm25Index"]


class Bm25Index:
    """BM25 over documents given as ``{term: frequency}`` maps. Immutable once built.

    ``k1`` controls term-frequency saturation and ``b`` length normalisation; ``b`` is
    lower than the usual 0.75 because an entry's length mostly reflects how many
    variants the editor wrote, not how diluted its topic is.
    """

    __slots__ = ("_df", "_idf", "_norms", "_postings", "b", "k1", "size")

    def __init__(self, documents: Sequence[Mapping[str, float]], *, k1: float = 1.2, b: float = 0.4) -> None:
        self.k1 = k1
        self.b = b
        self.size = len(documents)
        lengths = [sum(doc.values()) for doc in documents]
        average = (sum(lengths) / len(lengths)) if lengths else 1.0
        # Precompute the length part of the BM25 denominator per document.
        self._norms = [k1 * (1.0 - b + b * (length / average if average else 1.0)) for length in lengths]
        postings: dict[str, list[tuple[int, float]]] = {}
        for number, doc in enumerate(documents):
            for term, frequency in doc.items():
                postings.setdefault(term, []).append((number, frequency))
        self._postings = postings
        self._df = {term: len(hits) for term, hits in postings.items()}
        self._idf = {term: self._idf_for(df) for term, df in self._df.items()}

    def _idf_for(self, df: int) -> float:
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def __contains__(self, term: object) -> bool:
        return term in self._postings

    def document_frequency(self, term: str) -> int:
        """In how many documents ``term`` occurs (0 when unknown)."""
        return self._df.get(term, 0)

    def idf(self, term: str) -> float:
        """Inverse document frequency; a term no document has gets the highest value."""
        value = self._idf.get(term)
        return value if value is not None else self._idf_for(0)

    @property
    def vocabulary(self) -> Mapping[str, int]:
        """Every indexed term with its document frequency."""
        return self._df

    def scores(self, query: Mapping[str, float]) -> dict[int, float]:
        """BM25 score of every document sharing a term with ``query`` ({term: weight})."""
        k1 = self.k1
        norms = self._norms
        totals: dict[int, float] = {}
        for term, weight in query.items():
            hits = self._postings.get(term)
            if not hits or weight <= 0.0:
                continue
            factor = weight * self._idf[term] * (k1 + 1.0)
            for number, frequency in hits:
                totals[number] = totals.get(number, 0.0) + factor * frequency / (frequency + norms[number])
        return totals
