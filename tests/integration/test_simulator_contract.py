"""The simulator's contract as the pipeline relies on it: schema, determinism, dirt, CSV files."""

from __future__ import annotations

from collections import Counter

import pytest

from synth.config.simulate import DirtConfig, SimulatorConfig
from synth.schema import EVENT_COLUMNS, RAW_EVENT_SCHEMA
from synth.simulate import HEADER, simulate_events, write_event_csv

pytestmark = pytest.mark.spark

SMALL = {"events": 3000, "days": 3}


def _rows(spark, **kwargs):
    df = simulate_events(spark, SimulatorConfig(**{**SMALL, **kwargs}))
    return sorted(tuple("" if v is None else v for v in r) for r in df.collect())


def test_simulate_events_schema(spark):
    df = simulate_events(spark, SimulatorConfig(**SMALL))
    assert df.columns == [*EVENT_COLUMNS, "_raw_record"]
    assert all(
        f.dataType == RAW_EVENT_SCHEMA[f.name].dataType
        for f in df.schema.fields
        if f.name in EVENT_COLUMNS
    )


def test_simulate_events_same_seed_same_rows_any_partitioning(spark):
    a = _rows(spark, seed=3, partitions=1)
    b = _rows(spark, seed=3, partitions=5)
    c = _rows(spark, seed=4, partitions=1)
    assert a == b
    assert a != c
    assert 0.8 * SMALL["events"] < len(a) < 1.25 * SMALL["events"]


def test_simulate_events_clean_data_is_plausible(spark):
    df = simulate_events(spark, SimulatorConfig(**SMALL, dirt=DirtConfig.none())).toPandas()
    types = Counter(df.event_type)
    assert set(types) == {"view", "cart", "remove_from_cart", "purchase"}
    assert types["view"] > 0.5 * len(df)
    assert df._raw_record.isna().all()
    assert (df.price.astype(float) > 0).all()
    assert df.event_time.str.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$").all()
    per_session = df.groupby("user_session").size()
    assert per_session.mean() > 1.0
    top = df.product_id.value_counts()
    assert top.iloc[: max(1, len(top) // 100)].sum() > 0.03 * len(df)  # popularity is skewed


def test_simulate_events_injects_dirt(spark):
    dirty = DirtConfig(
        exact_duplicate_rate=0.02,
        wrong_field_count_rate=0.02,
        bad_price_rate=0.02,
        bad_timestamp_rate=0.02,
    )
    df = simulate_events(spark, SimulatorConfig(**SMALL, dirt=dirty)).toPandas()
    n = len(df)
    assert 0.005 * n < df._raw_record.notna().sum() < 0.05 * n
    prices = df.price.where(df._raw_record.isna()).dropna().astype(float, errors="ignore")
    assert (prices.astype(float) <= 0).sum() > 0.005 * n
    assert (
        ~df.event_time.fillna("").str.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
    ).sum() > 0.005 * n
    assert df.drop(columns="_raw_record").duplicated().sum() > 0.005 * n


def test_write_event_csv_rees46_lines(spark, tmp_path):
    df = simulate_events(
        spark, SimulatorConfig(**SMALL, dirt=DirtConfig(wrong_field_count_rate=0.05))
    )
    write_event_csv(df, str(tmp_path / "csv"))
    files = sorted((tmp_path / "csv").glob("*.csv"))
    assert files
    lines, widths = 0, Counter()
    for f in files:
        text = f.read_text().splitlines()
        assert text[0] == HEADER
        lines += len(text) - 1
        widths.update(len(line.split(",")) for line in text[1:])
    assert lines == df.count()
    assert widths[9] > 0.9 * lines and sum(v for k, v in widths.items() if k != 9) > 0


def test_simulated_bots_are_caught_by_cleaning(spark, tmp_path):
    from pyspark.sql import functions as F

    from synth.clean.pipeline import classify_events
    from synth.clean.rules import DISPOSITION
    from synth.config.clean import CleanConfig
    from synth.ingest.adapters import ParseSpec
    from synth.schema import BRONZE_SCHEMA

    # Setup: many bots, no other dirt, shaped as bronze
    cfg = SimulatorConfig(
        **SMALL, dirt=DirtConfig.none().model_copy(update={"bot_user_rate": 0.02})
    )
    # Materialized first, as bronze always is: cleaning's windows over the simulator's lazy
    # expressions would make the optimizer inline them into an enormous plan
    simulate_events(spark, cfg).write.parquet(str(tmp_path / "sim"))
    raw = spark.read.parquet(str(tmp_path / "sim"))
    lineage = {
        "_raw_extra": F.lit(None).cast("map<string,string>"),
        "_source_row": F.lit(None).cast("string"),
        "_source": F.lit("sim"),
        "_source_file": F.lit("f"),
        "_source_file_size": F.lit(1).cast("long"),
        "_source_file_mtime": F.current_timestamp(),
        "_ingest_id": F.lit("i"),
        "_ingest_time": F.current_timestamp(),
    }
    bronze = raw.select(
        *[
            F.col(f.name) if f.name in raw.columns else lineage[f.name].alias(f.name)
            for f in BRONZE_SCHEMA.fields
        ]
    )
    # Run
    classified, _ = classify_events(bronze, ParseSpec(), CleanConfig())
    counts = Counter(r[DISPOSITION] for r in classified.select(DISPOSITION).collect())
    # Assert: bot sessions are hundreds of events each, far above the human heavy tail
    assert counts["bot_user"] >= 150
    assert counts[None] > 0.5 * sum(counts.values())
