"""Source adapters: one registry maps a source ``kind`` to the code that reads it.

An adapter checks its files (headers, columns) before anything is written, then reads them into
the bronze shape: the canonical event columns as raw strings, the raw line of malformed rows, and
file lineage. Parsing into types happens later, in cleaning, with the adapter's :class:`ParseSpec`,
so a value that does not parse is quarantined rather than lost.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from synth.config.ingest import (
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
    EVENT_TYPES,
    RAW_RECORD,
    SOURCE_FILE,
    SOURCE_FILE_MTIME,
    SOURCE_FILE_SIZE,
    SOURCE_ROW,
)

_CORRUPT = "_corrupt_record"
REES46_TIME_FORMAT = "yyyy-MM-dd HH:mm:ss z"
REES46_HEADER: tuple[str, ...] = EVENT_COLUMNS
BRONZE_COLUMNS: tuple[str, ...] = (
    *EVENT_COLUMNS,
    RAW_RECORD,
    SOURCE_ROW,
    SOURCE_FILE,
    SOURCE_FILE_SIZE,
    SOURCE_FILE_MTIME,
)


@dataclass(frozen=True)
class ParseSpec:
    """How cleaning turns a source's raw strings into typed values."""

    timestamp_format: str = REES46_TIME_FORMAT
    timezone: str = "UTC"
    # source value (lower-cased, trimmed) -> canonical event type
    event_types: Mapping[str, str] = field(default_factory=lambda: {t: t for t in EVENT_TYPES})
    # canonical id columns whose raw values are strings, hashed to stable integers
    hashed_ids: frozenset[str] = frozenset()


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
    def parse_spec(self) -> ParseSpec:
        """Return how cleaning parses this source's values."""

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
            *cols, F.col(_CORRUPT).alias(RAW_RECORD), row.alias(SOURCE_ROW), *_lineage()
        )

    def parse_spec(self) -> ParseSpec:  # noqa: D102
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

    def parse_spec(self) -> ParseSpec:  # noqa: D102
        vocab = {k.strip().lower(): v for k, v in self.config.event_types.items()}
        return ParseSpec(
            self.config.timestamp.format,
            self.config.timestamp.timezone,
            vocab,
            frozenset(self.config.hashed_ids),
        )

    def _required_source_columns(self) -> list[str]:
        return sorted(set(self.config.columns.values()))

    def validate(self, spark: SparkSession, files: list[InputFile]) -> None:  # noqa: D102
        cfg = self.config
        for file in files:
            if cfg.format == "csv":
                if cfg.options.get("header", "true").lower() != "true":
                    continue  # positional columns (_c0, _c1, ...) cannot be checked by name
                line = read_first_line(spark, file.path)
                if line is None or not line.strip():
                    raise InputError(f"{file.path}: file is empty (no header line)")
                found = parse_header(
                    line, cfg.options.get("sep", cfg.options.get("delimiter", ","))
                )
            elif cfg.format == "parquet":
                found = spark.read.parquet(file.path).columns
            else:
                continue  # JSON has no header; absent fields become nulls and are quarantined
            missing = [c for c in self._required_source_columns() if c not in found]
            if missing:
                raise SchemaMismatchError(
                    f"{file.path}: columns named in the mapping of source {self.name!r} are "
                    "missing.\n  expected (mapped) columns: "
                    f"{','.join(self._required_source_columns())}\n"
                    f"  found columns: {','.join(found)}\n  missing: {missing}.\n"
                    "  Fix: correct `columns` in the source config to the file's column names."
                )

    def read(self, spark: SparkSession, files: list[InputFile]) -> DataFrame:  # noqa: D102
        cfg = self.config
        paths = [f.path for f in files]
        source_cols = self._required_source_columns()
        if cfg.format == "parquet":
            raw = spark.read.options(**cfg.options).parquet(*paths)
            raw = raw.withColumn(_CORRUPT, F.lit(None).cast("string"))
        else:
            if cfg.format == "csv" and cfg.options.get("header", "true").lower() == "true":
                header = parse_header(
                    read_first_line(spark, paths[0]) or "",
                    cfg.options.get("sep", cfg.options.get("delimiter", ",")),
                )
                names = header
            else:
                names = source_cols
            schema = StructType(
                [StructField(c, StringType(), True) for c in names]
                + [StructField(_CORRUPT, StringType(), True)]
            )
            reader = (
                spark.read.schema(schema)
                .option("mode", "PERMISSIVE")
                .option("columnNameOfCorruptRecord", _CORRUPT)
            )
            if cfg.format == "csv":
                reader = reader.option("header", True)
            raw = reader.options(**cfg.options).format(cfg.format).load(paths)
        cols = [
            (
                F.col(f"`{cfg.columns[c]}`").cast("string")
                if c in cfg.columns
                else F.lit(None).cast("string")
            ).alias(c)
            for c in EVENT_COLUMNS
        ]
        return raw.select(
            *cols,
            F.col(_CORRUPT).alias(RAW_RECORD),
            F.lit(None).cast("string").alias(SOURCE_ROW),
            *_lineage(),
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
