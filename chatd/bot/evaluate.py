"""Evaluate knowledge-base answering on a labelled set of visitor questions.

Usage::

    python -m chatd.bot.evaluate [--kb KB.json] [--set EVAL.jsonl] [--threshold T]
                                 [--tune] [--fit] [--verbose]

The labelled set is JSON lines: ``{"id", "split": "dev"|"test", "kind", "question",
"expected": entry id or null}``; null means the bot must not answer. Two figures per
split and overall:

- **top-1 accuracy** on answerable questions: the bot answered with the expected entry
  (declining counts as a miss);
- **false-answer rate** on no-answer questions: the bot answered anything.

The exit status is 1 when the ``test`` split or the whole set is under the bar
(:data:`MIN_ACCURACY`, :data:`MAX_FALSE_ANSWERS`). ``--tune`` picks a threshold and
``--fit`` fits the confidence calibration, both on the ``dev`` split only, so that the
``test`` figures stay honest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chatd.bot.confidence import fit_logistic
from chatd.bot.kb import load_entries
from chatd.bot.search import KnowledgeBase

__all__ = ["MAX_FALSE_ANSWERS", "MIN_ACCURACY", "EvalCase", "Score", "load_cases", "main", "score"]

MIN_ACCURACY = 0.85
MAX_FALSE_ANSWERS = 0.10
DEMO_KB = Path(__file__).with_name("data") / "kb_demo.json"
DEFAULT_SET = Path(__file__).resolve().parents[2] / "tests" / "bot" / "eval_set.jsonl"


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One labelled question."""

    id: str
    split: str
    kind: str
    question: str
    expected: str | None


@dataclass(frozen=True, slots=True)
class Score:
    """Results on a set of cases."""

    answerable: int
    correct: int
    no_answer: int
    false_answers: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.answerable if self.answerable else 1.0

    @property
    def false_answer_rate(self) -> float:
        return self.false_answers / self.no_answer if self.no_answer else 0.0

    def passes(self) -> bool:
        return self.accuracy >= MIN_ACCURACY and self.false_answer_rate <= MAX_FALSE_ANSWERS

    def line(self, label: str) -> str:
        return (
            f"{label:<6} top-1 {self.accuracy:6.1%} ({self.correct}/{self.answerable})   "
            f"false answers {self.false_answer_rate:6.1%} ({self.false_answers}/{self.no_answer})"
        )


def load_cases(path: str | Path) -> list[EvalCase]:
    """Read the labelled set; raises ValueError naming the bad line."""
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            cases.append(EvalCase(raw["id"], raw["split"], raw["kind"], raw["question"], raw["expected"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return cases


def _top(kb: KnowledgeBase, question: str) -> tuple[str | None, float]:
    matches = kb.search(question, limit=1)
    return (matches[0].entry.id, matches[0].confidence) if matches else (None, 0.0)


def score(kb: KnowledgeBase, cases: Sequence[EvalCase], threshold: float | None = None) -> Score:
    """Score ``kb`` on ``cases`` at ``threshold`` (default: the knowledge base's own)."""
    limit = kb.threshold if threshold is None else threshold
    answerable = correct = no_answer = false_answers = 0
    for case in cases:
        top, confidence = _top(kb, case.question)
        answered = top is not None and confidence >= limit
        if case.expected is None:
            no_answer += 1
            false_answers += answered
        else:
            answerable += 1
            correct += answered and top == case.expected
    return Score(answerable, correct, no_answer, false_answers)


def tune_threshold(kb: KnowledgeBase, cases: Sequence[EvalCase]) -> float | None:
    """The threshold maximising accuracy with false answers within the bar, or None
    when no threshold keeps false answers within it.

    Among equally good thresholds the middle of the widest plateau is taken, which is
    less sensitive to the exact cases than its edges.
    """
    results = [(_top(kb, c.question), c.expected) for c in cases]
    grid = [i / 100 for i in range(5, 96)]
    best: list[float] = []
    best_key: tuple[float, float] | None = None
    for t in grid:
        answered = [(top, exp) for (top, conf), exp in results if top is not None and conf >= t]
        n_answerable = sum(1 for _, exp in results if exp is not None) or 1
        n_null = sum(1 for _, exp in results if exp is None) or 1
        accuracy = sum(1 for top, exp in answered if exp is not None and top == exp) / n_answerable
        false_rate = sum(1 for _, exp in answered if exp is None) / n_null
        if false_rate > MAX_FALSE_ANSWERS:
            continue
        key = (round(accuracy, 6), -round(false_rate, 6))
        if best_key is None or key > best_key:
            best_key, best = key, [t]
        elif key == best_key:
            best.append(t)
    return best[len(best) // 2] if best else None


def fit_calibration(kb: KnowledgeBase, cases: Sequence[EvalCase]) -> dict[str, float]:
    """Fit the confidence calibration (see :mod:`chatd.bot.confidence`) on ``cases``.

    A case is positive when the top entry is the expected one; for no-answer cases
    every top entry is wrong. Cases whose top entry misses a scope cue are left out:
    the cue penalty is a rule, not a fitted weight.
    """
    rows = []
    for case in cases:
        ranked = kb.explain(case.question)["ranked"]
        if not ranked or ranked[0]["cue_missed"]:  # type: ignore[index]
            continue
        top = ranked[0]  # type: ignore[index]
        rows.append((top, top["id"] == case.expected))
    return fit_logistic(rows)


def _reliability(kb: KnowledgeBase, cases: Sequence[EvalCase]) -> list[str]:
    bins: dict[int, list[int]] = {}
    for case in cases:
        top, confidence = _top(kb, case.question)
        bucket = min(int(confidence * 5), 4)
        bins.setdefault(bucket, []).append(int(top is not None and top == case.expected))
    lines = []
    for bucket in sorted(bins):
        hits = bins[bucket]
        lines.append(
            f"  confidence {bucket / 5:.1f}-{(bucket + 1) / 5:.1f}: {len(hits):3d} cases, "
            f"top-1 right {sum(hits) / len(hits):6.1%}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatd.bot.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--kb", default=str(DEMO_KB), help="knowledge base (.json or .csv)")
    parser.add_argument("--set", default=str(DEFAULT_SET), help="labelled questions (.jsonl)")
    parser.add_argument("--threshold", type=float, help="override the confidence threshold")
    parser.add_argument("--tune", action="store_true", help="print the best threshold on dev")
    parser.add_argument("--fit", action="store_true", help="print calibration fitted on dev")
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    args = parser.parse_args(argv)

    kb = KnowledgeBase(load_entries(args.kb))
    cases = load_cases(args.set)
    dev = [c for c in cases if c.split == "dev"]
    test = [c for c in cases if c.split == "test"]
    if args.fit:
        print(f"calibration fitted on dev: {fit_calibration(kb, dev)}")
    if args.tune:
        tuned = tune_threshold(kb, dev)
        if tuned is None:
            print("no threshold keeps dev false answers within the bar")
        else:
            print(f"threshold tuned on dev: {tuned:.2f}")
    threshold = kb.threshold if args.threshold is None else args.threshold
    print(f"knowledge base: {len(kb)} entries; threshold {threshold:.2f}")
    results = {name: score(kb, part, threshold) for name, part in (("dev", dev), ("test", test), ("all", cases))}
    for name, result in results.items():
        print(result.line(name))
    print("reliability (all):")
    print("\n".join(_reliability(kb, cases)))
    if args.verbose:
        for case in cases:
            top, confidence = _top(kb, case.question)
            answered = top if confidence >= threshold else None
            if answered != case.expected:
                print(f"  miss [{case.split} {case.kind}] {case.question!r}: "
                      f"expected {case.expected}, got {answered} (top {top} {confidence:.2f})")
    ok = results["test"].passes() and results["all"].passes()
    if not ok:
        print(f"under the bar: top-1 >= {MIN_ACCURACY:.0%} and false answers <= {MAX_FALSE_ANSWERS:.0%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
