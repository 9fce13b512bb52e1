"""Suggestions while the visitor types: 物流 -> 物流进度怎么查？, 物流不更新怎么办？

Every question and variant of the knowledge base is a *phrase*. Typed text is matched,
best tier first:

1. the phrase starts with the typed text (ignoring spaces, punctuation and case);
2. every complete word typed occurs in the phrase and the word being typed is the
   prefix of one of its words (jieba words for Chinese, plain words for English);
3. the phrase's pinyin starts with the typed text's pinyin, so both "wuliu" typed
   without the IME and homophone slips (物六) find 物流; initials ("wl") also work.

Lookups are binary searches in sorted arrays built once, so a keystroke costs
microseconds to a few milliseconds even with thousands of entries. Within a tier,
canonical questions come before variants, then shorter phrases, then entry order.
At most one suggestion per entry.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

from chatd.bot.kb import FaqEntry
from chatd.bot.text import has_cjk, normalize, segment, stem

__all__ = ["Suggester", "Suggestion"]

_DROP = re.compile(r"[\s\W_]+", re.UNICODE)
_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9]+")
_MAX_SCAN = 400  # bound on prefix-range scans for very short inputs such as "a"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A question to offer: show ``text``; on tap, answer ``entry_id``."""

    entry_id: str
    text: str
    locale: str


@dataclass(frozen=True, slots=True)
class _Phrase:
    entry_index: int
    text: str
    canonical: bool


def _compact(text: str) -> str:
    return _DROP.sub("", normalize(text))


def _words(text: str) -> list[str]:
    words: list[str] = []
    for piece in _WORD.findall(normalize(text)):
        words.extend(segment(piece) if has_cjk(piece) else [piece])
    return words


def _pinyin(text: str) -> tuple[str, str]:
    """(full pinyin, initials) of the Chinese and Latin letters in ``text``."""
    compact = _compact(text)
    syllables = lazy_pinyin(compact)
    initials = lazy_pinyin(compact, style=Style.FIRST_LETTER)
    return "".join(syllables), "".join(initials)


def _range(keys: list[str], prefix: str) -> range:
    start = bisect_left(keys, prefix)
    end = bisect_left(keys, prefix + "\uffff", lo=start)
    return range(start, min(end, start + _MAX_SCAN))


class Suggester:
    """Prefix suggestions over a fixed set of entries. Immutable and thread-safe."""

    def __init__(self, entries: Iterable[FaqEntry]) -> None:
        self._entries = tuple(entries)
        phrases: list[_Phrase] = []
        for index, entry in enumerate(self._entries):
            phrases.append(_Phrase(index, entry.question, True))
            phrases.extend(_Phrase(index, v, False) for v in entry.variants)
        self._phrases = phrases
        self._phrase_words = [frozenset(_words(p.text)) | {stem(w) for w in _words(p.text)} for p in phrases]
        by_text = sorted((_compact(p.text), i) for i, p in enumerate(phrases))
        self._text_keys = [k for k, _ in by_text]
        self._text_ids = [i for _, i in by_text]
        by_word = sorted({(w, i) for i, words in enumerate(self._phrase_words) for w in words})
        self._word_keys = [w for w, _ in by_word]
        self._word_ids = [i for _, i in by_word]
        by_sound: set[tuple[str, int]] = set()
        for i, phrase in enumerate(phrases):
            if has_cjk(phrase.text):
                full, initials = _pinyin(phrase.text)
                by_sound.add((full, i))
                by_sound.add((initials, i))
        ordered = sorted(by_sound)
        self._sound_keys = [k for k, _ in ordered]
        self._sound_ids = [i for _, i in ordered]

    def _rank(self, ids: Iterable[int]) -> list[int]:
        phrases = self._phrases
        return sorted(set(ids), key=lambda i: (not phrases[i].canonical, len(phrases[i].text), phrases[i].entry_index))

    def _by_text(self, compact: str) -> list[int]:
        return [self._text_ids[k] for k in _range(self._text_keys, compact)]

    def _by_words(self, text: str) -> list[int]:
        words = _words(text)
        if not words:
            return []
        *complete, typing = words
        if not has_cjk(typing) and len(typing) < 2 and not complete:
            return []  # one Latin letter matches half the vocabulary
        ids = [self._word_ids[k] for k in _range(self._word_keys, typing)]
        wanted = [w for w in complete if w not in ("的", "了", "吗")]
        return [i for i in ids if all(w in self._phrase_words[i] or stem(w) in self._phrase_words[i] for w in wanted)]

    def _by_sound(self, compact: str) -> list[int]:
        full, _ = _pinyin(compact)
        if len(full) < 2:
            return []
        return [self._sound_ids[k] for k in _range(self._sound_keys, full)]

    def suggest(self, text: str, limit: int = 5, *, locale: str | None = None) -> list[Suggestion]:
        """Up to ``limit`` suggestions for the partial input ``text``, best first.

        ``locale`` ('zh-CN' or 'en') keeps only entries in that language; by default
        Chinese input suggests Chinese entries and Latin input English ones first.
        """
        compact = _compact(text)
        if not compact or limit <= 0:
            return []
        preferred = locale or ("zh-CN" if has_cjk(compact) else "en")
        tiers = (self._by_text(compact), self._by_words(text), self._by_sound(compact))
        chosen: list[Suggestion] = []
        seen: set[int] = set()
        for same_language in (True, False):
            for tier in tiers:
                for i in self._rank(tier):
                    phrase = self._phrases[i]
                    entry = self._entries[phrase.entry_index]
                    if phrase.entry_index in seen or (entry.locale == preferred) != same_language:
                        continue
                    seen.add(phrase.entry_index)
                    chosen.append(Suggestion(entry.id, entry.question, entry.locale))
                    if len(chosen) >= limit:
                        return chosen
            if locale is not None:
                break
        return chosen
