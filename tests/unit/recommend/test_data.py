"""Per-variant matrices: the same real pairs in every variant for a seed; what each variant adds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth.errors import InvalidDataError
from synth.recommend.data import RecData
from synth.recommend.stage import tail_items


def _pairs(users: list[int], items: list[int], strength: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "u": users,
            "i": items,
            "uid": [100 + u for u in users],
            "pid": [900 + i for i in items],
            "strength": strength,
            "last_us": [1_000 * (u + i) for u, i in zip(users, items, strict=True)],
        }
    )


def _data() -> RecData:
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 40, 400), rng.integers(0, 30, 400)
    real = _pairs(users.tolist(), items.tolist(), 1.0).drop_duplicates(["u", "i"])
    empty = _pairs([], [], 1.0)
    return RecData(
        items=np.arange(30),
        users=np.arange(50),
        real=real.reset_index(drop=True),
        synthetic_user=_pairs([45, 46, 47], [1, 2, 3], 2.0),
        enrichment=_pairs([0, 1], [5, 5], 1.0),
        validation=empty,
        test=empty,
        real_events=np.zeros(50, np.int64),
        item_events=np.zeros(30, np.int64),
        synthetic_weight=0.5,
        dropped_pairs={},
    )


def test_the_real_pairs_kept_are_the_same_in_every_variant():
    data = _data()
    real, _ = data.variant("real", seed=3, keep=0.7)
    fused, _ = data.variant("fused", seed=3, keep=0.7)
    _, history = data.variant("synthetic", seed=3, keep=0.7)
    # Assert: real users without enrichment (2..39) have the same rows everywhere; ~70% kept
    assert np.array_equal(fused[2:40].toarray(), real[2:40].toarray())
    assert np.array_equal(history[:40].toarray(), real[:40].toarray())
    assert 0.6 < real.nnz / len(data.real) < 0.8
    other, _ = data.variant("real", seed=4, keep=0.7)
    assert (other.toarray() != real.toarray()).any()  # another seed, another subsample


def test_what_each_variant_trains_on():
    data = _data()
    real, real_history = data.variant("real", seed=0, keep=1.0)
    fused, _ = data.variant("fused", seed=0, keep=1.0)
    synthetic, synthetic_history = data.variant("synthetic", seed=0, keep=1.0)
    # Assert
    assert real is real_history and real[45:].nnz == 0
    assert fused[45, 1] == 2.0 * 0.5  # synthetic users at synthetic_weight
    assert fused[0, 5] >= 1.0  # enrichment added to a real user
    assert synthetic[:45].nnz == 0 and synthetic[45:].nnz == 3
    assert np.array_equal(synthetic_history.toarray(), real.toarray())


def test_tail_items_leave_out_the_head():
    tail = tail_items(np.array([5, 50, 1, 30, 0]), head_share=0.4)
    assert tail.tolist() == [True, False, True, False, True]


def test_orders_hold_the_same_pairs_with_their_latest_event_time():
    data = _data()
    data.enrichment = data.enrichment.assign(last_us=[10**9, 5])  # (0, 5) later, (1, 5) earlier
    data.real = pd.concat([data.real, _pairs([0, 1], [5, 5], 1.0)]).drop_duplicates(["u", "i"])
    for variant in ("real", "fused", "synthetic"):
        train, history = data.variant(variant, seed=3, keep=0.7)
        train_order, history_order = data.orders(variant, seed=3, keep=0.7)
        # Assert: the same pattern as the strength matrices
        for a, b in ((train, train_order), (history, history_order)):
            a, b = a.tocsr(), b.tocsr()
            a.sort_indices()
            b.sort_indices()
            assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    fused_order, _ = data.orders("fused", seed=0, keep=1.0)
    # a pair in two sources keeps its latest time (never a sum)
    assert fused_order[0, 5] == 10**9 and fused_order[1, 5] == 1_000 * (1 + 5)


def test_pairs_without_times_are_a_clear_error():
    data = _data()
    data.real = data.real.drop(columns="last_us")
    with pytest.raises(InvalidDataError, match="last_us"):
        data.orders("real", seed=0, keep=1.0)


def test_variant_and_orders_equal_the_two_calls():
    data = _data()
    for variant in ("real", "fused", "synthetic"):
        got = data.variant_and_orders(variant, seed=3, keep=0.7)
        want = (*data.variant(variant, seed=3, keep=0.7), *data.orders(variant, seed=3, keep=0.7))
        for a, b in zip(got, want, strict=True):
            assert (a != b).nnz == 0
