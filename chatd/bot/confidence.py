"""Calibrated confidence: the probability that the top entry answers the question.

Search describes its best entry with a few features (see
:meth:`chatd.bot.search.KnowledgeBase.explain`):

- ``coverage``: weighted share of the query's content words the entry addresses;
- ``qualifier``: weight of unaddressed words placed right before addressed ones,
  which usually say whose or which thing is meant (gmail password, 医院的发票);
- ``cue_missed``: the query has a scope cue (someone else's card) the entry ignores.

A logistic model turns them into a probability. :data:`CALIBRATION` is fitted on the
development split of the labelled set by ``python -m chatd.bot.evaluate --fit``; a
missed scope cue is a rule rather than a fitted weight (too rare to fit) and scales
the probability down by :data:`CUE_PENALTY`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["CALIBRATION", "CUE_PENALTY", "FEATURES", "confidence", "fit_logistic"]

FEATURES = ("coverage", "qualifier")
# Fitted on the dev split (python -m chatd.bot.evaluate --fit); "bias" is the intercept.
CALIBRATION: Mapping[str, float] = {
    "bias": -2.632,
    "coverage": 7.294,
    "qualifier": -0.391,
}
CUE_PENALTY = 0.25


def _sigmoid(z: float) -> float:
    if z < -60.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def confidence(features: Mapping[str, float], calibration: Mapping[str, float] = CALIBRATION) -> float:
    """Probability in [0, 1] that the entry described by ``features`` is the answer."""
    z = calibration["bias"] + sum(calibration[name] * features[name] for name in FEATURES)
    value = _sigmoid(z)
    return value * CUE_PENALTY if features.get("cue_missed") else value


def fit_logistic(rows: Sequence[tuple[Mapping[str, float], bool]], *, ridge: float = 0.01) -> dict[str, float]:
    """Fit :data:`CALIBRATION` by Newton's method on (features, top-1-is-right) rows.

    A small ridge keeps the weights finite when the classes happen to separate.
    """
    names = ("bias", *FEATURES)
    size = len(names)
    weights = [0.0] * size
    samples = [([1.0, *(f[n] for n in FEATURES)], 1.0 if right else 0.0) for f, right in rows]
    for _ in range(100):
        grad = [ridge * w for w in weights]
        hess = [[ridge if i == j else 0.0 for j in range(size)] for i in range(size)]
        for x, label in samples:
            p = _sigmoid(sum(w * v for w, v in zip(weights, x, strict=True)))
            for i in range(size):
                grad[i] += (p - label) * x[i]
                for j in range(size):
                    hess[i][j] += p * (1.0 - p) * x[i] * x[j]
        step = _solve(hess, grad)
        weights = [w - s for w, s in zip(weights, step, strict=True)]
        if max(abs(s) for s in step) < 1e-10:
            break
    return {name: round(w, 3) for name, w in zip(names, weights, strict=True)}


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Solve a small linear system by Gaussian elimination with partial pivoting."""
    n = len(rhs)
    m = [[*row, value] for row, value in zip(matrix, rhs, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            factor = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= factor * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x
