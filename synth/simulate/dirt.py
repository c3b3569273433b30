"""Realistic dirt: duplicates, missing values, bad prices and timestamps, malformed lines.

Applied to the clean events of :mod:`synth.simulate.events` as column expressions keyed by the
event's identity (a hash of ``(u, s, k, i)``), so the same event gets the same defects whatever the
partitioning, and turning one kind of dirt off never changes where the others fall.

Every output row carries a ``_dirt`` label array naming the defects it has (empty for clean
rows): :data:`DIRT_KINDS`. The public :func:`synth.simulate.simulate_events` drops the labels;
:func:`synth.simulate.simulate_labeled_events` keeps them as ground truth for cleaning tests.

Order of application (so duplicates really are duplicates):

1. field defects on the event (missing brand / code / session, bad price);
2. copies: an exact duplicate repeats the row, a near duplicate shifts it by 1-2 seconds;
3. the timestamp is formatted, or replaced by an unparseable one;
4. a malformed event is written as a raw CSV line with too few or too many fields
   (``_raw_record``), and its typed columns hold what a permissive CSV reader would parse
   from that line (the first nine comma-separated tokens, null where absent or empty).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from synth.config.simulate import DirtConfig
from synth.schema import (
    BRAND,
    CATEGORY_CODE,
    CATEGORY_ID,
    EVENT_COLUMNS,
    EVENT_TIME,
    EVENT_TYPE,
    PRICE,
    PRODUCT_ID,
    RAW_RECORD,
    USER_ID,
    USER_SESSION,
)
from synth.seeding import derive_seed
from synth.simulate.events import BOT, PRICE_CENTS, H, T
from synth.simulate.tables import format_cents, format_event_time, key_uniform

DIRT = "_dirt"

EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
MISSING_BRAND = "missing_brand"
MISSING_CATEGORY_CODE = "missing_category_code"
MISSING_SESSION = "missing_session"
BOT_USER = "bot_user"
BAD_PRICE = "bad_price"
BAD_TIMESTAMP = "bad_timestamp"
WRONG_FIELD_COUNT = "wrong_field_count"

DIRT_KINDS: tuple[str, ...] = (
    EXACT_DUPLICATE,
    NEAR_DUPLICATE,
    MISSING_BRAND,
    MISSING_CATEGORY_CODE,
    MISSING_SESSION,
    BOT_USER,
    BAD_PRICE,
    BAD_TIMESTAMP,
    WRONG_FIELD_COUNT,
)
# The DirtConfig field that sets each kind's rate.
RATE_FIELD: dict[str, str] = {kind: f"{kind}_rate" for kind in DIRT_KINDS}

_COPY = "_copy"


def _null() -> Column:
    return F.lit(None).cast("string")


def _draw(seed: int, name: str) -> Column:
    return key_uniform(derive_seed(seed, name), H)


def _blank(value: Column, flag: Column) -> Column:
    return F.when(flag, _null()).otherwise(value)


def bad_timestamp(good: Column, variant: Column) -> Column:
    """Return an unparseable variant of a well-formed ``event_time`` string.

    Variants: month 13, hour 25, ``NaT``, a cut-off time, an all-zero date.
    """
    return (
        F.when(
            variant == F.lit(0),
            F.concat(F.substring(good, 1, 5), F.lit("13"), F.substring(good, 8, 100)),
        )
        .when(
            variant == F.lit(1),
            F.concat(F.substring(good, 1, 11), F.lit("25"), F.substring(good, 14, 100)),
        )
        .when(variant == F.lit(2), F.lit("NaT"))
        .when(variant == F.lit(3), F.substring(good, 1, 14))
        .otherwise(F.lit("0000-00-00 00:00:00 UTC"))
    )


def malformed_line(line: Column, variant: Column, index: Column) -> Column:
    """Return a variant of a well-formed nine-field CSV ``line`` with the wrong field count.

    Variants: the last field cut off (8 fields, like a truncated file), the last two cut off
    (7), a trailing comma (10), a leading row-number column (10, like a pandas index written by
    mistake).
    """
    return (
        F.when(variant == F.lit(0), F.substring_index(line, ",", 8))
        .when(variant == F.lit(1), F.substring_index(line, ",", 7))
        .when(variant == F.lit(2), F.concat(line, F.lit(",")))
        .otherwise(F.concat(index.cast("string"), F.lit(","), line))
    )


def parsed_field(tokens: Column, position: int) -> Column:
    """Return token ``position`` (1-based) as a permissive CSV reader parses it (empty = null)."""
    token = F.try_element_at(tokens, F.lit(position))
    return F.when(token == F.lit(""), _null()).otherwise(token)


def apply_dirt(events: DataFrame, dirt: DirtConfig, *, seed: int, start: str) -> DataFrame:
    """Return the raw-schema frame with dirt injected, plus the ``_dirt`` label column.

    Args:
        events: Clean events from :func:`synth.simulate.events.generate_clean_events`.
        dirt: The dirt rates.
        seed: The dirt seed (derived from the root seed).
        start: The first simulated day, ISO format (``event_time`` is formatted from it).

    Returns:
        A lazy frame with the raw event columns (strings), ``_raw_record`` and ``_dirt``.
    """
    missing_brand = F.col(BRAND).isNotNull() & (
        _draw(seed, MISSING_BRAND) < F.lit(dirt.missing_brand_rate)
    )
    missing_code = F.col(CATEGORY_CODE).isNotNull() & (
        _draw(seed, MISSING_CATEGORY_CODE) < F.lit(dirt.missing_category_code_rate)
    )
    missing_session = _draw(seed, MISSING_SESSION) < F.lit(dirt.missing_session_rate)
    bad_price = _draw(seed, BAD_PRICE) < F.lit(dirt.bad_price_rate)
    zero_price = _draw(seed, "zero_price") < F.lit(0.5)
    good_price = format_cents(F.col(PRICE_CENTS))
    price = (
        F.when(bad_price & zero_price, F.lit("0.00"))
        .when(bad_price, F.concat(F.lit("-"), good_price))
        .otherwise(good_price)
    )
    exact = _draw(seed, EXACT_DUPLICATE) < F.lit(dirt.exact_duplicate_rate)
    near = _draw(seed, NEAR_DUPLICATE) < F.lit(dirt.near_duplicate_rate)
    no_copy = F.array().cast("array<int>")
    copies = F.concat(
        F.array(F.lit(0)),
        F.when(exact, F.array(F.lit(1))).otherwise(no_copy),
        F.when(near, F.array(F.lit(2))).otherwise(no_copy),
    )
    stage = events.select(
        H,
        T,
        BOT,
        F.col(EVENT_TYPE),
        F.col(PRODUCT_ID),
        F.col(CATEGORY_ID),
        _blank(F.col(CATEGORY_CODE), missing_code).alias(CATEGORY_CODE),
        _blank(F.col(BRAND), missing_brand).alias(BRAND),
        price.alias(PRICE),
        F.col(USER_ID),
        _blank(F.col(USER_SESSION), missing_session).alias(USER_SESSION),
        missing_brand.alias("_mb"),
        missing_code.alias("_mc"),
        missing_session.alias("_ms"),
        bad_price.alias("_bp"),
        F.explode(copies).alias(_COPY),
    )

    shift = F.lit(1) + F.floor(_draw(seed, "near_shift") * F.lit(2)).cast("long")
    t = F.col(T) + F.when(F.col(_COPY) == F.lit(2), shift).otherwise(F.lit(0))
    stage = stage.select("*", format_event_time(start, t).alias("_good_time"))
    bad_ts = _draw(seed, BAD_TIMESTAMP) < F.lit(dirt.bad_timestamp_rate)
    ts_variant = F.floor(_draw(seed, "timestamp_variant") * F.lit(5)).cast("int")
    good_time = F.col("_good_time")
    event_time = F.when(bad_ts, bad_timestamp(good_time, ts_variant)).otherwise(good_time)
    stage = stage.select("*", event_time.alias(EVENT_TIME), bad_ts.alias("_bt"))

    wrong = _draw(seed, WRONG_FIELD_COUNT) < F.lit(dirt.wrong_field_count_rate)
    line = F.concat_ws(",", *[F.coalesce(F.col(c), F.lit("")) for c in EVENT_COLUMNS])
    stage = stage.select("*", F.when(wrong, line).alias("_line"))
    wf_variant = F.floor(_draw(seed, "field_variant") * F.lit(4)).cast("int")
    row_number = F.floor(_draw(seed, "row_number") * F.lit(10_000_000)).cast("long")
    raw = malformed_line(F.col("_line"), wf_variant, row_number)
    stage = stage.select("*", raw.alias(RAW_RECORD))
    stage = stage.select("*", F.split(F.col(RAW_RECORD), ",").alias("_tokens"))

    tokens = F.col("_tokens")
    labels = F.array_compact(
        F.array(
            F.when(F.col(BOT), F.lit(BOT_USER)),
            F.when(F.col("_mb"), F.lit(MISSING_BRAND)),
            F.when(F.col("_mc"), F.lit(MISSING_CATEGORY_CODE)),
            F.when(F.col("_ms"), F.lit(MISSING_SESSION)),
            F.when(F.col("_bp"), F.lit(BAD_PRICE)),
            F.when(F.col("_bt"), F.lit(BAD_TIMESTAMP)),
            F.when(F.col(_COPY) == F.lit(1), F.lit(EXACT_DUPLICATE)),
            F.when(F.col(_COPY) == F.lit(2), F.lit(NEAR_DUPLICATE)),
            F.when(F.col(RAW_RECORD).isNotNull(), F.lit(WRONG_FIELD_COUNT)),
        )
    )
    return stage.select(
        *[
            F.when(tokens.isNotNull(), parsed_field(tokens, n + 1))
            .otherwise(F.col(name))
            .alias(name)
            for n, name in enumerate(EVENT_COLUMNS)
        ],
        F.col(RAW_RECORD),
        labels.alias(DIRT),
    )
