"""What the session defaults change in a real session (synth.spark.SESSION_DEFAULTS)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.spark


def _plan(df: object) -> str:
    return str(df._jdf.queryExecution().logical().getClass().getSimpleName())  # type: ignore[attr-defined]


def test_a_large_pandas_frame_becomes_an_rdd_and_a_small_one_stays_local(spark):
    # Setup: 200,000 rows of three 4-byte columns (2.4 MB of Arrow) and 10 rows
    rng = np.random.default_rng(0)
    large = pd.DataFrame(
        {
            "u": rng.integers(0, 1000, 200_000).astype(np.int32),
            "i": rng.integers(0, 1000, 200_000).astype(np.int32),
            "r": rng.random(200_000).astype(np.float32),
        }
    )
    small = large.head(10)
    # Run
    large_df, small_df = spark.createDataFrame(large), spark.createDataFrame(small)
    # Assert: the large one is no LocalRelation (whose rows every optimizer rule walks), and
    # both keep every row and value
    assert spark.conf.get("spark.sql.execution.arrow.localRelationThreshold") == "1MB"
    assert _plan(large_df) == "LogicalRDD"
    assert _plan(small_df) == "LocalRelation"
    assert large_df.count() == len(large)
    back = large_df.toPandas()
    pd.testing.assert_frame_equal(back, large)
    pd.testing.assert_frame_equal(small_df.toPandas(), small)
