"""Parsing raw bronze strings into typed values, and the first quarantine reasons.

Each function returns a ``Column``; none raises on bad input (ANSI mode stays on: they use
``try_*`` functions), because a value that does not parse is a reason to quarantine the row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

from synth.config.clean import PriceConfig
from synth.config.ingest import OFFSET_UNITS
from synth.schema import Reason


def blank_to_null(col: Column) -> Column:
    """Trim a string column; empty strings become null."""
    trimmed = F.trim(col)
    return F.when(trimmed == "", None).otherwise(trimmed)


_EPOCH_MICROS = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}


def parse_timestamp(
    col: Column,
    fmt: str | Sequence[str],
    timezone: str = "UTC",
    *,
    offset: Column | None = None,
    offset_unit: str | None = None,
) -> Column:
    """Parse a raw event time into a UTC timestamp; null when it does not parse.

    Args:
        col: The raw string column.
        fmt: A Spark datetime pattern, or ``iso``, ``epoch_s``, ``epoch_ms``, ``epoch_us``
            (epochs may carry a fraction: ``1396437466.94``); a sequence is tried in order and
            the first format that parses a value wins.
        timezone: Zone of times written without one (ignored for epochs and zoned values).
        offset: A raw number added to the parsed time (e.g. milliseconds since the session
            start); a row whose offset does not parse gets a null time.
        offset_unit: The offset's unit: ``s``, ``ms`` or ``us``.
    """
    value = blank_to_null(col)
    formats = [fmt] if isinstance(fmt, str) else list(fmt)
    parsed = F.coalesce(*[_parse_one(value, f, timezone) for f in formats])
    if offset is None:
        return parsed
    per_unit = OFFSET_UNITS[offset_unit or "ms"]
    shift = _try_double(blank_to_null(offset)) * F.lit(float(per_unit))
    ok = shift.isNotNull() & ~F.isnan(shift) & (F.abs(shift) < F.lit(1e17))
    return F.when(ok, F.timestamp_micros(F.unix_micros(parsed) + shift.cast("bigint")))


def _parse_one(value: Column, fmt: str, timezone: str) -> Column:
    if fmt in _EPOCH_MICROS:
        number = _try_double(value)
        micros = F.round(number * F.lit(float(_EPOCH_MICROS[fmt])))
        # beyond +-2^62 us (146,000 years) the cast would overflow: not a time
        ok = number.isNotNull() & ~F.isnan(number) & (F.abs(micros) < F.lit(float(1 << 62)))
        return F.when(ok, F.timestamp_micros(micros.cast("bigint")))
    if fmt == "iso":
        zoned = value.rlike(r"(Z|[+-][0-9]{2}(:?[0-9]{2})?|UTC|GMT)$")
        local = _try_ts(value)
    else:
        zoned = F.lit(_pattern_has_zone(fmt))
        local = F.try_to_timestamp(value, F.lit(fmt))
    if timezone.upper() == "UTC":
        return local
    # a value with its own zone is already an instant; only naive times are shifted
    return F.when(zoned, local).otherwise(F.to_utc_timestamp(local, timezone))


def _pattern_has_zone(fmt: str) -> bool:
    """True when a Spark datetime pattern parses a zone (z, Z, X, x, O or V outside quotes)."""
    unquoted = re.sub(r"'[^']*'", "", fmt)
    return bool(re.search(r"[zZXxOV]", unquoted))


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


def parse_quantity(col: Column) -> Column:
    """Parse a raw quantity (an integer, ``6`` or ``6.0``); null when blank or fractional."""
    value = _try_double(blank_to_null(col))
    ok = value.isNotNull() & ~F.isnan(value) & (F.abs(value) < F.lit(1e15))
    return F.when(ok & (value == F.floor(value)), value.cast("bigint"))


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
    quantity_ok: Column | None = None,
) -> Column:
    """Return the first parse-level quarantine reason of a row, or null if it parses.

    Precedence: malformed row, timestamp, event type, user id, product id, category id, price,
    quantity. A blank price is not a reason here (it is imputed later, or stays null); a blank
    category id is unknown. ``quantity_ok`` is false for a quantity that is not a usable count.
    """
    bad_category = blank_to_null(raw_category_id).isNotNull() & category_id.isNull()
    bad_price = (blank_to_null(raw_price).isNotNull() & price.isNull()) | (
        price.isNotNull() & ((price <= prices.min_price) | (price > prices.max_price))
    )
    reason = (
        F.when(raw_record.isNotNull(), F.lit(Reason.MALFORMED_ROW))
        .when(ts.isNull(), F.lit(Reason.BAD_TIMESTAMP))
        .when(event_type.isNull(), F.lit(Reason.UNKNOWN_EVENT_TYPE))
        .when(user_id.isNull(), F.lit(Reason.BAD_USER_ID))
        .when(product_id.isNull(), F.lit(Reason.BAD_PRODUCT_ID))
        .when(bad_category, F.lit(Reason.BAD_CATEGORY_ID))
        .when(bad_price, F.lit(Reason.INVALID_PRICE))
    )
    if quantity_ok is not None:
        reason = reason.when(~quantity_ok, F.lit(Reason.BAD_QUANTITY))
    return reason
