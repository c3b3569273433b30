"""Fidelity on Spark DataFrames: column shapes by aggregation, pair trends on a bounded sample.

The same definitions as :mod:`synth.stats.fidelity`. Column shapes are exact and computed by
Spark (nothing per row reaches the driver): the KS statistic from the two empirical CDFs over
the distinct values (one grouped count and a running sum), the total variation distance from
grouped frequencies. Column-pair trends need joint distributions and correlations; they are
computed by the pandas implementation on a seeded sample of at most ``pair_sample`` rows of each
table.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from synth.stats.fidelity import NUMERIC_KINDS, QualityScore, Sdtype, combine_scores

_SIDE = "_side"


def _stacked(real: DataFrame, synth: DataFrame, column: str) -> DataFrame:
    return real.select(F.col(column).alias("v"), F.lit(0).alias(_SIDE)).unionByName(
        synth.select(F.col(column).alias("v"), F.lit(1).alias(_SIDE))
    )


def ks_complement_spark(real: DataFrame, synth: DataFrame, column: str, datetime: bool) -> float:
    """``1 - KS`` of a numerical (or datetime) column, from the two ECDFs (nulls ignored)."""
    values = _stacked(real, synth, column)
    if datetime:
        values = values.withColumn("v", F.unix_micros(F.col("v")).cast("double"))
    values = values.where(F.col("v").isNotNull() & ~F.isnan(F.col("v").cast("double")))
    counts = values.groupBy("v").agg(
        F.count_if(F.col(_SIDE) == 0).alias("r"), F.count_if(F.col(_SIDE) == 1).alias("s")
    )
    totals = counts.agg(F.sum("r").alias("nr"), F.sum("s").alias("ns"))
    upto = Window.orderBy("v").rowsBetween(Window.unboundedPreceding, 0)
    gaps = counts.crossJoin(F.broadcast(totals)).select(
        F.abs(F.sum("r").over(upto) / F.col("nr") - F.sum("s").over(upto) / F.col("ns")).alias("g"),
        "nr",
        "ns",
    )
    row = gaps.agg(F.max("g"), F.first("nr"), F.first("ns")).first()
    if row is None or not row[1] or not row[2]:
        return 0.0  # one side has no values: nothing alike
    return float(1.0 - row[0])


def tv_complement_spark(real: DataFrame, synth: DataFrame, column: str) -> float:
    """``1 - TVD`` of a categorical column's frequencies (null is a category)."""
    values = _stacked(real, synth, column).withColumn("v", F.col("v").cast("string"))
    counts = values.groupBy("v").agg(
        F.count_if(F.col(_SIDE) == 0).alias("r"), F.count_if(F.col(_SIDE) == 1).alias("s")
    )
    totals = counts.agg(F.sum("r").alias("nr"), F.sum("s").alias("ns"))
    row = (
        counts.crossJoin(F.broadcast(totals))
        .agg(F.sum(F.abs(F.col("r") / F.col("nr") - F.col("s") / F.col("ns"))))
        .first()
    )
    return float(1.0 - 0.5 * (row[0] if row is not None and row[0] is not None else 2.0))


def quality_score_spark(
    real: DataFrame,
    synth: DataFrame,
    kinds: Mapping[str, Sdtype],
    *,
    pair_sample: int = 50_000,
    seed: int = 0,
) -> QualityScore:
    """Score ``synth`` against ``real`` (Spark): exact shapes, sampled pair trends."""
    missing = [c for c in kinds if c not in real.columns or c not in synth.columns]
    if missing:
        raise ValueError(f"columns {missing} are missing from the real or the synthetic table")
    per_column = {
        c: (
            ks_complement_spark(real, synth, c, datetime=(k == "datetime"))
            if k in NUMERIC_KINDS
            else tv_complement_spark(real, synth, c)
        )
        for c, k in kinds.items()
    }
    columns = list(kinds)
    samples = []
    for df in (real, synth):
        n = df.count()
        fraction = min(1.0, pair_sample / n) if n else 1.0
        samples.append(df.select(*columns).sample(fraction=fraction, seed=seed).toPandas())
    return combine_scores(per_column, samples[0], samples[1], kinds)
