"""The labelled evaluation set and the bar the knowledge base must clear on it."""

from __future__ import annotations

from pathlib import Path

from chatd.bot.evaluate import MAX_FALSE_ANSWERS, MIN_ACCURACY, load_cases, main, score
from chatd.bot.kb import FaqEntry
from chatd.bot.search import KnowledgeBase

EVAL_SET = Path(__file__).with_name("eval_set.jsonl")


def test_eval_set_shape(demo_entries: list[FaqEntry]) -> None:
    cases = load_cases(EVAL_SET)
    ids = {e.id for e in demo_entries}
    assert len(cases) >= 150
    assert sum(c.expected is None for c in cases) >= 30
    assert {c.split for c in cases} == {"dev", "test"}
    assert len({c.id for c in cases}) == len(cases)
    assert all(c.expected is None or c.expected in ids for c in cases)
    kinds = {c.kind for c in cases}
    assert {"chatty", "keyword", "pinyin_typo", "en_typo", "mixed", "en_to_zh", "out_of_scope"} <= kinds
    # Paraphrases, not copies: no question is verbatim an entry's question or variant.
    phrasings = {p.strip().lower() for e in demo_entries for p in e.phrasings}
    assert not [c.question for c in cases if c.question.strip().lower() in phrasings]


def test_bar_on_test_split_and_overall(kb: KnowledgeBase) -> None:
    cases = load_cases(EVAL_SET)
    for part in ([c for c in cases if c.split == "test"], cases):
        result = score(kb, part)
        assert result.accuracy >= MIN_ACCURACY, result.line("")
        assert result.false_answer_rate <= MAX_FALSE_ANSWERS, result.line("")


def test_command_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--set", str(EVAL_SET)]) == 0
    out = capsys.readouterr().out
    assert "test   top-1" in out and "false answers" in out
