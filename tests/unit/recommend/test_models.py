"""Popularity and item-kNN on hand-made matrices; ALS user fold-in solves MLlib's equation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from synth.recommend import models
from synth.recommend.models import Als, Ease, ItemKnn, Popularity, _top_per_row


def _m(rows: list[list[float]]) -> sp.csr_matrix:
    return sp.csr_matrix(np.array(rows, dtype=np.float64))


def test_popularity_sums_strength_per_item():
    model = Popularity(_m([[1, 0, 2], [1, 0, 0]]))
    assert model.scores(_m([[0, 0, 0]])).tolist() == [[2.0, 0.0, 2.0]]


def test_item_knn_scores_co_occurring_items():
    # items 0 and 1 always together; item 2 alone
    train = _m([[1, 1, 0], [1, 1, 0], [0, 0, 1]])
    model = ItemKnn(train, neighbours=5, shrink=0.0)
    # Run: a user who has item 0 only
    scores = model.scores(_m([[1, 0, 0]]))[0]
    # Assert: cosine(0, 1) = 1; nothing links item 0 to item 2; no self-similarity
    assert scores[1] == pytest.approx(1.0)
    assert scores[2] == 0.0 and scores[0] == 0.0


def test_top_per_row_keeps_the_largest():
    kept = _top_per_row(_m([[0.1, 0.5, 0.3, 0.9], [0.2, 0, 0, 0]]), 2).toarray()
    assert kept.tolist() == [[0.0, 0.5, 0.0, 0.9], [0.2, 0.0, 0.0, 0.0]]


def test_als_fold_in_solves_the_implicit_normal_equation():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(6, 3))
    model = Als(items, reg=0.1, alpha=2.0)
    history = _m([[0, 2.0, 0, 1.0, 0, 0], [0, 0, 0, 0, 0, 0]])
    # Run
    users = model.user_factors(history)
    # Assert: (Y'Y + Y' (C - I) Y + reg * n I) x = Y' C p, with c = 1 + alpha * r on rated items
    c = np.ones(6)
    c[[1, 3]] = 1 + 2.0 * np.array([2.0, 1.0])
    p = np.zeros(6)
    p[[1, 3]] = 1.0
    a = items.T @ np.diag(c) @ items + 0.1 * 2 * np.eye(3)
    assert users[0] == pytest.approx(np.linalg.solve(a, items.T @ (c * p)))
    assert not users[1].any()  # no history, no factors: ranked by the tie-break alone


def test_ease_weights_are_the_closed_form():
    rng = np.random.default_rng(1)
    train = sp.csr_matrix((rng.uniform(size=(30, 8)) < 0.3) * rng.uniform(1, 3, size=(30, 8)))
    # Run
    model = Ease(train, l2=5.0, max_items=8, neighbours=3, shrink=0.0)
    # Assert: B = I - P diag(1 / diag(P)), P = (X'X + l2 I)^-1; a zero diagonal
    x = train.toarray()
    p = np.linalg.inv(x.T @ x + 5.0 * np.eye(8))
    want = np.eye(8) - p / np.diag(p)[None, :]
    assert np.allclose(model.weights, want) and not np.diag(model.weights).any()
    history = _m([[1, 0, 0, 2, 0, 0, 0, 0]])
    assert np.allclose(model.scores(history), history.toarray() @ want)


def test_ease_beyond_max_items_scores_the_rest_by_scaled_item_knn():
    # items 0-2 are the most used (the head); item 3 is used with item 0 only
    train = _m([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 0]])
    # Run
    model = Ease(train, l2=1.0, max_items=3, neighbours=5, shrink=0.0)
    scores = model.scores(_m([[1, 0, 0, 0]]))[0]
    # Assert: the head scored by EASE, item 3 by its kNN similarity to item 0, rescaled
    assert model.head.tolist() == [0, 1, 2] and model.rest.tolist() == [3]
    knn = ItemKnn(train, neighbours=5, shrink=0.0)
    assert scores[:3] == pytest.approx(model.weights[0])
    ratio = scores[3] / knn.scores(_m([[1, 0, 0, 0]]))[0, 3]
    assert 0 < ratio < 1


def test_als_fold_in_batches_give_the_same_factors(monkeypatch):
    rng = np.random.default_rng(2)
    model = Als(rng.normal(size=(12, 3)), reg=0.2, alpha=3.0)
    history = sp.random(40, 12, density=0.25, random_state=3, format="csr")
    whole = model.user_factors(history)
    # Run: batches of at most 3 stored values (a longer row still gets its own batch)
    monkeypatch.setattr(models, "FOLD_IN_CELLS", 3 * 3 * 3)
    batched = model.user_factors(history)
    # Assert
    assert (
        np.allclose(batched, whole, rtol=1e-12, atol=1e-12)
        and whole[np.diff(history.indptr) > 0].any()
    )
