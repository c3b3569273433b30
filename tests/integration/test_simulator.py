"""The simulator end to end on small volumes: determinism, realism, dirt rates, CSV round trip."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from synth.config.simulate import DirtConfig, SimulatorConfig
from synth.schema import EVENT_COLUMNS, RAW_EVENT_SCHEMA, RAW_RECORD
from synth.simulate import DIRT, HEADER, simulate_events, simulate_labeled_events, write_event_csv
from synth.simulate.simulator import user_counts

pytestmark = pytest.mark.spark

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SMALL = {"events": 3_000, "days": 3}
DIRTY = DirtConfig(
    exact_duplicate_rate=0.03,
    near_duplicate_rate=0.03,
    missing_brand_rate=0.03,
    missing_category_code_rate=0.03,
    missing_session_rate=0.03,
    bot_user_rate=0.01,
    bad_price_rate=0.03,
    bad_timestamp_rate=0.03,
    wrong_field_count_rate=0.03,
)


def _sorted_rows(df):
    return sorted(tuple("\x00" if v is None else v for v in row) for row in df.collect())


def _parses(times: pd.Series) -> pd.Series:
    return pd.to_datetime(times, format="%Y-%m-%d %H:%M:%S UTC", errors="coerce").notna()


# -- determinism ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference_rows(spark):
    return _sorted_rows(simulate_events(spark, SimulatorConfig(seed=11, partitions=1, **SMALL)))


def test_same_seed_same_rows(spark, reference_rows):
    again = _sorted_rows(simulate_events(spark, SimulatorConfig(seed=11, partitions=1, **SMALL)))
    assert again == reference_rows


def test_partitioning_does_not_change_rows(spark, reference_rows):
    cfg = SimulatorConfig(seed=11, partitions=7, **SMALL)
    df = simulate_events(spark, cfg)
    assert df.rdd.getNumPartitions() >= 7
    assert _sorted_rows(df) == reference_rows


def test_other_seed_other_rows(spark, reference_rows):
    other = _sorted_rows(simulate_events(spark, SimulatorConfig(seed=12, partitions=1, **SMALL)))
    assert other != reference_rows
    shared = set(other) & set(reference_rows)
    assert len(shared) < 0.01 * len(reference_rows)


def test_event_count_lands_near_the_request(spark):
    n = simulate_events(spark, SimulatorConfig(seed=5, events=20_000, days=7)).count()
    assert 18_000 <= n <= 22_000


# -- realism ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clean(spark) -> pd.DataFrame:
    cfg = SimulatorConfig(seed=3, events=12_000, days=7, dirt=DirtConfig.none())
    return simulate_events(spark, cfg).toPandas()


def test_clean_values_are_well_formed(clean):
    assert clean[RAW_RECORD].isna().all()
    assert clean.event_time.str.match(TIME).all()
    assert clean.user_session.str.match(UUID).all()
    assert clean.category_id.str.fullmatch(r"\d{19}").all()
    assert clean.user_id.str.fullmatch(r"\d{9}").all()
    assert clean.product_id.str.fullmatch(r"\d{7,8}").all()
    assert clean.price.str.fullmatch(r"\d+\.\d\d").all()
    assert (clean.price.astype(float) > 0).all()
    times = pd.to_datetime(clean.event_time, format="%Y-%m-%d %H:%M:%S UTC")
    assert times.min() >= pd.Timestamp("2019-10-01") and times.max() < pd.Timestamp("2019-10-08")


def test_funnel_shares_are_plausible(clean):
    shares = clean.event_type.value_counts(normalize=True)
    assert set(shares.index) == {"view", "cart", "remove_from_cart", "purchase"}
    assert shares["view"] > 0.9
    # The defaults follow the real October store: about 1% carts, 1% purchases (many purchases
    # are logged with no cart event), removals rarer than carts.
    assert 0.003 < shares["cart"] < 0.03
    assert 0.003 < shares["purchase"] < 0.03
    assert shares["remove_from_cart"] < shares["cart"]


def test_carts_and_purchases_follow_a_view_of_the_same_product(clean):
    df = clean.assign(ts=pd.to_datetime(clean.event_time, format="%Y-%m-%d %H:%M:%S UTC"))
    views = df[df.event_type == "view"].groupby(["user_session", "product_id"]).ts.min()
    acts = df[df.event_type.isin(["cart", "purchase"])]
    first_view = views.reindex(pd.MultiIndex.from_frame(acts[["user_session", "product_id"]]))
    assert (first_view.to_numpy() <= acts.ts.to_numpy()).mean() > 0.99


def test_sessions_and_gaps_are_realistic(clean):
    per_session = clean.groupby("user_session").size()
    assert 2.0 < per_session.mean() < 8.0
    assert per_session.max() > 15  # heavy tail
    df = clean.assign(ts=pd.to_datetime(clean.event_time, format="%Y-%m-%d %H:%M:%S UTC"))
    gaps = df.sort_values("ts").groupby("user_session").ts.diff().dt.total_seconds().dropna()
    assert 15 < gaps.median() < 60
    assert gaps.quantile(0.9) > 3 * gaps.median()


def test_missing_values_and_skew_are_realistic(clean):
    assert 0.2 < clean.category_code.isna().mean() < 0.45
    assert 0.05 < clean.brand.isna().mean() < 0.25
    counts = clean.product_id.value_counts()
    top = counts.iloc[: max(1, len(counts) // 100)].sum() / len(clean)
    assert top > 0.08  # Zipf: the top 1% of products take far more than 1% of events
    # One product, one brand / category / price
    per_product = clean.groupby("product_id").agg(
        brands=("brand", "nunique"),
        categories=("category_id", "nunique"),
        prices=("price", "nunique"),
    )
    assert (per_product.max() == 1).all()


def test_daily_rhythm(clean):
    hours = pd.to_datetime(clean.event_time, format="%Y-%m-%d %H:%M:%S UTC").dt.hour
    day = hours.between(13, 17).sum()
    night = hours.between(0, 2).sum() + hours.between(22, 23).sum()
    assert day > 3 * night


def test_no_dirt_without_dirt(spark, clean):
    assert clean.user_session.notna().all()
    assert _parses(clean.event_time).all()
    assert not clean.duplicated().any()
    per_user = clean.groupby("user_id").size()
    assert per_user.max() < 100  # no bot-sized users
    labels = simulate_labeled_events(
        spark, SimulatorConfig(seed=3, events=12_000, days=7, dirt=DirtConfig.none())
    ).where(F.size(DIRT) > 0)
    assert labels.count() == 0


# -- dirt -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dirty(spark) -> pd.DataFrame:
    cfg = SimulatorConfig(seed=4, events=20_000, days=3, dirt=DIRTY)
    return simulate_labeled_events(spark, cfg).toPandas()


def _labeled(df: pd.DataFrame, kind: str) -> pd.Series:
    return df[DIRT].map(lambda labels: kind in labels)


@pytest.mark.parametrize(
    "kind",
    ["missing_session", "bad_price", "bad_timestamp", "wrong_field_count"],
)
def test_row_dirt_rate_is_honoured(dirty, kind):
    # Each original event (not a duplicate copy) is hit with the configured chance.
    originals = ~(_labeled(dirty, "exact_duplicate") | _labeled(dirty, "near_duplicate"))
    share = _labeled(dirty, kind)[originals].mean()
    assert 0.7 * 0.03 < share < 1.3 * 0.03


@pytest.mark.parametrize("kind", ["exact_duplicate", "near_duplicate"])
def test_duplicate_rate_is_honoured(dirty, kind):
    originals = ~(_labeled(dirty, "exact_duplicate") | _labeled(dirty, "near_duplicate"))
    assert 0.7 * 0.03 < _labeled(dirty, kind).sum() / originals.sum() < 1.3 * 0.03


@pytest.mark.parametrize(
    ("kind", "column"), [("missing_brand", "brand"), ("missing_category_code", "category_code")]
)
def test_missing_value_rate_is_honoured(dirty, kind, column):
    # Blanking hits rows that had a value: labelled / (still present + labelled) is the rate.
    ok = dirty[RAW_RECORD].isna()
    hit = _labeled(dirty, kind) & ok
    present = dirty[column].notna() & ok
    assert 0.7 * 0.03 < hit.sum() / (present.sum() + hit.sum()) < 1.3 * 0.03
    assert dirty.loc[hit, column].isna().all()


def test_dirt_has_its_effect(dirty):
    ok = dirty[RAW_RECORD].isna()
    assert dirty.loc[_labeled(dirty, "missing_session") & ok, "user_session"].isna().all()
    assert (dirty.loc[_labeled(dirty, "bad_price") & ok, "price"].astype(float) <= 0).all()
    assert not _parses(dirty.loc[_labeled(dirty, "bad_timestamp") & ok, "event_time"]).any()
    clean_rows = ok & dirty[DIRT].map(len).eq(0)
    assert _parses(dirty.loc[clean_rows, "event_time"]).all()
    raw = dirty.loc[_labeled(dirty, "wrong_field_count"), RAW_RECORD]
    assert raw.notna().all() and (raw.str.count(",") != 8).all()
    assert dirty.loc[~_labeled(dirty, "wrong_field_count"), RAW_RECORD].isna().all()


def test_duplicates_are_duplicates(dirty):
    fields = dirty[[*EVENT_COLUMNS, RAW_RECORD]].fillna("\x00")
    keys = Counter(map(tuple, fields.itertuples(index=False)))
    exact = fields[_labeled(dirty, "exact_duplicate")]
    assert all(keys[tuple(row)] >= 2 for row in exact.itertuples(index=False))
    near = dirty[_labeled(dirty, "near_duplicate") & dirty[RAW_RECORD].isna()]
    near = near[_parses(near.event_time)]
    shifted = near.assign(
        event_time=(
            pd.to_datetime(near.event_time, format="%Y-%m-%d %H:%M:%S UTC")
            - pd.Timedelta(seconds=1)
        ).dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    shifted2 = near.assign(
        event_time=(
            pd.to_datetime(near.event_time, format="%Y-%m-%d %H:%M:%S UTC")
            - pd.Timedelta(seconds=2)
        ).dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    columns = [*EVENT_COLUMNS, RAW_RECORD]
    found = [
        keys[tuple(a)] > 0 or keys[tuple(b)] > 0
        for a, b in zip(
            shifted[columns].fillna("\x00").itertuples(index=False),
            shifted2[columns].fillna("\x00").itertuples(index=False),
            strict=True,
        )
    ]
    assert len(found) > 0 and all(found)


def test_bots_are_fast_heavy_users(dirty):
    # Rows with the wrong field count carry shifted fields: count users on well-formed rows only
    formed = dirty[~_labeled(dirty, "wrong_field_count")]
    bots = formed[_labeled(formed, "bot_user")]
    _, n_bots = user_counts(SimulatorConfig(seed=4, events=20_000, days=3, dirt=DIRTY))
    assert bots.user_id.nunique() == n_bots
    assert n_bots == pytest.approx(0.01 * formed.user_id.nunique(), abs=2)
    df = bots[_parses(bots.event_time)].assign(
        ts=lambda d: pd.to_datetime(d.event_time, format="%Y-%m-%d %H:%M:%S UTC")
    )
    for _, events in df.groupby("user_id"):
        gaps = events.sort_values("ts").ts.diff().dt.total_seconds().dropna()
        assert len(events) >= 100
        assert gaps.median() <= 3
    assert set(bots.event_type) == {"view"}


# -- CSV files --------------------------------------------------------------------------------
def test_csv_round_trip(spark, tmp_path):
    # Setup
    cfg = SimulatorConfig(seed=8, events=4_000, days=2, dirt=DIRTY, partitions=3)
    df = simulate_events(spark, cfg)
    expected = _sorted_rows(df)
    # Run
    write_event_csv(df, str(tmp_path / "csv"))
    # Assert: each file is REES46 CSV, one line per row, malformed rows as their raw line
    files = sorted((tmp_path / "csv").glob("part-*.csv"))
    assert len(files) == df.rdd.getNumPartitions()  # humans in 3 partitions, bots in 1
    body = []
    for f in files:
        lines = f.read_text(encoding="utf-8").split("\n")
        assert lines[0] == HEADER and lines[-1] == ""
        body.extend(lines[1:-1])
    assert len(body) == len(expected)
    raw = {row[-1] for row in expected if row[-1] != "\x00"}
    assert raw and raw <= set(body)
    assert all(line.count(",") == 8 for line in body if line not in raw)
    # And a permissive CSV reader gives back exactly the simulated rows
    schema = StructType([*RAW_EVENT_SCHEMA.fields, StructField(RAW_RECORD, StringType(), True)])
    back = (
        spark.read.schema(schema)
        .option("header", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", RAW_RECORD)
        .csv(str(tmp_path / "csv"))
    )
    assert _sorted_rows(back) == expected
