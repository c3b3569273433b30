"""Session defaults: pandas frames above 1 MB become RDDs, not LocalRelations.

``synth.spark.SESSION_DEFAULTS`` lowers ``spark.sql.execution.arrow.localRelationThreshold``
from Spark's 48 MB to 1 MB. Below the threshold, ``createDataFrame(pandas)`` keeps the rows in
the plan as a LocalRelation, and every optimizer rule walks them again whenever the plan is
analysed; MLlib analyses its input several times per fit. This benchmark fits MLlib implicit
ALS the way the ``recommend`` stage does (rank 16, 8 sweeps, 2 x 2 blocks) on the default
job's size of training pairs (475,827 of them, drawn here at random over 80,000 users and
24,770 items), from the pandas frame, under both thresholds in one session, alternating,
after one warm-up fit of each (the JIT).

Run: ``python -m bench.session_conf``. Writes ``bench/results/session_conf.json``.

Target: the fit (frame creation included) at least 1.25 times as fast under the project's
default as under Spark's.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from bench.common import RESULTS, local_session, print_targets, write_result
from synth.spark import SESSION_DEFAULTS

KEY = "spark.sql.execution.arrow.localRelationThreshold"
SPARK_DEFAULT = "48MB"
PAIRS, USERS, ITEMS = 475_827, 80_000, 24_770


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "u": rng.integers(0, USERS, PAIRS).astype(np.int32),
            "i": rng.integers(0, ITEMS, PAIRS).astype(np.int32),
            "r": rng.exponential(2.0, PAIRS).astype(np.float32),
        }
    )


def _fit_seconds(spark: object, frame: pd.DataFrame, threshold: str) -> tuple[float, str]:
    from pyspark.ml.recommendation import ALS

    spark.conf.set(KEY, threshold)  # type: ignore[attr-defined]
    began = time.perf_counter()
    df = spark.createDataFrame(frame)  # type: ignore[attr-defined]
    plan = df._jdf.queryExecution().logical().getClass().getSimpleName()  # noqa: SLF001
    als = ALS(
        rank=16,
        maxIter=8,
        regParam=0.05,
        alpha=10.0,
        implicitPrefs=True,
        numUserBlocks=2,
        numItemBlocks=2,
        userCol="u",
        itemCol="i",
        ratingCol="r",
        seed=0,
        intermediateStorageLevel="MEMORY_ONLY",
        finalStorageLevel="MEMORY_ONLY",
    )
    als.fit(df).itemFactors.toPandas()
    return time.perf_counter() - began, plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4, help="timed fits per threshold")
    args = parser.parse_args(argv)
    spark = local_session("bench-session-conf")
    frame = _frame(0)
    ours = SESSION_DEFAULTS[KEY]
    times: dict[str, list[float]] = {SPARK_DEFAULT: [], ours: []}
    plans: dict[str, str] = {}
    for n in range(args.repeats + 1):
        for threshold in (SPARK_DEFAULT, ours):
            seconds, plans[threshold] = _fit_seconds(spark, frame, threshold)
            if n:  # the first round warms the JIT up
                times[threshold].append(seconds)
    spark.stop()
    before, after = statistics.median(times[SPARK_DEFAULT]), statistics.median(times[ours])
    print(f"input plan under {SPARK_DEFAULT}: {plans[SPARK_DEFAULT]}; under {ours}: {plans[ours]}")  # noqa: T201
    for threshold, values in times.items():
        listed = ", ".join(f"{v:.2f}s" for v in values)
        print(f"ALS fit from pandas, threshold {threshold}: {listed}")  # noqa: T201
    metrics = {
        "als_fit_s_spark_default": round(before, 2),
        "als_fit_s_project_default": round(after, 2),
        "speedup": round(before / after, 2),
    }
    targets = {"speedup": (">=", 1.25)}
    met = write_result("session_conf", metrics, targets, RESULTS / "session_conf.json")
    print_targets(metrics, targets, met)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
