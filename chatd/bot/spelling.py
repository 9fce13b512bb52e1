"""Typo tolerance against the knowledge base's own vocabulary.

Two kinds of slips are common in chat:

- Chinese IME homophones: the visitor types the right pinyin and picks the wrong
  characters (退宽 for 退款, 发飘 for 发票). Any 2-4 character stretch of the query
  that is not a common word but sounds exactly like a knowledge-base word is
  replaced by that word.
- English typos: a word of at least :data:`MIN_FUZZY_LENGTH` letters that the
  vocabulary does not know is matched to a vocabulary word with the same first
  letter at Damerau-Levenshtein distance 1 (one insertion, deletion, substitution or
  swap), found through a deletion index so the cost does not grow with the vocabulary.

Corrections only ever map onto words the knowledge base contains, so they cannot
invent intent that no entry has.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from pypinyin import lazy_pinyin

from chatd.bot.text import dictionary_frequency

__all__ = ["MIN_FUZZY_LENGTH", "Speller", "edit_distance_at_most_one"]

MIN_FUZZY_LENGTH = 5
# A stretch seen at least this often in the reference corpus is a real word, not a slip
# (时间 is never "corrected" to 事件); rarer ones such as 发飘 or 定单 may be.
COMMON_WORD_FREQUENCY = 100
_MAX_ZH_NGRAM = 4


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def edit_distance_at_most_one(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one edit (adjacent swap counts as one)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


class Speller:
    """Corrects query words onto a fixed vocabulary. Immutable after construction.

    ``zh_words`` and ``en_words`` map vocabulary words to a popularity (document
    frequency); on ties between candidates the more popular word wins, then the
    alphabetically first, so corrections are deterministic.
    """

    def __init__(self, zh_words: Mapping[str, int], en_words: Mapping[str, int]) -> None:
        self._zh = dict(zh_words)
        self._en = dict(en_words)
        by_sound: dict[str, str] = {}
        for word in sorted(self._zh, key=lambda w: (-self._zh[w], w)):
            if 2 <= len(word) <= _MAX_ZH_NGRAM:
                by_sound.setdefault(" ".join(lazy_pinyin(word)), word)
        self._zh_by_sound = by_sound
        deletes: dict[str, set[str]] = defaultdict(set)
        for word in self._en:
            if len(word) >= MIN_FUZZY_LENGTH - 1:
                for variant in _deletes(word):
                    deletes[variant].add(word)
        self._en_deletes = dict(deletes)

    def correct_zh(self, run: str) -> tuple[str, list[tuple[str, str]]]:
        """Return the run with homophone typos replaced, and the (typed, meant) pairs.

        ``run`` must be a run of Chinese characters only (one syllable per character).
        """
        if len(run) < 2 or not self._zh_by_sound:
            return run, []
        syllables = lazy_pinyin(run)
        if len(syllables) != len(run):  # not a pure Chinese run: leave it alone
            return run, []
        fixes: list[tuple[int, int, str]] = []
        taken = [False] * len(run)
        # Longer stretches first: 发飘 inside 开发飘 is found as a 2-gram only if no 3-gram fits.
        for size in range(min(_MAX_ZH_NGRAM, len(run)), 1, -1):
            for start in range(len(run) - size + 1):
                if any(taken[start : start + size]):
                    continue
                typed = run[start : start + size]
                if typed in self._zh or dictionary_frequency(typed) >= COMMON_WORD_FREQUENCY:
                    continue
                meant = self._zh_by_sound.get(" ".join(syllables[start : start + size]))
                if meant and meant != typed:
                    fixes.append((start, size, meant))
                    for i in range(start, start + size):
                        taken[i] = True
        if not fixes:
            return run, []
        pieces, pairs, cursor = [], [], 0
        for start, size, meant in sorted(fixes):
            pieces.append(run[cursor:start])
            pieces.append(meant)
            pairs.append((run[start : start + size], meant))
            cursor = start + size
        pieces.append(run[cursor:])
        return "".join(pieces), pairs

    def correct_en(self, word: str) -> str | None:
        """The vocabulary word one edit away from an unknown ``word``, or None.

        Known words, and words shorter than :data:`MIN_FUZZY_LENGTH`, are not corrected.
        """
        if len(word) < MIN_FUZZY_LENGTH or word in self._en or not word.isalpha():
            return None
        candidates: set[str] = set(self._en_deletes.get(word, ()))
        for variant in _deletes(word):
            if variant in self._en:
                candidates.add(variant)
            candidates.update(self._en_deletes.get(variant, ()))
        # Slips rarely hit the first letter; requiring it keeps real words such as
        # "gmail" from being read as vocabulary words ("email").
        close = [c for c in candidates if c[0] == word[0] and edit_distance_at_most_one(word, c)]
        if not close:
            return None
        return min(close, key=lambda c: (-self._en[c], c))

    @staticmethod
    def from_words(zh: Iterable[str], en: Iterable[str]) -> Speller:
        """Build from plain word lists (every word popularity 1)."""
        return Speller(dict.fromkeys(zh, 1), dict.fromkeys(en, 1))
