"""Spark fidelity: exact column shapes equal the pandas implementation; pairs from samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth.evaluate.spark_fidelity import quality_score_spark
from synth.stats.fidelity import quality_score

pytestmark = pytest.mark.spark

KINDS = {"price": "numerical", "n": "numerical", "brand": "categorical", "seen": "datetime"}


def _table(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = np.round(rng.lognormal(3 + shift, 1, n), 2)
    price[rng.random(n) < 0.05] = np.nan
    brand = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]).astype(object)
    brand[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "price": price,
            "n": rng.poisson(2 + shift, n).astype(np.int64),
            "brand": brand,
            "seen": pd.to_datetime(rng.integers(1_569_888_000, 1_572_566_400, n), unit="s"),
        }
    )


def test_shapes_equal_pandas_and_pairs_close(spark):
    real, synth = _table(0, 3_000), _table(1, 2_000, shift=0.4)
    ours = quality_score_spark(
        spark.createDataFrame(real), spark.createDataFrame(synth), KINDS, pair_sample=10_000
    )
    reference = quality_score(real, synth, KINDS)
    for column, score in reference.per_column.items():
        assert ours.per_column[column] == pytest.approx(score, abs=1e-12), column
    # all rows fit in the pair sample here, so the pairs are the same too
    assert ours.per_pair == pytest.approx(reference.per_pair, abs=1e-12)
    assert ours.overall == pytest.approx(reference.overall, abs=1e-12)
    assert ours.overall < 0.95


def test_identical_tables_score_one(spark):
    df = spark.createDataFrame(_table(2, 1_000))
    assert quality_score_spark(df, df, KINDS).overall == pytest.approx(1.0)
