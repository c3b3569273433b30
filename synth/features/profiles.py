"""Gold profiles and interactions as pure ``DataFrame -> DataFrame`` transforms (no actions).

Inputs are silver-shaped frames (:data:`synth.schema.SILVER_SCHEMA`). Profiles are built from the
train split only; users and items without a train event get no profile row (the caller counts
them). Times use epoch seconds, never the session time zone, so the output is the same on any
cluster. Every output is cast to its explicit schema in :mod:`synth.schema`.

The *reference time* of a frame is its last event time: recency, lifecycle and time decay are
measured from it, so rebuilding from the same silver version gives the same tables.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from synth.config.features import InteractionConfig, ProfileConfig
from synth.schema import (
    BRAND,
    CATEGORY_CODE,
    CATEGORY_ID,
    EVENT_TIME,
    EVENT_TYPE,
    EVENT_TYPES,
    INTERACTIONS_SCHEMA,
    ITEM_PROFILE_SCHEMA,
    LIFECYCLE_ACTIVE,
    LIFECYCLE_LAPSING,
    LIFECYCLE_NEW,
    OTHER_EVENTS,
    PRICE,
    PRICE_REL_CATEGORY,
    PRODUCT_ID,
    PURCHASE,
    QUANTITY,
    SPLIT,
    SPLIT_TRAIN,
    UNKNOWN_BRAND,
    UNKNOWN_CATEGORY_CODE,
    UNKNOWN_LEVEL,
    USER_ID,
    USER_PROFILE_SCHEMA,
    USER_SESSION,
    VIEW,
)

DAY_S = 86_400.0
_SECS = "_secs"  # event time as epoch seconds (double)
_REF = "_ref"  # reference time as epoch seconds (double)


def _secs(col: str | Column) -> Column:
    c = F.col(col) if isinstance(col, str) else col
    return F.unix_micros(c) / F.lit(1e6)


def _is(event_type: str) -> Column:
    return F.col(EVENT_TYPE) == F.lit(event_type)


def _when(event_type: str, value: Column) -> Column:
    return F.when(_is(event_type), value)


def _rate(numerator: str, denominator: str) -> Column:
    """``numerator / denominator``, null when the denominator is 0 (documented in the schema)."""
    return F.when(F.col(denominator) > 0, F.col(numerator) / F.col(denominator))


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select ``schema`` 's columns in order, cast to their types, with their comments."""
    return df.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name, metadata=f.metadata) for f in schema.fields]
    )


def train_split(silver: DataFrame) -> DataFrame:
    """Return silver's train events."""
    return silver.where(F.col(SPLIT) == F.lit(SPLIT_TRAIN))


def with_reference_time(events: DataFrame, reference_s: float | None = None) -> DataFrame:
    """Add ``_ref``: the frame's last event time in epoch seconds (a broadcast one-row join).

    ``reference_s`` fixes it instead (profiles of a subset of users, or of real plus synthetic
    events, keep the real train split's reference time).
    """
    if reference_s is not None:
        return events.withColumn(_REF, F.lit(float(reference_s)))
    ref = events.agg(F.max(_secs(EVENT_TIME)).alias(_REF))
    return events.crossJoin(F.broadcast(ref))


def reference_time(train: DataFrame) -> float:
    """The train split's reference time (its last event, epoch seconds). Runs one Spark job."""
    row = train.agg(F.max(_secs(EVENT_TIME)).alias(_REF)).first()
    if row is None or row[_REF] is None:
        raise ValueError("no events: the reference time is undefined")
    return float(row[_REF])


def category_level(code: Column, level: int) -> Column:
    """Return level ``level`` (1-based) of a dotted category code, or ``unknown``."""
    parts = F.split(code, r"\.")
    value = F.when(code != F.lit(UNKNOWN_CATEGORY_CODE), F.get(parts, level - 1))
    return F.coalesce(F.nullif(value, F.lit("")), F.lit(UNKNOWN_LEVEL))


def _units(condition: Column | None = None) -> Column:
    """Aggregate: the quantity summed over the rows meeting ``condition`` (all rows: None)."""
    qty = F.col(QUANTITY)
    return F.coalesce(F.sum(qty if condition is None else F.when(condition, qty)), F.lit(0))


def _counts_by_type() -> list[Column]:
    """Units per canonical event type, and of every other (declared extra) type."""
    return [
        *[_units(_is(t)).alias(f"n_{t}") for t in EVENT_TYPES],
        _units(~F.col(EVENT_TYPE).isin(*EVENT_TYPES)).alias(f"n_{OTHER_EVENTS}"),
    ]


def _top_k(key: Column, count: Column, k: int) -> Column:
    """Aggregate: the ``k`` keys with the largest counts, ties by key (deterministic)."""
    ranked = F.array_sort(F.collect_list(F.struct((-count).alias("c"), key.alias("k"))))
    return F.transform(F.slice(ranked, 1, k), lambda s: s["k"])


def top_categories(events: DataFrame, k: int) -> DataFrame:
    """``(user_id, top_categories)``: each user's ``k`` most frequent categories.

    By event rows, ties by category id: the :func:`user_profiles` column alone, for callers
    that need only the interest tags (it skips the profile's other aggregations and joins).
    """
    return _top_categories(
        events.groupBy(USER_ID, CATEGORY_ID).agg(F.count(F.lit(1)).alias("_n")), k
    )


def _top_categories(per_category: DataFrame, k: int) -> DataFrame:
    """:func:`top_categories` from one row count ``_n`` per (user, category)."""
    return per_category.groupBy(USER_ID).agg(
        _top_k(F.col(CATEGORY_ID), F.col("_n"), k).alias("top_categories")
    )


def user_profiles(
    train: DataFrame, cfg: ProfileConfig, *, reference_s: float | None = None
) -> DataFrame:
    """Return one row per user with a train event (:data:`USER_PROFILE_SCHEMA`).

    ``reference_s`` fixes the reference time (default: the frame's last event).
    """
    events = with_reference_time(train, reference_s).withColumn(_SECS, _secs(EVENT_TIME))
    secs = F.col(_SECS)
    hour = F.floor(F.pmod(secs, F.lit(DAY_S)) / F.lit(3_600.0)).cast("int")
    weekday = F.pmod(F.floor(secs / F.lit(DAY_S)) + F.lit(3), F.lit(7)).cast("int")  # Monday 0
    base = events.groupBy(USER_ID).agg(
        _units().alias("n_events"),
        F.count(F.lit(1)).alias("_rows"),
        *_counts_by_type(),
        F.size(F.collect_set(USER_SESSION)).alias("n_sessions"),
        F.size(F.collect_set(PRODUCT_ID)).alias("n_items"),
        F.size(F.collect_set(CATEGORY_ID)).alias("n_categories"),
        F.min(EVENT_TIME).alias("first_seen"),
        F.max(EVENT_TIME).alias("last_seen"),
        F.min(secs).alias("_first_s"),
        F.max(secs).alias("_last_s"),
        F.first(_REF).alias(_REF),
        F.sum(_when(PURCHASE, F.col(PRICE) * F.col(QUANTITY))).alias("_spent"),
        F.avg(_when(VIEW, F.col(PRICE))).alias("view_price_mean"),
        F.median(_when(VIEW, F.col(PRICE))).alias("view_price_median"),
        F.stddev_samp(_when(VIEW, F.col(PRICE))).alias("view_price_std"),
        F.avg(_when(VIEW, F.col(PRICE_REL_CATEGORY))).alias("view_price_rel_category"),
        F.avg(_when(PURCHASE, F.col(PRICE))).alias("purchase_price_mean"),
        F.median(_when(PURCHASE, F.col(PRICE))).alias("purchase_price_median"),
        F.stddev_samp(_when(PURCHASE, F.col(PRICE))).alias("purchase_price_std"),
        F.avg(_when(PURCHASE, F.col(PRICE_REL_CATEGORY))).alias("purchase_price_rel_category"),
        *[F.count_if(hour == F.lit(h)).alias(f"_h{h}") for h in range(24)],
        *[F.count_if(weekday == F.lit(d)).alias(f"_d{d}") for d in range(7)],
    )
    # categories and brands: pre-aggregated per (user, key), then top-k and shares per user
    by_category = events.groupBy(
        USER_ID, CATEGORY_ID, category_level(F.col(CATEGORY_CODE), 1).alias("_l1")
    ).agg(F.count(F.lit(1)).alias("_n"))
    by_l1 = by_category.groupBy(USER_ID, "_l1").agg(F.sum("_n").alias("_n"))
    shares = by_l1.groupBy(USER_ID).agg(
        F.map_from_entries(F.array_sort(F.collect_list(F.struct("_l1", "_n")))).alias("_l1_n")
    )
    top_cats = _top_categories(
        by_category.groupBy(USER_ID, CATEGORY_ID).agg(F.sum("_n").alias("_n")),
        cfg.top_k_categories,
    )
    top_brands = (
        events.where(F.col(BRAND) != F.lit(UNKNOWN_BRAND))
        .groupBy(USER_ID, BRAND)
        .agg(F.count(F.lit(1)).alias("_n"))
        .groupBy(USER_ID)
        .agg(_top_k(F.col(BRAND), F.col("_n"), cfg.top_k_brands).alias("top_brands"))
    )
    joined = (
        base.join(shares, USER_ID, "left")
        .join(top_cats, USER_ID, "left")
        .join(top_brands, USER_ID, "left")
    )
    n, rows = F.col("n_events"), F.col("_rows")
    lifecycle = (
        F.when(F.col("_first_s") >= F.col(_REF) - F.lit(cfg.new_days * DAY_S), F.lit(LIFECYCLE_NEW))
        .when(
            F.col("_last_s") >= F.col(_REF) - F.lit(cfg.active_days * DAY_S),
            F.lit(LIFECYCLE_ACTIVE),
        )
        .otherwise(F.lit(LIFECYCLE_LAPSING))
    )
    out = joined.select(
        "*",
        (n / F.col("n_sessions")).alias("events_per_session"),
        F.when(F.col("n_purchase") == 0, F.lit(0.0)).otherwise(F.col("_spent")).alias("monetary"),
        ((F.col(_REF) - F.col("_last_s")) / F.lit(DAY_S)).alias("recency_days"),
        ((F.col("_last_s") - F.col("_first_s")) / F.lit(DAY_S)).alias("tenure_days"),
        _rate("n_cart", "n_view").alias("cart_rate"),
        _rate("n_purchase", "n_view").alias("purchase_rate"),
        F.transform_values("_l1_n", lambda _, v: v / rows).alias("category_shares"),
        F.coalesce(F.col("top_brands"), F.array().cast("array<string>")).alias("_brands"),
        F.array(*[F.col(f"_h{h}") / rows for h in range(24)]).alias("hour_shares"),
        F.array(*[F.col(f"_d{d}") / rows for d in range(7)]).alias("weekday_shares"),
        lifecycle.alias("lifecycle"),
    )
    return conform(
        out.drop("top_brands").withColumnRenamed("_brands", "top_brands"), USER_PROFILE_SCHEMA
    )


def item_text(category_code: Column, brand: Column) -> Column:
    """Return the text embedded for an item: its category path words and brand.

    ``electronics.smartphone`` + ``samsung`` -> ``electronics smartphone samsung``; unknown parts
    are left out, and an item with neither is ``product``.
    """
    path = F.when(
        category_code != F.lit(UNKNOWN_CATEGORY_CODE),
        F.regexp_replace(category_code, r"[._]+", " "),
    )
    name = F.when(brand != F.lit(UNKNOWN_BRAND), brand)
    text = F.concat_ws(" ", path, name)
    return F.when(text == F.lit(""), F.lit("product")).otherwise(text)


def item_profiles(train: DataFrame, *, reference_s: float | None = None) -> DataFrame:
    """Return one row per product with a train event (:data:`ITEM_PROFILE_SCHEMA`).

    ``text_embedding`` is null here; :func:`synth.features.pipeline.build_features` fills it.
    ``reference_s`` fixes the reference time (default: the frame's last event).
    """
    events = with_reference_time(train, reference_s).withColumn(_SECS, _secs(EVENT_TIME))
    days = F.col(_SECS) / F.lit(DAY_S)
    agg = events.groupBy(PRODUCT_ID).agg(
        F.mode(CATEGORY_ID, deterministic=True).alias(CATEGORY_ID),
        F.mode(CATEGORY_CODE, deterministic=True).alias(CATEGORY_CODE),
        F.mode(BRAND, deterministic=True).alias(BRAND),
        F.avg(PRICE).alias("price_mean"),
        F.median(PRICE).alias("price_median"),
        F.min(PRICE).alias("price_min"),
        F.max(PRICE).alias("price_max"),
        F.stddev_pop(PRICE).alias("price_std"),
        F.covar_pop(days, F.col(PRICE)).alias("_cov"),
        F.var_pop(days).alias("_var"),
        _units().alias("n_events"),
        *_counts_by_type(),
        F.countDistinct(USER_ID).alias("n_users"),
        F.min(EVENT_TIME).alias("first_seen"),
        F.max(EVENT_TIME).alias("last_seen"),
        F.max(F.col(_SECS)).alias("_last_s"),
        F.first(_REF).alias(_REF),
    )
    rank = F.row_number().over(Window.orderBy(F.col("n_events").desc(), F.col(PRODUCT_ID)))
    trend = F.when(F.col("price_mean").isNotNull(), F.lit(0.0))
    trend = F.when(
        (F.col("_var") > 0) & (F.col("price_mean") > 0),
        F.col("_cov") / F.col("_var") / F.col("price_mean"),
    ).otherwise(trend)
    code = F.col(CATEGORY_CODE)
    out = agg.select(
        "*",
        category_level(code, 1).alias("category_l1"),
        category_level(code, 2).alias("category_l2"),
        category_level(code, 3).alias("category_l3"),
        trend.alias("price_trend"),
        _rate("n_cart", "n_view").alias("cart_rate"),
        _rate("n_purchase", "n_view").alias("purchase_rate"),
        rank.alias("popularity_rank"),
        ((F.col(_REF) - F.col("_last_s")) / F.lit(DAY_S)).alias("recency_days"),
        item_text(code, F.col(BRAND)).alias("item_text"),
        F.lit(None).cast("array<float>").alias("text_embedding"),
    )
    return conform(out, ITEM_PROFILE_SCHEMA)


def strength(cfg: InteractionConfig, reference_s: Column) -> Column:
    """Implicit-feedback strength of a group of events (an aggregate column).

    ``max(0, sum of weight[event_type] * quantity * 0.5 ** (age / half-life))``, age in days from
    each event to ``reference_s`` (epoch seconds). Types without a weight (none, once the config
    is validated against the source vocabulary) weigh 0.
    """
    age_days = (reference_s - _secs(EVENT_TIME)) / F.lit(DAY_S)
    weight = F.lit(0.0)
    for event_type, w in sorted(cfg.weights.items()):
        weight = F.when(_is(event_type), F.lit(float(w))).otherwise(weight)
    decayed = weight * F.col(QUANTITY) * F.pow(F.lit(0.5), age_days / F.lit(cfg.half_life_days))
    return F.greatest(F.coalesce(F.sum(decayed), F.lit(0.0)), F.lit(0.0))


def interactions(silver: DataFrame, cfg: InteractionConfig) -> DataFrame:
    """Return user x item x split implicit feedback (:data:`INTERACTIONS_SCHEMA`), all splits."""
    refs = silver.groupBy(SPLIT).agg(F.max(_secs(EVENT_TIME)).alias(_REF))
    events = silver.join(F.broadcast(refs), SPLIT)
    out = events.groupBy(USER_ID, PRODUCT_ID, SPLIT).agg(
        *_counts_by_type(),
        strength(cfg, F.col(_REF)).alias("strength"),
        F.max(EVENT_TIME).alias("last_event_time"),
    )
    return conform(out, INTERACTIONS_SCHEMA)
