"""The one schema module: column names and explicit ``StructType`` s for every table.

Layers:
- raw: the REES46 event schema, as files carry it (all strings until parsed).
- bronze: every raw row, untyped, with lineage (source, file, ingest time).
- silver: typed, cleaned events with a per-user temporal split.
- quarantine: rows rejected by cleaning, with a reason code.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    LongType,
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

# The canonical event vocabulary, in funnel order.
VIEW, CART, REMOVE_FROM_CART, PURCHASE = "view", "cart", "remove_from_cart", "purchase"
EVENT_TYPES: tuple[str, ...] = (VIEW, CART, REMOVE_FROM_CART, PURCHASE)

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
SOURCE_ROW = "_source_row"  # the row number a source file carries itself (REES46 cosmetics)

# -- silver-only columns ----------------------------------------------------------------------
PRICE_IMPUTED = "price_imputed"
SESSION_REBUILT = "session_rebuilt"
PRICE_REL_CATEGORY = "price_rel_category_median"
PRICE_LOG_Z_CATEGORY = "price_log_z_category"
SPLIT = "split"
SPLIT_TRAIN, SPLIT_VALIDATION, SPLIT_TEST = "train", "validation", "test"

# -- quarantine columns -----------------------------------------------------------------------
REASON = "reason"

RAW_EVENT_SCHEMA = StructType([StructField(c, StringType(), True) for c in EVENT_COLUMNS])

BRONZE_SCHEMA = StructType(
    [
        *RAW_EVENT_SCHEMA.fields,
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
        StructField(PRICE, DoubleType(), False),
        StructField(USER_ID, LongType(), False),
        StructField(USER_SESSION, StringType(), False),
        StructField(PRICE_IMPUTED, BooleanType(), False),
        StructField(SESSION_REBUILT, BooleanType(), False),
        StructField(PRICE_REL_CATEGORY, DoubleType(), False),
        StructField(PRICE_LOG_Z_CATEGORY, DoubleType(), False),
        StructField(SPLIT, StringType(), False),
        StructField(SOURCE, StringType(), False),
        StructField(SOURCE_FILE, StringType(), False),
    ]
)

QUARANTINE_SCHEMA = StructType(
    [
        StructField(REASON, StringType(), False),
        *RAW_EVENT_SCHEMA.fields,
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
    BOT_USER = "bot_user"
    # Removed duplicates are counted, not quarantined.
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"

    QUARANTINE: tuple[str, ...] = (
        MALFORMED_ROW,
        BAD_TIMESTAMP,
        UNKNOWN_EVENT_TYPE,
        BAD_PRODUCT_ID,
        BAD_USER_ID,
        BAD_CATEGORY_ID,
        INVALID_PRICE,
        MISSING_PRICE,
        BOT_USER,
    )
    DUPLICATES: tuple[str, ...] = (EXACT_DUPLICATE, NEAR_DUPLICATE)
