"""From a gold profile table to what the generators learn: a flat frame and its column specs.

The rules, by Spark type (a registry, not an if-chain per table), keep the mapping explicit:

* ``bigint`` counts -> ``count``; ``double`` -> ``continuous``; ``string`` -> ``categorical``;
  ``timestamp`` -> ``timestamp``; ``map<string,double>`` shares -> ``shares``;
* ``array<double>`` share vectors (hour / weekday shares) -> ``shares`` keyed by position;
* ``array<bigint|string>`` ranked lists (top categories / brands) -> their first element as a
  ``categorical`` column named ``<column>_first`` (what conditional sampling selects on, e.g.
  users whose top category is X); an empty list becomes null;
* identifiers (``user_id``, ``product_id``), the embedded text and its embedding are left out:
  real ids are never model inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DoubleType,
    FloatType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampType,
)

from synth.models.encoding import ColumnSpec
from synth.schema import PRODUCT_ID, USER_ID

EXCLUDED: frozenset[str] = frozenset({USER_ID, PRODUCT_ID, "item_text", "text_embedding"})
FIRST_SUFFIX = "_first"

Rule = tuple[Callable[[DataType], bool], Callable[[str, pd.Series], tuple[str, pd.Series]], str]


def _same(name: str, values: pd.Series) -> tuple[str, pd.Series]:
    return name, values


def _positional_shares(name: str, values: pd.Series) -> tuple[str, pd.Series]:
    def to_map(v: object) -> dict[str, float] | None:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return None
        items: list[float] = [float(x) for x in v]  # type: ignore[attr-defined]
        return {str(i): x for i, x in enumerate(items) if x}

    return name, values.map(to_map)


def _first(name: str, values: pd.Series) -> tuple[str, pd.Series]:
    def head(v: object) -> object:
        if v is None or (isinstance(v, float) and pd.isna(v)) or len(v) == 0:  # type: ignore[arg-type]
            return None
        return v[0]  # type: ignore[index]

    return name + FIRST_SUFFIX, values.map(head)


RULES: tuple[Rule, ...] = (
    (lambda t: isinstance(t, LongType), _same, "count"),
    (lambda t: isinstance(t, DoubleType), _same, "continuous"),
    (lambda t: isinstance(t, StringType), _same, "categorical"),
    (lambda t: isinstance(t, TimestampType), _same, "timestamp"),
    (lambda t: isinstance(t, MapType), _same, "shares"),
    (
        lambda t: isinstance(t, ArrayType) and isinstance(t.elementType, (DoubleType, FloatType)),
        _positional_shares,
        "shares",
    ),
    (
        lambda t: isinstance(t, ArrayType) and isinstance(t.elementType, (LongType, StringType)),
        _first,
        "categorical",
    ),
)


@dataclass(frozen=True)
class ModelFrame:
    """The flat frame, its column specs, and the columns left out because they are all null."""

    frame: pd.DataFrame
    specs: list[ColumnSpec]
    all_null: tuple[str, ...]


def model_columns(table: pd.DataFrame, schema: StructType) -> dict[str, tuple[str, pd.Series]]:
    """Every model column of ``table`` (rows of ``schema``): ``{name: (kind, values)}``.

    Raises:
        ValueError: A column of ``schema`` has a type no rule covers.
    """
    out: dict[str, tuple[str, pd.Series]] = {}
    for field in schema.fields:
        if field.name in EXCLUDED:
            continue
        for matches, convert, kind in RULES:
            if matches(field.dataType):
                name, values = convert(field.name, table[field.name].reset_index(drop=True))
                out[name] = (kind, values)
                break
        else:
            raise ValueError(f"no model rule for column {field.name!r} of type {field.dataType}")
    return out


def model_frame(table: pd.DataFrame, schema: StructType, *, max_categories: int = 50) -> ModelFrame:
    """Return the flat frame the generators learn from ``table`` (rows of ``schema``).

    A column that is null in every row (e.g. purchase price spread when nobody bought twice)
    carries nothing to learn: it is left out and named in ``all_null``.

    Raises:
        ValueError: A column of ``schema`` has a type no rule covers.
    """
    columns: dict[str, pd.Series] = {}
    specs: list[ColumnSpec] = []
    all_null: list[str] = []
    for name, (kind, values) in model_columns(table, schema).items():
        if len(values) and values.isna().all():
            all_null.append(name)
            continue
        columns[name] = values
        specs.append(ColumnSpec(name, kind, max_categories=max_categories))  # type: ignore[arg-type]
    return ModelFrame(pd.DataFrame(columns), specs, tuple(all_null))


def model_rows(table: pd.DataFrame, schema: StructType, names: list[str]) -> pd.DataFrame:
    """The model columns ``names`` of ``table``, converted as :func:`model_frame` does.

    For encoding more rows (a partition, a batch) with an encoder fitted on a sample: the columns
    are fixed by the encoder, whatever this batch holds.
    """
    columns = model_columns(table, schema)
    missing = [n for n in names if n not in columns]
    if missing:
        raise ValueError(f"model columns {missing} are not derived from this schema")
    return pd.DataFrame({n: columns[n][1] for n in names})
