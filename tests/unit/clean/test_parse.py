from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from synth.clean.parse import (
    hash_id,
    map_event_type,
    parse_long,
    parse_price,
    parse_quantity,
    parse_reason,
    parse_timestamp,
)
from synth.config.clean import PriceConfig

pytestmark = pytest.mark.spark


def _values(spark, values, fn):
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    return [r["out"] for r in df.select("i", fn(F.col("v")).alias("out")).orderBy("i").collect()]


class TestParseTimestamp:
    def test_parse_timestamp_rees46_format(self, spark):
        out = _values(
            spark,
            ["2019-10-01 00:00:07 UTC", "2019-13-45 99:00:00 UTC", "N/A", "", None],
            lambda c: parse_timestamp(c, "yyyy-MM-dd HH:mm:ss z"),
        )
        assert out == [dt.datetime(2019, 10, 1, 0, 0, 7), None, None, None, None]

    def test_parse_timestamp_epochs_and_iso(self, spark):
        assert _values(spark, ["1569888000", "x"], lambda c: parse_timestamp(c, "epoch_s")) == [
            dt.datetime(2019, 10, 1),
            None,
        ]
        assert _values(spark, ["1569888000500"], lambda c: parse_timestamp(c, "epoch_ms")) == [
            dt.datetime(2019, 10, 1, 0, 0, 0, 500000)
        ]
        assert _values(
            spark, ["2019-10-01T01:02:03", "yesterday"], lambda c: parse_timestamp(c, "iso")
        ) == [dt.datetime(2019, 10, 1, 1, 2, 3), None]

    def test_parse_timestamp_converts_local_zone_to_utc(self, spark):
        out = _values(
            spark,
            ["2024-03-01T10:00:00"],
            lambda c: parse_timestamp(c, "yyyy-MM-dd'T'HH:mm:ss", "Europe/Berlin"),
        )
        assert out == [dt.datetime(2024, 3, 1, 9, 0, 0)]


class TestParseValues:
    def test_parse_long_accepts_only_integers(self, spark):
        out = _values(
            spark,
            ["123", " 42 ", "12.0", "1e5", "abc", "", None, "99999999999999999999"],
            parse_long,
        )
        assert out == [123, 42, None, None, None, None, None, None]

    def test_parse_price_rejects_non_finite(self, spark):
        out = _values(spark, ["1.50", "0", "-3", "NaN", "Infinity", "x", "", None], parse_price)
        assert out == [1.5, 0.0, -3.0, None, None, None, None, None]

    def test_map_event_type_is_case_insensitive(self, spark):
        vocab = {"pageview": "view", "checkout": "purchase"}
        out = _values(
            spark, ["PageView", " checkout ", "wishlist", None], lambda c: map_event_type(c, vocab)
        )
        assert out == ["view", "purchase", None, None]

    def test_hash_id_is_stable_and_non_negative(self, spark):
        out = _values(spark, ["A100", "A100", "B200", "", None], hash_id)
        assert out[0] == out[1] and out[0] != out[2]
        assert all(v >= 0 for v in out[:3]) and out[3:] == [None, None]


class TestParseReason:
    def test_parse_reason_precedence(self, spark):
        # Setup: each row breaks the rules from a given one onwards
        rows = [
            ("a,b", None, None, None, None, "x", None, "x", None),  # malformed wins
            (None, None, None, None, None, "x", None, "x", None),  # then timestamp
            (None, 1, None, None, None, None, None, None, None),  # then event type
            (None, 1, "view", None, None, None, None, None, None),  # then user
            (None, 1, "view", 5, None, None, None, None, None),  # then product
            (None, 1, "view", 5, 7, "abc", None, None, None),  # then category
            (None, 1, "view", 5, 7, None, None, "abc", None),  # unparseable price
            (None, 1, "view", 5, 7, None, None, "0", 0.0),  # price not above min
            (None, 1, "view", 5, 7, None, None, "2e6", 2e6),  # price above max
            (None, 1, "view", 5, 7, None, None, None, None),  # blank price: imputed later
            (None, 1, "view", 5, 7, "", None, "3", 3.0),  # valid
        ]
        df = spark.createDataFrame(
            rows,
            "raw string, ts int, et string, uid long, pid long, rcid string, cid long,"
            " rprice string, price double",
        )
        # Run
        reason = parse_reason(
            raw_record=F.col("raw"),
            ts=F.col("ts"),
            event_type=F.col("et"),
            user_id=F.col("uid"),
            product_id=F.col("pid"),
            raw_category_id=F.col("rcid"),
            category_id=F.col("cid"),
            raw_price=F.col("rprice"),
            price=F.col("price"),
            prices=PriceConfig(),
        )
        out = [r[0] for r in df.select(reason).collect()]
        # Assert
        assert out == [
            "malformed_row",
            "bad_timestamp",
            "unknown_event_type",
            "bad_user_id",
            "bad_product_id",
            "bad_category_id",
            "invalid_price",
            "invalid_price",
            "invalid_price",
            None,
            None,
        ]


class TestParseTimestampShapes:
    """Epochs with fractions and other units, ISO with offsets, pattern lists, offsets."""

    def test_epoch_seconds_with_fractions_ms_and_us(self, spark):
        assert _values(spark, ["1396437466.94"], lambda c: parse_timestamp(c, "epoch_s")) == [
            dt.datetime(2014, 4, 2, 11, 17, 46, 940000)
        ]
        assert _values(spark, ["1659304800038"], lambda c: parse_timestamp(c, "epoch_ms")) == [
            dt.datetime(2022, 7, 31, 22, 0, 0, 38000)
        ]
        assert _values(
            spark, ["1569888000000001", "9e30", "nan"], lambda c: parse_timestamp(c, "epoch_us")
        ) == [dt.datetime(2019, 10, 1, 0, 0, 0, 1), None, None]

    def test_iso_with_offsets_is_an_instant_and_naive_times_take_the_zone(self, spark):
        out = _values(
            spark,
            ["2024-03-01T10:00:00+02:00", "2024-03-01T10:00:00Z", "2024-03-01T10:00:00"],
            lambda c: parse_timestamp(c, "iso", "Europe/Berlin"),
        )
        assert out == [
            dt.datetime(2024, 3, 1, 8, 0),
            dt.datetime(2024, 3, 1, 10, 0),
            dt.datetime(2024, 3, 1, 9, 0),  # naive: Berlin (UTC+1 in March)
        ]

    def test_a_list_of_formats_is_tried_in_order(self, spark):
        out = _values(
            spark,
            ["12/1/2010 8:26", "2010-12-05", "5 Dec 2010"],
            lambda c: parse_timestamp(c, ["M/d/yyyy H:mm", "yyyy-MM-dd"]),
        )
        assert out == [dt.datetime(2010, 12, 1, 8, 26), dt.datetime(2010, 12, 5), None]

    def test_offset_column_is_added_in_its_unit(self, spark):
        df = spark.createDataFrame(
            [("2016-05-09", "38317"), ("2016-05-09", "x"), ("2016-05-09", None)],
            "d string, o string",
        )
        out = [
            r["t"]
            for r in df.select(
                parse_timestamp(
                    F.col("d"), "yyyy-MM-dd", offset=F.col("o"), offset_unit="ms"
                ).alias("t")
            ).collect()
        ]
        assert out == [dt.datetime(2016, 5, 9, 0, 0, 38, 317000), None, None]


class TestParseQuantity:
    def test_integers_and_whole_floats_parse(self, spark):
        out = _values(spark, ["6", "-3", "6.0", "2.5", "", "x", None], parse_quantity)
        assert out == [6, -3, 6, None, None, None, None]
