"""Write simulated (or any raw-schema) events as REES46-format CSV files.

Each line is built as one string column whose *name* is the header line, and the CSV writer runs
with quoting off and a separator that never occurs in the data. So every file starts with
``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session``
and holds exactly one line per row, byte for byte: the nine fields joined by commas (empty for
nulls), or, for malformed rows, the raw ``_raw_record`` line with its wrong number of fields.
"""

from __future__ import annotations

import logging
from typing import Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from synth.errors import ConfigError, SchemaMismatchError
from synth.schema import EVENT_COLUMNS, EVENT_TIME, RAW_RECORD

log = logging.getLogger(__name__)

HEADER = ",".join(EVENT_COLUMNS)
COMPRESSIONS: tuple[str, ...] = ("none", "gzip", "bzip2", "deflate", "lz4", "snappy", "zstd")
# Never present in event values: with quoting off, the writer then has nothing to escape.
_UNUSED_SEPARATOR = "\u0001"
_SORT_KEY = "_sort_key"


def event_line(df_columns: list[str]) -> Column:
    """Return the CSV line of a row: ``_raw_record`` if set, else the nine fields comma-joined.

    Args:
        df_columns: The frame's columns (``_raw_record`` is optional).
    """
    fields = F.concat_ws(",", *[F.coalesce(F.col(c), F.lit("")) for c in EVENT_COLUMNS])
    if RAW_RECORD in df_columns:
        return F.coalesce(F.col(RAW_RECORD), fields)
    return fields


def write_event_csv(
    df: DataFrame,
    path: str,
    *,
    compression: str | None = None,
    files: int | None = None,
    mode: Literal["error", "overwrite"] = "error",
) -> None:
    """Write ``df`` as REES46 CSV files (header line in every file), sorted by ``event_time``.

    Args:
        df: A frame with the raw event columns (strings); ``_raw_record`` optional.
        path: Output folder (any Hadoop path).
        compression: A Spark CSV codec (``gzip``, ``zstd``, ...); ``None`` writes plain text.
        files: Number of output files. Set, the rows are range-partitioned by ``event_time``
            (file ``n`` holds later events than file ``n - 1``, like monthly dumps); ``None``
            keeps the frame's partitions (one file each, each sorted by time).
        mode: ``error`` refuses an existing ``path``; ``overwrite`` replaces it.

    Raises:
        SchemaMismatchError: ``df`` lacks some of the raw event columns.
        ConfigError: Unknown compression codec, ``files`` below 1, or an unknown mode.

    This runs Spark jobs (the write; with ``files`` also a sampling job for the range bounds).
    """
    missing = [c for c in EVENT_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaMismatchError(
            f"write_event_csv: the frame lacks column(s) {', '.join(missing)}; expected the raw "
            f"event columns {', '.join(EVENT_COLUMNS)} (and optionally {RAW_RECORD})"
        )
    if compression is not None and compression not in COMPRESSIONS:
        raise ConfigError(
            f"write_event_csv: compression={compression!r} is not supported; allowed: "
            f"{', '.join(COMPRESSIONS)} or None"
        )
    if files is not None and files < 1:
        raise ConfigError(f"write_event_csv: files={files} must be at least 1, or None")
    if mode not in ("error", "overwrite"):
        raise ConfigError(f"write_event_csv: mode={mode!r}; allowed: error, overwrite")

    out = df.select(event_line(df.columns).alias(HEADER), F.col(EVENT_TIME).alias(_SORT_KEY))
    if files is not None:
        out = out.repartitionByRange(files, F.col(_SORT_KEY), F.col(HEADER))
    out = out.sortWithinPartitions(_SORT_KEY, HEADER).select(HEADER)
    writer = (
        out.write.mode(mode)
        .option("header", True)
        .option("sep", _UNUSED_SEPARATOR)
        .option("quote", "")  # "" turns quoting off (the writer uses \u0000 as the quote)
        .option("ignoreLeadingWhiteSpace", False)
        .option("ignoreTrailingWhiteSpace", False)
        .option("lineSep", "\n")
    )
    if compression is not None:
        writer = writer.option("compression", compression)
    log.info("writing event CSV to %s (files=%s, compression=%s)", path, files, compression)
    writer.csv(path)
