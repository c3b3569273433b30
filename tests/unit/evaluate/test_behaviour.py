"""Behaviour fidelity: identical events score 1, order-free events lose coherence and neighbours;
the Spark bins and scores equal hand computations and the model's own gap classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth.evaluate.behaviour import (
    behaviour_fidelity,
    binned_events,
    coherence,
    knn_overlap,
    tvd_accuracy,
)
from synth.models.sequence import N_BINS, gap_class

pytestmark = pytest.mark.spark

COLUMNS = ["event_time", "event_type", "product_id", "category_id", "user_id"]


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
    return pd.DataFrame(rows, columns=COLUMNS)


def test_the_same_events_score_one(spark) -> None:  # noqa: ANN001
    real = spark.createDataFrame(_events(0, ordered=True))
    out = behaviour_fidelity(real, real)
    assert out["accuracy"] == pytest.approx(1.0)
    assert out["coherence"] == pytest.approx(1.0)
    assert out["knn10_overlap"] == pytest.approx(1.0)
    assert out["real_users"] == out["synthetic_users"] == 400
    lengths = out["distributions"]["events_per_user"]
    assert lengths["labels"] == ["2-3", "4-7", "8-15"]  # 3 to 11 events per user
    assert lengths["real"] == lengths["synthetic"] and sum(lengths["real"]) == pytest.approx(1)
    assert out["distributions"]["gap"]["labels"][0].startswith("same session")
    moves = out["category_transitions"]
    assert moves["real"] == moves["synthetic"]
    assert len(moves["real"]) == 7  # 6 categories, then "the rest" (empty here)
    assert [sum(r) for r in moves["real"][:6]] == pytest.approx([1.0] * 6)


def test_order_free_events_keep_marginals_but_lose_coherence_and_neighbours(spark) -> None:  # noqa: ANN001
    real = spark.createDataFrame(_events(0, ordered=True))
    ordered = behaviour_fidelity(
        real,
        spark.createDataFrame(_events(1, ordered=True)),
        baseline=spark.createDataFrame(_events(2, ordered=True)),
    )
    shuffled = behaviour_fidelity(real, spark.createDataFrame(_events(1, ordered=False)))
    assert shuffled["accuracy_per_column"]["event_type"] > 0.95
    assert ordered["coherence_per_column"]["category"] > 0.9
    assert (
        shuffled["coherence_per_column"]["category"]
        < ordered["coherence_per_column"]["category"] - 0.3
    )
    assert ordered["knn10_overlap"] > 0.6 and shuffled["knn10_overlap"] < 0.4
    assert ordered["knn10_overlap_real"] > 0.6


def test_scores_equal_hand_computations(spark) -> None:  # noqa: ANN001
    t = pd.Timestamp("2020-01-01 10:00")
    s = pd.Timedelta(seconds=1)
    # real: one user, view -> view -> cart; synthetic: one user, view -> cart -> cart
    real = pd.DataFrame(
        [(t, "view", 1, 1, 1), (t + 5 * s, "view", 2, 1, 1), (t + 9 * s, "cart", 2, 1, 1)],
        columns=COLUMNS,
    )
    synthetic = pd.DataFrame(
        [(t, "view", 1, 1, 9), (t + 5 * s, "cart", 1, 1, 9), (t + 9 * s, "cart", 1, 1, 9)],
        columns=COLUMNS,
    )
    out = behaviour_fidelity(spark.createDataFrame(real), spark.createDataFrame(synthetic))
    # type shares 2/3, 1/3 vs 1/3, 2/3: TVD 1/3
    assert out["accuracy_per_column"]["event_type"] == pytest.approx(2 / 3)
    assert out["accuracy_per_column"]["hour"] == out["accuracy_per_column"]["gap"] == 1.0
    # next type after a view: real {view: 1/2, cart: 1/2}, synthetic {cart: 1} -> 1/2, weight
    # 1 (the real users' only current value with a next event is view; cart has none)
    assert out["coherence_per_column"]["event_type"] == pytest.approx(0.5)
    assert tvd_accuracy(pd.Series([1.0, 1.0], ["a", "b"]), pd.Series([2.0], ["c"])) == 0.0
    table = pd.DataFrame({"a": ["x"], "b": ["y"], "count": [3]})
    assert coherence(table, table) == 1.0 and np.isnan(coherence(table, table.iloc[:0]))


def test_gap_classes_are_the_models(spark) -> None:  # noqa: ANN001
    gaps = np.array([0, 0, 1, 2, 3, 59, 600, 1_799, 1_800, 4_000, 86_400, 10**7, 10**8])
    times = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.cumsum(gaps), unit="s")
    frame = pd.DataFrame(
        {
            "event_time": times,
            "event_type": "view",
            "product_id": np.arange(len(gaps)),
            "category_id": 1,
            "user_id": 5,
        }
    )
    got = binned_events(spark.createDataFrame(frame), [1]).orderBy("step").toPandas()
    want = gap_class(gaps[1:], gaps[1:] >= 1_800)
    assert got["gap"].iloc[0] == 2 * N_BINS  # the first event's own class
    np.testing.assert_array_equal(got["gap"].to_numpy()[1:], want)
    assert (got["events_per_user"] == 3).all()  # 13 events: log2 bin 3


def test_too_few_shared_items_is_not_measured(spark) -> None:  # noqa: ANN001
    real = _events(0, ordered=True, users=20)
    overlap, items = knn_overlap(real, real.iloc[:5], min_users=5, max_items=100)
    assert np.isnan(overlap) and items <= 10
    frame = spark.createDataFrame(real)
    assert "note" in behaviour_fidelity(frame, frame.limit(0))
