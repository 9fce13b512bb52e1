"""The one analysis behind transcript search, and the marking of hits."""

from __future__ import annotations

from chatd.search import MAX_QUERY_TERMS, highlight, hit_fragments, index_terms, query_terms


def test_a_query_finds_what_was_indexed_in_chinese_and_english() -> None:
    indexed = set(index_terms("你好，我的快递物流进度怎么查？Order #1001 was REFUNDED").split())
    for query in ("物流进度", "物流", "进度", "快递 1001", "order", "refund", "Refunds", "ＯＲＤＥＲ"):
        assert set(query_terms(query)) <= indexed, query
    assert not set(query_terms("发票")) <= indexed


def test_queries_drop_punctuation_and_repeats_and_are_bounded() -> None:
    assert query_terms("？！…  ") == [] and query_terms("<script>") == ["script"]
    assert query_terms("物流 物流 refund refunds") == ["物流", "refund"]
    assert len(query_terms(" ".join(f"word{n}" for n in range(20)))) == MAX_QUERY_TERMS
    assert all('"' not in term and "'" not in term for term in query_terms('it\'s "quoted" or NOT'))


def test_hits_are_marked_in_the_text_as_typed_and_escaped() -> None:
    assert highlight("I want a <b>refund</b> & Refunds", "refund") == \
        "I want a &lt;b&gt;<mark>refund</mark>&lt;/b&gt; &amp; <mark>Refund</mark>s"
    assert hit_fragments("扫地机器人物流", "扫地机器人 物流") == [("扫地机器人", True), ("物流", True)]
    assert hit_fragments("no match here", "物流") == [("no match here", False)]
    assert hit_fragments("", "x") == []
    assert highlight("Ｏｒｄｅｒ 1001", "order") == "<mark>Ｏｒｄｅｒ</mark> 1001"  # full width, same length
    # Text that folds to another length (a ligature): nothing is marked rather than the wrong place.
    assert highlight("the \ufb01le <x>", "file") == "the \ufb01le &lt;x&gt;"
