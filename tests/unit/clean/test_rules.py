from __future__ import annotations

import math
from collections import Counter

import pandas as pd
import pytest
from pyspark.sql import functions as F

from synth.clean.pipeline import classify_events
from synth.clean.rules import DISPOSITION, to_silver
from synth.config.clean import BotConfig, CleanConfig, DedupConfig, SplitConfig
from synth.ingest.adapters import ParseSpec
from tests.factories import event, make_bronze, ts

pytestmark = pytest.mark.spark


def _classify(spark, rows, cfg=None, partitions=2):
    bronze = make_bronze(spark, rows, partitions=partitions)
    classified, items = classify_events(bronze, ParseSpec(), cfg or CleanConfig())
    return classified, items


def _dispositions(spark, rows, cfg=None):
    classified, _ = _classify(spark, rows, cfg)
    return Counter(r[DISPOSITION] for r in classified.select(DISPOSITION).collect())


def _silver(spark, rows, cfg=None, partitions=2):
    classified, items = _classify(spark, rows, cfg, partitions)
    return to_silver(classified, items).toPandas()


class TestDuplicates:
    def test_exact_duplicate_removed_once(self, spark):
        rows = [event(), event(), event(event_time=ts(30))]
        assert _dispositions(spark, rows) == Counter({None: 2, "exact_duplicate": 1})

    def test_near_duplicate_within_window(self, spark):
        # Setup: same user/product/type 1 s apart (near), 5 s apart (kept), other type (kept)
        rows = [
            event(event_time=ts(0)),
            event(event_time=ts(1), user_session="other"),
            event(event_time=ts(6)),
            event(event_time=ts(6), event_type="cart"),
        ]
        # Run / Assert
        assert _dispositions(spark, rows) == Counter({None: 3, "near_duplicate": 1})

    def test_near_duplicate_window_zero_disables(self, spark):
        rows = [event(event_time=ts(0)), event(event_time=ts(0), price="11.00")]
        cfg = CleanConfig(dedup=DedupConfig(near_duplicate_window_s=0))
        assert _dispositions(spark, rows, cfg) == Counter({None: 2})
        assert _dispositions(spark, rows) == Counter({None: 1, "near_duplicate": 1})


class TestBots:
    def test_bot_user_over_minute_rate_quarantined(self, spark):
        # Setup: user 7 views 2 distinct products a second for 31 s: 62 events in a rolling minute
        bot = [
            event(user_id="7", product_id=str(1000 + i), event_time=ts(i // 2)) for i in range(62)
        ]
        human = [
            event(user_id="8", product_id=str(2000 + i), event_time=ts(0, minute=i))
            for i in range(5)
        ]
        # Run
        out = _dispositions(
            spark, bot + human, CleanConfig(bots=BotConfig(max_events_per_minute=60))
        )
        # Assert: every event of the bot, none of the human
        assert out == Counter({"bot_user": 62, None: 5})

    def test_one_event_per_second_is_not_a_bot(self, spark):
        rows = [
            event(user_id="7", product_id=str(1000 + i), event_time=ts(i % 60, minute=i // 60))
            for i in range(90)
        ]
        assert _dispositions(
            spark, rows, CleanConfig(bots=BotConfig(max_events_per_minute=60))
        ) == Counter({None: 90})

    def test_bot_threshold_configurable_and_disable(self, spark):
        rows = [event(user_id="7", product_id=str(1000 + i), event_time=ts(i)) for i in range(10)]
        assert (
            _dispositions(spark, rows, CleanConfig(bots=BotConfig(max_events_per_minute=9)))[
                "bot_user"
            ]
            == 10
        )
        assert (
            _dispositions(spark, rows, CleanConfig(bots=BotConfig(max_events_per_minute=10)))[None]
            == 10
        )
        assert (
            _dispositions(
                spark, rows, CleanConfig(bots=BotConfig(enabled=False, max_events_per_minute=1))
            )[None]
            == 10
        )

    def test_bot_day_threshold(self, spark):
        rows = [
            event(user_id="7", product_id=str(1000 + i), event_time=ts(0, minute=i))
            for i in range(12)
        ]
        cfg = CleanConfig(bots=BotConfig(max_events_per_day=11))
        assert _dispositions(spark, rows, cfg) == Counter({"bot_user": 12})


class TestPrices:
    def test_missing_price_imputed_from_item_median(self, spark):
        rows = [
            event(product_id="5", price="10.00", event_time=ts(0)),
            event(product_id="5", price="30.00", event_time=ts(10)),
            event(product_id="5", price="20.00", event_time=ts(20), user_id="2"),
            event(product_id="5", price=None, event_time=ts(30)),
            event(product_id="6", price="", event_time=ts(40)),  # no price anywhere: kept
        ]
        classified, items = _classify(spark, rows)
        counts = Counter(r[DISPOSITION] for r in classified.select(DISPOSITION).collect())
        assert counts == Counter({None: 5})
        silver = to_silver(classified, items).toPandas()
        imputed = silver[silver.price_imputed]
        assert len(imputed) == 1 and imputed.price.iloc[0] == 20.0
        unpriced = silver[silver.product_id == 6].iloc[0]
        assert pd.isna(unpriced.price) and unpriced.price_missing == "never_priced"
        assert pd.isna(unpriced.price_rel_category_median)
        assert silver[silver.product_id == 5].price_missing.isna().all()

    def test_require_price_quarantines_unpriced_events(self, spark):
        rows = [
            event(product_id="5", price="10.00", event_time=ts(0)),
            event(product_id="5", price=None, event_time=ts(30)),  # imputed: kept
            event(product_id="6", price="", event_time=ts(40)),
        ]
        cfg = CleanConfig(require_price=True)
        assert _dispositions(spark, rows, cfg) == Counter({None: 2, "missing_price": 1})

    def test_source_without_prices_is_not_in_source(self, spark):
        rows = [event(price=None), event(price=None, event_time=ts(9), product_id="7")]
        classified, items = _classify(spark, rows)
        silver = to_silver(classified, items, has_price=False).toPandas()
        assert len(silver) == 2 and silver.price.isna().all()
        assert set(silver.price_missing) == {"not_in_source"}

    def test_invalid_prices_quarantined(self, spark):
        rows = [
            event(price="0"),
            event(price="-5", event_time=ts(9)),
            event(price="abc", event_time=ts(19)),
            event(price="2000000", event_time=ts(29)),
            event(price="3.5", event_time=ts(39)),
        ]
        assert _dispositions(spark, rows) == Counter({"invalid_price": 4, None: 1})

    def test_category_normalisation_matches_pandas(self, spark):
        # Setup: two categories, several products each, one product seen twice
        rows = []
        for i, (cat, pid, price) in enumerate(
            [
                ("11", "1", "10"),
                ("11", "2", "20"),
                ("11", "3", "40"),
                ("11", "3", "40"),
                ("22", "4", "100"),
                ("22", "5", "300"),
            ]
        ):
            rows.append(
                event(
                    category_id=cat,
                    product_id=pid,
                    price=price,
                    event_time=ts(i * 5),
                    user_id=str(i),
                )
            )
        # Run
        silver = _silver(spark, rows)
        # Assert against a pandas reference: per category, median and log-mean/std over products
        items = pd.DataFrame({"cat": [11, 11, 11, 22, 22], "price": [10.0, 20, 40, 100, 300]})
        for _, row in silver.iterrows():
            ref = items[items.cat == row.category_id].price
            assert row.price_rel_category_median == pytest.approx(row.price / ref.median())
            logs = ref.map(math.log)
            assert row.price_log_z_category == pytest.approx(
                (math.log(row.price) - logs.mean()) / logs.std(ddof=1)
            )


class TestSessionsAndSplit:
    def test_missing_sessions_rebuilt_by_gap(self, spark):
        rows = [
            event(user_session=None, product_id="1", event_time=ts(0, minute=0)),
            event(user_session="", product_id="2", event_time=ts(0, minute=10)),
            event(user_session=None, product_id="3", event_time=ts(0, minute=50)),  # 40 min gap
            event(user_session="kept", product_id="4", event_time=ts(0, minute=51)),
        ]
        silver = _silver(spark, rows).sort_values("event_time")
        assert list(silver.user_session) == ["rebuilt-1-1", "rebuilt-1-1", "rebuilt-1-2", "kept"]
        assert list(silver.session_rebuilt) == [True, True, True, False]

    def test_split_per_user_by_time(self, spark):
        heavy = [
            event(user_id="1", product_id=str(i), event_time=ts(0, minute=i)) for i in range(10)
        ]
        light = [
            event(user_id="2", product_id=str(i), event_time=ts(0, minute=i)) for i in range(2)
        ]
        silver = _silver(spark, heavy + light)
        u1 = silver[silver.user_id == 1].sort_values("event_time")
        assert list(u1.split) == ["train"] * 8 + ["validation", "test"]
        assert set(silver[silver.user_id == 2].split) == {"train"}
        cfg = CleanConfig(split=SplitConfig(train=0.5, validation=0.2, test=0.3))
        u1 = _silver(spark, heavy, cfg).sort_values("event_time")
        assert list(u1.split) == ["train"] * 5 + ["validation"] * 2 + ["test"] * 3


class TestDeterminism:
    def test_output_independent_of_partitioning(self, spark):
        rows = [
            event(
                user_id=str(u),
                product_id=str(p),
                event_time=ts(s % 60, minute=s // 60),
                price=f"{p}.50",
                user_session=None if s % 7 == 0 else f"s{u}",
            )
            for u in range(5)
            for p in range(4)
            for s in (p * 3, p * 3 + 1)
        ]
        a = _silver(spark, rows, partitions=1)
        b = _silver(spark, rows, partitions=5)
        key = ["user_id", "event_time", "product_id", "user_session"]
        pd.testing.assert_frame_equal(
            a.sort_values(key).reset_index(drop=True).drop(columns="_source_file"),
            b.sort_values(key).reset_index(drop=True).drop(columns="_source_file"),
        )

    def test_unknown_tokens_fill_missing_categoricals(self, spark):
        silver = _silver(spark, [event(brand=None, category_code="", category_id=None)])
        row = silver.iloc[0]
        assert (row.brand, row.category_code, row.category_id) == ("unknown", "unknown", -1)
        assert not silver.drop(columns="price_missing").isna().any().any()


class TestPlan:
    def test_rules_sort_each_partition_twice(self, spark):
        # Setup: the duplicate rules, then the bot rule, the sessions and the split
        from synth.clean.pipeline import finish_events, flag_events
        from synth.clean.rules import item_prices

        bronze = make_bronze(spark, [event()], partitions=2)
        flagged = flag_events(bronze, ParseSpec(), CleanConfig())
        classified = finish_events(flagged, F.broadcast(item_prices(flagged)), CleanConfig())
        # Run: the physical plan of the rows' path (the price side is a separate aggregate)
        plan = classified._jdf.queryExecution().executedPlan().toString()
        main = plan.split("BroadcastExchange")[0]
        # Assert: one sort per user / product / type, one per user in time order, one shuffle
        assert main.count("Sort [") == 2
        assert main.count("Exchange hashpartitioning") == 1
