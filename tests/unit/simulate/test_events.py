"""The clock (weekly and daily rhythm) and the funnel blocks of ``synth.simulate.events``."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from synth.simulate.events import (
    BLOCK_CART,
    BLOCK_CART_PURCHASE,
    BLOCK_CART_REMOVE,
    BLOCK_PURCHASE,
    BLOCK_VIEW,
    HOUR_WEIGHTS_UTC,
    WEEKDAY_WEIGHTS,
    Clock,
    EventModel,
)
from synth.simulate.tables import key_uniform


class TestClockTables:
    def test_weekday_tables_cover_the_period(self):
        # Setup: 10 days from a Tuesday
        clock = Clock(date(2019, 10, 1), 10)
        # Run
        _, first, count = clock.weekday_tables()
        # Assert
        assert sum(count) == 10
        assert first[1] == 0  # Tuesday is day 0
        assert count[1] == 2 and count[0] == 1

    def test_short_period_skips_missing_weekdays(self):
        table, _, count = Clock(date(2019, 10, 1), 2).weekday_tables()
        assert set(table) == {1, 2}
        assert sum(count) == 2


@pytest.mark.spark
class TestClockColumns:
    def test_days_follow_the_weekday_profile(self, spark):
        # Setup: four whole weeks
        clock = Clock(date(2019, 10, 7), 28)
        n = 70_000
        # Run
        days = Counter(
            r[0] for r in spark.range(n).select(clock.day(key_uniform(1, "id"))).collect()
        )
        # Assert: every day drawn; weekday shares follow the profile (Sunday busiest)
        assert set(days) == set(range(28))
        by_weekday = Counter()
        for offset, k in days.items():
            by_weekday[(clock.start + timedelta(days=offset)).weekday()] += k
        total = sum(WEEKDAY_WEIGHTS)
        for weekday, k in by_weekday.items():
            assert k / n == pytest.approx(WEEKDAY_WEIGHTS[weekday] / total, rel=0.05)
        assert by_weekday[6] > by_weekday[3]

    def test_seconds_follow_the_hour_profile(self, spark):
        n = 50_000
        seconds = [
            r[0] for r in spark.range(n).select(Clock.second_of_day(key_uniform(2, "id"))).collect()
        ]
        hours = Counter(s // 3600 for s in seconds)
        assert 0 <= min(seconds) and max(seconds) < 86_400
        total = sum(HOUR_WEIGHTS_UTC)
        for hour in (1, 10, 16):
            assert hours[hour] / n == pytest.approx(HOUR_WEIGHTS_UTC[hour] / total, rel=0.1)
        # Uniform within the hour
        minutes = Counter((s % 3600) // 600 for s in seconds)
        assert max(minutes.values()) < 1.1 * min(minutes.values())


@pytest.mark.spark
def test_blocks_spell_the_funnel(spark):
    # Setup
    blocks = [BLOCK_VIEW, BLOCK_CART, BLOCK_CART_PURCHASE, BLOCK_CART_REMOVE, BLOCK_PURCHASE]
    df = spark.createDataFrame([(b,) for b in blocks], "bt int")
    # Run
    rows = df.select(
        EventModel.block_length(F.col("bt")).alias("n"),
        *[EventModel.event_type(F.col("bt"), F.lit(i)).alias(f"e{i}") for i in range(3)],
    ).collect()
    spelled = [[r[f"e{i}"] for i in range(r["n"])] for r in rows]
    # Assert
    assert spelled == [
        ["view"],
        ["view", "cart"],
        ["view", "cart", "purchase"],
        ["view", "cart", "remove_from_cart"],
        ["view", "purchase"],
    ]
