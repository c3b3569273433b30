"""Tiny, explicit test data: bronze-shaped rows built from a few hand-written values."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from synth.schema import BRONZE_SCHEMA, EVENT_COLUMNS

_DEFAULTS = {
    "event_time": "2019-10-01 00:00:00 UTC",
    "event_type": "view",
    "product_id": "100",
    "category_id": "2053013555631882655",
    "category_code": "electronics.smartphone",
    "brand": "acme",
    "price": "10.00",
    "user_id": "1",
    "user_session": "s-1",
}


def event(**values: str | None) -> dict[str, str | None]:
    """One raw event: defaults overridden by ``values`` (use ``None`` for a missing field)."""
    lineage = {"_raw_record", "_source_file", "_source_row", "_raw_extra"}
    unknown = set(values) - set(EVENT_COLUMNS) - lineage
    if unknown:
        raise KeyError(f"unknown event fields: {sorted(unknown)}")
    return {**_DEFAULTS, **values}


def ts(second: int, minute: int = 0, hour: int = 0, day: int = 1) -> str:
    """A REES46-format timestamp on 2019-10-<day>."""
    return f"2019-10-{day:02d} {hour:02d}:{minute:02d}:{second:02d} UTC"


def make_bronze(spark, rows: list[dict[str, str | None]], *, partitions: int = 2):  # noqa: ANN001, ANN201
    """Build a bronze DataFrame (explicit schema) from raw events."""
    now = datetime(2024, 1, 1)
    data = [
        (
            *[r.get(c) for c in EVENT_COLUMNS],
            r.get("_raw_extra"),
            r.get("_raw_record"),
            r.get("_source_row", str(i)),
            "test",
            r.get("_source_file", "file:/test/events.csv"),
            100,
            now,
            "ingest-1",
            now,
        )
        for i, r in enumerate(rows)
    ]
    return spark.createDataFrame(data, BRONZE_SCHEMA).repartition(partitions)


_SILVER_DEFAULTS: dict[str, object] = {
    "event_time": datetime(2019, 10, 1, 0, 0, 0),
    "event_type": "view",
    "product_id": 100,
    "category_id": 7,
    "category_code": "electronics.smartphone",
    "brand": "acme",
    "price": 10.0,
    "user_id": 1,
    "user_session": "s-1",
    "quantity": 1,
    "price_imputed": False,
    "price_missing": None,
    "session_rebuilt": False,
    "price_rel_category_median": 1.0,
    "price_log_z_category": 0.0,
    "split": "train",
    "_source": "test",
    "_source_file": "file:/test/events.csv",
}


def silver_event(**values: object) -> dict[str, object]:
    """One silver event: defaults overridden by ``values``."""
    from synth.schema import SILVER_SCHEMA

    unknown = set(values) - set(SILVER_SCHEMA.names)
    if unknown:
        raise KeyError(f"unknown silver fields: {sorted(unknown)}")
    return {**_SILVER_DEFAULTS, **values}


def make_silver(spark, rows: list[dict[str, object]], *, partitions: int = 2):  # noqa: ANN001, ANN201
    """Build a silver DataFrame (explicit schema) from silver events."""
    from synth.schema import SILVER_SCHEMA

    data = [tuple(r[c] for c in SILVER_SCHEMA.names) for r in rows]
    return spark.createDataFrame(data, SILVER_SCHEMA).repartition(partitions)


REES46_HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)


def write_csv(path: Path, lines: list[str], header: str = REES46_HEADER) -> Path:
    """Write ``header`` and ``lines`` as a CSV file at ``path`` (its folder made); the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


# the smallest simulator job that runs every stage (YAML, `lakehouse` to fill in)
SMALL_PIPELINE_JOB = """\
lakehouse: {lakehouse}
source:
  kind: simulator
  simulator: {{seed: 7, events: 5000, days: 3}}
train: {{train: {{epochs: 3, patience: 0, validation_fraction: 0.0}}}}
synthesize: {{rows: 2000, block_rows: 500}}
recommend:
  seeds: [0, 1]
  models: {{als: {{rank: 8, max_iter: 3, reg_params: [0.5]}}, item_knn: {{neighbours: [20, 50]}}}}
evaluate: {{privacy: {{rows: 200}}, utility: {{rows: 500}}, fidelity: {{rows: 500}}}}
"""
