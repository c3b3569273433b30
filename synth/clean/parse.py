"""Parsing raw bronze strings into typed values, and the first quarantine reasons.

Each function returns a ``Column``; none raises on bad input (ANSI mode stays on: they use
``try_*`` functions), because a value that does not parse is a reason to quarantine the row.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column
from pyspark.sql import functions as F

from synth.config.clean import PriceConfig
from synth.schema import Reason


def blank_to_null(col: Column) -> Column:
    """Trim a string column; empty strings become null."""
    trimmed = F.trim(col)
    return F.when(trimmed == "", None).otherwise(trimmed)


def parse_timestamp(col: Column, fmt: str, timezone: str = "UTC") -> Column:
    """Parse a raw event time into a UTC timestamp; null when it does not parse.

    Args:
        col: The raw string column.
        fmt: A Spark datetime pattern, or ``iso``, ``epoch_s`` or ``epoch_ms``.
        timezone: Zone of times written without one (ignored for epochs and zoned patterns).
    """
    value = blank_to_null(col)
    if fmt == "epoch_s":
        return F.timestamp_seconds(_try_long(value))
    if fmt == "epoch_ms":
        return F.timestamp_millis(_try_long(value))
    if fmt == "iso":
        local = _try_ts(value)
    else:
        local = F.try_to_timestamp(value, F.lit(fmt))
    if timezone.upper() == "UTC":
        return local
    return F.to_utc_timestamp(local, timezone)


def _try_long(col: Column) -> Column:
    return col.try_cast("bigint")


def _try_ts(col: Column) -> Column:
    return col.try_cast("timestamp")


def parse_long(col: Column) -> Column:
    """Parse a raw integer id (digits only; ``12.0`` or ``1e5`` do not parse)."""
    value = blank_to_null(col)
    return F.when(value.rlike(r"^-?[0-9]{1,19}$"), _try_long(value))


def hash_id(col: Column) -> Column:
    """Map a raw string id to a stable non-negative 63-bit integer (null stays null)."""
    value = blank_to_null(col)
    return F.when(value.isNotNull(), F.xxhash64(value).bitwiseAND(F.lit((1 << 63) - 1)))


def parse_price(col: Column) -> Column:
    """Parse a raw price into a double; null when blank or not a finite number."""
    value = _try_double(blank_to_null(col))
    return F.when(~F.isnan(value) & (F.abs(value) < F.lit(float("inf"))), value)


def _try_double(col: Column) -> Column:
    return col.try_cast("double")


def map_event_type(col: Column, vocabulary: Mapping[str, str]) -> Column:
    """Map a raw event type through the source vocabulary (case-insensitive); null if unknown."""
    key = F.lower(F.trim(col))
    mapping = F.create_map(*[F.lit(x) for kv in sorted(vocabulary.items()) for x in kv])
    return F.try_element_at(mapping, key)


def parse_reason(
    *,
    raw_record: Column,
    ts: Column,
    event_type: Column,
    user_id: Column,
    product_id: Column,
    raw_category_id: Column,
    category_id: Column,
    raw_price: Column,
    price: Column,
    prices: PriceConfig,
) -> Column:
    """Return the first parse-level quarantine reason of a row, or null if it parses.

    Precedence: malformed row, timestamp, event type, user id, product id, category id, price.
    A blank price is not a reason here (it is imputed later); a blank category id is unknown.
    """
    bad_category = blank_to_null(raw_category_id).isNotNull() & category_id.isNull()
    bad_price = (blank_to_null(raw_price).isNotNull() & price.isNull()) | (
        price.isNotNull() & ((price <= prices.min_price) | (price > prices.max_price))
    )
    return (
        F.when(raw_record.isNotNull(), F.lit(Reason.MALFORMED_ROW))
        .when(ts.isNull(), F.lit(Reason.BAD_TIMESTAMP))
        .when(event_type.isNull(), F.lit(Reason.UNKNOWN_EVENT_TYPE))
        .when(user_id.isNull(), F.lit(Reason.BAD_USER_ID))
        .when(product_id.isNull(), F.lit(Reason.BAD_PRODUCT_ID))
        .when(bad_category, F.lit(Reason.BAD_CATEGORY_ID))
        .when(bad_price, F.lit(Reason.INVALID_PRICE))
    )
