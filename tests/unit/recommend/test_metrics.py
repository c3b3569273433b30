"""Ranking metrics by hand, the top-k tie-break, and the paired verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from synth.recommend.metrics import (
    hits,
    paired_test,
    summarise,
    tie_rank,
    top_k,
    top_k_sparse,
    user_metrics,
)


def test_top_k_orders_by_score_then_tiebreak():
    scores = np.array([[0.1, 0.9, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]])
    pop = np.array([1.0, 2.0, 3.0, 4.0])
    # Run
    top = top_k(scores, 3, pop)
    # Assert: ties broken by the larger tie-break value; an all-equal row is the popularity list
    assert top.tolist() == [[1, 3, 2], [3, 2, 1]]


def _full_sort(scores: np.ndarray, k: int, pop: np.ndarray) -> np.ndarray:
    rank = np.argsort(np.argsort(-pop, kind="stable"), kind="stable")
    return np.array([np.lexsort((rank, -row))[:k] for row in scores])


@pytest.mark.parametrize("n_items", [1_000, 3_001, 6_400])
def test_top_k_equals_a_full_sort_on_a_large_catalog(n_items):
    rng = np.random.default_rng(n_items)
    # many exact ties (rounded scores), an all-zero row, a constant row, a row whose best
    # items sit past the last whole group of LANES items, and negative scores
    scores = np.round(rng.normal(size=(40, n_items)), 1)
    scores[3] = 0.0
    scores[4] = 2.5
    scores[5, -3:] = 9.0
    scores[6] -= 100.0
    pop = rng.uniform(size=n_items)
    # Run: 1,000 items rank every row whole; the larger catalogs pre-select groups
    top = top_k(scores, 10, pop)
    # Assert: by score, then by tie-break rank
    assert np.array_equal(top, _full_sort(scores, 10, pop))


def test_top_k_takes_a_precomputed_tie_rank_and_any_cut_off():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(30, 2_700)) * 1e4  # large magnitudes: the tie term scales
    scores[:, :5] = scores[:, 5:10]  # exact ties across groups
    pop = rng.uniform(size=2_700)
    rank = tie_rank(pop)
    for k in (1, 7, 20):
        # Run
        top = top_k(scores, k, pop, rank)
        # Assert
        assert np.array_equal(top, _full_sort(scores, k, pop))


def test_sparse_top_k_fills_from_the_tiebreak_and_keeps_stored_scores():
    scores = sp.csr_matrix(np.array([[0.0, 0.4, 0.0, 0.0, 0.2], [0.0, 0.0, 0.0, 0.0, 0.0]]))
    pop = np.array([5.0, 1.0, 4.0, 3.0, 2.0])
    # Run
    top = top_k_sparse(scores, 3, pop)
    # Assert: stored scores first, then zero-score items by tie-break; the same as dense
    assert top.tolist() == [[1, 4, 0], [0, 2, 3]]
    assert np.array_equal(top, top_k(scores.toarray(), 3, pop))


def test_metrics_match_hand_computation():
    # one user, relevant items {0, 2, 5} of which 5 is off the list; list = [2, 1, 0]
    top = np.array([[2, 1, 0]])
    relevant = sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 0, 0], [0, 2, 5])), shape=(1, 6))
    # Run
    hit = hits(top, relevant)
    m = user_metrics(hit, np.array([3]), 3)
    # Assert
    assert hit.tolist() == [[True, False, True]]
    assert m.recall[0] == pytest.approx(2 / 3)
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert m.ndcg[0] == pytest.approx(dcg / idcg)
    assert m.map[0] == pytest.approx((1 / 1 + 2 / 3) / 3)


def test_off_catalog_items_count_as_misses_and_users_without_items_are_nan():
    top = np.array([[0, 1], [0, 1]])
    relevant = sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    # Run: the first user has one more held-out item no list can reach
    m = user_metrics(hits(top, relevant), np.array([2, 0]), 2)
    # Assert
    assert m.recall[0] == pytest.approx(0.5)
    assert math.isnan(m.recall[1]) and math.isnan(m.ndcg[1]) and math.isnan(m.map[1])


def test_summarise_uses_the_sample_standard_deviation():
    s = summarise([1.0, 2.0, 3.0])
    assert s == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert summarise([1.0, math.nan, 3.0])["mean"] == 2.0
    assert all(math.isnan(v) for v in summarise([math.nan, math.nan]).values())


class TestPairedTest:
    def test_lift_within_the_seed_spread_is_no_lift(self):
        r = paired_test([0.10, 0.12, 0.08, 0.11, 0.09], [0.101, 0.121, 0.081, 0.111, 0.091])
        assert r["verdict"] == "no lift"
        assert r["lift"] == pytest.approx(0.001)

    def test_consistent_large_lift_is_better_and_significant(self):
        real = [0.100, 0.101, 0.099, 0.100, 0.102]
        fused = [0.120, 0.122, 0.118, 0.121, 0.121]
        r = paired_test(real, fused)
        assert r["verdict"] == "better"
        assert float(r["p_value"]) < 0.001
        assert r["lift_pct"] == pytest.approx(100 * 0.0200 / 0.1004, rel=1e-3)

    def test_drop_is_worse_and_zero_base_has_no_relative_lift(self):
        assert paired_test([0.2, 0.21, 0.2], [0.1, 0.11, 0.1])["verdict"] == "worse"
        assert paired_test([0.0, 0.0], [0.1, 0.1])["lift_pct"] is None
