"""Fail fast and explain: a cleaning run that would keep too little of bronze stops before writing.

The message names the top quarantine reasons with their counts, one example raw row per reason
(its file and raw fields), and the config key that would change the outcome. Each reason's
advice comes from one registry (:data:`ADVICE`), so a new reason code gets its advice beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from synth.clean.formats import best_timestamp_format
from synth.clean.rules import DISPOSITION, raw_extra_key
from synth.config.clean import CleanConfig
from synth.config.ingest import GenericSource, SourceConfig
from synth.errors import InputError
from synth.ingest.adapters import ParseSpec
from synth.schema import (
    EVENT_COLUMNS,
    EVENT_TIME,
    EVENT_TYPE,
    RAW_EXTRA,
    RAW_RECORD,
    SOURCE_FILE,
    USER_ID,
    Reason,
)

TOP_REASONS = 3


@dataclass(frozen=True)
class Evidence:
    """What the advice for one reason may look at."""

    rows: DataFrame  # the bronze rows with this reason (lazy)
    source: SourceConfig
    spec: ParseSpec


def _column_of(source: SourceConfig, canonical: str) -> str:
    if isinstance(source, GenericSource):
        value = source.columns.get(canonical)
        return f"source.columns.{canonical} ({value!r})"
    return f"the {canonical} column"


def _timestamp_advice(ev: Evidence) -> str:
    sample = [
        r[EVENT_TIME]
        for r in ev.rows.where(F.col(EVENT_TIME).isNotNull())
        .select(EVENT_TIME)
        .distinct()
        .orderBy(EVENT_TIME)
        .limit(50)
        .collect()
    ]
    formats = " or ".join(repr(f) for f in ev.spec.timestamp_formats)
    advice = f"source.timestamp.format is {formats}"
    found = best_timestamp_format(ev.rows.sparkSession, sample)
    if found is None:
        return f"{advice}, and none of the known formats parses the sample; give a Spark pattern"
    fmt, share = found
    return f"{advice}; the sample parses with format {fmt!r} ({share:.0%} of it): set it there"


def _event_type_advice(ev: Evidence) -> str:
    values = (
        ev.rows.groupBy(F.lower(F.trim(F.col(EVENT_TYPE))).alias("v"))
        .count()
        .orderBy(F.col("count").desc(), F.col("v").asc_nulls_first())
        .limit(10)
        .collect()
    )
    seen = ", ".join(f"{r['v']!r} ({r['count']:,})" for r in values)
    known = sorted(ev.spec.event_types)
    return (
        f"unmapped values {seen}; the vocabulary maps {known}. Map them in source.event_types "
        "(e.g. fav: favorite), declare a new type with its weight in "
        "features.interactions.weights, or for a log without event types set "
        "source.columns.event_type: {constant: view}"
    )


def _static(text: str) -> Callable[[Evidence], str]:
    return lambda _ev: text


def _user_advice(ev: Evidence) -> str:
    return (
        f"{_column_of(ev.source, USER_ID)} is blank or not an integer there: list user_id in "
        "source.hashed_ids for string ids, set source.user_id_fallback to a column that stands "
        "in for a missing user (an invoice, a session), or map user_id to the session column "
        "for a session-only log"
    )


ADVICE: dict[str, Callable[[Evidence], str]] = {
    Reason.MALFORMED_ROW: _static(
        "rows with the wrong number of fields: check source.options (sep, quote, escape) and "
        "source.format"
    ),
    Reason.BAD_TIMESTAMP: _timestamp_advice,
    Reason.UNKNOWN_EVENT_TYPE: _event_type_advice,
    Reason.BAD_USER_ID: _user_advice,
    Reason.BAD_PRODUCT_ID: _static(
        "product ids are blank or not integers: list product_id in source.hashed_ids for "
        "string ids (SKUs)"
    ),
    Reason.BAD_CATEGORY_ID: _static(
        "category ids are not integers: list category_id in source.hashed_ids, or map the "
        "column to category_code instead"
    ),
    Reason.INVALID_PRICE: _static(
        "prices outside (clean.prices.min_price, clean.prices.max_price] or not numbers: widen "
        "that range, or leave price unmapped"
    ),
    Reason.MISSING_PRICE: _static(
        "events without a usable price: set clean.require_price: false to keep them (prices "
        "then stay null, with the reason in silver's price_missing)"
    ),
    Reason.BAD_QUANTITY: _static(
        "quantities that are 0, fractional, blank or negative: set source.quantity.negative_type "
        "to the event type of reversals (e.g. a declared `return`)"
    ),
    Reason.BOT_USER: _static(
        "users above the bot thresholds: raise clean.bots.max_events_per_minute / "
        "max_events_per_day, or set clean.bots.enabled: false"
    ),
}


def _example(rows: DataFrame) -> str:
    """One raw row of ``rows`` (the smallest by file and raw fields), as ``file: k=v, ...``."""
    fields = [SOURCE_FILE, *EVENT_COLUMNS, RAW_RECORD]
    columns = [F.col(c) for c in fields] + [raw_extra_key().alias(RAW_EXTRA)]
    best = rows.agg(F.min(F.struct(*columns)).alias("m")).first()
    if best is None or best["m"] is None:
        return "(no example)"
    row = best["m"].asDict()
    shown = ", ".join(f"{c}={row[c]!r}" for c in (*EVENT_COLUMNS, RAW_RECORD) if row[c] is not None)
    if row[RAW_EXTRA]:
        shown += f", extra={dict((e['key'], e['value']) for e in row[RAW_EXTRA])!r}"
    return f"{row[SOURCE_FILE]}: {shown}"


def check_kept_share(
    decided: DataFrame,
    counts: dict[str | None, int],
    bronze_rows: int,
    source: SourceConfig,
    spec: ParseSpec,
    cfg: CleanConfig,
    table: str,
    version: int,
) -> None:
    """Raise :class:`InputError` when silver would keep too little of bronze; else return.

    The share is silver rows over bronze rows that are not duplicates; below
    ``cfg.min_kept_share``, or with no row kept at all, the run stops before writing.
    """
    kept = counts.get(None, 0)
    duplicates = sum(counts.get(r, 0) for r in Reason.DUPLICATES)
    candidates = max(bronze_rows - duplicates, 0)
    share = kept / candidates if candidates else 0.0
    if kept > 0 and share >= cfg.min_kept_share:
        return
    quarantined = sorted(
        ((r, n) for r, n in counts.items() if r in Reason.QUARANTINE and n > 0),
        key=lambda rn: (-rn[1], str(rn[0])),
    )
    lines = [
        f"cleaning would keep {kept:,} of {candidates:,} bronze rows ({share:.1%}) of "
        f"{table} v{version}"
        + (
            "; silver must not be empty"
            if kept == 0
            else f", below clean.min_kept_share = {cfg.min_kept_share:g}"
        )
        + ". Nothing was written. Top reasons:"
    ]
    for reason, n in quarantined[:TOP_REASONS]:
        assert reason is not None
        rows = decided.where(F.col(DISPOSITION) == F.lit(reason))
        ev = Evidence(rows, source, spec)
        lines.append(f"  - {reason}: {n:,} rows ({n / max(candidates, 1):.1%})")
        lines.append(f"      example: {_example(rows)}")
        lines.append(f"      fix: {ADVICE[reason](ev)}")
    if len(quarantined) > TOP_REASONS:
        rest = ", ".join(f"{r} {n:,}" for r, n in quarantined[TOP_REASONS:])
        lines.append(f"  (also: {rest})")
    lines.append(
        "  `synth inspect <file>` proposes a source config from a sample; "
        "clean.min_kept_share: 0 accepts a low share."
    )
    raise InputError("\n".join(lines))
