"""Delta helpers: atomic create-or-replace with table properties, on relative and absolute paths."""

from __future__ import annotations

import os

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from synth.errors import InvalidDataError
from synth.io.delta import (
    Lakehouse,
    merge_partition,
    read_table,
    replace_table,
    table_properties,
    written_rows,
)

pytestmark = pytest.mark.spark

SCHEMA = StructType([StructField("id", LongType(), False, {"comment": "the id"})])


def test_replace_table_relative_root_properties_and_comments(spark, tmp_path, monkeypatch):
    # Setup: a relative lakehouse root, as `lakehouse: ./lakehouse` gives
    monkeypatch.chdir(tmp_path)
    df = spark.createDataFrame([(i,) for i in range(3)], SCHEMA)
    path = Lakehouse("./lake").table_path("gold", "t")
    # Run: create, then replace with other properties
    v0 = replace_table(df, path, properties={"synth.a": "1", "synth.b": "x"})
    v1 = replace_table(df.limit(2), path, properties={"synth.a": "2"})
    # Assert: one commit each, properties replaced (no leftovers), comments kept, rows counted
    assert (v0, v1) == (0, 1)
    assert os.path.isdir(tmp_path / "lake" / "gold" / "t" / "_delta_log")
    assert path == str(tmp_path / "lake" / "gold" / "t")
    props = table_properties(spark, path)
    assert props["synth.a"] == "2" and "synth.b" not in props
    back = read_table(spark, str(tmp_path / "lake" / "gold" / "t"))
    assert back.schema["id"].metadata["comment"] == "the id"
    assert back.count() == 2 and written_rows(spark, path) == 2


def _history(spark, path: str) -> list[str]:  # noqa: ANN001
    return [r["operation"] for r in DeltaTable.forPath(spark, path).history().collect()][::-1]


def test_merge_partition_appends_to_an_empty_partition_and_merges_into_a_written_one(
    spark, tmp_path
):
    # Setup: run a and run b written once each
    path = str(tmp_path / "fused")
    schema = "run_id string, id long, v string"
    first = spark.createDataFrame([("a", 1, "x"), ("a", 2, "y")], schema)
    other = spark.createDataFrame([("b", 1, "p")], schema)
    # Run
    wrote_a = merge_partition(first, path, keys=["id"], column="run_id", value="a")
    wrote_b = merge_partition(other, path, keys=["id"], column="run_id", value="b")
    # Assert: each a single append (the table created by the first)
    assert wrote_a == {
        "numTargetRowsInserted": 2,
        "numTargetRowsUpdated": 0,
        "numTargetRowsDeleted": 0,
    }
    assert wrote_b["numTargetRowsInserted"] == 1
    assert _history(spark, path) == ["WRITE", "WRITE"]
    # Run: run a again, changed: id 1 updated, id 2 gone, id 3 new
    again = spark.createDataFrame([("a", 1, "z"), ("a", 3, "w")], schema)
    merged = merge_partition(again, path, keys=["id"], column="run_id", value="a")
    # Assert: one MERGE; run b untouched
    assert merged == {
        "numTargetRowsInserted": 1,
        "numTargetRowsUpdated": 1,
        "numTargetRowsDeleted": 1,
    }
    assert _history(spark, path) == ["WRITE", "WRITE", "MERGE"]
    rows = sorted(tuple(r) for r in read_table(spark, path).select("run_id", "id", "v").collect())
    assert rows == [("a", 1, "z"), ("a", 3, "w"), ("b", 1, "p")]
    # Run: the same again leaves the same rows
    merge_partition(again, path, keys=["id"], column="run_id", value="a")
    assert (
        sorted(tuple(r) for r in read_table(spark, path).select("run_id", "id", "v").collect())
        == rows
    )


def test_a_failed_append_to_an_empty_partition_commits_nothing(spark, tmp_path):
    # Setup
    path = str(tmp_path / "fused")
    schema = "run_id string, id long, v string"
    merge_partition(
        spark.createDataFrame([("a", 1, "x")], schema),
        path,
        keys=["id"],
        column="run_id",
        value="a",
    )
    failing = spark.createDataFrame([("b", 1, "y"), ("b", 2, "y")], schema).withColumn(
        "v",
        F.when(F.col("id") == 2, F.raise_error(F.lit("injected failure"))).otherwise(F.col("v")),
    )
    # Run
    with pytest.raises(Exception, match="injected failure"):
        merge_partition(failing, path, keys=["id"], column="run_id", value="b")
    # Assert: no new version, no row of run b
    assert _history(spark, path) == ["WRITE"]
    assert read_table(spark, path).where("run_id = 'b'").count() == 0


@pytest.mark.parametrize("run", ["b", "a"], ids=["append", "merge"])
@pytest.mark.parametrize(
    ("columns", "named"),
    [
        ("run_id string, id long, v string, extra double", r"lacks \['extra'\] and lack .* \[\]"),
        ("run_id string, id long", r"lacks \[\] and lack columns it has \['v'\]"),
    ],
    ids=["extra", "missing"],
)
def test_rows_of_other_columns_are_refused_by_name_and_commit_nothing(
    spark, tmp_path, run, columns, named
):
    # Setup: a fused table whose rows have run_id, id and v
    path = str(tmp_path / "fused")
    merge_partition(
        spark.createDataFrame([("a", 1, "x")], "run_id string, id long, v string"),
        path,
        keys=["id"],
        column="run_id",
        value="a",
    )
    values = {"run_id": run, "id": 1, "v": "y", "extra": 2.0}
    names = [c.split()[0] for c in columns.split(", ")]
    other = spark.createDataFrame([tuple(values[n] for n in names)], columns)
    # Run: a new run id (an append) or the written one (a MERGE)
    with pytest.raises(InvalidDataError, match=f"fused: the rows for run_id={run} have .*{named}"):
        merge_partition(other, path, keys=["id"], column="run_id", value=run)
    # Assert
    assert _history(spark, path) == ["WRITE"]
