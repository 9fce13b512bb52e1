from __future__ import annotations

from chatd.bot.kb import FaqEntry
from chatd.bot.suggest import Suggester


def ids(suggester: Suggester, text: str, **kwargs: object) -> list[str]:
    return [s.entry_id for s in suggester.suggest(text, **kwargs)]  # type: ignore[arg-type]


def test_typing_logistics_suggests_progress_and_not_updating(suggester: Suggester) -> None:
    suggestions = suggester.suggest("物流")
    assert [s.entry_id for s in suggestions][:2] == ["logistics-progress", "logistics-not-updating"]
    assert suggestions[0].text.startswith("物流进度") and suggestions[1].text.startswith("物流不更新")
    assert all(s.locale == "zh-CN" for s in suggestions)


def test_single_character_and_word_prefixes(suggester: Suggester) -> None:
    assert ids(suggester, "物")[:2] == ["logistics-progress", "logistics-not-updating"]
    assert "refunds-time" in ids(suggester, "退款 多")  # complete word, then a word being typed
    assert "price-protect" in ids(suggester, "价保")  # a word inside the question


def test_pinyin_and_homophones(suggester: Suggester) -> None:
    assert ids(suggester, "wuliu")[:2] == ["logistics-progress", "logistics-not-updating"]
    assert ids(suggester, "wl")[:2] == ["logistics-progress", "logistics-not-updating"]  # initials
    assert ids(suggester, "物六")[:2] == ["logistics-progress", "logistics-not-updating"]


def test_english_prefixes(suggester: Suggester) -> None:
    assert set(ids(suggester, "ref")) >= {"en-refunds-time", "en-refunds-where"}
    assert ids(suggester, "how do i canc")[0] == "en-order-cancel"
    assert ids(suggester, "Where is my par")[0] == "en-logistics-progress"


def test_limit_locale_and_empty_input(suggester: Suggester) -> None:
    assert len(suggester.suggest("物流", limit=1)) == 1
    assert suggester.suggest("   ") == [] and suggester.suggest("物流", limit=0) == []
    assert all(s.locale == "en" for s in suggester.suggest("tr", locale="en"))
    assert len({s.entry_id for s in suggester.suggest("发票", limit=10)}) == len(suggester.suggest("发票", limit=10))


def test_variants_suggest_their_question() -> None:
    entry = FaqEntry(id="a", question="怎么查快递？", answer="x", category="logistics", variants=("包裹到哪了",))
    [suggestion] = Suggester([entry]).suggest("包裹")
    assert (suggestion.entry_id, suggestion.text) == ("a", "怎么查快递？")
