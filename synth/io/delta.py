"""Delta Lake I/O: the lakehouse layout, reads, writes and table metadata.

Tables are path-based (no metastore needed) under one lakehouse root, named by layer:
``<root>/bronze/<name>``, ``<root>/silver/<name>``, ``<root>/gold/<name>``, and for synthesis
``<root>/synthetic/<name>`` (per-run synthetic rows) and ``<root>/fused/<name>`` (real +
synthetic profiles). :class:`Lakehouse` names every path under the root: the tables, the
reports (``_reports``, one folder per run id), the model store (``_models``), the training
cache (``_cache/train``), the text projection (``_artifacts``) and the simulator's landing
folder (``landing``); no other module builds one.

A local root is checked before the first job (:meth:`Lakehouse.check_writable`); on any other
file system, a write refused by it (a file where a folder should be, no permission) surfaces from
:func:`write_table` as a :class:`~synth.errors.ConfigError` naming the table path.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession

from synth.config.job import SimulatorSource
from synth.errors import ConfigError, InvalidDataError
from synth.io import files
from synth.schema import GOLD_SCHEMAS

JVM_ERRORS: tuple[type[Exception], ...] = (Py4JJavaError, PySparkException)
"""What a failed Spark job or JVM call raises in Python: py4j's error for Java exceptions PySpark
does not convert (``SparkException``, ``IOException``), PySpark's own for those it does."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_UNWRITABLE = re.compile(
    r"[\w.$]*(?:ParentNotDirectoryException|AccessControlException|AccessDeniedException)\b[^\n]*"
)
_LAKEHOUSE_FIX = (
    "choose another `lakehouse:` in the job config (or `--lakehouse` on the command line)"
)

Layer = Literal["bronze", "silver", "gold", "synthetic", "fused"]
WriteMode = Literal["append", "overwrite"]


@dataclass(frozen=True)
class Lakehouse:
    """Where the Delta tables live. ``root`` may be a local path or any Hadoop URI.

    A local path without a scheme is made absolute against the current directory on creation,
    so the driver's Python code and the JVM (whose working directory may differ) agree on it.
    """

    root: str

    def __post_init__(self) -> None:
        if not _SCHEME.match(self.root):
            object.__setattr__(self, "root", os.path.abspath(self.root))

    def local_root(self) -> str | None:
        """Return the root as a local file system path, or None when it is a non-local URI.

        A path without a scheme and a ``file:`` URI (``file:/x``, ``file:///x``,
        ``file://localhost/x``) are local; ``hdfs://``, ``s3a://``, ``dbfs:/`` ... are not.
        """
        if not _SCHEME.match(self.root):
            return self.root
        return files.local_path(self.root) if files.scheme_of(self.root) == "file" else None

    def check_writable(self) -> None:
        """Check that a local root is, or can be created as, a folder this process can write.

        Walks up from the root to the nearest path that exists, which must be a folder, and
        creates and removes an empty probe folder in it, so a bad root fails in a second with one
        message instead of in Hadoop's ``ParentNotDirectoryException`` at the first Delta write.
        Nothing is left behind and the root itself is not created. Non-local URIs are not
        checked here (a write refused there is reported by :func:`write_table`). Triggers no
        Spark job.

        Raises:
            ConfigError: A file stands where the root or one of its parent folders should be,
                or that folder cannot be written (permissions, read-only or virtual file system).
        """
        local = self.local_root()
        if local is None:
            return
        existing = Path(local)
        while True:
            try:
                mode = existing.stat().st_mode
                break
            except (FileNotFoundError, NotADirectoryError):
                if existing.parent == existing:
                    raise
                existing = existing.parent
            except OSError as exc:
                raise self._unwritable(existing, exc) from exc
        if not stat.S_ISDIR(mode):
            where = (
                f"lakehouse {self.root} is a file, not a folder"
                if existing == Path(local)
                else f"lakehouse {self.root} cannot be created: {existing} is a file, not a folder"
            )
            raise ConfigError(f"{where}. Fix: {_LAKEHOUSE_FIX}, or move that file away.")
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".synth-write-check-", dir=existing))
        except OSError as exc:
            raise self._unwritable(existing, exc) from exc

    def _unwritable(self, folder: Path, exc: OSError) -> ConfigError:
        code = errno.errorcode.get(exc.errno or 0, "")
        reason = f"{exc.strerror or exc}{f' ({code})' if code else ''}"
        return ConfigError(
            f"lakehouse {self.root} is not writable: cannot create a folder in {folder}: "
            f"{reason}. Fix: {_LAKEHOUSE_FIX} naming a folder this user can write, or grant "
            f"write permission on {folder}."
        )

    def _under(self, relative: str) -> str:
        """Return ``<root>/<relative>`` (a root's trailing slash is not doubled)."""
        return f"{self.root.rstrip('/')}/{relative}"

    def table_path(self, layer: Layer, name: str) -> str:
        """Return the path of table ``name`` in ``layer``."""
        return self._under(f"{layer}/{name}")

    def bronze_table(self, source: str) -> str:
        """Return the bronze table path of a source: ``bronze/<source>_events``."""
        return self.table_path("bronze", f"{source}_events")

    def empty_files_manifest(self, source: str) -> str:
        """The record of a source's files that held no data rows (ingested as 0 rows)."""
        return self._under(f"bronze/_empty_files/{source}.json")

    def silver_table(self) -> str:
        """Return the silver events table path: ``silver/events``."""
        return self.table_path("silver", "events")

    def quarantine_table(self) -> str:
        """Return the quarantine table path: ``silver/quarantine``."""
        return self.table_path("silver", "quarantine")

    def gold_table(self, name: str) -> str:
        """Return the path of gold table ``name`` (a key of :data:`synth.schema.GOLD_SCHEMAS`)."""
        if name not in GOLD_SCHEMAS:
            raise ValueError(f"unknown gold table {name!r}; known: {sorted(GOLD_SCHEMAS)}")
        return self.table_path("gold", name)

    def synthetic_table(self, name: str) -> str:
        """Path of a table of the synthetic layer (``<table>_raw``, ``<table>``, ``events``)."""
        return self.table_path("synthetic", name)

    def fused_table(self, name: str) -> str:
        """Path of a fused profile table (``user_profiles`` or ``item_profiles``)."""
        return self.table_path("fused", name)

    def reports_dir(self) -> str:
        """Return the folder for JSON reports (accounting, run summaries)."""
        return self._under("_reports")

    def report_file(self, name: str) -> str:
        """Return the path of report ``name`` (``clean_accounting.json``, ...) in the reports."""
        return f"{self.reports_dir()}/{name}"

    def run_dir(self, run_id: str) -> str:
        """Where a run's verdict files go: ``<lakehouse>/_reports/<run id>``."""
        return f"{self.reports_dir()}/{run_id}"

    def run_file(self, run_id: str, name: str) -> str:
        """Return the path of file ``name`` (``evaluate.json``, ...) of run ``run_id``."""
        return f"{self.run_dir(run_id)}/{name}"

    def model_dir(self, table: str, model_id: str) -> str:
        """The model store folder of one model: ``_models/<table>/<model id>``."""
        return self._under(f"_models/{table}/{model_id}")

    def train_cache_dir(self, table: str) -> str:
        """The folder of the encoded training caches of ``table``: ``_cache/train/<table>``."""
        return self._under(f"_cache/train/{table}")

    def text_projection_path(self) -> str:
        """Where the fitted text-embedding projection (JSON) is kept."""
        return self._under("_artifacts/features/text_projection.json")

    def landing_dir(self, source: SimulatorSource) -> str:
        """Where the simulator's CSV files go: ``source.landing`` or ``landing/<name>``."""
        return source.landing or self._under(f"landing/{source.resolved_name()}")


def table_exists(spark: SparkSession, path: str) -> bool:
    """Return True when ``path`` holds a Delta table. Triggers no Spark job."""
    return bool(DeltaTable.isDeltaTable(spark, path))


def read_table(spark: SparkSession, path: str, *, version: int | None = None) -> DataFrame:
    """Read a Delta table, optionally at an older ``version`` (time travel)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def write_table(
    df: DataFrame,
    path: str,
    *,
    mode: WriteMode,
    partition_by: list[str] | None = None,
    properties: dict[str, str] | None = None,
    merge_schema: bool = False,
) -> int:
    """Write ``df`` as a Delta table and return the new table version.

    ``overwrite`` replaces data and schema atomically: a failed write leaves the previous version
    readable. ``properties`` are stored as the commit's ``userMetadata`` JSON (lineage such as the
    source table version) and are readable with :func:`last_commit_metadata`. ``merge_schema``
    lets an append add new nullable columns (older rows read them as null).
    """
    writer = df.write.format("delta").mode(mode)
    if mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    elif merge_schema:
        writer = writer.option("mergeSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if properties:
        writer = writer.option("userMetadata", json.dumps(properties, sort_keys=True))
    try:
        writer.save(path)
    except JVM_ERRORS as exc:
        refused = unwritable_table_error(path, jvm_error_text(exc))
        if refused is not None:
            raise refused from exc
        raise
    spark = df.sparkSession
    last = DeltaTable.forPath(spark, path).history(1).select("version", "userMetadata").first()
    assert last is not None
    recorded = json.loads(last["userMetadata"]) if last["userMetadata"] else {}
    if properties and recorded != properties:
        # Delta 4.0 skips the commit of an empty table overwritten with no rows; the lineage
        # must still move (readers compare it), so it is recorded in a commit of its own
        return _record_lineage(spark, path, properties)
    return int(last["version"])


def _record_lineage(spark: SparkSession, path: str, properties: dict[str, str]) -> int:
    """Commit ``properties`` as ``userMetadata`` without changing the data; the new version."""
    text = json.dumps(properties, sort_keys=True)
    key = "spark.databricks.delta.commitInfo.userMetadata"
    target = qualified_path(spark, path).replace("`", "``")
    previous = spark.conf.get(key, None)
    spark.conf.set(key, text)
    try:
        literal = text.replace("\\", "\\\\").replace("'", "\\'")
        spark.sql(f"ALTER TABLE delta.`{target}` SET TBLPROPERTIES ('synth.lineage' = '{literal}')")
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)
    return table_version(spark, path)


def jvm_error_text(exc: BaseException) -> str:
    """Return the text of a JVM failure with its whole cause chain (``Caused by: ...`` lines).

    PySpark prints the Java stack trace of an exception it converted only when
    ``spark.sql.pyspark.jvmStacktrace.enabled`` is set, so it is read from the exception itself.
    """
    if isinstance(exc, Py4JJavaError):
        return str(exc)
    desc = getattr(exc, "_desc", None) or str(exc)
    return f"{desc}\n{getattr(exc, '_stackTrace', None) or ''}"


def unwritable_table_error(path: str, error_text: str) -> ConfigError | None:
    """Return the error for a write that the file system refused, or None for any other failure.

    Args:
        path: The table path being written.
        error_text: The JVM failure (:func:`jvm_error_text`); Hadoop's
            ``ParentNotDirectoryException``, ``AccessControlException`` (HDFS) and
            ``AccessDeniedException`` (local, S3A, ABFS) mean the path cannot be written.
    """
    found = _UNWRITABLE.search(error_text)
    if found is None:
        return None
    return ConfigError(
        f"cannot write Delta table {path}: {found.group(0).strip()}. Fix: {_LAKEHOUSE_FIX} "
        "naming a folder this job can create and write, or fix the permissions (or remove the "
        "file in the way) there."
    )


def qualified_path(spark: SparkSession, path: str) -> str:
    """Return ``path`` fully qualified by its Hadoop file system (``./x`` -> ``file:/abs/x``)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return str(fs.makeQualified(jpath).toString())


def replace_table(df: DataFrame, path: str, *, properties: dict[str, str]) -> int:
    """Create or replace the Delta table at ``path`` with ``df`` and return the new version.

    One atomic commit sets the data, the schema (with its column comments) and exactly the
    given table ``properties`` (read them back with :func:`table_properties`): a failed write
    leaves the previous version readable, and properties of an earlier build do not linger.
    """
    # a path identifier must be absolute: qualify relative paths the way Hadoop resolves them
    target = qualified_path(df.sparkSession, path)
    writer = df.writeTo(f"delta.`{target.replace('`', '``')}`").using("delta")
    for key, value in sorted(properties.items()):
        writer = writer.tableProperty(key, value)
    writer.createOrReplace()
    return table_version(df.sparkSession, path)


def table_properties(spark: SparkSession, path: str) -> dict[str, str]:
    """Return the table properties of the Delta table at ``path``."""
    row = DeltaTable.forPath(spark, path).detail().select("properties").first()
    return dict(row["properties"] or {}) if row is not None else {}


def _last_operation_metrics(spark: SparkSession, path: str) -> dict[str, str]:
    """Delta's operation metrics of the table's latest commit (empty if it has none)."""
    row = DeltaTable.forPath(spark, path).history(1).select("operationMetrics").first()
    return dict((row["operationMetrics"] if row is not None else None) or {})


def written_rows(spark: SparkSession, path: str) -> int:
    """Return the rows the table's latest commit wrote (from Delta's operation metrics)."""
    return int(_last_operation_metrics(spark, path).get("numOutputRows", "0"))


def table_version(spark: SparkSession, path: str) -> int:
    """Return the latest version of the Delta table at ``path``."""
    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    assert row is not None  # a Delta table always has at least version 0
    return int(row["version"])


def last_commit_metadata(spark: SparkSession, path: str) -> dict[str, str]:
    """Return the ``userMetadata`` JSON of the table's latest commit (empty if none)."""
    row = DeltaTable.forPath(spark, path).history(1).select("userMetadata").first()
    if row is None or not row["userMetadata"]:
        return {}
    return dict(json.loads(row["userMetadata"]))


def replace_partition(df: DataFrame, path: str, *, column: str, value: str) -> int:
    """Replace the rows of ``df`` 's partition ``column = value`` atomically; return the version.

    Creates the table (partitioned by ``column``) when absent. Other partitions are untouched,
    and a failed write leaves the previous version readable. ``value`` must be a validated
    identifier (no quotes).
    """
    writer = (
        df.write.format("delta").mode("overwrite").option("replaceWhere", f"`{column}` = '{value}'")
    )
    if not table_exists(df.sparkSession, path):
        writer = writer.partitionBy(column)
    writer.save(path)
    return table_version(df.sparkSession, path)


def merge_partition(
    df: DataFrame, path: str, *, keys: list[str], column: str, value: str
) -> dict[str, int]:
    """Make partition ``column = value`` of the table equal to ``df``, in one Delta commit.

    Rows matched on ``keys`` are updated, new ones inserted, and rows of that partition missing
    from ``df`` deleted; other partitions are untouched. Running it again with the same ``df``
    leaves the same rows (idempotent), and a failure aborts the whole commit. Returns the rows
    inserted / updated / deleted (Delta's operation metrics).

    While the partition holds no rows (a run's first write, the common case), the commit is an
    append: the same rows as a MERGE into an empty partition, without MERGE's join against the
    target and its second pass over ``df``. Otherwise it is one MERGE.

    Raises:
        InvalidDataError: ``df``'s columns are not the table's (named, with the fix): the
            append would refuse them, and the MERGE would drop columns the table lacks.
    """
    spark = df.sparkSession
    wanted = ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted")
    condition = f"`{column}` = '{value}'"
    table = read_table(spark, path) if table_exists(spark, path) else None
    if table is not None:
        extra = sorted(set(df.columns) - set(table.columns))
        missing = sorted(set(table.columns) - set(df.columns))
        if extra or missing:  # MERGE's UPDATE SET * / INSERT * would drop `extra` silently
            raise InvalidDataError(
                f"{path}: the rows for {column}={value} have columns the table lacks {extra} "
                f"and lack columns it has {missing}; the table was written by another version "
                "of this pipeline. Move the table aside (its earlier runs stay readable there) "
                "and run the stage again."
            )
    if table is None or table.where(condition).isEmpty():
        df.write.format("delta").mode("append").partitionBy(column).save(path)
        return {wanted[0]: written_rows(spark, path), wanted[1]: 0, wanted[2]: 0}
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in [column, *keys])
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(df.alias("s"), on)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .whenNotMatchedBySourceDelete(condition=f"t.{condition}")
        .execute()
    )
    merged = _last_operation_metrics(spark, path)
    return {k: int(merged.get(k, 0)) for k in wanted}


def finite_json(value: object) -> object:
    """``value`` with NaN and infinite floats replaced by ``None`` (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def json_text(payload: dict[str, object]) -> str:
    """The text :func:`write_json` writes (sorted keys, indented, NaN as null)."""
    return json.dumps(finite_json(payload), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_text(path: str, text: str) -> None:
    """Write a small text file next to the tables, atomically, on any lakehouse URI.

    Through the file layer (:func:`synth.io.files.write_text`): a reader sees the old file or the
    new one, never a partial one.
    """
    files.write_text(path, text)


def write_json(path: str, payload: dict[str, object]) -> None:
    """Write a small JSON report next to the tables (NaN written as null), atomically."""
    files.write_text(path, json_text(payload))


MULTI_CLUSTER_LOG_STORE = "io.delta.storage.S3DynamoDBLogStore"
_LOG_STORE_KEYS = ("spark.delta.logStore.s3a.impl", "spark.delta.logStore.s3.impl")


def single_driver_log_store(spark: SparkSession, root: str) -> bool:
    """Whether Delta commits to ``root`` through its S3 single-driver log store.

    That is Delta's default for ``s3a:`` / ``s3:`` paths (``S3SingleDriverLogStore``): correct only
    while one driver writes a table at a time. Only the multi-cluster log store
    (:data:`MULTI_CLUSTER_LOG_STORE`, with a DynamoDB table) makes concurrent writers safe.
    """
    if files.scheme_of(root) not in files.S3_SCHEMES:
        return False
    configured = [spark.conf.get(k, None) or "" for k in _LOG_STORE_KEYS]
    return not any(MULTI_CLUSTER_LOG_STORE in value for value in configured)


_QUICK_CHECK = {"fs.s3a.retry.limit": "1", "fs.s3a.attempts.maximum": "1"}


def connect_store(spark: SparkSession, lakehouse: Lakehouse) -> None:
    """Check, before any stage runs, that Spark and the file layer both reach the lakehouse.

    For a lakehouse that is not a local folder: the file layer takes its S3 settings from the
    session's Hadoop configuration (``fs.s3a.*``; :func:`synth.io.files.s3_settings_from_hadoop`),
    Spark's Hadoop client looks the root up, and the file layer writes, reads back and removes a
    probe object. A missing connector, an unreachable store, refused or missing credentials and
    a missing bucket each fail here, in seconds, with the cause and the fix named.

    Raises:
        ConfigError: Spark has no file system for the root's scheme (a connector jar missing).
        synth.io.files.StorageError: The store cannot be used (the cause is named).
    """
    root = lakehouse.root
    if files.kind_of(root) == "local":
        return
    scheme = files.scheme_of(root)
    hadoop = spark._jsc.hadoopConfiguration()  # noqa: SLF001 - PySpark exposes no other handle
    if scheme in files.S3_SCHEMES:
        conf = {key: hadoop.get(key) for key in files.HADOOP_S3_KEYS.values()}
        files.configure_s3(files.s3_settings_from_hadoop({k: v for k, v in conf.items() if v}))
    jvm = spark._jvm  # noqa: SLF001
    assert jvm is not None
    # a private client for the check, retrying little: s3a's default retry policy retries a
    # refused connection for minutes before it gives up
    check = jvm.org.apache.hadoop.conf.Configuration(hadoop)
    for key, value in _QUICK_CHECK.items():
        check.set(key, value)
    try:
        path = jvm.org.apache.hadoop.fs.Path(root)
        client = jvm.org.apache.hadoop.fs.FileSystem.newInstance(path.toUri(), check)
        try:
            client.exists(path)
        finally:
            client.close()
    except JVM_ERRORS as exc:
        text = jvm_error_text(exc)
        if "No FileSystem for scheme" in text or "ClassNotFoundException" in text:
            raise ConfigError(_no_connector(root, scheme)) from exc
        raise files.storage_error(
            root, "reach (from Spark's Hadoop client)", _first_cause(text)
        ) from exc
    files.probe(root)


def _first_cause(text: str) -> Exception:
    """The innermost ``Caused by:`` line of a JVM failure (the actual reason), as an exception."""
    causes = re.findall(r"Caused by: ([^\n]+)", text)
    first = causes[-1] if causes else (text.strip().splitlines() or [""])[0]
    return OSError(f"{first}\n{text}")  # the reason first; the whole text to classify


def _no_connector(root: str, scheme: str) -> str:
    if scheme in files.S3_SCHEMES:
        fix = (
            "the s3a connector (hadoop-aws 3.4.1 and its AWS SDK jars) is not on Spark's "
            "classpath. Fix: run `python -m synth.jars` (bin/bootstrap does) so sessions built by "
            'synth add it, or pass it to spark-submit: --jars "$(python -m synth.jars --list)"'
        )
    else:
        fix = (
            f"Spark has no Hadoop file system for {scheme}:. Fix: put the cluster's connector for "
            f"{scheme}: on the driver's and executors' classpath (gcs-connector for gs:, "
            "hadoop-azure for abfss:; Databricks and Dataproc ship theirs)"
        )
    return f"lakehouse {root}: {fix}."
