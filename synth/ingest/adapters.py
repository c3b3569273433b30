"""Source adapters: one registry maps a source ``kind`` to the code that reads it.

An adapter checks its files (headers, columns) before anything is written, then reads them into
the bronze shape: the canonical event columns as raw strings, the raw line of malformed rows, and
file lineage. Parsing into types happens later, in cleaning, with the adapter's :class:`ParseSpec`,
so a value that does not parse is quarantined rather than lost.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

from synth.config.ingest import (
    Constant,
    GenericSource,
    Rees46CosmeticsSource,
    Rees46MultiCategorySource,
    SourceConfig,
    source_name,
)
from synth.errors import InputError, SchemaMismatchError
from synth.ingest.files import InputFile, parse_header, read_first_line
from synth.schema import (
    EVENT_COLUMNS,
    EVENT_TYPE,
    EVENT_TYPES,
    PRICE,
    RAW_EXTRA,
    RAW_EXTRA_TYPE,
    RAW_RECORD,
    SOURCE_FILE,
    SOURCE_FILE_MTIME,
    SOURCE_FILE_SIZE,
    SOURCE_ROW,
)

_CORRUPT = "_corrupt_record"
_ELEM = "_element"
REES46_TIME_FORMAT = "yyyy-MM-dd HH:mm:ss z"
REES46_HEADER: tuple[str, ...] = EVENT_COLUMNS
BRONZE_COLUMNS: tuple[str, ...] = (
    *EVENT_COLUMNS,
    RAW_EXTRA,
    RAW_RECORD,
    SOURCE_ROW,
    SOURCE_FILE,
    SOURCE_FILE_SIZE,
    SOURCE_FILE_MTIME,
)


@dataclass(frozen=True)
class ParseSpec:
    """How cleaning turns a source's raw strings into typed values."""

    # tried in order per value; presets iso / epoch_s / epoch_ms / epoch_us or Spark patterns
    timestamp_formats: tuple[str, ...] = (REES46_TIME_FORMAT,)
    timezone: str = "UTC"
    # source value (lower-cased, trimmed) -> event type (canonical or declared extra)
    event_types: Mapping[str, str] = field(default_factory=lambda: {t: t for t in EVENT_TYPES})
    # canonical id columns whose raw values are strings, hashed to stable integers
    hashed_ids: frozenset[str] = frozenset()
    # unit of the time offset in _raw_extra (s, ms, us), or None when the source has none
    time_offset_unit: str | None = None
    # the source maps a quantity column (in _raw_extra), and the type of negative quantities
    quantity: bool = False
    negative_type: str | None = None
    # a blank user id falls back to _raw_extra's user_fallback (hashed from "~<value>")
    user_fallback: bool = False
    # False when the source has no price column at all (prices are then null: not_in_source)
    has_price: bool = True


def _json_keys(line: str | None) -> list[str] | None:
    """The top-level keys of a JSON Lines file's first record, or None if it is not an object."""
    try:
        record = json.loads(line or "")
    except ValueError:
        return None
    return list(record) if isinstance(record, dict) else None


def _lineage() -> list[Column]:
    return [
        F.col("_metadata.file_path").alias(SOURCE_FILE),
        F.col("_metadata.file_size").alias(SOURCE_FILE_SIZE),
        F.col("_metadata.file_modification_time").alias(SOURCE_FILE_MTIME),
    ]


class SourceAdapter(ABC):
    """Reads one kind of source into the bronze shape."""

    kind: ClassVar[str]
    # file name endings taken from folders (files named directly are always taken)
    extensions: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        """The source's table-safe name."""
        return source_name(self.config)

    @abstractmethod
    def parse_spec(self, event_types: tuple[str, ...] = EVENT_TYPES) -> ParseSpec:
        """Return how cleaning parses this source's values.

        ``event_types`` are the job's event types (canonical and declared extra ones).
        """

    @abstractmethod
    def validate(self, spark: SparkSession, files: list[InputFile]) -> None:
        """Check every file's header / columns; raise :class:`SchemaMismatchError` on mismatch."""

    @abstractmethod
    def read(self, spark: SparkSession, files: list[InputFile]) -> DataFrame:
        """Return a lazy DataFrame with :data:`BRONZE_COLUMNS` (no Spark action)."""


class _CsvAdapter(SourceAdapter):
    """A CSV source whose header must be one of ``accepted_headers``."""

    accepted_headers: ClassVar[tuple[tuple[str, ...], ...]]
    delimiter: ClassVar[str] = ","
    extensions = (".csv", ".csv.gz", ".csv.bz2", ".csv.deflate", ".csv.zst", ".csv.lz4")

    def _targets(self, header: tuple[str, ...]) -> dict[int, str]:
        return {i: c for i, c in enumerate(header) if c in EVENT_COLUMNS}

    def _header_of(self, spark: SparkSession, file: InputFile) -> tuple[str, ...]:
        line = read_first_line(spark, file.path)
        if line is None or not line.strip():
            raise InputError(
                f"{file.path}: file is empty (no header line). Remove it from the input "
                f"or fix the export that produced it."
            )
        return tuple(parse_header(line, self.delimiter))

    def validate(self, spark: SparkSession, files: list[InputFile]) -> None:  # noqa: D102
        for file in files:
            found = self._header_of(spark, file)
            if found in self.accepted_headers:
                continue
            expected = self.accepted_headers[0]
            missing = [c for c in expected if c not in found]
            unexpected = [c for c in found if c not in expected]
            raise SchemaMismatchError(
                f"{file.path}: header does not match source kind {self.kind!r}.\n"
                f"  expected columns: {','.join(expected)}\n"
                f"  found columns:    {','.join(found)}\n"
                f"  missing: {missing or 'none'}; unexpected: {unexpected or 'none'}.\n"
                "  Fix: choose the source kind that matches the file, or describe it with the "
                "`generic` kind and a column mapping (README, 'Ingesting your own event log')."
            )

    def read(self, spark: SparkSession, files: list[InputFile]) -> DataFrame:  # noqa: D102
        by_header: dict[tuple[str, ...], list[str]] = {}
        for file in files:
            by_header.setdefault(self._header_of(spark, file), []).append(file.path)
        parts = [self._read_group(spark, h, paths) for h, paths in sorted(by_header.items())]
        out = parts[0]
        for part in parts[1:]:
            out = out.unionByName(part)
        return out

    def _read_group(
        self, spark: SparkSession, header: tuple[str, ...], paths: list[str]
    ) -> DataFrame:
        # Field names equal to the header's keep Spark's header check quiet; positions matter.
        fields = [h if h else f"_c{i}" for i, h in enumerate(header)]
        schema = StructType(
            [StructField(f, StringType(), True) for f in fields]
            + [StructField(_CORRUPT, StringType(), True)]
        )
        raw = (
            spark.read.schema(schema)
            .option("header", True)
            .option("sep", self.delimiter)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", _CORRUPT)
            .csv(paths)
        )
        by_name = {c: f"`{f}`" for c, f in zip(header, fields, strict=True)}
        cols = [
            (F.col(by_name[c]) if c in by_name else F.lit(None).cast("string")).alias(c)
            for c in EVENT_COLUMNS
        ]
        # A row-number column: named `source_row`, or pandas' unnamed index (empty header cell).
        row_key = next((k for k in ("source_row", "") if k in by_name), None)
        row = F.col(by_name[row_key]) if row_key is not None else F.lit(None).cast("string")
        return raw.select(
            *cols,
            F.lit(None).cast(RAW_EXTRA_TYPE).alias(RAW_EXTRA),
            F.col(_CORRUPT).alias(RAW_RECORD),
            row.alias(SOURCE_ROW),
            *_lineage(),
        )

    def parse_spec(self, event_types: tuple[str, ...] = EVENT_TYPES) -> ParseSpec:  # noqa: D102
        return ParseSpec()


class Rees46MultiCategoryAdapter(_CsvAdapter):
    """REES46 multi-category store: 9 columns, ``2019-10-01 00:00:00 UTC`` timestamps."""

    kind = "rees46_multi_category"
    accepted_headers = (REES46_HEADER,)


class Rees46CosmeticsAdapter(_CsvAdapter):
    """REES46 cosmetics shop: the 9 REES46 columns, optionally led by a row-number column.

    Files saved by pandas carry an unnamed leading index (empty header cell); the samples in
    ``shared/data`` name it ``source_row``. Both are accepted and kept as ``_source_row``.
    """

    kind = "rees46_cosmetics"
    accepted_headers = (("source_row", *REES46_HEADER), REES46_HEADER, ("", *REES46_HEADER))


class GenericAdapter(SourceAdapter):
    """Any CSV / Parquet / JSON event log described by a :class:`GenericSource` mapping."""

    kind = "generic"
    config: GenericSource

    @property
    def extensions(self) -> tuple[str, ...]:  # type: ignore[override]  # depends on the format
        """Data file endings for the configured format."""
        base = {
            "csv": (".csv", ".tsv", ".txt"),
            "json": (".json", ".jsonl"),
            "parquet": (".parquet",),
        }
        plain = base[self.config.format]
        return plain + tuple(p + c for p in plain for c in (".gz", ".bz2", ".zst"))

    def parse_spec(self, event_types: tuple[str, ...] = EVENT_TYPES) -> ParseSpec:  # noqa: D102
        cfg = self.config
        offset = cfg.timestamp.offset
        return ParseSpec(
            timestamp_formats=cfg.timestamp.formats(),
            timezone=cfg.timestamp.timezone,
            event_types=cfg.vocabulary(event_types),
            hashed_ids=frozenset(cfg.hashed_ids),
            time_offset_unit=None if offset is None else offset.unit,
            quantity=cfg.quantity is not None,
            negative_type=None if cfg.quantity is None else cfg.quantity.negative_type,
            user_fallback=cfg.user_id_fallback is not None,
            has_price=PRICE in cfg.mapped(),
        )

    def _csv_sep(self) -> str:
        return self.config.options.get("sep", self.config.options.get("delimiter", ","))

    def _has_header(self) -> bool:
        return self.config.options.get("header", "true").lower() == "true"

    def _top_level(self) -> list[str]:
        """The top-level source columns the mapping reads (the exploded array once)."""
        cfg = self.config
        names = []
        for name in cfg.source_columns():
            top = cfg.explode if cfg.explode and name.startswith(cfg.explode + ".") else name
            if top not in names:
                names.append(top)
        return names

    def _element_fields(self) -> list[str]:
        cfg = self.config
        if cfg.explode is None:
            return []
        prefix = cfg.explode + "."
        return [n[len(prefix) :] for n in cfg.source_columns() if n.startswith(prefix)]

    def validate(self, spark: SparkSession, files: list[InputFile]) -> None:  # noqa: D102
        cfg = self.config
        for file in files:
            if cfg.format == "csv":
                if not self._has_header():
                    continue  # positional columns (_c0, _c1, ...) cannot be checked by name
                line = read_first_line(spark, file.path)
                if line is None or not line.strip():
                    raise InputError(f"{file.path}: file is empty (no header line)")
                found = parse_header(line, self._csv_sep())
            elif cfg.format == "parquet":
                found = spark.read.parquet(file.path).columns
            else:
                keys = _json_keys(read_first_line(spark, file.path))
                if keys is None:
                    continue  # not one object per line: absent fields are nulls, quarantined
                found = keys
            wanted = self._top_level()
            missing = [c for c in wanted if c not in found]
            if missing:
                hint = ""
                if cfg.format == "csv" and len(found) == 1 and found[0]:
                    for sep in (";", "\t", "|", ","):
                        if sep != self._csv_sep() and sep in found[0]:
                            hint = f" The header splits on {sep!r}: set options.sep: {sep!r}."
                            break
                raise SchemaMismatchError(
                    f"{file.path}: columns named in the mapping of source {self.name!r} are "
                    f"missing.\n  expected (mapped) columns: {','.join(wanted)}\n"
                    f"  found columns: {','.join(found)}\n  missing: {missing}.\n"
                    "  Fix: correct `columns` in the source config to the file's column names "
                    f"(`synth inspect {file.path}` proposes a mapping).{hint}"
                )

    def _schema(self, spark: SparkSession, paths: list[str]) -> StructType:
        """Every column read as a string (an exploded array as an array of string structs)."""
        cfg = self.config
        if cfg.format == "csv" and self._has_header():
            names = parse_header(read_first_line(spark, paths[0]) or "", self._csv_sep())
        else:
            names = self._top_level()
        element = StructType([StructField(f, StringType(), True) for f in self._element_fields()])
        fields = [
            StructField(
                c, ArrayType(element) if cfg.explode and c == cfg.explode else StringType(), True
            )
            for c in names
        ]
        return StructType([*fields, StructField(_CORRUPT, StringType(), True)])

    def read(self, spark: SparkSession, files: list[InputFile]) -> DataFrame:  # noqa: D102
        cfg = self.config
        paths = [f.path for f in files]
        if cfg.format == "parquet":
            raw = spark.read.options(**cfg.options).parquet(*paths)
            raw = raw.withColumn(_CORRUPT, F.lit(None).cast("string"))
        else:
            reader = (
                spark.read.schema(self._schema(spark, paths))
                .option("mode", "PERMISSIVE")
                .option("columnNameOfCorruptRecord", _CORRUPT)
            )
            if cfg.format == "csv":
                # quoted fields may hold line breaks (valid CSV): parse records, not lines
                reader = reader.option("header", True).option("multiLine", True)
            raw = reader.options(**cfg.options).format(cfg.format).load(paths)
        lineage = _lineage()
        if cfg.explode is not None:
            # one row per element; a record without the array (or with an empty one) stays as
            # one row of nulls so it is quarantined, not lost
            raw = raw.select("*", *lineage, F.explode_outer(F.col(f"`{cfg.explode}`")).alias(_ELEM))
            lineage = [F.col(c) for c in (SOURCE_FILE, SOURCE_FILE_SIZE, SOURCE_FILE_MTIME)]

        def source(name: str) -> Column:
            if cfg.explode is not None and name.startswith(cfg.explode + "."):
                return F.col(_ELEM)[name[len(cfg.explode) + 1 :]].cast("string")
            return F.col(f"`{name}`").cast("string")

        mapped = cfg.mapped()
        cols = []
        for c in EVENT_COLUMNS:
            value = cfg.columns.get(c)
            if c == EVENT_TYPE and cfg.constant_event_type() is not None:
                col = F.lit(cfg.constant_event_type())
            elif c in mapped:
                col = source(mapped[c])
            elif value is not None:  # a constant of another column
                col = F.lit(value.constant) if isinstance(value, Constant) else F.lit(None)
            else:
                col = F.lit(None).cast("string")
            cols.append(col.cast("string").alias(c))
        extras = cfg.extra_columns()
        extra = (
            F.create_map(*[x for k, n in sorted(extras.items()) for x in (F.lit(k), source(n))])
            if extras
            else F.lit(None).cast(RAW_EXTRA_TYPE)
        )
        return raw.select(
            *cols,
            extra.alias(RAW_EXTRA),
            F.col(_CORRUPT).alias(RAW_RECORD),
            F.lit(None).cast("string").alias(SOURCE_ROW),
            *lineage,
        )


ADAPTERS: dict[str, type[SourceAdapter]] = {
    Rees46MultiCategoryAdapter.kind: Rees46MultiCategoryAdapter,
    Rees46CosmeticsAdapter.kind: Rees46CosmeticsAdapter,
    GenericAdapter.kind: GenericAdapter,
}


def get_adapter(config: SourceConfig) -> SourceAdapter:
    """Return the adapter registered for ``config.kind``."""
    try:
        cls = ADAPTERS[config.kind]
    except KeyError:  # pragma: no cover - the config union already restricts kind
        raise InputError(
            f"unknown source kind {config.kind!r}; allowed: {sorted(ADAPTERS)}"
        ) from None
    return cls(config)


__all__ = [
    "ADAPTERS",
    "BRONZE_COLUMNS",
    "GenericAdapter",
    "ParseSpec",
    "Rees46CosmeticsAdapter",
    "Rees46MultiCategoryAdapter",
    "SourceAdapter",
    "get_adapter",
    "GenericSource",
    "Rees46CosmeticsSource",
    "Rees46MultiCategorySource",
]
