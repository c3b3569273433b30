"""The one schema module: column names and explicit ``StructType`` s for every table.

Layers:
- raw: the REES46 event schema, as files carry it (all strings until parsed).
- bronze: every raw row, untyped, with lineage (source, file, ingest time).
- silver: typed, cleaned events with a per-user temporal split.
- quarantine: rows rejected by cleaning, with a reason code.
- gold: user profiles, item profiles (with text embeddings) and user x item interactions, built
  from silver's train split. Every gold column carries its description in the field metadata
  (``comment``); ``docs/columns.md`` is generated from it (``python -m synth.docs``).
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    FloatType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# -- canonical event columns (REES46 names) --------------------------------------------------
EVENT_TIME = "event_time"
EVENT_TYPE = "event_type"
PRODUCT_ID = "product_id"
CATEGORY_ID = "category_id"
CATEGORY_CODE = "category_code"
BRAND = "brand"
PRICE = "price"
USER_ID = "user_id"
USER_SESSION = "user_session"

EVENT_COLUMNS: tuple[str, ...] = (
    EVENT_TIME,
    EVENT_TYPE,
    PRODUCT_ID,
    CATEGORY_ID,
    CATEGORY_CODE,
    BRAND,
    PRICE,
    USER_ID,
    USER_SESSION,
)

# The canonical event vocabulary, in funnel order (a favourite / wishlist / like last: it is not a
# funnel step). A job may declare extra types with their interaction weight
# (``features.interactions.weights``); their events are counted in the gold ``n_other`` columns.
VIEW, CART, REMOVE_FROM_CART, PURCHASE = "view", "cart", "remove_from_cart", "purchase"
FAVORITE = "favorite"
EVENT_TYPES: tuple[str, ...] = (VIEW, CART, REMOVE_FROM_CART, PURCHASE, FAVORITE)
OTHER_EVENTS = "other"  # gold count columns n_other: events of the job's declared extra types
COUNT_COLUMNS: tuple[str, ...] = (*(f"n_{t}" for t in EVENT_TYPES), f"n_{OTHER_EVENTS}")

# Tokens that replace missing categorical values in silver.
UNKNOWN_BRAND = "unknown"
UNKNOWN_CATEGORY_CODE = "unknown"
UNKNOWN_CATEGORY_ID = -1

# -- lineage columns (bronze and after) ------------------------------------------------------
SOURCE = "_source"
SOURCE_FILE = "_source_file"
SOURCE_FILE_SIZE = "_source_file_size"
SOURCE_FILE_MTIME = "_source_file_mtime"
INGEST_ID = "_ingest_id"
INGEST_TIME = "_ingest_time"
RAW_RECORD = "_raw_record"  # the raw line when the row has the wrong number of fields
# source fields a generic mapping reads beyond the canonical columns, as raw strings, keyed by role
RAW_EXTRA = "_raw_extra"
EXTRA_QUANTITY, EXTRA_TIME_OFFSET, EXTRA_USER_FALLBACK = "quantity", "time_offset", "user_fallback"
SOURCE_ROW = "_source_row"  # the row number a source file carries itself (REES46 cosmetics)

# -- silver-only columns ----------------------------------------------------------------------
PRICE_IMPUTED = "price_imputed"
PRICE_MISSING = "price_missing"  # why price is null: a PriceMissing value; null when priced
QUANTITY = "quantity"  # units of the event (1 unless the source maps a quantity column)
SESSION_REBUILT = "session_rebuilt"
PRICE_REL_CATEGORY = "price_rel_category_median"
PRICE_LOG_Z_CATEGORY = "price_log_z_category"
SPLIT = "split"
SPLIT_TRAIN, SPLIT_VALIDATION, SPLIT_TEST = "train", "validation", "test"

# -- quarantine columns -----------------------------------------------------------------------
REASON = "reason"

RAW_EVENT_SCHEMA = StructType([StructField(c, StringType(), True) for c in EVENT_COLUMNS])
RAW_EXTRA_TYPE = MapType(StringType(), StringType(), True)

BRONZE_SCHEMA = StructType(
    [
        *RAW_EVENT_SCHEMA.fields,
        StructField(RAW_EXTRA, RAW_EXTRA_TYPE, True),
        StructField(RAW_RECORD, StringType(), True),
        StructField(SOURCE_ROW, StringType(), True),
        StructField(SOURCE, StringType(), False),
        StructField(SOURCE_FILE, StringType(), False),
        StructField(SOURCE_FILE_SIZE, LongType(), False),
        StructField(SOURCE_FILE_MTIME, TimestampType(), False),
        StructField(INGEST_ID, StringType(), False),
        StructField(INGEST_TIME, TimestampType(), False),
    ]
)

SILVER_SCHEMA = StructType(
    [
        StructField(EVENT_TIME, TimestampType(), False),
        StructField(EVENT_TYPE, StringType(), False),
        StructField(PRODUCT_ID, LongType(), False),
        StructField(CATEGORY_ID, LongType(), False),
        StructField(CATEGORY_CODE, StringType(), False),
        StructField(BRAND, StringType(), False),
        StructField(PRICE, DoubleType(), True),
        StructField(USER_ID, LongType(), False),
        StructField(USER_SESSION, StringType(), False),
        StructField(QUANTITY, LongType(), False),
        StructField(PRICE_IMPUTED, BooleanType(), False),
        StructField(PRICE_MISSING, StringType(), True),
        StructField(SESSION_REBUILT, BooleanType(), False),
        StructField(PRICE_REL_CATEGORY, DoubleType(), True),
        StructField(PRICE_LOG_Z_CATEGORY, DoubleType(), True),
        StructField(SPLIT, StringType(), False),
        StructField(SOURCE, StringType(), False),
        StructField(SOURCE_FILE, StringType(), False),
    ]
)

QUARANTINE_SCHEMA = StructType(
    [
        StructField(REASON, StringType(), False),
        *RAW_EVENT_SCHEMA.fields,
        StructField(RAW_EXTRA, RAW_EXTRA_TYPE, True),
        StructField(RAW_RECORD, StringType(), True),
        StructField(SOURCE_ROW, StringType(), True),
        StructField(SOURCE, StringType(), False),
        StructField(SOURCE_FILE, StringType(), False),
        StructField(INGEST_ID, StringType(), False),
    ]
)


class Reason:
    """Reason codes written to the quarantine table (and the accounting)."""

    MALFORMED_ROW = "malformed_row"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    BAD_PRODUCT_ID = "bad_product_id"
    BAD_USER_ID = "bad_user_id"
    BAD_CATEGORY_ID = "bad_category_id"
    INVALID_PRICE = "invalid_price"
    MISSING_PRICE = "missing_price"
    BAD_QUANTITY = "bad_quantity"
    BOT_USER = "bot_user"
    # Removed duplicates are counted, not quarantined.
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    # a row of a file that was ingested again later (re-exported at the same path, changed):
    # the later ingest's rows replace all of the earlier one's
    SUPERSEDED = "superseded_by_reexport"

    QUARANTINE: tuple[str, ...] = (
        MALFORMED_ROW,
        BAD_TIMESTAMP,
        UNKNOWN_EVENT_TYPE,
        BAD_PRODUCT_ID,
        BAD_USER_ID,
        BAD_CATEGORY_ID,
        INVALID_PRICE,
        MISSING_PRICE,
        BAD_QUANTITY,
        BOT_USER,
    )
    DUPLICATES: tuple[str, ...] = (EXACT_DUPLICATE, NEAR_DUPLICATE, SUPERSEDED)


class PriceMissing:
    """Why a silver event's price is null (silver ``price_missing``; null when it has a price)."""

    NOT_IN_SOURCE = "not_in_source"  # the source maps no price column
    NEVER_PRICED = "never_priced"  # the product has no valid price in any event of bronze

    ALL: tuple[str, ...] = (NOT_IN_SOURCE, NEVER_PRICED)


# -- gold tables ---------------------------------------------------------------------------------
def _col(name: str, dtype: DataType, comment: str, *, nullable: bool = False) -> StructField:
    """A gold column with its description (the column dictionary is generated from these)."""
    return StructField(name, dtype, nullable, metadata={"comment": comment})


DOUBLES = ArrayType(DoubleType())
LIFECYCLE_NEW, LIFECYCLE_ACTIVE, LIFECYCLE_LAPSING = "new", "active", "lapsing"
LIFECYCLES: tuple[str, ...] = (LIFECYCLE_NEW, LIFECYCLE_ACTIVE, LIFECYCLE_LAPSING)
UNKNOWN_LEVEL = "unknown"  # a category level the category code does not have

_UNITS = " (an event of quantity q counts q times)."
_OTHER = "Train events of the job's declared extra event types (features.interactions.weights)."
_UNPRICED = "; null when no such event has a price (silver price_missing says why)"
_UNPRICED_ITEM = "; null when the item is never priced (silver price_missing)."
_NULL_RATE = "; null when the user has no views (no rate to measure)"
_NULL_ITEM_RATE = "; null when the item has no views (no rate to measure)"

USER_PROFILE_SCHEMA = StructType(
    [
        _col(USER_ID, LongType(), "The user (silver user_id)."),
        _col("n_events", LongType(), "Train events of the user" + _UNITS),
        _col("n_view", LongType(), "Train views."),
        _col("n_cart", LongType(), "Train add-to-cart events."),
        _col("n_remove_from_cart", LongType(), "Train remove-from-cart events."),
        _col("n_purchase", LongType(), "Train purchases."),
        _col("n_favorite", LongType(), "Train favourites (wishlist, like)."),
        _col("n_other", LongType(), _OTHER),
        _col("n_sessions", LongType(), "Distinct sessions with a train event (frequency of RFM)."),
        _col("events_per_session", DoubleType(), "n_events / n_sessions."),
        _col("n_items", LongType(), "Distinct products with a train event."),
        _col("n_categories", LongType(), "Distinct categories with a train event."),
        _col("first_seen", TimestampType(), "First train event (UTC)."),
        _col("last_seen", TimestampType(), "Last train event (UTC)."),
        _col(
            "recency_days",
            DoubleType(),
            "Days from last_seen to the reference time (the train split's last event).",
        ),
        _col("tenure_days", DoubleType(), "Days from first_seen to last_seen."),
        _col(
            "monetary",
            DoubleType(),
            "Sum of price x quantity of the user's purchases (0 if none)" + _UNPRICED + ".",
            nullable=True,
        ),
        _col("cart_rate", DoubleType(), "n_cart / n_view" + _NULL_RATE, nullable=True),
        _col("purchase_rate", DoubleType(), "n_purchase / n_view" + _NULL_RATE, nullable=True),
        _col(
            "category_shares",
            MapType(StringType(), DoubleType()),
            "Share of the user's events per top-level category (first level of category_code, "
            "'unknown' when missing); the shares sum to 1.",
        ),
        _col(
            "top_categories",
            ArrayType(LongType()),
            "Interest tags: ids of the user's most frequent categories (top-k, most frequent "
            "first, ties by id).",
        ),
        _col(
            "top_brands",
            ArrayType(StringType()),
            "The user's most frequent known brands (top-k, ties by name; empty if none known).",
        ),
        _col("view_price_mean", DoubleType(), "Mean price of viewed products.", nullable=True),
        _col("view_price_median", DoubleType(), "Median price of viewed products.", nullable=True),
        _col(
            "view_price_std",
            DoubleType(),
            "Standard deviation of viewed prices; null with fewer than 2 views.",
            nullable=True,
        ),
        _col(
            "view_price_rel_category",
            DoubleType(),
            "Mean of viewed price / category median price (price sensitivity); null with no views.",
            nullable=True,
        ),
        _col(
            "purchase_price_mean",
            DoubleType(),
            "Mean price of purchases; null with no purchases.",
            nullable=True,
        ),
        _col(
            "purchase_price_median",
            DoubleType(),
            "Median price of purchases; null with no purchases.",
            nullable=True,
        ),
        _col(
            "purchase_price_std",
            DoubleType(),
            "Standard deviation of purchase prices; null with fewer than 2 purchases.",
            nullable=True,
        ),
        _col(
            "purchase_price_rel_category",
            DoubleType(),
            "Mean of purchase price / category median price; null with no purchases.",
            nullable=True,
        ),
        _col(
            "hour_shares",
            DOUBLES,
            "Share of the user's events per hour of day (24 values, UTC, hour 0 first).",
        ),
        _col(
            "weekday_shares",
            DOUBLES,
            "Share of the user's events per weekday (7 values, Monday first).",
        ),
        _col(
            "lifecycle",
            StringType(),
            "new (first seen within profiles.new_days of the reference time), active (last seen "
            "within profiles.active_days) or lapsing.",
        ),
    ]
)

ITEM_PROFILE_SCHEMA = StructType(
    [
        _col(PRODUCT_ID, LongType(), "The product (silver product_id)."),
        _col(CATEGORY_ID, LongType(), "Its most frequent category id in train (-1 unknown)."),
        _col(CATEGORY_CODE, StringType(), "Its category code ('unknown' when missing)."),
        _col("category_l1", StringType(), "First level of the category code ('unknown' if none)."),
        _col("category_l2", StringType(), "Second level ('unknown' if the code has none)."),
        _col("category_l3", StringType(), "Third level ('unknown' if the code has none)."),
        _col(BRAND, StringType(), "Its most frequent brand in train ('unknown' when missing)."),
        _col("price_mean", DoubleType(), "Mean event price" + _UNPRICED_ITEM, nullable=True),
        _col("price_median", DoubleType(), "Median event price" + _UNPRICED_ITEM, nullable=True),
        _col("price_min", DoubleType(), "Lowest event price" + _UNPRICED_ITEM, nullable=True),
        _col("price_max", DoubleType(), "Highest event price" + _UNPRICED_ITEM, nullable=True),
        _col(
            "price_std",
            DoubleType(),
            "Population standard deviation of event prices (0 with one priced event)"
            + _UNPRICED_ITEM,
            nullable=True,
        ),
        _col(
            "price_trend",
            DoubleType(),
            "Least-squares slope of price over time, relative to price_mean, per day (0 when all "
            "priced events share one timestamp)" + _UNPRICED_ITEM,
            nullable=True,
        ),
        _col("n_events", LongType(), "Train events on the item" + _UNITS),
        _col("n_view", LongType(), "Train views."),
        _col("n_cart", LongType(), "Train add-to-cart events."),
        _col("n_remove_from_cart", LongType(), "Train remove-from-cart events."),
        _col("n_purchase", LongType(), "Train purchases."),
        _col("n_favorite", LongType(), "Train favourites (wishlist, like)."),
        _col("n_other", LongType(), _OTHER),
        _col("n_users", LongType(), "Distinct users with a train event on the item."),
        _col("cart_rate", DoubleType(), "n_cart / n_view" + _NULL_ITEM_RATE, nullable=True),
        _col("purchase_rate", DoubleType(), "n_purchase / n_view" + _NULL_ITEM_RATE, nullable=True),
        _col(
            "popularity_rank",
            LongType(),
            "1 for the item with the most train events (ties by product id).",
        ),
        _col("first_seen", TimestampType(), "First train event (UTC)."),
        _col("last_seen", TimestampType(), "Last train event (UTC)."),
        _col("recency_days", DoubleType(), "Days from last_seen to the reference time."),
        _col(
            "item_text",
            StringType(),
            "The text embedded: category path words and brand ('product' when both unknown).",
        ),
        _col(
            "text_embedding",
            ArrayType(FloatType()),
            "PCA projection (embedding.dim values) of the all-MiniLM-L6-v2 embedding of "
            "item_text; null when embeddings are disabled.",
            nullable=True,
        ),
    ]
)

INTERACTIONS_SCHEMA = StructType(
    [
        _col(USER_ID, LongType(), "The user."),
        _col(PRODUCT_ID, LongType(), "The product."),
        _col(SPLIT, StringType(), "The silver split of these events: train, validation or test."),
        _col("n_view", LongType(), "Views of the pair in the split."),
        _col("n_cart", LongType(), "Add-to-cart events of the pair in the split."),
        _col("n_remove_from_cart", LongType(), "Remove-from-cart events of the pair in the split."),
        _col("n_purchase", LongType(), "Purchases of the pair in the split."),
        _col("n_favorite", LongType(), "Favourites of the pair in the split."),
        _col("n_other", LongType(), "Events of declared extra types of the pair in the split."),
        _col(
            "strength",
            DoubleType(),
            "Implicit-feedback strength: max(0, sum of weight[event_type] * quantity * 0.5 ** "
            "(age / half-life)), age in days to the split's last event (interactions config).",
        ),
        _col("last_event_time", TimestampType(), "The pair's last event in the split (UTC)."),
    ]
)


USER_SEQUENCE_SCHEMA = StructType(
    [
        _col(USER_ID, LongType(), "The user."),
        _col("length", LongType(), "Train events of the user (rows, not units)."),
        _col("first_event_time", TimestampType(), "The user's first train event (UTC)."),
        _col(
            "event_types",
            ArrayType(StringType()),
            "The user's train events' types in time order (ties: funnel order of the type, then "
            "product id).",
        ),
        _col(
            "product_ids",
            ArrayType(LongType()),
            "The events' products, in the same order.",
        ),
        _col(
            "gaps_s",
            ArrayType(LongType()),
            "Whole seconds from the previous event (0 for the first), in the same order.",
        ),
        _col(
            "new_session",
            ArrayType(BooleanType()),
            "Whether the event opens a session (its user_session differs from the previous "
            "event's; true for the first), in the same order.",
        ),
    ]
)


# -- synthesis: per-run synthetic tables and fused tables -----------------------------------------
ROW = "_row"  # the global row number of a synthetic row in its run (its id derives from it)
RUN_ID = "run_id"
MODEL_ID = "model_id"
REJECTED_REASON = "rejected_reason"  # null when the filters kept the row
REALISM_SCORE = "realism_score"  # the detector's probability that the row is synthetic
DCR = "dcr"  # distance to the closest training record (reference sample), encoded space
ORIGIN = "origin"  # of a synthetic event: synthetic_user or enrichment
SYNTHETIC_USER, ENRICHMENT = "synthetic_user", "enrichment"  # the values of ORIGIN
IS_SYNTHETIC, ENRICHED, WEIGHT = "is_synthetic", "enriched", "weight"

FUSED_PROVENANCE = StructType(
    [
        StructField(IS_SYNTHETIC, BooleanType(), False),
        StructField(ENRICHED, BooleanType(), False),
        StructField(MODEL_ID, StringType(), True),
        StructField(RUN_ID, StringType(), False),
        StructField(WEIGHT, DoubleType(), False),
    ]
)
"""Columns appended to a gold profile's columns in its fused table (``fused/<table>``)."""


def schema_mismatches(actual: StructType, expected: StructType) -> list[str]:
    """Return how ``actual`` differs from ``expected`` in column names, order, types or comments.

    Nullability is not compared: Spark derives it from the plan. Gold writers check the data of
    non-nullable columns instead (see :func:`synth.features.pipeline.build_features`).
    """
    problems = []
    if actual.names != expected.names:
        problems.append(f"columns {actual.names} != expected {expected.names}")
        return problems
    for got, want in zip(actual.fields, expected.fields, strict=True):
        if got.dataType != want.dataType:
            problems.append(f"{want.name}: type {got.dataType} != expected {want.dataType}")
        if got.metadata.get("comment") != want.metadata.get("comment"):
            problems.append(f"{want.name}: comment differs from the schema module's")
    return problems


GOLD_SCHEMAS: dict[str, StructType] = {
    "user_profiles": USER_PROFILE_SCHEMA,
    "item_profiles": ITEM_PROFILE_SCHEMA,
    "interactions": INTERACTIONS_SCHEMA,
    "user_sequences": USER_SEQUENCE_SCHEMA,
}


def table_key(table: str) -> str:
    """The id column of a gold profile table."""
    return PRODUCT_ID if table == "item_profiles" else USER_ID
