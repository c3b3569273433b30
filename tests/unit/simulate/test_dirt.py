"""The dirt helpers: unparseable timestamps, malformed lines and their permissive parse."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from synth.config.simulate import DirtConfig
from synth.simulate.dirt import DIRT_KINDS, RATE_FIELD, bad_timestamp, malformed_line, parsed_field

LINE = (
    "2019-10-01 00:00:04 UTC,view,1004237,2053013555631882655,electronics.smartphone,apple,"
    "1081.98,535871217,c6bd7419-2748-4c56-95b4-8cec9ff8b80d"
)


def test_every_kind_has_a_rate_field():
    assert set(RATE_FIELD.values()) == set(DirtConfig.model_fields)
    assert len(DIRT_KINDS) == len(DirtConfig.model_fields)


@pytest.mark.spark
class TestDirtColumns:
    def test_bad_timestamps_do_not_parse(self, spark):
        # Setup
        df = spark.createDataFrame([(v,) for v in range(5)], "v int")
        # Run
        values = [
            r[0]
            for r in df.select(
                bad_timestamp(F.lit("2019-10-01 12:34:56 UTC"), F.col("v"))
            ).collect()
        ]
        parsed = [
            r[0]
            for r in spark.createDataFrame([(v,) for v in values], "t string")
            .select(F.try_to_timestamp(F.col("t"), F.lit("yyyy-MM-dd HH:mm:ss 'UTC'")))
            .collect()
        ]
        # Assert
        assert values == [
            "2019-13-01 12:34:56 UTC",
            "2019-10-01 25:34:56 UTC",
            "NaT",
            "2019-10-01 12:",
            "0000-00-00 00:00:00 UTC",
        ]
        assert parsed == [None] * 5

    def test_malformed_lines_have_the_wrong_field_count(self, spark):
        df = spark.createDataFrame([(v,) for v in range(4)], "v int")
        lines = [
            r[0] for r in df.select(malformed_line(F.lit(LINE), F.col("v"), F.lit(77))).collect()
        ]
        assert [len(line.split(",")) for line in lines] == [8, 7, 10, 10]
        assert lines[3].startswith("77,2019-10-01")
        assert lines[2] == LINE + ","

    def test_parsed_fields_mimic_a_permissive_reader(self, spark):
        row = (
            spark.range(1)
            .select(
                *[parsed_field(F.split(F.lit("a,,c"), ","), i).alias(f"f{i}") for i in (1, 2, 3, 4)]
            )
            .first()
        )
        assert list(row) == ["a", None, "c", None]
