"""Pairwise tests between the groups of a comparison (`runs.compare`):
one-sided Mann-Whitney U tests with Holm-Bonferroni correction.

For each task and metric, every ordered pair of groups (A, B) is tested for
"A is better than B" (scipy.stats.mannwhitneyu with ``alternative="greater"``
when higher is better, ``"less"`` when lower is better; scipy's default
method: exact for small samples without ties, else the normal approximation
with tie and continuity correction). The p-values of one task and metric are
one family, corrected with Holm's step-down method; A is reported ``better``
than B when its adjusted p-value is below `ALPHA`.
"""
from __future__ import annotations

from itertools import permutations
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05
HIGHER, LOWER = "higher", "lower"
COLUMNS = ("task", "metric", "direction", "a", "b", "n_a", "n_b", "median_a", "median_b", "U", "p", "p_adjusted",
           "better")


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down), in the input's order.

    The i-th smallest of m p-values becomes ``max_{j <= i} min(1, (m - j + 1)
    p_(j))``; rejecting where the adjusted value is below alpha controls the
    family-wise error rate at alpha. NaN entries stay NaN and do not count in m.

    Args:
        pvalues: raw p-values of one family of tests.

    Returns:
        The adjusted p-values, float64.
    """
    p = np.asarray(pvalues, np.float64).reshape(-1)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m = len(valid)
    running = 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def one_sided(a: np.ndarray, b: np.ndarray, direction: str) -> tuple[float, float]:
    """Mann-Whitney U of `a` against `b`, one-sided: "is `a` better?".

    Args:
        a, b: the two samples (NaN dropped; +inf allowed, e.g. an area never
            found ranks last when lower is better).
        direction: `HIGHER` or `LOWER`, which values are better.

    Returns:
        (U of `a`, p-value); (nan, nan) when a sample is empty.

    Raises:
        ValueError: an unknown direction.
    """
    if direction not in (HIGHER, LOWER):
        raise ValueError(f"direction must be {HIGHER!r} or {LOWER!r}, got {direction!r}")
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if not len(a) or not len(b):
        return float("nan"), float("nan")
    result = stats.mannwhitneyu(a, b, alternative="greater" if direction == HIGHER else "less")
    return float(result.statistic), float(result.pvalue)


def pairwise(task: str, metric: str, direction: str, samples: Mapping[str, np.ndarray],
             alpha: float = ALPHA) -> pd.DataFrame:
    """Every ordered pair of groups tested on one task and metric, Holm-corrected.

    Args:
        task: the task's name (copied into the rows).
        metric: the metric's name (copied into the rows).
        direction: `HIGHER` or `LOWER`.
        samples: group label -> its runs' final values (NaN: missing).
        alpha: the family-wise error rate.

    Returns:
        One row per ordered pair whose samples are both non-empty, with the
        columns of `COLUMNS`; ``better`` names group a when its adjusted
        p-value is below `alpha`, else is empty.
    """
    rows = []
    for a, b in permutations(samples, 2):
        xa, xb = np.asarray(samples[a], np.float64), np.asarray(samples[b], np.float64)
        xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
        if not len(xa) or not len(xb):
            continue
        u, p = one_sided(xa, xb, direction)
        rows.append({"task": task, "metric": metric, "direction": direction, "a": a, "b": b, "n_a": len(xa),
                     "n_b": len(xb), "median_a": float(np.median(xa)), "median_b": float(np.median(xb)),
                     "U": u, "p": p})
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_adjusted", "better")])
    frame["p_adjusted"] = holm(frame["p"].to_numpy()) if len(frame) else []
    frame["better"] = np.where(frame["p_adjusted"] < alpha, frame["a"], "") if len(frame) else []
    return frame[list(COLUMNS)]
