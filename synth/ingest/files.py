"""File listing and header reading through Hadoop's FileSystem API.

Going through the JVM's FileSystem means local paths, HDFS, S3 (s3a://), ABFS and DBFS all work
the same way, and compressed files (.gz, .bz2, ...) are decoded by Hadoop's codecs.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from pyspark.sql import SparkSession

from synth.errors import InputError

_HIDDEN_PREFIXES = ("_", ".")


@dataclass(frozen=True, order=True)
class InputFile:
    """One input file: its URI as Spark reports it, size in bytes and modification time (ms)."""

    path: str
    size: int
    mtime_ms: int


def _normalise(pattern: str) -> str:
    parsed = urlparse(pattern)
    if parsed.scheme and len(parsed.scheme) > 1:  # a URI (file:, hdfs:, s3a:, dbfs:); not C:\
        return pattern
    return os.path.abspath(os.path.expanduser(pattern))


def _jvm(spark: SparkSession) -> Any:
    return spark.sparkContext._jvm  # noqa: SLF001 - py4j gateway is the supported route to Hadoop FS


def _hadoop_conf(spark: SparkSession) -> Any:
    return spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001


def list_files(
    spark: SparkSession, patterns: list[str], extensions: tuple[str, ...] = ()
) -> list[InputFile]:
    """Expand files, folders (recursively) and glob patterns into a sorted list of files.

    Inside folders, hidden files (``_`` or ``.`` prefix, e.g. ``_SUCCESS``) are skipped, and
    when ``extensions`` is given only files ending in one of them are taken (so a README next to
    the data is not read as data). Files named directly or by a glob are always taken.

    Raises:
        InputError: A pattern matches nothing, or names a folder holding no files.
    """
    jvm, conf = _jvm(spark), _hadoop_conf(spark)
    found: dict[str, InputFile] = {}
    for pattern in patterns:
        path = jvm.org.apache.hadoop.fs.Path(_normalise(pattern))
        fs = path.getFileSystem(conf)
        statuses = fs.globStatus(path)
        if statuses is None or len(statuses) == 0:
            raise InputError(
                f"input path does not exist: {pattern} (resolved to {path.toString()}). "
                "Fix the `paths` entry of the source config."
            )
        before = len(found)
        for status in statuses:
            _collect(fs, status, found, extensions, top=True)
        if len(found) == before:
            wanted = f" ending in {', '.join(extensions)}" if extensions else ""
            raise InputError(f"input path holds no data files{wanted}: {pattern}")
    return sorted(found.values())


def _collect(
    fs: Any, status: Any, found: dict[str, InputFile], extensions: tuple[str, ...], *, top: bool
) -> None:
    name = str(status.getPath().getName())
    if not top and name.startswith(_HIDDEN_PREFIXES):
        return
    if status.isDirectory():
        for child in fs.listStatus(status.getPath()):
            _collect(fs, child, found, extensions, top=False)
        return
    if not top and extensions and not name.lower().endswith(extensions):
        return
    uri = str(status.getPath().toString())
    found[uri] = InputFile(uri, int(status.getLen()), int(status.getModificationTime()))


def same_file_key(path: str) -> str:
    """Normalise a file URI so Hadoop's and Spark's spellings compare equal."""
    return unquote(path.replace("file:///", "file:/"))


def read_first_line(spark: SparkSession, path: str) -> str | None:
    """Return the first line of a (possibly compressed) text file, or None if it is empty."""
    jvm, conf = _jvm(spark), _hadoop_conf(spark)
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(conf)
    stream = fs.open(hpath)
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(hpath)
    if codec is not None:
        stream = codec.createInputStream(stream)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    try:
        line = reader.readLine()
    finally:
        reader.close()
    if line is None:
        return None
    return str(line).lstrip("\ufeff").rstrip("\r")


def parse_header(line: str, delimiter: str = ",") -> list[str]:
    """Split a CSV header line into column names (quotes honoured, names stripped)."""
    return [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
