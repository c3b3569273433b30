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

from pydantic import Field, field_validator, model_validator

from synth.config.base import StrictModel
from synth.schema import (
    BRAND,
    CATEGORY_CODE,
    CATEGORY_ID,
    EVENT_COLUMNS,
    EVENT_TIME,
    EVENT_TYPE,
    EVENT_TYPES,
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


class TimestampSpec(StrictModel):
    """How to parse the event time column.

    ``format`` is a Spark datetime pattern (e.g. ``yyyy-MM-dd'T'HH:mm:ss``), or one of ``iso``
    (Spark's default timestamp parsing), ``epoch_s`` or ``epoch_ms``. ``timezone`` applies to
    patterns without a zone.
    """

    format: str = "iso"
    timezone: str = "UTC"


class GenericSource(_SourceBase):
    """Any event log, mapped onto the canonical event columns by configuration alone.

    ``columns`` maps a canonical column (``event_time``, ``event_type``, ``product_id``,
    ``user_id`` required; ``category_id``, ``category_code``, ``brand``, ``price``,
    ``user_session`` optional) to the source's column name. Id columns listed in ``hashed_ids``
    hold strings (SKUs, UUIDs) and are turned into stable 63-bit integers by ``xxhash64``.
    ``event_types`` maps each source event-type value to one of ``view``, ``cart``,
    ``remove_from_cart``, ``purchase``; values not listed are quarantined as
    ``unknown_event_type``.
    """

    kind: Literal["generic"] = "generic"
    name: str  # type: ignore[assignment]  # required for generic sources
    format: Literal["csv", "parquet", "json"] = "csv"
    options: dict[str, str] = Field(default_factory=dict, description="Spark reader options")
    columns: dict[str, str]
    timestamp: TimestampSpec = TimestampSpec()
    event_types: dict[str, Literal["view", "cart", "remove_from_cart", "purchase"]]
    hashed_ids: list[Literal["product_id", "user_id", "category_id"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_mapping(self) -> GenericSource:
        unknown = sorted(set(self.columns) - set(EVENT_COLUMNS))
        if unknown:
            raise ValueError(
                f"columns: unknown canonical column(s) {unknown}; allowed: {list(EVENT_COLUMNS)}"
            )
        missing = [c for c in REQUIRED_MAPPED if c not in self.columns]
        if missing:
            raise ValueError(f"columns: required canonical column(s) not mapped: {missing}")
        if not self.event_types:
            raise ValueError(
                f"event_types: map at least one source value to one of {list(EVENT_TYPES)}"
            )
        if self.format != "csv" and self.options.get("header"):
            raise ValueError("options.header only applies to format: csv")
        return self


SourceConfig = Annotated[
    Rees46MultiCategorySource | Rees46CosmeticsSource | GenericSource,
    Field(discriminator="kind"),
]


def source_name(source: Rees46MultiCategorySource | Rees46CosmeticsSource | GenericSource) -> str:
    """Return the source's table-safe name (its ``name`` or, by default, its ``kind``)."""
    return source.name or source.kind
