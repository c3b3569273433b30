"""Configuration of event sources (the ingestion adapters).

A source is chosen by ``kind`` (a key of :data:`synth.ingest.adapters.ADAPTERS`):

- ``rees46_multi_category``: the REES46 multi-category store's monthly CSV files.
- ``rees46_cosmetics``: the REES46 cosmetics shop's CSV files (a leading ``source_row`` column
  where the file carries one).
- ``generic``: any CSV / Parquet / JSON event log, described by a column mapping.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import Field, field_validator, model_validator

from synth.config.base import StrictModel
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
    PRICE,
    PRODUCT_ID,
    USER_ID,
    USER_SESSION,
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
REQUIRED_MAPPED: tuple[str, ...] = (EVENT_TIME, EVENT_TYPE, PRODUCT_ID, USER_ID)
OPTIONAL_MAPPED: tuple[str, ...] = (CATEGORY_ID, CATEGORY_CODE, BRAND, PRICE, USER_SESSION)


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            "must be lower-case letters, digits and '_' (start with a letter, at most 63 chars)"
        )
    return value


class _SourceBase(StrictModel):
    name: str | None = Field(default=None, description="table-safe source name (default: kind)")
    paths: list[str] = Field(min_length=1, description="files, folders or glob patterns")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value)


class Rees46MultiCategorySource(_SourceBase):
    """REES46 "eCommerce behavior data from multi category store" CSV files."""

    kind: Literal["rees46_multi_category"] = "rees46_multi_category"


class Rees46CosmeticsSource(_SourceBase):
    """REES46 "eCommerce events history in cosmetics shop" CSV files."""

    kind: Literal["rees46_cosmetics"] = "rees46_cosmetics"


TIMESTAMP_PRESETS: tuple[str, ...] = ("iso", "epoch_s", "epoch_ms", "epoch_us")
OFFSET_UNITS: dict[str, int] = {"s": 1_000_000, "ms": 1_000, "us": 1}  # microseconds per unit


class TimeOffset(StrictModel):
    """A column added to the parsed time, e.g. milliseconds since the session start.

    For logs that carry a date and an elapsed time instead of a wall-clock time (the event time
    is ``date + offset``): the order of a session's events is kept, the time of day is not real.
    """

    column: str = Field(min_length=1)
    unit: Literal["s", "ms", "us"] = "ms"


# Spark's datetime pattern letters (Spark 3+: java.time's, less the week-based ones)
_PATTERN_LETTERS = set("GyDMLdQqEFahKkHmsSVzOXxZ")
_WEEK_BASED = {
    "Y": "the week-based year; for the calendar year use 'y' (e.g. yyyy-MM-dd)",
    "w": "the week of a week-based year",
    "W": "the week of the month",
    "u": "the day-of-week number; for the day name use 'E'",
    "e": "the localized day of week; for the day name use 'E'",
    "c": "the localized day of week; for the day name use 'E'",
}


def check_datetime_pattern(pattern: str) -> None:
    """Raise ValueError when Spark cannot parse with ``pattern`` (naming the letter and a fix).

    Checked here, at config validation, so a bad pattern fails before anything is ingested
    rather than in the ``clean`` stage (whose Spark error for ``Y`` speaks of "week-based
    patterns"). Text in single quotes is literal; ``[...]`` marks optional sections.
    """
    quoted = False
    for char in pattern:
        if char == "'":
            quoted = not quoted
            continue
        if quoted or not char.isalpha():
            continue
        if char in _WEEK_BASED:
            raise ValueError(
                f"timestamp format {pattern!r}: '{char}' is {_WEEK_BASED[char]}; Spark does not "
                "parse week-based fields"
            )
        if char not in _PATTERN_LETTERS:
            raise ValueError(
                f"timestamp format {pattern!r}: '{char}' is not a Spark datetime pattern letter; "
                f"put literal text in single quotes (e.g. yyyy-MM-dd'{char}'HH:mm:ss)"
            )
    if quoted:
        raise ValueError(f"timestamp format {pattern!r}: a quote (') is not closed")


def _zone_names() -> frozenset[str]:
    """Region names Java knows too (the IANA names less zoneinfo's local aliases)."""
    return frozenset(available_timezones()) - {"Factory", "localtime", "posixrules"}


class TimestampSpec(StrictModel):
    """How to parse the event time column.

    ``format`` is one of ``iso`` (ISO-8601, with or without a zone offset such as ``+02:00`` or
    ``Z``), ``epoch_s`` (seconds, fractions allowed: ``1396437466.94``), ``epoch_ms``,
    ``epoch_us``, or a Spark datetime pattern (e.g. ``M/d/yyyy H:mm``); a list of them is tried
    in order per value (the first that parses wins). ``timezone`` applies to times written
    without a zone (a region such as ``Europe/Berlin`` or an offset such as ``+01:00``).
    """

    format: str | list[str] = "iso"
    timezone: str = "UTC"
    offset: TimeOffset | None = None

    @field_validator("format")
    @classmethod
    def _non_empty(cls, value: str | list[str]) -> str | list[str]:
        formats = [value] if isinstance(value, str) else value
        if not formats or any(not f.strip() for f in formats):
            raise ValueError(
                f"give a format: one of {list(TIMESTAMP_PRESETS)} or a Spark datetime pattern "
                "(or a list of them)"
            )
        for pattern in formats:
            if pattern not in TIMESTAMP_PRESETS:
                check_datetime_pattern(pattern)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        offset = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::(\d{2}))?", value)
        if offset:
            hours, minutes = int(offset.group(2)), int(offset.group(3) or 0)
            if hours > 18 or minutes > 59 or (hours == 18 and minutes):
                raise ValueError(
                    f"time zone offset {value!r} is out of range: offsets run from -18:00 to "
                    "+18:00 (e.g. '+01:00')"
                )
            return value
        if value in ("UTC", "GMT", "Z"):
            return value
        if value not in _zone_names():
            raise ValueError(
                f"unknown time zone {value!r}: use a region such as 'Europe/Berlin', 'UTC' or an "
                "offset such as '+01:00'"
            )
        return value

    def formats(self) -> tuple[str, ...]:
        """The formats tried in order."""
        return (self.format,) if isinstance(self.format, str) else tuple(self.format)


class Constant(StrictModel):
    """A canonical column with the same value in every row.

    For example ``event_type: {constant: view}`` for a click log that has no event type.
    """

    constant: str = Field(min_length=1)


class QuantitySpec(StrictModel):
    """A quantity column: an event of quantity q counts q units in gold (counts, money, strength).

    A row with a negative quantity is a reversal (a cancellation or a return): with
    ``negative_type`` set its event type becomes that type and its quantity ``|q|``; without it
    such rows are quarantined as ``bad_quantity``, as are rows with quantity 0 or not an integer.
    """

    column: str = Field(min_length=1)
    negative_type: str | None = None


class GenericSource(_SourceBase):
    """Any event log, mapped onto the canonical event columns by configuration alone.

    ``columns`` maps a canonical column (``event_time``, ``event_type``, ``product_id``,
    ``user_id`` required; ``category_id``, ``category_code``, ``brand``, ``price``,
    ``user_session`` optional) to the source's column name, or to ``{constant: value}``. With
    ``explode`` (JSON / Parquet), the named column holds an array of structs (one session's
    events) and each element becomes a row; an element's fields are named ``<explode>.<field>``.
    Id columns listed in ``hashed_ids`` hold strings (SKUs, UUIDs) and are turned into stable
    63-bit integers by ``xxhash64``. ``user_id_fallback`` names a column whose value stands in for
    a blank user id (a guest checkout's invoice, a session): such users are hashed from
    ``~<value>`` so they never collide with real user ids (``user_id`` must be in ``hashed_ids``).

    ``event_types`` maps each source event-type value (case-insensitive) to a canonical type
    (``view``, ``cart``, ``remove_from_cart``, ``purchase``, ``favorite``) or to an extra type
    the job declares with its weight in ``features.interactions.weights``; values not listed are
    quarantined as ``unknown_event_type``. Left empty, every canonical and declared type maps to
    itself. A session-only log maps ``user_id`` and ``user_session`` to the session column.
    """

    kind: Literal["generic"] = "generic"
    name: str  # type: ignore[assignment]  # required for generic sources
    format: Literal["csv", "parquet", "json"] = "csv"
    options: dict[str, str] = Field(default_factory=dict, description="Spark reader options")
    explode: str | None = None
    columns: dict[str, str | Constant]
    user_id_fallback: str | None = None
    quantity: QuantitySpec | None = None
    timestamp: TimestampSpec = TimestampSpec()
    event_types: dict[str, str] = Field(default_factory=dict)
    hashed_ids: list[Literal["product_id", "user_id", "category_id"]] = Field(default_factory=list)

    @field_validator("event_types")
    @classmethod
    def _type_names(cls, value: dict[str, str]) -> dict[str, str]:
        for raw, target in value.items():
            if not _NAME.match(target):
                raise ValueError(
                    f"{raw!r} -> {target!r}: an event type is lower-case letters, digits and '_'"
                )
        return value

    @model_validator(mode="after")
    def _check_mapping(self) -> GenericSource:
        unknown = sorted(set(self.columns) - set(EVENT_COLUMNS))
        if unknown:
            raise ValueError(
                f"columns: unknown canonical column(s) {unknown}; allowed: {list(EVENT_COLUMNS)}"
            )
        missing = [c for c in REQUIRED_MAPPED if c not in self.columns]
        if missing:
            raise ValueError(
                f"columns: required canonical column(s) not mapped: {missing} (a log without "
                "event types says `event_type: {constant: view}`; a session-only log maps "
                "user_id to its session column)"
            )
        constants = [c for c, v in self.columns.items() if isinstance(v, Constant)]
        if any(c in constants for c in (EVENT_TIME, PRODUCT_ID)):
            raise ValueError("columns: event_time and product_id must name a source column")
        if self.format != "csv" and self.options.get("header"):
            raise ValueError("options.header only applies to format: csv")
        if self.explode is not None and self.format == "csv":
            raise ValueError("explode applies to nested formats only (json, parquet), not csv")
        if self.explode is not None:
            prefix = self.explode + "."
            if not any(n.startswith(prefix) for n in self.source_columns()):
                raise ValueError(
                    f"explode: {self.explode!r} is set but no mapped column names one of its "
                    f"fields; name them `{prefix}<field>` (e.g. product_id: {prefix}aid)"
                )
        if self.user_id_fallback is not None and USER_ID not in self.hashed_ids:
            raise ValueError(
                "user_id_fallback needs user_id in hashed_ids (fallback ids are hashed from "
                "'~<value>' so they never collide with real user ids)"
            )
        return self

    def constant_event_type(self) -> str | None:
        """The constant event type, when ``columns.event_type`` is one."""
        value = self.columns[EVENT_TYPE]
        return value.constant if isinstance(value, Constant) else None

    def mapped(self) -> dict[str, str]:
        """Canonical column -> source column, for the columns read from the source."""
        return {c: v for c, v in self.columns.items() if isinstance(v, str)}

    def extra_columns(self) -> dict[str, str]:
        """``_raw_extra`` key -> source column: quantity, time offset, user fallback."""
        out: dict[str, str] = {}
        if self.quantity is not None:
            out[EXTRA_QUANTITY] = self.quantity.column
        if self.timestamp.offset is not None:
            out[EXTRA_TIME_OFFSET] = self.timestamp.offset.column
        if self.user_id_fallback is not None:
            out[EXTRA_USER_FALLBACK] = self.user_id_fallback
        return out

    def source_columns(self) -> list[str]:
        """Every source column the mapping reads (sorted, distinct)."""
        return sorted({*self.mapped().values(), *self.extra_columns().values()})

    def vocabulary(self, declared: tuple[str, ...]) -> dict[str, str]:
        """Source value (lower-cased, trimmed) -> event type; identity when none is given."""
        if not self.event_types:
            return {t: t for t in declared}
        return {k.strip().lower(): v for k, v in self.event_types.items()}

    def event_type_targets(self) -> set[str]:
        """Every event type the mapping names (vocabulary targets, the reversal type)."""
        targets = set(self.event_types.values())
        if self.quantity is not None and self.quantity.negative_type is not None:
            targets.add(self.quantity.negative_type)
        return targets


SourceConfig = Annotated[
    Rees46MultiCategorySource | Rees46CosmeticsSource | GenericSource,
    Field(discriminator="kind"),
]


def source_name(source: Rees46MultiCategorySource | Rees46CosmeticsSource | GenericSource) -> str:
    """Return the source's table-safe name (its ``name`` or, by default, its ``kind``)."""
    return source.name or source.kind
