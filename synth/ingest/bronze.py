"""Ingestion into bronze: every raw row, with its source file and ingest time.

A file that holds no data rows (a header only) has no row in bronze to remember it by: it is
recorded in ``bronze/_empty_files/<source>.json`` (:meth:`Lakehouse.empty_files_manifest`) as
ingested with 0 rows, so a rerun skips it like any other ingested file. New input made only of
such files is refused on a first ingestion (nothing to build bronze from), and recorded when
bronze already exists.

Idempotent: a file already in bronze (same URI, size and modification time) is skipped, so
re-running on the same files adds nothing; new files are appended in one Delta commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from synth.config.ingest import SourceConfig
from synth.errors import InputError
from synth.ingest.adapters import BRONZE_COLUMNS, get_adapter
from synth.ingest.files import InputFile, list_files, raise_if_undecodable, same_file_key
from synth.io import files as storage
from synth.io.delta import (
    JVM_ERRORS,
    Lakehouse,
    read_table,
    table_exists,
    table_version,
    write_table,
)
from synth.schema import (
    INGEST_ID,
    INGEST_TIME,
    SOURCE,
    SOURCE_FILE,
    SOURCE_FILE_MTIME,
    SOURCE_FILE_SIZE,
)
from synth.stages import StageReport

log = logging.getLogger(__name__)


@dataclass
class IngestReport(StageReport):
    """What one ingestion run did."""

    source: str
    table: str
    ingest_id: str | None
    new_files: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    rows_per_file: dict[str, int] = field(default_factory=dict)
    rows_added: int = 0
    table_version: int | None = None


def _known_files(spark: SparkSession, path: str, manifest: str) -> set[tuple[str, int, int]]:
    """(file key, size, mtime) of every file already ingested: in bronze, or recorded empty."""
    empty = {(f["key"], int(f["size"]), int(f["mtime_ms"])) for f in _empty_files(manifest)}
    if not table_exists(spark, path):
        return empty
    rows = (
        read_table(spark, path)
        .select(SOURCE_FILE, SOURCE_FILE_SIZE, F.unix_millis(SOURCE_FILE_MTIME).alias("m"))
        .distinct()
        .collect()
    )
    return empty | {
        (same_file_key(r[SOURCE_FILE]), int(r[SOURCE_FILE_SIZE]), int(r["m"])) for r in rows
    }


def _empty_files(manifest: str) -> list[dict[str, Any]]:
    try:
        return list(storage.read_json(manifest)["files"])
    except FileNotFoundError:
        return []


def _record_empty(manifest: str, empty: list[InputFile], ingest_id: str) -> None:
    """Add ``empty`` to the source's record of files ingested with 0 rows."""
    known = _empty_files(manifest)
    known += [
        {
            "key": same_file_key(f.path),
            "size": f.size,
            "mtime_ms": f.mtime_ms,
            "ingest_id": ingest_id,
        }
        for f in empty
    ]
    storage.write_text(manifest, json.dumps({"files": known}, indent=2, sort_keys=True) + "\n")


def _ingest_id(source: str, files: list[InputFile], now: datetime) -> str:
    digest = hashlib.sha256("\n".join(f"{f.path}|{f.size}|{f.mtime_ms}" for f in files).encode())
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{source}-{digest.hexdigest()[:12]}"


def ingest(spark: SparkSession, source: SourceConfig, lakehouse: Lakehouse) -> IngestReport:
    """Append the source's new files to its bronze table.

    Every check (paths exist, headers match, input not empty) runs before anything is written,
    so a bad input leaves no partial table behind.

    Args:
        spark: The session.
        source: The source config (its ``kind`` selects the adapter).
        lakehouse: Where the tables live.

    Returns:
        An :class:`IngestReport` (files added or skipped, rows per file, table version).

    Raises:
        InputError: A path is missing, the new input holds no rows, or a compressed file is
            truncated or corrupt (found when a Spark job fails on it; no commit is made).
        SchemaMismatchError: A file's header does not match the adapter.
    """
    adapter = get_adapter(source)
    table = lakehouse.bronze_table(adapter.name)
    files = list_files(spark, source.paths, adapter.extensions)
    adapter.validate(spark, files)
    manifest = lakehouse.empty_files_manifest(adapter.name)
    known = _known_files(spark, table, manifest)
    new = [f for f in files if (same_file_key(f.path), f.size, f.mtime_ms) not in known]
    report = IngestReport(source=adapter.name, table=table, ingest_id=None)
    report.skipped_files = [f.path for f in files if f not in new]
    if not new:
        log.info("ingest %s: no new files (%d already in bronze)", adapter.name, len(files))
        return report
    now = datetime.now(UTC).replace(microsecond=0)
    ingest_id = _ingest_id(adapter.name, new, now)
    df = adapter.read(spark, new).select(
        *BRONZE_COLUMNS[:-3],
        F.col(SOURCE_FILE),
        F.col(SOURCE_FILE_SIZE),
        F.col(SOURCE_FILE_MTIME),
    )
    try:
        empty = df.limit(1).count() == 0
    except JVM_ERRORS as exc:  # a truncated or corrupt .gz / .bz2: name the file, not the JVM
        raise_if_undecodable(spark, [f.path for f in new], exc)
        raise
    if empty and table_exists(spark, table):
        # only header-only files are new: remembered as ingested with 0 rows, nothing appended
        _record_empty(manifest, new, ingest_id)
        log.info("ingest %s: %d new file(s) hold no data rows; recorded", adapter.name, len(new))
        report.ingest_id = ingest_id
        report.new_files = [f.path for f in new]
        report.rows_per_file = {f.path: 0 for f in new}
        report.table_version = table_version(spark, table)
        return report
    if empty:
        raise InputError(
            f"input is empty: the {len(new)} new file(s) of source {adapter.name!r} hold no data "
            f"rows ({', '.join(f.path for f in new[:5])}{', ...' if len(new) > 5 else ''})"
        )
    bronze = df.select(
        *BRONZE_COLUMNS[:-3],
        F.lit(adapter.name).alias(SOURCE),
        F.col(SOURCE_FILE),
        F.col(SOURCE_FILE_SIZE),
        F.col(SOURCE_FILE_MTIME),
        F.lit(ingest_id).alias(INGEST_ID),
        F.lit(now).cast("timestamp").alias(INGEST_TIME),
    )
    log.info("ingest %s: appending %d new file(s) to %s", adapter.name, len(new), table)
    try:
        # mergeSchema: a bronze table written before a column was added (_raw_extra) takes it
        write_table(
            bronze, table, mode="append", properties={"ingest_id": ingest_id}, merge_schema=True
        )
    except JVM_ERRORS as exc:  # bad data further in than the first row: no commit was made
        raise_if_undecodable(spark, [f.path for f in new], exc)
        raise
    counts = (
        read_table(spark, table)
        .where(F.col(INGEST_ID) == ingest_id)
        .groupBy(SOURCE_FILE)
        .count()
        .collect()
    )
    report.ingest_id = ingest_id
    report.new_files = [f.path for f in new]
    by_key = {same_file_key(r[SOURCE_FILE]): int(r["count"]) for r in counts}
    report.rows_per_file = {f.path: by_key.get(same_file_key(f.path), 0) for f in new}
    report.rows_added = sum(report.rows_per_file.values())
    report.table_version = table_version(spark, table)
    empty_files = [f for f in new if report.rows_per_file[f.path] == 0]
    if empty_files:
        _record_empty(manifest, empty_files, ingest_id)
    return report
