from __future__ import annotations

import json

import pytest

from chatd.bot.kb import (
    CSV_COLUMNS,
    FaqEntry,
    KnowledgeBaseError,
    entries_from_csv,
    entries_from_json,
    entries_to_csv,
    entries_to_json,
    load_entries,
)


def sample() -> list[FaqEntry]:
    return [
        FaqEntry(
            id="refund-time",
            question="退款多久到账？",
            answer='原路退回，银行卡 3-7 个工作日。含逗号, "引号" 和\n换行',
            category="refunds",
            variants=("钱什么时候退回来", "退款几天到"),
            keywords=("退款到账", "refund time"),
            locale="zh-CN",
            related=("refund-where",),
        ),
        FaqEntry(id="refund-where", question="Where does my refund go?", answer="Back to your card.",
                 category="refunds", locale="en"),
    ]


def test_json_round_trip() -> None:
    entries = sample()
    assert entries_from_json(entries_to_json(entries)) == entries


def test_csv_round_trip() -> None:
    entries = sample()
    text = entries_to_csv(entries)
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert "钱什么时候退回来|退款几天到" in text
    assert entries_from_csv(text) == entries


def test_json_accepts_a_bare_list_and_joined_strings() -> None:
    raw = [{"id": "a", "question": "q", "answer": "x", "category": "c", "keywords": "k1|k2"}]
    [entry] = entries_from_json(json.dumps(raw))
    assert entry.keywords == ("k1", "k2")
    assert entry.locale == "zh-CN"


def test_csv_optional_columns() -> None:
    [entry] = entries_from_csv("id,question,answer,category\nx,怎么开发票？,在订单详情申请,invoices\n")
    assert entry.variants == () and entry.locale == "zh-CN"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a,,ans,c,zh-CN", "row 2 (id 'a'): question is empty"),
        (",q,ans,c,zh-CN", "row 2: id is empty"),
        ("a,q,ans,c,fr", "row 2 (id 'a'): locale 'fr' is not one of zh-CN, en"),
        ("a,q,,,zh-CN", "row 2 (id 'a'): answer is empty; category is empty"),
        ("a b,q,ans,c,en", "row 2 (id 'a b'): id 'a b' must be at most 64 characters without spaces"),
        ("a,q,ans,c,en,extra", "row 2: more cells than header columns"),
    ],
)
def test_csv_bad_rows_are_named(row: str, message: str) -> None:
    text = "id,question,answer,category,locale\nok,q,ans,c,en\n" + row + "\n"
    with pytest.raises(KnowledgeBaseError) as info:
        entries_from_csv(text)
    assert str(info.value) == message


def test_csv_duplicate_and_unknown_related() -> None:
    header = "id,question,answer,category,related\n"
    with pytest.raises(KnowledgeBaseError, match=r"row 2: duplicate id 'a' \(first at row 1\)"):
        entries_from_csv(header + "a,q,x,c,\na,q2,x,c,\n")
    with pytest.raises(KnowledgeBaseError, match=r"row 1 \(id 'a'\): unknown related id\(s\) nope"):
        entries_from_csv(header + "a,q,x,c,nope\n")


def test_csv_missing_header() -> None:
    with pytest.raises(KnowledgeBaseError, match="CSV header must contain"):
        entries_from_csv("id,question\na,q\n")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        ('{"entries": 3}', "expected a JSON list"),
        ('[{"id": "a", "question": "q", "answer": "x", "category": "c", "colour": 1}]', "entry 1: unknown field"),
        ('[{"id": "a", "question": "q", "answer": "x", "category": "c", "variants": [1]}]',
         "entry 1: variants must be a list of strings"),
        ('[{"id": "a", "question": 5, "answer": "x", "category": "c"}]', "entry 1: question must be a string"),
        ('["x"]', "entry 1: expected an object"),
    ],
)
def test_json_errors(payload: str, message: str) -> None:
    with pytest.raises(KnowledgeBaseError, match=message):
        entries_from_json(payload)


def test_entry_cannot_relate_to_itself() -> None:
    with pytest.raises(KnowledgeBaseError, match="related lists the entry itself"):
        entries_from_json('[{"id": "a", "question": "q", "answer": "x", "category": "c", "related": ["a"]}]')


def test_demo_knowledge_base(demo_entries: list[FaqEntry]) -> None:
    zh = [e for e in demo_entries if e.locale == "zh-CN"]
    en = [e for e in demo_entries if e.locale == "en"]
    assert len(demo_entries) >= 60 and len(zh) >= 40 and len(en) >= 20
    categories = {e.category for e in demo_entries}
    assert {"orders", "logistics", "returns", "refunds", "invoices", "price_protection", "account", "payment",
            "coupons", "membership"} <= categories
    questions = {e.question for e in demo_entries}
    assert any(q.startswith("物流进度") for q in questions)
    assert any(q.startswith("物流不更新") for q in questions)


def test_load_entries_by_suffix(tmp_path, demo_entries: list[FaqEntry]) -> None:
    csv_file = tmp_path / "kb.csv"
    csv_file.write_text(entries_to_csv(demo_entries), encoding="utf-8")
    assert load_entries(csv_file) == demo_entries
