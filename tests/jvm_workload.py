"""The work whose classes go into the tests' class archive (tests/jvm.py): a few seconds of what
synth's stages ask of Spark, on a handful of rows.

Run by spark-submit (the archive is written when its JVM exits):
``spark-submit --jars <Delta jars> tests/jvm_workload.py <scratch folder>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from delta.tables import DeltaTable
from pyspark.sql import Window
from pyspark.sql import functions as F

from synth.spark import build_session


def main(scratch: str) -> None:
    """Session, Delta writes, merge, reads, joins, windows, Arrow both ways, a pandas UDF."""
    root = Path(scratch)
    spark = build_session(
        "local",
        app_name="synth-class-archive",
        overrides={
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.warehouse.dir": str(root / "warehouse"),
            "spark.local.dir": str(root / "local"),
        },
    )
    events = spark.createDataFrame(
        pd.DataFrame(
            {
                "user_id": [i % 7 for i in range(200)],
                "item_id": [i % 13 for i in range(200)],
                "price": [float(i % 17) for i in range(200)],
                "event_type": ["view", "cart", "purchase", "view"] * 50,
            }
        )
    ).withColumn("event_time", F.timestamp_seconds(F.lit(1_700_000_000) + F.col("item_id")))
    table = str(root / "events")
    events.write.format("delta").mode("overwrite").partitionBy("event_type").save(table)
    events.limit(10).write.format("delta").mode("append").save(table)
    (
        DeltaTable.forPath(spark, table)
        .alias("t")
        .merge(events.limit(20).alias("s"), "t.user_id = s.user_id AND t.item_id = s.item_id")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    stored = spark.read.format("delta").load(table)
    window = Window.partitionBy("user_id").orderBy("event_time")
    profiles = (
        stored.withColumn("rank", F.row_number().over(window))
        .groupBy("user_id")
        .agg(
            F.count("*").alias("events"),
            F.avg("price").alias("price"),
            F.max("rank").alias("rank"),
        )
        .join(stored.select("user_id", "item_id").distinct(), "user_id")
    )
    profiles.write.format("delta").mode("overwrite").save(str(root / "profiles"))
    (
        spark.read.format("delta")
        .load(str(root / "profiles"))
        .mapInPandas(lambda parts: (p.assign(events=p.events * 2) for p in parts), profiles.schema)
        .toPandas()
    )
    DeltaTable.forPath(spark, table).history().collect()
    spark.read.format("delta").option("versionAsOf", 0).load(table).count()
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
