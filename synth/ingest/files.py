"""File listing and header reading through Hadoop's FileSystem API.

Going through the JVM's FileSystem means local paths, HDFS, S3 (s3a://), ABFS and DBFS all work
the same way, and compressed files (.gz, .bz2, ...) are decoded by Hadoop's codecs.

A truncated or corrupt compressed file is reported as an :class:`~synth.errors.InputError` naming
the file and the fix: from :func:`read_first_line` when its header cannot be decoded, and from
:func:`raise_if_undecodable` when a Spark job reading it failed.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from pyspark.sql import SparkSession

from synth.errors import InputError
from synth.io.delta import JVM_ERRORS, jvm_error_text

_HIDDEN_PREFIXES = ("_", ".")
# Hadoop's codec class -> the format's name and the command line tool that tests such a file
_CODECS = {
    "GzipCodec": ("gzip", "gzip -t"),
    "BZip2Codec": ("bzip2", "bzip2 -t"),
    "DefaultCodec": ("deflate", None),
    "ZStandardCodec": ("zstd", "zstd -t"),
    "Lz4Codec": ("lz4", "lz4 -t"),
    "SnappyCodec": ("snappy", None),
}
# What Hadoop's and the JDK's decompressors say about bad data (java.io / java.util.zip text)
_DECODE_ERROR = re.compile(
    r"EOFException|ZipException|Unexpected end of|invalid (?:block type|stored block|distance"
    r"|code|literal|bit length)|incorrect (?:header|data|length) check|Not in GZIP format"
    r"|unknown compression method|CRC (?:failure|error|mismatch)|crc error|BZip2|bad block header"
    r"|ZstdException|LZ4Exception|Corrupt input",
    re.IGNORECASE,
)


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


def _codec(spark: SparkSession, hpath: Any) -> Any:
    factory = _jvm(spark).org.apache.hadoop.io.compress.CompressionCodecFactory
    return factory(_hadoop_conf(spark)).getCodec(hpath)


def _throwable_text(exc: BaseException) -> str:
    """``java.io.EOFException: Unexpected end of input stream`` for a failed py4j call."""
    origin = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    return str(origin.toString()) if origin is not None else str(exc)


def read_first_line(spark: SparkSession, path: str) -> str | None:
    """Return the first line of a (possibly compressed) text file, or None if it is empty.

    Raises:
        InputError: The file is compressed and its start cannot be decoded (truncated, corrupt
            or not in the format its extension names).
    """
    jvm, conf = _jvm(spark), _hadoop_conf(spark)
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(conf)
    stream = fs.open(hpath)
    codec = _codec(spark, hpath)
    try:
        if codec is not None:
            stream = codec.createInputStream(stream)
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        try:
            line = reader.readLine()
        finally:
            reader.close()
    except JVM_ERRORS as exc:
        if codec is None:
            raise
        raise undecodable_file_error(
            path,
            _throwable_text(exc),
            codec_name=str(codec.getClass().getSimpleName()),
            header=True,
        ) from exc
    finally:
        stream.close()
    if line is None:
        return None
    return str(line).lstrip("\ufeff").rstrip("\r")


def check_decodes(spark: SparkSession, path: str) -> str | None:
    """Decode a compressed file to its end and return the decoder's error, or None if it is whole.

    The file goes through the codec Hadoop's ``CompressionCodecFactory`` picks by extension,
    the same route :func:`read_first_line` and Spark's text readers take, and is streamed on the
    driver in the JVM (nothing is kept; a multi-GB file takes seconds to minutes). A file
    without a compression extension is not read and gives None. Triggers no Spark job.

    Returns:
        The Java error text (``java.io.EOFException: Unexpected end of input stream``), or None.
    """
    jvm = _jvm(spark)
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    codec = _codec(spark, hpath)
    if codec is None:
        return None
    stream = hpath.getFileSystem(_hadoop_conf(spark)).open(hpath)
    try:
        decoded = codec.createInputStream(stream)
        try:
            decoded.transferTo(jvm.java.io.OutputStream.nullOutputStream())
        finally:
            decoded.close()
    except JVM_ERRORS as exc:
        return _throwable_text(exc)
    finally:
        stream.close()
    return None


def undecodable_file_error(
    path: str, error: str, *, codec_name: str, header: bool = False
) -> InputError:
    """Return the error naming a compressed file that cannot be decoded, its cause and the fix.

    Args:
        path: The file.
        error: The Java error text (:func:`check_decodes`).
        codec_name: Hadoop's codec class name (``GzipCodec``), or its format name.
        header: The header line itself could not be decoded.
    """
    fmt, tester = _CODECS.get(codec_name, (codec_name, None))
    kind, _, detail = error.partition(": ")
    cause = f"{detail} ({kind})" if detail else kind
    parsed = urlparse(path)
    local = unquote(parsed.path) if parsed.scheme in ("", "file") else "a local copy"
    check = f" (`{tester} {local}` checks a {fmt} file)" if tester else ""
    where = "cannot decode the header line: " if header else ""
    return InputError(
        f"{path}: {where}truncated or corrupt {fmt} data: {cause}. Fix: re-download or re-export "
        f"the file{check}, or remove it from `paths` to ingest the others."
    )


def raise_if_undecodable(spark: SparkSession, paths: Sequence[str], exc: BaseException) -> None:
    """Raise an :class:`InputError` naming the file when a failed Spark job hit bad compressed data.

    Returns (so the caller re-raises ``exc``) when the failure is not a decoding error or no
    file among ``paths`` fails :func:`check_decodes`. Files the error text names are checked
    first; the others only when the text names none.

    Args:
        spark: The session.
        paths: The files the failed job read.
        exc: What the Spark action raised (see :data:`synth.io.delta.JVM_ERRORS`).

    Raises:
        InputError: A file among ``paths`` is truncated or corrupt.
    """
    text = jvm_error_text(exc)
    jvm = _jvm(spark)
    codecs = {p: _codec(spark, jvm.org.apache.hadoop.fs.Path(p)) for p in paths}
    compressed = [p for p, codec in codecs.items() if codec is not None]
    named = [p for p in compressed if same_file_key(p) in same_file_key(text)]
    if not named and not _DECODE_ERROR.search(text):
        return
    for path in named or compressed:
        error = check_decodes(spark, path)
        if error is not None:
            codec_name = str(codecs[path].getClass().getSimpleName())
            raise undecodable_file_error(path, error, codec_name=codec_name) from exc


def parse_header(line: str, delimiter: str = ",") -> list[str]:
    """Split a CSV header line into column names (quotes honoured, names stripped)."""
    return [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
