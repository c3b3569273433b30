"""Delta helpers: atomic create-or-replace with table properties, on relative and absolute paths."""

from __future__ import annotations

import os

import pytest
from pyspark.sql.types import LongType, StructField, StructType

from synth.io.delta import (
    Lakehouse,
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
