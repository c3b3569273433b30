"""Behaviour fidelity: identical events score 1, order-free events lose coherence and neighbours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth.evaluate.behaviour import behaviour_fidelity, knn_overlap


def _events(seed: int, *, ordered: bool, users: int = 400) -> pd.DataFrame:
    """Users walk a ring of 60 items (next item = +1) in categories of 10; or random items."""
    rng = np.random.default_rng(seed)
    rows = []
    t0 = pd.Timestamp("2020-01-01")
    for u in range(users):
        start = int(rng.integers(60))
        n = int(rng.integers(3, 12))
        items = (start + np.arange(n)) % 60 if ordered else rng.integers(0, 60, n)
        times = t0 + pd.to_timedelta(np.cumsum(rng.integers(5, 600, n)), unit="s")
        types = np.where(rng.random(n) < 0.8, "view", "cart")
        for i in range(n):
            rows.append((times[i], types[i], int(items[i]), int(items[i]) // 10, u))
    return pd.DataFrame(
        rows, columns=["event_time", "event_type", "product_id", "category_id", "user_id"]
    )


def test_the_same_events_score_one() -> None:
    real = _events(0, ordered=True)
    out = behaviour_fidelity(real, real.copy())
    assert out["accuracy"] == pytest.approx(1.0)
    assert out["coherence"] == pytest.approx(1.0)
    assert out["knn10_overlap"] == pytest.approx(1.0)


def test_order_free_events_keep_marginals_but_lose_coherence_and_neighbours() -> None:
    real = _events(0, ordered=True)
    ordered = behaviour_fidelity(real, _events(1, ordered=True), baseline=_events(2, ordered=True))
    shuffled = behaviour_fidelity(real, _events(1, ordered=False))
    assert shuffled["accuracy_per_column"]["event_type"] > 0.95
    assert ordered["coherence_per_column"]["category"] > 0.9
    assert (
        shuffled["coherence_per_column"]["category"]
        < ordered["coherence_per_column"]["category"] - 0.3
    )
    assert ordered["knn10_overlap"] > 0.6 and shuffled["knn10_overlap"] < 0.4
    assert ordered["knn10_overlap_real"] > 0.6


def test_too_few_shared_items_is_not_measured() -> None:
    real = _events(0, ordered=True, users=20)
    overlap, items = knn_overlap(real, real.iloc[:5], min_users=5, max_items=100)
    assert np.isnan(overlap) and items <= 10
    assert "note" in behaviour_fidelity(real, real.iloc[:0])
