"""Knowledge-base search: ranking, confidence and the decision to answer or decline.

Ranking is BM25 over each entry's question, variants and keywords, after the query
has been analysed like the entries (jieba words, stemmed English words, pinyin
homophone and English typo corrections onto the knowledge base's vocabulary).

Confidence answers a different question than ranking: *does this entry answer what
was asked?* It comes from three signals of each match, calibrated into a probability
by :mod:`chatd.bot.confidence`:

- **coverage**: the share of the query's content words (weighted by how informative
  they are: unknown nouns most, fillers least) that the entry addresses. A question
  that shares "refund" with an entry but is about a train ticket leaves its most
  informative words unaddressed.
- **qualifiers**: an unaddressed word right before an addressed one usually says
  whose or which thing is meant ("gmail password", 医院的发票): another thing.
- **scope cues**: words that move a question out of scope (someone else's card, a
  fake invoice, another shop, see :data:`chatd.bot.text.SCOPE_CUES`). When the query
  has one and the entry does not address it, the entry does not answer the question.

Below :attr:`KnowledgeBase.threshold` the bot does not answer (it says so and offers
a human). The default threshold and the calibration were chosen on the development
split of the labelled set only; ``python -m chatd.bot.evaluate`` reports the held-out
split.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from chatd.bot.confidence import confidence
from chatd.bot.index import Bm25Index
from chatd.bot.kb import FaqEntry, validate_entries
from chatd.bot.spelling import Speller
from chatd.bot.text import (
    EN_STOPWORDS,
    SCOPE_CUES,
    ZH_STOPWORDS,
    ZH_SYNONYMS,
    detect_locale,
    is_time_or_quantity,
    normalize,
    part_of_speech,
    segment,
    segment_for_search,
    split_runs,
    stem,
    tokenize,
)

__all__ = ["DEFAULT_THRESHOLD", "Answer", "KnowledgeBase", "Match", "QueryWord"]

# Tuned on the dev split: python -m chatd.bot.evaluate --tune
DEFAULT_THRESHOLD = 0.61
# Credit for a query word matched only through a typo correction or a sub-word.
_TYPO_CREDIT = 0.85
_SUBWORD_CREDIT = 0.8
_MODIFIER_CREDIT = 0.4
_SUBWORD_QUERY_WEIGHT = 0.5
# Same-language entries win ties against their translations.
_LOCALE_BOOST = 1.1
# An editor's keyword phrase found literally in the query is strong evidence.
_KEYWORD_BOOST = 1.3
# How many BM25 leaders are re-ranked with coverage (bounds the cost on large bases).
_RERANK_POOL = 48
# A query word only the answer mentions is addressed, but less surely.
_ANSWER_CREDIT = 0.6
# Weights of words the knowledge base has never seen, relative to the rarest known word:
# verbs and inflected English words say less than nouns, fillers (times, quantities,
# adjectives, adverbs, single characters) little.
_EVERYDAY_WEIGHT = 0.5
_FILLER_WEIGHT = 0.3
_FILLER_TAGS = ("a", "d", "t", "m", "q", "f", "r", "l", "i", "u", "p", "c", "y", "e", "o")
# Function words that join two content words into one phrase rather than separate them.
_LINKING_WORDS = frozenset({"的", "之"})


@dataclass(frozen=True, slots=True)
class Match:
    """A ranked entry: ``score`` orders matches, ``confidence`` in [0, 1] decides."""

    entry: FaqEntry
    score: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Answer:
    """The bot's answer: the entry, its confidence and entries to offer as buttons."""

    entry: FaqEntry
    confidence: float
    related: tuple[FaqEntry, ...] = ()
    corrections: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class QueryWord:
    """One content word of a query: its own index ``key``, every index key that may
    match it (sub-words, typo corrections) with its credit, and its weight."""

    text: str
    key: str
    keys: dict[str, float]
    weight: float = 0.0
    cue: bool = False
    known: bool = False
    group: int = 0
    nominal: bool = True  # may name a thing (Chinese: a noun or unknown to jieba)


@dataclass(slots=True)
class _Candidate:
    """An entry scored against a query, with the evidence for its confidence."""

    number: int
    score: float
    coverage: float
    covered: float
    uncovered: float
    qualifier: float
    cue_missed: bool
    keyword_hit: bool
    margin: float = 0.0

    def features(self) -> dict[str, float]:
        """The evidence as numbers: the calibrated model reads some, ``explain`` shows all
        (``margin`` and ``keyword_hit`` did not improve the fit on dev and are diagnostics)."""
        return {
            "coverage": round(self.coverage, 4),
            "covered": round(self.covered, 4),
            "uncovered": round(self.uncovered, 4),
            "qualifier": round(self.qualifier, 4),
            "margin": round(self.margin, 4),
            "keyword_hit": float(self.keyword_hit),
            "cue_missed": float(self.cue_missed),
        }


@dataclass(slots=True)
class _Analysis:
    words: list[QueryWord] = field(default_factory=list)
    corrections: list[tuple[str, str]] = field(default_factory=list)
    locale: str = "zh-CN"


def _terms_of(texts: Iterable[str]) -> Counter[str]:
    terms: Counter[str] = Counter()
    for text in texts:
        for token in tokenize(text):
            terms[token.key] += 1
            if token.lang == "zh":
                # Sub-words let 发票 find 电子发票, at half the weight of the word itself.
                for part in segment_for_search(token.key):
                    terms[part] += 0.5
    return terms


def _keyword_phrases(entry: FaqEntry) -> tuple[str, ...]:
    """Keywords as compact lower-case phrases for literal matching in queries."""
    phrases = ("".join(normalize(k).split()) for k in entry.keywords)
    return tuple(p for p in phrases if len(p) >= 2)


class KnowledgeBase:
    """An immutable searchable set of FAQ entries.

    Building indexes every entry once (a few seconds for thousands of entries);
    queries are then read-only and safe to run from several threads.
    """

    def __init__(self, entries: Iterable[FaqEntry], *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self._entries = tuple(entries)
        validate_entries(self._entries)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be within [0, 1]")
        self.threshold = threshold
        self._by_id = {e.id: e for e in self._entries}
        self._terms = [_terms_of((*e.phrasings, *e.keywords)) for e in self._entries]
        self._answer_terms = [frozenset(_terms_of((e.answer,))) for e in self._entries]
        self._keywords = [_keyword_phrases(e) for e in self._entries]
        self._index = Bm25Index(self._terms)
        zh_words: Counter[str] = Counter()
        en_words: Counter[str] = Counter()
        for entry in self._entries:
            seen_zh: set[str] = set()
            seen_en: set[str] = set()
            for text in (*entry.phrasings, *entry.keywords):
                for lang, piece in split_runs(normalize(text)):
                    if lang == "zh":
                        seen_zh.update(w for w in segment(piece) if w not in ZH_STOPWORDS)
                    elif piece.isalpha() and piece not in EN_STOPWORDS:
                        seen_en.add(piece)
            zh_words.update(seen_zh)
            en_words.update(seen_en)
        self._speller = Speller(zh_words, en_words)
        self._en_stems = {stem(w) for w in en_words}
        part_of_speech("")  # load the tag table now rather than on a visitor's first question

    @property
    def entries(self) -> tuple[FaqEntry, ...]:
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry_id: str) -> FaqEntry | None:
        """The entry with this id, or None."""
        return self._by_id.get(entry_id)

    # -- query analysis -------------------------------------------------------------

    def _word_weight(self, word: QueryWord, lang: str) -> float:
        index = self._index
        known = [(index.idf(k) * credit) for k, credit in word.keys.items() if k in index]
        if known:
            word.known = True
            return max(known)
        # Words the knowledge base has never seen are strong evidence of another topic,
        # unless they are everyday words (yesterday, a week) or single characters.
        weight = index.idf("")
        if is_time_or_quantity(word.text) or (lang == "zh" and len(word.text) == 1):
            return weight * _FILLER_WEIGHT
        if lang == "zh":
            # Nouns name the thing asked about (火车票, 医院); verbs less so; adjectives,
            # adverbs, idioms and the like colour the question without changing it.
            tag = part_of_speech(word.text)
            if tag.startswith(_FILLER_TAGS):
                return weight * _FILLER_WEIGHT
            if tag.startswith("v") and tag != "vn":
                return weight * _EVERYDAY_WEIGHT
        if lang == "en" and word.text.endswith(("ed", "ly")):
            return weight * _EVERYDAY_WEIGHT  # inflected verbs and adverbs: how, not what
        return weight

    def _analyse(self, query: str) -> _Analysis:
        analysis = _Analysis(locale=detect_locale(query))
        # Words in one group follow each other with no function word between them
        # (的 links them): "gmail password", 医院的发票. See _candidate for why.
        group = 0
        previous_lang = ""
        for lang, piece in split_runs(normalize(query)):
            if lang == "zh":
                group += 1
                fixed, pairs = self._speller.correct_zh(piece)
                analysis.corrections.extend(pairs)
                for w in segment(fixed):
                    if w in ZH_STOPWORDS:
                        group += w not in _LINKING_WORDS
                        continue
                    w = ZH_SYNONYMS.get(w, w)
                    keys = {w: 1.0}
                    for part in segment_for_search(w):
                        # Chinese compounds put the head last: 会员卡 is a card, 快递员 a person,
                        # so only the last part stands for the whole with real credit.
                        keys[part] = _SUBWORD_CREDIT if w.endswith(part) else _MODIFIER_CREDIT
                    tag = part_of_speech(w)
                    nominal = not tag or (tag.startswith("n") and tag != "vn")
                    word = QueryWord(w, w, keys, cue=w in SCOPE_CUES, group=group, nominal=nominal)
                    word.weight = self._word_weight(word, lang)
                    analysis.words.append(word)
                previous_lang = lang
                continue
            group += previous_lang != lang
            previous_lang = lang
            base = piece.removesuffix("'s")
            cue = piece in SCOPE_CUES or base in SCOPE_CUES
            if not cue and (piece in EN_STOPWORDS or not piece.isalpha()):
                group += 1
                continue
            key = stem(piece)
            keys = {key: 1.0}
            if key not in self._en_stems:
                corrected = self._speller.correct_en(piece)
                if corrected is not None:
                    analysis.corrections.append((piece, corrected))
                    keys = {stem(corrected): _TYPO_CREDIT}
            word = QueryWord(piece, key, keys, cue=cue, group=group)
            word.weight = self._word_weight(word, lang)
            analysis.words.append(word)
        return analysis

    # -- scoring --------------------------------------------------------------------

    @staticmethod
    def _credit(word: QueryWord, terms: Counter[str]) -> float:
        best = 0.0
        for key, credit in word.keys.items():
            if credit > best and key in terms:
                best = credit
        return best

    def _candidate(self, analysis: _Analysis, number: int, score: float, compact: str) -> _Candidate:
        terms = self._terms[number]
        answer_terms = self._answer_terms[number]
        covered = uncovered = 0.0
        cue_missed = False
        credits = []
        for word in analysis.words:
            credit = self._credit(word, terms)
            if credit == 0.0 and any(k in answer_terms for k in word.keys):
                credit = _ANSWER_CREDIT
            credits.append(credit)
            covered += credit * word.weight
            uncovered += (1.0 - credit) * word.weight
            # A scope cue is addressed only by the cue itself: 发票 does not answer 假发票.
            if word.cue and word.key not in terms and word.key not in answer_terms:
                cue_missed = True
        # An unaddressed word right before an addressed one usually says whose or which
        # thing is meant (gmail password, 医院的发票): the entry is about another thing.
        qualifier = 0.0
        words = analysis.words
        for i in range(len(words) - 1):
            if credits[i] == 0.0 and credits[i + 1] > 0.0 and words[i].group == words[i + 1].group:
                if words[i].nominal:
                    qualifier += words[i].weight
        keyword_hit = any(phrase in compact for phrase in self._keywords[number])
        if self._entries[number].locale == analysis.locale:
            score *= _LOCALE_BOOST
        if keyword_hit:
            score *= _KEYWORD_BOOST
        total = covered + uncovered
        coverage = covered / total if total > 0.0 else 0.0
        return _Candidate(
            number, score * (0.5 + 0.5 * coverage), coverage, covered, uncovered, qualifier, cue_missed, keyword_hit
        )

    def _rank(self, query: str, depth: int) -> tuple[_Analysis, list[_Candidate]]:
        analysis = self._analyse(query)
        vector: dict[str, float] = {}
        for word in analysis.words:
            for key, credit in word.keys.items():
                weight = credit if credit >= _TYPO_CREDIT else _SUBWORD_QUERY_WEIGHT * credit
                vector[key] = vector.get(key, 0.0) + weight
        compact = "".join(normalize(query).split())
        raw = self._index.scores(vector)
        # Coverage costs a pass over the query per entry: only the BM25 leaders compete.
        pool = heapq.nlargest(_RERANK_POOL, raw.items(), key=lambda item: (item[1], -item[0]))
        ranked = [self._candidate(analysis, n, s, compact) for n, s in pool]
        ranked.sort(key=lambda c: (-c.score, self._entries[c.number].id))
        ranked = ranked[:depth]
        for candidate in ranked:
            candidate.margin = self._margin(ranked, candidate)
        return analysis, ranked

    def _margin(self, ranked: list[_Candidate], candidate: _Candidate) -> float:
        """Lead of ``candidate`` over the best entry of a different category (0..1)."""
        category = self._entries[candidate.number].category
        for other in ranked:
            if other is not candidate and self._entries[other.number].category != category:
                if candidate.score <= 0.0:
                    return 0.0
                return max(0.0, (candidate.score - other.score) / candidate.score)
        return 1.0

    def search(self, query: str, limit: int = 5) -> list[Match]:
        """The best ``limit`` entries for ``query``, best first, with confidences.

        Confidences may be below the threshold: callers show such matches as
        "did you mean" suggestions, never as answers.
        """
        return self._matches(query, limit)[1]

    def _matches(self, query: str, limit: int) -> tuple[_Analysis, list[Match]]:
        analysis, ranked = self._rank(query, max(limit, 10))
        matches = [
            Match(self._entries[c.number], round(c.score, 6), round(confidence(c.features()), 6))
            for c in ranked[:limit]
        ]
        return analysis, matches

    def explain(self, query: str) -> dict[str, object]:
        """How ``query`` was understood and scored (for logs, tuning and the console)."""
        analysis, ranked = self._rank(query, 5)
        return {
            "locale": analysis.locale,
            "corrections": analysis.corrections,
            "words": [(w.text, sorted(w.keys), round(w.weight, 3), w.known, w.cue) for w in analysis.words],
            "ranked": [
                {"id": self._entries[c.number].id, "score": round(c.score, 4), **c.features()}
                for c in ranked
            ],
        }

    def answer(self, query: str, *, related_limit: int = 3) -> Answer | None:
        """Answer ``query`` with the best entry if confident enough, else None.

        ``related`` lists the entry's own related entries first, then other close
        matches, up to ``related_limit`` (for quick-reply buttons).
        """
        analysis, matches = self._matches(query, related_limit + 1)
        if not matches or matches[0].confidence < self.threshold:
            return None
        best = matches[0]
        related: list[FaqEntry] = []
        for entry_id in best.entry.related:
            entry = self._by_id.get(entry_id)
            if entry is not None and entry not in related:
                related.append(entry)
        for match in matches[1:]:
            if match.entry not in related and match.entry != best.entry:
                related.append(match.entry)
        return Answer(best.entry, best.confidence, tuple(related[:related_limit]), tuple(analysis.corrections))
