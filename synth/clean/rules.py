"""Cleaning rules as pure ``DataFrame -> DataFrame`` transforms (no actions, no I/O).

Rows flow through every step; a step marks a row by setting :data:`DISPOSITION` (a reason code)
instead of dropping it, so the caller can account for every bronze row. A row whose disposition
is still null at the end goes to silver.

Every window is partitioned by :data:`PKEY` first (the user id for parseable rows), so after one
``repartition`` by it the whole chain runs without another shuffle, and the output is the same
whatever the input partitioning (all orderings end in unique tie-breakers).

Cost: the chain sorts each partition twice, once per user / product / event type for the
duplicate rules and once per user in time order (:func:`order_by_user_time`) for the bot rule,
the sessions and the split together. Later steps count only the rows still undecided
(conditional window sums) instead of partitioning by the disposition, so they share that sort.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from synth.clean.parse import (
    blank_to_null,
    hash_id,
    map_event_type,
    parse_long,
    parse_price,
    parse_quantity,
    parse_reason,
    parse_timestamp,
)
from synth.config.clean import (
    BotConfig,
    DedupConfig,
    PriceConfig,
    SessionConfig,
    SplitConfig,
    TimestampWindow,
)
from synth.ingest.adapters import ParseSpec
from synth.schema import (
    BRAND,
    CATEGORY_CODE,
    CATEGORY_ID,
    EVENT_COLUMNS,
    EVENT_TIME,
    EVENT_TYPE,
    EXTRA_QUANTITY,
    EXTRA_TIME_OFFSET,
    EXTRA_USER_FALLBACK,
    INGEST_ID,
    INGEST_TIME,
    PRICE,
    PRICE_IMPUTED,
    PRICE_LOG_Z_CATEGORY,
    PRICE_MISSING,
    PRICE_REL_CATEGORY,
    PRODUCT_ID,
    QUANTITY,
    RAW_EXTRA,
    RAW_RECORD,
    SESSION_REBUILT,
    SILVER_SCHEMA,
    SOURCE,
    SOURCE_FILE,
    SOURCE_ROW,
    SPLIT,
    SPLIT_TEST,
    SPLIT_TRAIN,
    SPLIT_VALIDATION,
    UNKNOWN_CATEGORY_ID,
    USER_ID,
    USER_SESSION,
    PriceMissing,
    Reason,
)

DISPOSITION = "_disposition"
PKEY = "_pkey"
# typed columns added by parse_events (the raw strings keep their canonical names)
TS, ETYPE, UID, PID, CID, PRICE_D = "_ts", "_etype", "_uid", "_pid", "_cid", "_price"
QTY = "_quantity"
ITEM_MEDIAN, ITEM_CATEGORY = "_item_median", "_item_category"
SESSION_OUT = "_session"
_RAW = "_raw"
# dispositions that the duplicate and bot rules give to rows that parsed fine
_PARSE_OK_MARKS = (Reason.EXACT_DUPLICATE, Reason.NEAR_DUPLICATE, Reason.BOT_USER)
_LATEST_INGEST = "_latest_ingest"  # per source file: the ingest whose rows count


def _tiebreak() -> list[Column]:
    """A total order over rows: raw fields then lineage, so ties never depend on partitioning."""
    return [
        *[F.col(c).asc_nulls_first() for c in EVENT_COLUMNS],
        raw_extra_key().asc_nulls_first(),
        *[F.col(c).asc_nulls_first() for c in (SOURCE_FILE, SOURCE_ROW, INGEST_ID)],
    ]


def raw_extra_key() -> Column:
    """``_raw_extra`` as a sortable, comparable value (maps are neither in Spark)."""
    return F.array_sort(F.map_entries(F.col(RAW_EXTRA)))


def parse_events(
    bronze: DataFrame, spec: ParseSpec, prices: PriceConfig, window: TimestampWindow
) -> DataFrame:
    """Add typed columns and the parse-level quarantine reason (as :data:`DISPOSITION`).

    A time outside ``window`` (before its earliest date, or later than the row's ingest time
    plus its tolerance) does not parse: ``bad_timestamp``.

    Re-exports: a file ingested more than once (the same path, changed: bronze keeps every
    version) counts by its latest ingest only; the rows of its earlier ingests are
    ``superseded_by_reexport`` (counted with the removed duplicates), so a corrected export
    replaces the earlier one whole and its corrected values are the ones kept.

    Also adds :data:`PKEY`: the user id for parseable rows, and a spread negative key for rows
    already quarantined, so they neither skew nor join any user's windows.
    """

    def ident(name: str) -> Column:
        return hash_id(F.col(name)) if name in spec.hashed_ids else parse_long(F.col(name))

    def extra(key: str) -> Column:
        return F.try_element_at(F.col(RAW_EXTRA), F.lit(key))

    user = ident(USER_ID)
    if spec.user_fallback:
        fallback = blank_to_null(extra(EXTRA_USER_FALLBACK))
        user = F.coalesce(user, hash_id(F.concat(F.lit("~"), fallback)))
    etype = map_event_type(F.col(EVENT_TYPE), spec.event_types)
    quantity: Column = F.lit(1).cast("bigint")
    quantity_ok: Column | None = None
    if spec.quantity:
        raw_q = parse_quantity(extra(EXTRA_QUANTITY))
        if spec.negative_type is not None:
            etype = F.when(raw_q < 0, F.lit(spec.negative_type)).otherwise(etype)
            quantity_ok = raw_q.isNotNull() & (raw_q != 0)
        else:
            quantity_ok = raw_q.isNotNull() & (raw_q > 0)
        quantity = F.abs(raw_q)
    ts = parse_timestamp(
        F.col(EVENT_TIME),
        spec.timestamp_formats,
        spec.timezone,
        offset=extra(EXTRA_TIME_OFFSET) if spec.time_offset_unit else None,
        offset_unit=spec.time_offset_unit,
    )
    latest = F.col(INGEST_TIME) + F.make_dt_interval(
        F.lit(0), F.lit(0), F.lit(0), F.lit(round(window.max_future_hours * 3600, 6))
    )
    earliest = F.lit(window.earliest.isoformat()).cast("timestamp")
    ts = F.when((ts >= earliest) & (ts <= latest), ts)
    last_ingest = bronze.groupBy(SOURCE_FILE).agg(
        F.max(F.struct(F.col(INGEST_TIME), F.col(INGEST_ID)))[INGEST_ID].alias(_LATEST_INGEST)
    )
    bronze = bronze.join(F.broadcast(last_ingest), SOURCE_FILE, "left")
    typed = bronze.select(
        "*",
        ts.alias(TS),
        etype.alias(ETYPE),
        user.alias(UID),
        ident(PRODUCT_ID).alias(PID),
        ident(CATEGORY_ID).alias(CID),
        parse_price(F.col(PRICE)).alias(PRICE_D),
        quantity.alias(QTY),
    ).drop(INGEST_TIME)
    superseded = F.col(INGEST_ID) != F.col(_LATEST_INGEST)
    parsed = parse_reason(
        raw_record=F.col(RAW_RECORD),
        ts=F.col(TS),
        event_type=F.col(ETYPE),
        user_id=F.col(UID),
        product_id=F.col(PID),
        raw_category_id=F.col(CATEGORY_ID),
        category_id=F.col(CID),
        raw_price=F.col(PRICE),
        price=F.col(PRICE_D),
        prices=prices,
        quantity_ok=quantity_ok,
    )
    reason = F.when(superseded, F.lit(Reason.SUPERSEDED)).otherwise(parsed)

    spread = -(
        F.pmod(
            F.xxhash64(
                *[F.col(c) for c in (*EVENT_COLUMNS, RAW_RECORD, SOURCE_FILE)], raw_extra_key()
            ),
            F.lit(1 << 16),
        )
        + 1
    )
    return typed.select(
        "*",
        reason.alias(DISPOSITION),
        F.when(reason.isNull(), F.col(UID)).otherwise(spread).alias(PKEY),
    ).drop(_LATEST_INGEST)


def _mark(current: Column, condition: Column, reason: str) -> Column:
    """Set a reason on rows still undecided that meet ``condition``."""
    return F.when(current.isNull() & condition, F.lit(reason)).otherwise(current)


def flag_duplicates(df: DataFrame, dedup: DedupConfig) -> DataFrame:
    """Mark exact duplicates (all raw event fields equal) and near duplicates.

    A near duplicate has the same user, product and event type as the previous such event and
    lies within ``dedup.near_duplicate_window_s`` seconds of it. The first of each group stays.
    """
    w = Window.partitionBy(PKEY, PID, ETYPE).orderBy(F.col(TS).asc_nulls_first(), *_tiebreak())
    raw = F.struct(*[F.col(c) for c in EVENT_COLUMNS], raw_extra_key().alias("_extra"))
    exact = F.lag(raw).over(w).eqNullSafe(raw)
    gap_us = F.unix_micros(F.col(TS)) - F.unix_micros(F.lag(TS).over(w))
    near = F.lit(dedup.near_duplicate_window_s > 0) & (
        gap_us <= F.lit(int(round(dedup.near_duplicate_window_s * 1e6)))
    )
    disposition = _mark(F.col(DISPOSITION), F.coalesce(exact, F.lit(False)), Reason.EXACT_DUPLICATE)
    disposition = _mark(disposition, F.coalesce(near, F.lit(False)), Reason.NEAR_DUPLICATE)
    return df.withColumn(DISPOSITION, disposition)


def order_by_user_time(df: DataFrame) -> DataFrame:
    """Sort each partition by user, time and the tie-breakers (no shuffle).

    :func:`flag_bots` and :func:`sessions_and_split` window over ``PKEY`` in this order, so with
    this sort placed before them Spark runs both on one sorted pass instead of sorting twice.
    """
    return df.sortWithinPartitions(F.col(PKEY), F.col(TS), *_tiebreak())


def _rolling_open_count(seconds: int) -> Column:
    """Return the number of undecided rows of the user in the ``seconds`` up to this row's time."""
    return F.expr(
        f"sum(CAST({DISPOSITION} IS NULL AS INT)) OVER (PARTITION BY {PKEY} ORDER BY {TS} "
        f"RANGE BETWEEN INTERVAL {seconds - 1} SECONDS PRECEDING AND CURRENT ROW)"
    )


def flag_bots(df: DataFrame, bots: BotConfig) -> DataFrame:
    """Quarantine every remaining event of users above either rate threshold.

    Rates are counted over the user's remaining (undecided) events: the most events in any
    rolling 60 s and in any rolling 24 h (``max_events_per_day``).
    """
    if not bots.enabled:
        return df
    open_ = F.col(DISPOSITION).isNull()
    rates = df.select(
        "*", _rolling_open_count(60).alias("_pm"), _rolling_open_count(86_400).alias("_pd")
    )
    user = Window.partitionBy(PKEY)
    is_bot = (F.max(F.when(open_, F.col("_pm"))).over(user) > bots.max_events_per_minute) | (
        F.max(F.when(open_, F.col("_pd"))).over(user) > bots.max_events_per_day
    )
    return rates.withColumn(DISPOSITION, _mark(F.col(DISPOSITION), is_bot, Reason.BOT_USER)).drop(
        "_pm", "_pd"
    )


def item_prices(parsed: DataFrame) -> DataFrame:
    """Per product: the median of its observed valid prices and its category (pure aggregate).

    Computed over every parseable row with a valid price (duplicates and bot events included:
    their prices are real catalogue prices), so ``parsed`` may be the output of
    :func:`parse_events` or of the duplicate and bot rules after it. The category is the smallest
    known category id the product appears under, or ``UNKNOWN_CATEGORY_ID``.
    """
    parse_ok = F.col(DISPOSITION).isNull() | F.col(DISPOSITION).isin(*_PARSE_OK_MARKS)
    valid = parsed.where(parse_ok & F.col(PRICE_D).isNotNull())
    return valid.groupBy(F.col(PID)).agg(
        F.median(PRICE_D).alias(ITEM_MEDIAN),
        F.coalesce(F.min(F.when(F.col(CID) >= 0, F.col(CID))), F.lit(UNKNOWN_CATEGORY_ID)).alias(
            ITEM_CATEGORY
        ),
    )


def impute_prices(df: DataFrame, items: DataFrame, require_price: bool = False) -> DataFrame:
    """Fill missing prices with the product's median.

    A row with nothing to fill from keeps a null price, or is quarantined as ``missing_price``
    when ``require_price`` (``clean.require_price``) asks for priced events only.
    """
    joined = df.join(items.select(PID, ITEM_MEDIAN), on=PID, how="left")
    missing = F.col(PRICE_D).isNull() & F.col(ITEM_MEDIAN).isNull() & F.lit(require_price)
    return (
        joined.select(
            *[c for c in df.columns if c != PRICE_D],
            F.coalesce(F.col(PRICE_D), F.col(ITEM_MEDIAN)).alias(PRICE_D),
            (F.col(PRICE_D).isNull() & F.col(ITEM_MEDIAN).isNotNull()).alias(PRICE_IMPUTED),
            _mark(F.col(DISPOSITION), missing, Reason.MISSING_PRICE).alias("_d2"),
        )
        .drop(DISPOSITION)
        .withColumnRenamed("_d2", DISPOSITION)
    )


def sessions_and_split(df: DataFrame, sessions: SessionConfig, split: SplitConfig) -> DataFrame:
    """Rebuild missing session ids and assign each kept event its per-user temporal split.

    Events with a blank session id are grouped per user by inactivity gaps longer than
    ``sessions.gap_minutes``; the rebuilt id is ``rebuilt-<user_id>-<n>``. Each user's kept
    events, in time order, are cut into train / validation / test by the configured fractions.
    """
    kept = F.col(DISPOSITION).isNull()
    w = Window.partitionBy(F.col(PKEY)).orderBy(F.col(TS), *_tiebreak())
    before = w.rowsBetween(Window.unboundedPreceding, -1)
    upto = w.rowsBetween(Window.unboundedPreceding, 0)
    session = blank_to_null(F.col(USER_SESSION))
    missing = session.isNull()
    # every window sums or looks up kept rows only: the same as windowing the kept rows alone
    prev_missing_ts = F.last(F.when(kept & missing, F.col(TS)), ignorenulls=True).over(before)
    gap_s = F.unix_seconds(F.col(TS)) - F.unix_seconds(prev_missing_ts)
    new_session = (
        kept & missing & (prev_missing_ts.isNull() | (gap_s > F.lit(sessions.gap_minutes * 60)))
    )
    n_session = F.sum(new_session.cast("int")).over(upto)
    rebuilt = F.concat(
        F.lit("rebuilt-"), F.col(UID).cast("string"), F.lit("-"), n_session.cast("string")
    )
    rank = F.sum(kept.cast("int")).over(upto)
    total = F.sum(kept.cast("int")).over(Window.partitionBy(F.col(PKEY)))
    frac = (rank - 1) / total
    assigned = (
        F.when(total < split.min_events_for_holdout, F.lit(SPLIT_TRAIN))
        .when(frac < F.lit(split.train), F.lit(SPLIT_TRAIN))
        .when(frac < F.lit(split.train + split.validation), F.lit(SPLIT_VALIDATION))
        .otherwise(F.lit(SPLIT_TEST))
    )
    return df.select(
        "*",
        F.when(missing, rebuilt).otherwise(session).alias(SESSION_OUT),
        missing.alias(SESSION_REBUILT),
        F.when(kept, assigned).alias(SPLIT),
    )


def category_price_stats(items: DataFrame) -> DataFrame:
    """Per category: median item price and mean / std of log item price (over products)."""
    log_price = F.log(F.col(ITEM_MEDIAN))
    return items.groupBy(F.col(ITEM_CATEGORY).alias(CATEGORY_ID)).agg(
        F.median(ITEM_MEDIAN).alias("_cat_median"),
        F.avg(log_price).alias("_cat_log_mean"),
        F.stddev_samp(log_price).alias("_cat_log_std"),
    )


def to_silver(df: DataFrame, items: DataFrame, *, has_price: bool = True) -> DataFrame:
    """Select kept rows into the silver shape, with prices normalised per category.

    ``price_rel_category_median`` is price / (median item price of the category);
    ``price_log_z_category`` is (log price - mean) / std of log item prices in the category
    (0 where the category has a single product). Unknown categories use all products' stats.
    An event without a price keeps null in all three, and ``price_missing`` says why
    (``not_in_source`` when ``has_price`` is false: the source maps no price column;
    ``never_priced`` otherwise: no event of the product carries a valid price).
    """
    why = PriceMissing.NEVER_PRICED if has_price else PriceMissing.NOT_IN_SOURCE
    stats = category_price_stats(items)
    overall = items.agg(
        F.median(ITEM_MEDIAN).alias("_all_median"),
        F.avg(F.log(ITEM_MEDIAN)).alias("_all_log_mean"),
        F.stddev_samp(F.log(ITEM_MEDIAN)).alias("_all_log_std"),
    )
    kept = df.where(F.col(DISPOSITION).isNull()).select(
        F.col(TS).alias(EVENT_TIME),
        F.col(ETYPE).alias(EVENT_TYPE),
        F.col(PID).alias(PRODUCT_ID),
        F.coalesce(F.col(CID), F.lit(UNKNOWN_CATEGORY_ID)).cast("long").alias(CATEGORY_ID),
        F.coalesce(blank_to_null(F.col(CATEGORY_CODE)), F.lit("unknown")).alias(CATEGORY_CODE),
        F.coalesce(blank_to_null(F.col(BRAND)), F.lit("unknown")).alias(BRAND),
        F.col(PRICE_D).alias(PRICE),
        F.col(UID).alias(USER_ID),
        F.col(SESSION_OUT).alias(USER_SESSION),
        F.col(QTY).alias(QUANTITY),
        F.col(PRICE_IMPUTED),
        F.when(F.col(PRICE_D).isNull(), F.lit(why)).alias(PRICE_MISSING),
        F.col(SESSION_REBUILT),
        F.col(SPLIT),
        F.col(SOURCE),
        F.col(SOURCE_FILE),
    )
    joined = kept.join(F.broadcast(stats), on=CATEGORY_ID, how="left").crossJoin(
        F.broadcast(overall)
    )
    median = F.coalesce(F.col("_cat_median"), F.col("_all_median"))
    mean = F.coalesce(F.col("_cat_log_mean"), F.col("_all_log_mean"))
    std = F.when(F.col("_cat_median").isNotNull(), F.col("_cat_log_std")).otherwise(
        F.col("_all_log_std")
    )
    z = F.when(F.col(PRICE).isNull(), F.lit(None).cast("double"))
    z = z.when(std.isNull() | (std <= 0), F.lit(0.0)).otherwise((F.log(F.col(PRICE)) - mean) / std)
    out = joined.select(
        "*",
        (F.col(PRICE) / median).alias(PRICE_REL_CATEGORY),
        z.alias(PRICE_LOG_Z_CATEGORY),
    )
    return out.select(*[F.col(f.name).cast(f.dataType) for f in SILVER_SCHEMA.fields])
