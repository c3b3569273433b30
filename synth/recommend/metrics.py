"""Ranking metrics per user, segment summaries and the real vs fused verdict.

Per evaluated user with held-out items R (binary relevance) and a top-K list:
- Recall@K = hits / |R|;
- NDCG@K = sum over hit ranks r (1-based) of 1 / log2(r + 1), over the same for min(|R|, K) hits;
- MAP@K = mean of precision@r over hit ranks r, divided by min(|R|, K) (average precision at K);
- coverage@K = distinct recommended items over the catalog (per segment).
Segments: ``all``; ``cold`` (at most ``cold_max_events`` real train events); ``long_tail``
(relevance restricted to tail items; users with at least one held-out tail item).
``lift_pct`` is ``None`` when the real-only mean is 0 (no relative lift to state).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

SEGMENTS: tuple[str, ...] = ("all", "cold", "long_tail")
METRICS: tuple[str, ...] = ("recall", "ndcg", "map")


def top_k(scores: np.ndarray, k: int, tiebreak: np.ndarray) -> np.ndarray:
    """Each row's ``k`` best items, best first; equal scores are ordered by ``tiebreak``.

    ``tiebreak`` (one value per item, larger first; e.g. popularity) also fills the list of a
    user whose scores are all equal.
    """
    k = min(k, scores.shape[1])
    span = np.abs(scores).max(axis=1, keepdims=True)
    rank = np.argsort(np.argsort(-tiebreak, kind="stable"), kind="stable")  # 0 = best
    # a tie-break far below any score difference of float64 scores of this magnitude
    eps = np.maximum(span, 1.0) * 1e-9 / scores.shape[1]
    adjusted = scores - eps * rank[None, :]
    part = np.argpartition(-adjusted, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(adjusted, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


@dataclass
class UserMetrics:
    """Per-user metric arrays for one cut-off (``nan`` where the user has no relevant items)."""

    recall: np.ndarray
    ndcg: np.ndarray
    map: np.ndarray


def user_metrics(
    top: np.ndarray, relevant: np.ndarray, n_relevant: np.ndarray, k: int
) -> UserMetrics:
    """Metrics@k of the top lists against the dense boolean ``relevant`` (rows aligned).

    ``n_relevant`` per row also counts held-out items off the catalog, which no list can hit.
    """
    top = top[:, :k]
    hits = np.take_along_axis(relevant, top, axis=1)
    n_hits = hits.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_relevant > 0, n_hits / n_relevant, np.nan)
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (hits * discounts[None, :]).sum(axis=1)
        ideal_n = np.minimum(n_relevant, k).astype(int)
        idcg = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_n]
        ndcg = np.where(n_relevant > 0, dcg / np.where(idcg > 0, idcg, 1.0), np.nan)
        precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)[None, :]
        ap = (precision_at * hits).sum(axis=1) / np.maximum(ideal_n, 1)
        ap = np.where(n_relevant > 0, ap, np.nan)
    return UserMetrics(recall=recall, ndcg=ndcg, map=ap)


def summarise(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Mean, sample standard deviation, min and max of per-seed values.

    NaN values are left out; all four are NaN when none is finite (a segment without users).
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if not len(arr):
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan}
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    if std <= 1e-12 * max(1.0, float(np.abs(arr).max())):
        std = 0.0  # equal values up to float rounding
    return {"mean": float(arr.mean()), "std": std, "min": float(arr.min()), "max": float(arr.max())}


def paired_test(real: Sequence[float], fused: Sequence[float]) -> dict[str, float | str | None]:
    """Paired comparison of per-seed values (the same seeds, the same real training pairs).

    ``lift`` = mean(fused - real); ``spread`` = the larger per-variant seed standard deviation;
    ``verdict``: ``no lift`` when |lift| <= spread (the seed-to-seed noise is as large),
    otherwise ``better`` or ``worse``; ``p_value`` of a two-sided paired t-test (1.0 when the
    differences are all equal to 0).
    """
    r = np.asarray(real, dtype=np.float64)
    f = np.asarray(fused, dtype=np.float64)
    diff = f - r
    lift = float(diff.mean())
    spread = max(summarise(r)["std"], summarise(f)["std"])
    if np.allclose(diff, diff[0]):
        p = 0.0 if diff[0] != 0 else 1.0
    else:
        p = float(stats.ttest_rel(f, r).pvalue)
    verdict = "no lift" if abs(lift) <= spread else ("better" if lift > 0 else "worse")
    base = float(r.mean())
    return {
        "lift": lift,
        "lift_pct": 100.0 * lift / base if base > 0 else None,
        "spread": spread,
        "p_value": p,
        "verdict": verdict,
    }
