from __future__ import annotations

import pytest

from chatd.bot.index import Bm25Index
from chatd.bot.kb import FaqEntry, KnowledgeBaseError
from chatd.bot.search import KnowledgeBase
from chatd.bot.spelling import Speller, edit_distance_at_most_one
from chatd.bot.text import detect_locale, pinyin_key, stem, tokenize


def top(kb: KnowledgeBase, query: str) -> str | None:
    answer = kb.answer(query)
    return answer.entry.id if answer else None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("退款多久到账", "refunds-time"),
        ("物流好几天都没有更新了", "logistics-not-updating"),
        ("发票", "invoice-how"),
        ("价保", "price-protect"),
        ("怎么注销账号", "account-deactivate"),
    ],
)
def test_chinese(kb: KnowledgeBase, query: str, expected: str) -> None:
    assert top(kb, query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how do I cancel my order", "en-order-cancel"),
        ("refunds", "en-refunds-time"),
        ("how to reset my pasword", "en-account-reset-password"),  # typo, edit distance 1
        ("my order arrived damgaed", "en-logistics-damaged"),  # swapped letters
    ],
)
def test_english(kb: KnowledgeBase, query: str, expected: str) -> None:
    assert top(kb, query) == expected


@pytest.mark.parametrize(
    ("query", "expected", "typed", "meant"),
    [
        ("退宽多久到账", "refunds-time", "退宽", "退款"),
        ("发飘在哪里开", "invoice-how", "发飘", "发票"),
    ],
)
def test_pinyin_homophone_typos(kb: KnowledgeBase, query: str, expected: str, typed: str, meant: str) -> None:
    answer = kb.answer(query)
    assert answer is not None and answer.entry.id == expected
    assert (typed, meant) in answer.corrections


def test_mixed_chinese_and_english(kb: KnowledgeBase) -> None:
    assert top(kb, "refund 多久到账") == "refunds-time"


def test_english_question_with_chinese_only_answer(kb: KnowledgeBase) -> None:
    answer = kb.answer("is there price protection?")
    assert answer is not None and answer.entry.id == "price-protect" and answer.entry.locale == "zh-CN"


def test_same_language_entry_preferred(kb: KnowledgeBase) -> None:
    assert top(kb, "invoices") == "en-invoice-how"


@pytest.mark.parametrize(
    "query",
    [
        "把退款打到别人的银行卡上",
        "send my refund to someone else's account",
        "how do I get a refund for my bus ticket",
        "明天会下雨吗",
        "",
    ],
)
def test_declines_out_of_scope(kb: KnowledgeBase, query: str) -> None:
    assert kb.answer(query) is None


def test_confidence_and_related(kb: KnowledgeBase) -> None:
    matches = kb.search("物流不更新", limit=5)
    assert matches[0].entry.id == "logistics-not-updating"
    assert all(0.0 <= m.confidence <= 1.0 for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    answer = kb.answer("物流不更新")
    assert answer is not None and answer.confidence >= kb.threshold
    assert [e.id for e in answer.related][:2] == ["logistics-progress", "logistics-signed-not-received"]
    assert answer.entry not in answer.related and len(answer.related) <= 3


def test_explain_shows_how_a_query_was_read(kb: KnowledgeBase) -> None:
    detail = kb.explain("把退款打到别人的银行卡上")
    assert detail["locale"] == "zh-CN"
    assert detail["ranked"][0]["cue_missed"] == 1.0  # type: ignore[index]


def test_threshold_is_validated(demo_entries: list[FaqEntry]) -> None:
    with pytest.raises(ValueError):
        KnowledgeBase(demo_entries, threshold=1.5)
    strict = KnowledgeBase(demo_entries, threshold=1.0)
    assert strict.answer("退款多久到账") is None


def test_duplicate_ids_rejected() -> None:
    entry = FaqEntry(id="a", question="q", answer="x", category="c")
    with pytest.raises(KnowledgeBaseError, match="duplicate id"):
        KnowledgeBase([entry, entry])


def test_empty_knowledge_base() -> None:
    kb = KnowledgeBase([])
    assert kb.search("退款") == [] and kb.answer("退款") is None


def test_text_analysis() -> None:
    assert [t.key for t in tokenize("你好，请问退款多久到账？")] == ["退款", "多久", "到账"]
    assert [stem(w) for w in ("refunds", "refunded", "refunding")] == ["refund"] * 3
    assert stem("shipping") == stem("shipped") == "ship"
    assert pinyin_key("退宽") == pinyin_key("退款") == "tui kuan"
    assert detect_locale("refund 多久") == "zh-CN" and detect_locale("refund") == "en"


def test_speller() -> None:
    speller = Speller({"发票": 3, "退款": 2}, {"cancel": 1, "password": 1, "email": 1})
    assert speller.correct_zh("我要开发飘") == ("我要开发票", [("发飘", "发票")])
    assert speller.correct_zh("时间") == ("时间", [])  # a common word is never a slip
    assert speller.correct_en("cancle") == "cancel"
    assert speller.correct_en("pasword") == "password"
    assert speller.correct_en("gmail") is None  # first letters differ: a different word
    assert speller.correct_en("cat") is None  # too short to guess
    assert edit_distance_at_most_one("refund", "refnud")
    assert not edit_distance_at_most_one("refund", "rfnud")


def test_bm25_index() -> None:
    index = Bm25Index([{"a": 1, "b": 1}, {"a": 2}, {"c": 1}])
    scores = index.scores({"a": 1.0})
    assert set(scores) == {0, 1} and scores[1] > scores[0]
    assert index.idf("zzz") > index.idf("c") > index.idf("a")
    assert index.document_frequency("a") == 2
