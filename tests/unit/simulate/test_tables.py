"""Driver-side tables and laws of ``synth.simulate.tables`` (pure Python, then tiny Spark)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from pyspark.sql import functions as F

from synth.seeding import uniform
from synth.simulate.tables import (
    _LOGISTIC_UNIT,
    choose_in,
    discrete_log_scaled,
    expected_discrete_loglogistic,
    format_cents,
    format_event_time,
    int_array,
    key_logistic,
    key_uniform,
    lookup,
    quantize_weights,
    string_array,
    zipf_rank,
)


class TestQuantizeWeights:
    def test_exact_length_and_proportions(self):
        # Run
        table = quantize_weights([0.5, 0.3, 0.2], 100)
        # Assert
        assert len(table) == 100
        assert Counter(table) == {0: 50, 1: 30, 2: 20}

    def test_tiny_weights_keep_one_slot_zero_weights_none(self):
        table = quantize_weights([1.0, 1e-9, 0.0, 1.0], 10)
        counts = Counter(table)
        assert len(table) == 10
        assert counts[1] == 1
        assert counts[2] == 0

    @pytest.mark.parametrize(
        ("weights", "resolution", "message"),
        [([0.0, 0.0], 10, "positive"), ([1.0, -1.0], 10, "non-negative"), ([1, 1, 1], 2, "below")],
    )
    def test_bad_input(self, weights, resolution, message):
        with pytest.raises(ValueError, match=message):
            quantize_weights(weights, resolution)


class TestExpectedDiscreteLoglogistic:
    def test_matches_monte_carlo(self):
        # Setup: the same law, sampled with numpy
        rng = np.random.default_rng(0)
        u = rng.random(400_000)
        z = np.log(u / (1 - u)) * _LOGISTIC_UNIT
        sample = np.clip(np.ceil(2.0 * np.exp(0.9 * z)), 1, 120)
        # Run
        exact = expected_discrete_loglogistic(2.0, 0.9, 1, 120)
        # Assert
        assert exact == pytest.approx(sample.mean(), rel=0.01)

    def test_no_spread_is_the_clamped_median(self):
        assert expected_discrete_loglogistic(2.5, 0.0, 1, 10) == 3.0


@pytest.mark.spark
class TestColumnHelpers:
    def test_key_uniform_equals_seeding_uniform(self, spark):
        # Setup
        df = spark.range(2000).select(F.col("id"))
        # Run
        row = df.select(
            F.max(F.abs(key_uniform(7, "id") - uniform(7, F.col("id")))).alias("diff"),
            F.min(key_uniform(7, "id")).alias("lo"),
            F.max(key_uniform(7, "id")).alias("hi"),
        ).first()
        # Assert: bit-identical, inside [0, 1)
        assert row["diff"] == 0.0
        assert 0.0 <= row["lo"] < 0.01 and 0.99 < row["hi"] < 1.0

    def test_key_logistic_has_unit_variance(self, spark):
        stats = (
            spark.range(20_000)
            .select(key_logistic(3, "id").alias("z"))
            .select(F.mean("z").alias("m"), F.stddev("z").alias("s"))
            .first()
        )
        assert abs(stats["m"]) < 0.03
        assert stats["s"] == pytest.approx(1.0, abs=0.03)

    def test_choose_in_follows_the_weights(self, spark):
        # Setup
        table = quantize_weights([0.7, 0.2, 0.1], 1000)
        # Run
        rows = (
            spark.range(20_000)
            .select(choose_in(int_array(table), 1000, key_uniform(11, "id")).alias("k"))
            .groupBy("k")
            .count()
            .collect()
        )
        shares = {r["k"]: r["count"] / 20_000 for r in rows}
        # Assert
        assert shares[0] == pytest.approx(0.7, abs=0.02)
        assert shares[2] == pytest.approx(0.1, abs=0.01)

    def test_lookup_is_zero_based(self, spark):
        row = (
            spark.range(1)
            .select(
                lookup(string_array(["a", "", "c"]), F.lit(2)).alias("x"),
                lookup(string_array(["a", "", "c"]), F.lit(1)).alias("empty"),
            )
            .first()
        )
        assert row["x"] == "c"
        assert row["empty"] == ""

    def test_zipf_rank_is_bounded_and_skewed(self, spark):
        # Run
        ranks = [
            r["r"]
            for r in spark.range(20_000)
            .select(zipf_rank(key_uniform(5, "id"), F.lit(1000), 1.0, 4.0).alias("r"))
            .collect()
        ]
        counts = Counter(ranks)
        # Assert: in range; the head is flatter than plain Zipf (rank 5 vs rank 1:
        # ln(10/9) / ln(6/5) = 0.58 with the offset, ln(6/5) / ln(2) = 0.26 without);
        # the top 1% takes far more than 1%
        assert min(ranks) >= 0 and max(ranks) <= 999
        assert 0.45 < counts[4] / counts[0] < 0.7
        assert sum(counts[k] for k in range(10)) / len(ranks) > 0.1

    def test_discrete_log_scaled_is_clamped(self, spark):
        row = (
            spark.range(5000)
            .select(discrete_log_scaled(key_logistic(1, "id"), 3.0, 2.0, 1, 50).alias("n"))
            .select(F.min("n").alias("lo"), F.max("n").alias("hi"))
            .first()
        )
        assert row["lo"] == 1 and row["hi"] == 50

    def test_formatting_is_exact(self, spark):
        # Setup: cents and seconds at the edges of their fields
        data = [(5, 0), (12_345, 86_399), (100, 86_400 * 31 + 3_661)]
        df = spark.createDataFrame(data, "cents long, t long")
        # Run
        rows = df.select(
            format_cents(F.col("cents")).alias("price"),
            format_event_time("2019-10-01", F.col("t")).alias("time"),
        ).collect()
        # Assert
        assert [r["price"] for r in rows] == ["0.05", "123.45", "1.00"]
        assert [r["time"] for r in rows] == [
            "2019-10-01 00:00:00 UTC",
            "2019-10-01 23:59:59 UTC",
            "2019-11-01 01:01:01 UTC",
        ]

    def test_formatting_ignores_session_time_zone(self, spark):
        # Setup
        old = spark.conf.get("spark.sql.session.timeZone")
        spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
        try:
            # Run
            value = spark.range(1).select(format_event_time("2019-10-01", F.lit(3600))).first()[0]
        finally:
            spark.conf.set("spark.sql.session.timeZone", old)
        # Assert
        assert value == "2019-10-01 01:00:00 UTC"


def test_logistic_unit_constant():
    assert _LOGISTIC_UNIT == pytest.approx(math.sqrt(3) / math.pi)
