"""Hash draws: pinned splitmix64 uniforms (numpy) and the seeded hash-ordered sample (Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth.stats.hashing import hash_sample, hash_uniform


class TestHashUniform:
    def test_uniform_pinned_values(self):
        # Frozen outputs: changing them silently changes every generated data set.
        # Run
        values = hash_uniform(42, 7, np.array([-3, 0, 1, 2**40]), np.array([0, 0, 5, 9]))
        # Assert
        assert values.tolist() == [
            0.9144048417586573,
            0.49065578802934007,
            0.09488105143737136,
            0.052570599290578945,
        ]

    def test_uniform_depends_on_every_input(self):
        # Setup
        keys = np.arange(1_000, dtype=np.int64)
        base = hash_uniform(1, 1, keys)
        # Run / Assert: another seed, purpose or key order gives other draws
        assert not np.array_equal(base, hash_uniform(2, 1, keys))
        assert not np.array_equal(base, hash_uniform(1, 2, keys))
        swapped = hash_uniform(1, 1, keys[::-1], keys)
        assert not np.array_equal(hash_uniform(1, 1, keys, keys[::-1]), swapped)

    def test_uniform_broadcasts_and_covers_the_unit_interval(self):
        # Run
        values = hash_uniform(5, 3, np.arange(200)[:, None], np.arange(100)[None, :])
        # Assert
        assert values.shape == (200, 100)
        assert values.min() >= 0.0 and values.max() < 1.0
        assert values.mean() == pytest.approx(0.5, abs=0.01)
        counts = np.bincount((values * 10).astype(int).ravel(), minlength=10)
        assert counts.min() > 1_800 and counts.max() < 2_200

    def test_uniform_accepts_huge_and_negative_seeds(self):
        # Run
        values = hash_uniform(-1, 0, np.array([1, 2]))
        # Assert: seeds are taken modulo 2**64
        assert values.tolist() == hash_uniform(2**64 - 1, 0, np.array([1, 2])).tolist()

    def test_deterministic_and_batch_independent(self):
        # Setup
        uid = np.arange(5_000, dtype=np.int64) * 7919
        j = np.arange(5_000, dtype=np.int64) % 13
        # Run
        whole = hash_uniform(3, 4, uid, j)
        part = hash_uniform(3, 4, uid[1234:1300][::-1], j[1234:1300][::-1])
        # Assert: a row's draw depends on its keys alone, never on its batch or position
        assert np.array_equal(whole, hash_uniform(3, 4, uid, j))
        assert np.array_equal(part, whole[1234:1300][::-1])


@pytest.mark.spark
def test_hash_sample_is_seeded_and_order_free(spark):
    # Setup
    rows = pd.DataFrame({"user_id": np.arange(500, dtype=np.int64), "v": np.arange(500.0)})
    df = spark.createDataFrame(rows)
    shuffled = spark.createDataFrame(rows.sample(frac=1.0, random_state=1)).repartition(3)
    # Run
    a = hash_sample(df, "user_id", 50, seed=7)
    # Assert: same rows in the same order whatever the input order; another seed, other rows
    assert len(a) == 50
    assert a.equals(hash_sample(shuffled, "user_id", 50, seed=7))
    assert set(a.user_id) != set(hash_sample(df, "user_id", 50, seed=8).user_id)
    assert len(hash_sample(df, "user_id", 1_000, seed=7)) == 500
