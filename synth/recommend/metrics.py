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
import scipy.sparse as sp
from scipy import stats

SEGMENTS: tuple[str, ...] = ("all", "cold", "long_tail")
METRICS: tuple[str, ...] = ("recall", "ndcg", "map")


def tie_rank(tiebreak: np.ndarray) -> np.ndarray:
    """Each item's place when ordered by ``tiebreak``, larger first (0 = best; ties by index)."""
    return np.argsort(np.argsort(-tiebreak, kind="stable"), kind="stable")


def _eps(span: np.ndarray, n_items: int) -> np.ndarray:
    # a tie-break far below any score difference of float64 scores of this magnitude
    return np.maximum(span, 1.0) * 1e-9 / n_items


LANES = 64  # items per group of the top-k pre-selection
WIDE_GROUPS = 4  # rows with more than this many times k candidate groups are ranked whole


def top_k(
    scores: np.ndarray, k: int, tiebreak: np.ndarray, rank: np.ndarray | None = None
) -> np.ndarray:
    """Each row's ``k`` best items, best first; equal scores are ordered by ``tiebreak``.

    ``tiebreak`` (one value per item, larger first; e.g. popularity) also fills the list of a
    user whose scores are all equal; ``rank`` is :func:`tie_rank` of it, when the caller ranks
    many blocks against one tie-break. Each score is adjusted by a tiny tie-break term
    (distinct per item) and the ``k`` largest adjusted scores win.

    Only candidates are adjusted and sorted: the items are cut into :data:`LANES`-item groups
    (group ``g``: items ``g, g + G, g + 2G, ...`` for ``G`` groups, so a group's maxima are an
    elementwise maximum of contiguous slices); the ``k``-th largest group maximum, lowered by
    the largest tie-break term, is a floor no item of the top ``k`` is below, and only groups
    reaching it hold candidates (the last ``n_items mod LANES`` items always are). A row with
    more than :data:`WIDE_GROUPS` ``k`` such groups (many equal scores) is ranked whole.
    """
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    if n_rows == 0:
        return np.zeros((0, k), dtype=np.int64)
    if rank is None:
        rank = tie_rank(tiebreak)
    span = np.maximum(scores.max(axis=1, keepdims=True), -scores.min(axis=1, keepdims=True))
    eps = _eps(span, n_items)
    n_groups = n_items // LANES
    if n_groups <= WIDE_GROUPS * k:
        return _whole(scores, eps, rank, k)
    body = n_groups * LANES
    maxima = scores[:, :body].reshape(n_rows, LANES, n_groups).max(axis=1)
    floor = -np.partition(-maxima, k - 1, axis=1)[:, k - 1 : k] - eps * n_items
    reach = maxima >= floor
    wide = reach.sum(axis=1) > WIDE_GROUPS * k
    out = np.empty((n_rows, k), dtype=np.int64)
    if wide.any():
        rows = np.flatnonzero(wide)
        out[rows] = _whole(scores[rows], eps[rows], rank, k)
    narrow = np.flatnonzero(~wide)
    if len(narrow):
        row, group = np.nonzero(reach[narrow])
        items = (group[:, None] + n_groups * np.arange(LANES)[None, :]).ravel()
        row = np.repeat(row, LANES)
        if body < n_items:  # the items past the last whole group: candidates of every row
            row = np.concatenate([row, np.repeat(np.arange(len(narrow)), n_items - body)])
            items = np.concatenate([items, np.tile(np.arange(body, n_items), len(narrow))])
            order = np.argsort(row, kind="stable")
            row, items = row[order], items[order]
        source = narrow[row]
        values = scores[source, items] - eps[source, 0] * rank[items]
        counts = np.bincount(row, minlength=len(narrow))
        slot = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        width = int(counts.max())
        cand_items = np.zeros((len(narrow), width), dtype=np.int64)
        cand_values = np.full((len(narrow), width), -np.inf)
        cand_items[row, slot] = items
        cand_values[row, slot] = values
        out[narrow] = _sorted_top(cand_values, cand_items, k)
    return out


def _whole(scores: np.ndarray, eps: np.ndarray, rank: np.ndarray, k: int) -> np.ndarray:
    """:func:`top_k` of every item of each row."""
    adjusted = scores - eps * rank[None, :]
    return _sorted_top(adjusted, np.broadcast_to(np.arange(scores.shape[1]), scores.shape), k)


def _sorted_top(values: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """The items of each row's ``k`` largest ``values``, largest first."""
    part = np.argpartition(-values, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(values, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(np.take_along_axis(items, part, axis=1), order, axis=1)


def top_k_sparse(
    scores: sp.csr_matrix, k: int, tiebreak: np.ndarray, rank: np.ndarray | None = None
) -> np.ndarray:
    """:func:`top_k` of non-negative scores given sparse (absent = 0): the same lists.

    Only each row's stored items and the ``k`` best items by ``tiebreak`` can be in its list:
    any other item scores 0 and ranks below those ``k`` (scores >= 0, worse tie-break), so the
    dense row is never built.
    """
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    if n_rows == 0:
        return np.zeros((0, k), dtype=np.int64)
    if rank is None:
        rank = tie_rank(tiebreak)
    best = np.argsort(rank, kind="stable")[:k]  # the k best items by tie-break
    scores = scores.tocsr()
    scores.sum_duplicates()
    lengths = np.diff(scores.indptr)
    width = int(lengths.max(initial=0)) + k
    items = np.zeros((n_rows, width), dtype=np.int64)
    values = np.full((n_rows, width), -np.inf)
    # the k tie-break items first, with their scores in each row (0 where not stored)
    items[:, :k] = best[None, :]
    values[:, :k] = np.asarray(scores[:, best].todense(), dtype=np.float64)
    # then every stored item that is not one of them
    rows = np.repeat(np.arange(n_rows), lengths)
    keep = ~np.isin(scores.indices, best)
    slot = np.arange(len(scores.indices)) - np.repeat(scores.indptr[:-1], lengths)
    items[rows[keep], k + slot[keep]] = scores.indices[keep]
    values[rows[keep], k + slot[keep]] = scores.data[keep]
    span = np.abs(np.where(np.isfinite(values), values, 0.0)).max(axis=1, keepdims=True)
    return _sorted_top(values - _eps(span, n_items) * rank[items], items, k)


def hits(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean ``top``-shaped: whether each listed item is one of its row's ``relevant`` items."""
    n_items = relevant.shape[1]
    rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    wanted = rows * n_items + relevant.indices
    listed = np.arange(top.shape[0], dtype=np.int64)[:, None] * n_items + top
    return np.isin(listed, wanted)


@dataclass
class UserMetrics:
    """Per-user metric arrays for one cut-off (``nan`` where the user has no relevant items)."""

    recall: np.ndarray
    ndcg: np.ndarray
    map: np.ndarray


def user_metrics(hit: np.ndarray, n_relevant: np.ndarray, k: int) -> UserMetrics:
    """Metrics@k of top lists from their :func:`hits` (rows aligned with ``n_relevant``).

    ``n_relevant`` per row also counts held-out items off the catalog, which no list can hit.
    """
    hit = hit[:, :k]
    k = hit.shape[1]
    n_hits = hit.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_relevant > 0, n_hits / n_relevant, np.nan)
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (hit * discounts[None, :]).sum(axis=1)
        ideal_n = np.minimum(n_relevant, k).astype(int)
        idcg = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_n]
        ndcg = np.where(n_relevant > 0, dcg / np.where(idcg > 0, idcg, 1.0), np.nan)
        precision_at = np.cumsum(hit, axis=1) / np.arange(1, k + 1)[None, :]
        ap = (precision_at * hit).sum(axis=1) / np.maximum(ideal_n, 1)
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
