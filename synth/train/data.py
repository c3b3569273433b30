"""The training data path: a Delta version of a gold table -> an encoded Parquet cache -> Petastorm.

* :func:`fit_encoder`: the data encoding is fitted once, on the driver, on a bounded seeded
  sample of the table version (then shipped to every worker as JSON).
* :func:`build_cache`: the whole table version is encoded by Spark (``mapInPandas``, the encoder
  loaded once per batch stream) into one ``array<float>`` column ``x`` per row (Petastorm's batch
  reader returns it as a ready ``(rows, width)`` float32 matrix, much faster to read than one
  scalar column per encoded value), written as Parquet under
  ``<lakehouse>/_cache/train/<table>/v<version>-<encoder fingerprint>-layout<n>``. The cache is
  keyed by table, Delta version, encoding and layout, so a later run on the same version reuses
  it and a new version never reads a stale one. Cells the sample-fitted encoder had not seen (a
  category outside the sample, a null where the sample had none) are encoded as the column's
  fill value and counted in the cache's metadata (``replaced_cells``): nothing is dropped
  silently.
* :func:`read_shard`: Petastorm's batch reader over the cache, sharded by rank (row groups),
  in file order; returns the shard as one float32 matrix. A training process reads it once and
  keeps it for every epoch (the models draw their own row order each epoch).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import posixpath
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.filesystem as pafs_legacy
import pyarrow.fs as pafs
from fsspec.implementations.arrow import ArrowFSWrapper
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType

from synth.errors import InvalidDataError
from synth.io import files
from synth.io.delta import Lakehouse
from synth.models.encoding import TableEncoder
from synth.models.table_frame import ModelFrame, model_frame, model_rows
from synth.schema import PRODUCT_ID, USER_ID
from synth.stats.hashing import hash_sample

log = logging.getLogger(__name__)

CACHE_META = "_synth_cache.json"
CACHE_LAYOUT = 2  # 2: one array<float> column "x"; a cache of another layout is rebuilt
VECTOR = "x"
REPLACED = "replaced_cells"
ROW_GROUP_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class CacheInfo:
    """An encoded training cache: where it is and what it holds."""

    url: str
    table: str
    version: int
    fingerprint: str
    rows: int
    width: int
    files: int
    replaced_cells: int
    layout: int = CACHE_LAYOUT

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return asdict(self)


def encoder_fingerprint(encoder: TableEncoder) -> str:
    """A short hash of the fitted encoding (its JSON state)."""
    return hashlib.sha256(encoder.to_json().encode()).hexdigest()[:12]


def fit_encoder(
    df: DataFrame,
    schema: StructType,
    *,
    rows: int,
    sample_rows: int,
    max_categories: int,
    seed: int,
) -> tuple[TableEncoder, ModelFrame]:
    """Fit the encoding on a seeded sample of at most ``sample_rows`` of ``df`` (``rows`` rows).

    Returns the encoder and the sample as a model frame (also used to score the trained model).
    """
    if rows == 0:
        raise InvalidDataError("the training table is empty: nothing to learn")
    fraction = min(1.0, 1.2 * sample_rows / rows)
    sampled = df if fraction >= 1.0 else df.sample(fraction=fraction, seed=seed)
    key = USER_ID if USER_ID in df.columns else PRODUCT_ID
    # a seeded hash order: deterministic, and unrelated to how ids were assigned
    pdf = hash_sample(sampled, key, sample_rows, seed)
    frame = model_frame(pdf, schema, max_categories=max_categories)
    if frame.all_null:
        log.info("train: columns null in every sampled row, left out: %s", list(frame.all_null))
    encoder = TableEncoder(frame.specs).fit(frame.frame, seed=seed)
    return encoder, frame


def cache_url(
    lakehouse: Lakehouse, table: str, version: int, encoder: TableEncoder, *, holdout: str = ""
) -> str:
    """Where the encoded cache of ``table`` at ``version`` (less its holdout) lives."""
    root = lakehouse.train_cache_dir(table)
    return f"{root}/v{version}-{encoder_fingerprint(encoder)}-layout{CACHE_LAYOUT}{holdout}"


def read_cache_info(url: str) -> CacheInfo | None:
    """The metadata of a complete cache at ``url`` (any lakehouse URI), or None."""
    try:
        data = files.read_json(files.join(url, CACHE_META))
    except FileNotFoundError:
        return None
    return CacheInfo(**{"layout": 1, **data})  # files before layout 2 did not record it


def build_cache(
    spark: SparkSession,
    df: DataFrame,
    schema: StructType,
    encoder: TableEncoder,
    *,
    url: str,
    table: str,
    version: int,
    rows: int,
    rows_per_file: int,
    min_files: int,
) -> CacheInfo:
    """Encode every row of ``df`` into the Parquet cache at ``url`` (reused when complete)."""
    names = [c.spec.name for c in encoder.columns]
    state = encoder.to_json()

    def encode(batches: Iterator[pd.DataFrame]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        fitted = TableEncoder.from_json(state)
        for pdf in batches:
            yield fitted.transform_lenient(model_rows(pdf, schema, names))

    key = USER_ID if USER_ID in df.columns else PRODUCT_ID
    return write_cache(
        spark,
        df,
        encode,
        key=key,
        url=url,
        table=table,
        version=version,
        rows=rows,
        width=encoder.width,
        fingerprint=encoder_fingerprint(encoder),
        rows_per_file=rows_per_file,
        min_files=min_files,
    )


RowEncoder = Callable[[Iterator[pd.DataFrame]], Iterator[tuple[np.ndarray, np.ndarray]]]
"""Batches of rows -> (float32 matrix of encoded rows, per row: cells replaced by a fill value)."""


def write_cache(
    spark: SparkSession,
    df: DataFrame,
    encode: RowEncoder,
    *,
    key: str,
    url: str,
    table: str,
    version: int,
    rows: int,
    width: int,
    fingerprint: str,
    rows_per_file: int,
    min_files: int,
) -> CacheInfo:
    """Write ``df`` encoded by ``encode`` (run in Spark tasks) as the cache at ``url``.

    Reused as it is when a complete cache of the same rows, version and layout is there. Rows
    are partitioned and sorted by ``key``, so a rebuild writes the same rows in the same order.
    """
    existing = read_cache_info(url)
    if existing is not None and (existing.rows, existing.version, existing.layout) == (
        rows,
        version,
        CACHE_LAYOUT,
    ):
        log.info("train: reusing the encoded cache %s (%d rows)", url, rows)
        return existing
    out_schema = StructType(
        [
            StructField(VECTOR, ArrayType(FloatType(), containsNull=False), False),
            StructField(REPLACED, LongType(), False),
        ]
    )

    def to_frames(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for matrix, replaced in encode(batches):
            yield pd.DataFrame({VECTOR: list(matrix), REPLACED: replaced})

    parts = max(min_files, math.ceil(rows / rows_per_file))
    log.info("train: encoding %d rows x %d values into %d files at %s", rows, width, parts, url)
    (
        df.repartition(parts, F.col(key))
        .sortWithinPartitions(key)  # the same rows in the same order on every rebuild
        .mapInPandas(to_frames, out_schema)  # type: ignore[arg-type]
        .write.mode("overwrite")
        .option("parquet.block.size", ROW_GROUP_BYTES)
        .parquet(url)
    )
    written = spark.read.parquet(url).agg(F.count("*").alias("n"), F.sum(REPLACED).alias("r"))
    counted = written.first()
    assert counted is not None
    if int(counted["n"]) != rows:
        raise InvalidDataError(f"encoded cache {url} holds {counted['n']} rows, expected {rows}")
    info = CacheInfo(
        url=url,
        table=table,
        version=version,
        fingerprint=fingerprint,
        rows=rows,
        width=width,
        files=parts,
        replaced_cells=int(counted["r"] or 0),
    )
    # written last: a cache without it (a kill mid-write) is rebuilt, never read
    files.write_text(files.join(url, CACHE_META), json.dumps(info.to_dict(), indent=2))
    if info.replaced_cells:
        log.warning(
            "train: %d cells held values the encoder's sample had not seen; encoded as "
            "their column's fill value (raise encoder_sample_rows to see more)",
            info.replaced_cells,
        )
    return info


def petastorm_source(url: str) -> tuple[str, pafs_legacy.FileSystem | None]:
    """The URL and file system to give Petastorm for the cache at ``url``.

    A local cache is a ``file://`` URL that Petastorm resolves itself. For any other store,
    Petastorm 0.13.1 would resolve the URL through fsspec's s3fs / gcsfs / adlfs (not installed:
    the file layer's pyarrow client is used instead), and it reads through pyarrow's *legacy*
    dataset API, which needs a legacy file system: :class:`PetastormFileSystem` over the file
    layer's client, with the path given as ``file:///<bucket>/<key>``.
    """
    local = files.local_path(url)
    if local is not None:
        return f"file://{local}", None
    fs, path = files.resolve(url)
    return f"file:///{path.lstrip('/')}", PetastormFileSystem(fs, files.kind_of(url) == "object")


class PetastormFileSystem(pafs_legacy.DaskFileSystem):  # type: ignore[misc]
    """The file layer's pyarrow client, as the legacy file system Petastorm's reader needs.

    Only what the reader calls (``isdir``, ``isfile``, ``exists``, ``ls``, ``walk``, ``open``
    for reading); on an object store the leading ``/`` Petastorm keeps on a path is dropped.
    """

    def __init__(self, fs: pafs.FileSystem, strip_root: bool) -> None:
        super().__init__(ArrowFSWrapper(fs))
        self._arrow = fs
        self._strip_root = strip_root

    def _path(self, path: object) -> str:
        text = str(path)
        return text.lstrip("/") if self._strip_root else text

    def _type(self, path: object) -> pafs.FileType:
        return self._arrow.get_file_info(self._path(path)).type

    def isdir(self, path: object) -> bool:
        """Whether a folder is at ``path``."""
        return bool(self._type(path) == pafs.FileType.Directory)

    def isfile(self, path: object) -> bool:
        """Whether a file is at ``path``."""
        return bool(self._type(path) == pafs.FileType.File)

    def exists(self, path: object) -> bool:
        """Whether anything is at ``path``."""
        return bool(self._type(path) != pafs.FileType.NotFound)

    def ls(self, path: object, detail: bool = False) -> list[str]:
        """The paths directly under ``path``."""
        infos = self._arrow.get_file_info(pafs.FileSelector(self._path(path)))
        return sorted(i.path for i in infos)

    def open(self, path: object, mode: str = "rb") -> Any:
        """``path`` opened for reading."""
        if mode != "rb":
            raise ValueError(f"PetastormFileSystem opens files for reading only, not {mode!r}")
        return self._arrow.open_input_file(self._path(path))

    def walk(self, path: object) -> Iterator[tuple[str, list[str], list[str]]]:
        """``os.walk`` over the store, from ``path``."""
        infos = self._arrow.get_file_info(pafs.FileSelector(self._path(path)))
        folders = sorted(
            posixpath.basename(i.path) for i in infos if i.type == pafs.FileType.Directory
        )
        names = sorted(posixpath.basename(i.path) for i in infos if i.type == pafs.FileType.File)
        yield str(path), folders, names
        for folder in folders:
            yield from self.walk(posixpath.join(str(path), folder))


def read_shard(url: str, width: int, *, rank: int, size: int) -> np.ndarray:
    """Rank ``rank`` of ``size``'s shard of the cache, its row groups in file order.

    Returns a ``(rows, width)`` float32 matrix.
    """
    petastorm_log = logging.getLogger("petastorm")
    level = petastorm_log.level
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # Petastorm 0.13.1 (pinned with pyarrow 14) calls pyarrow's legacy filesystem and
        # dataset API, and pyarrow warns about each call on every read (FutureWarning); it also
        # logs that a plain Parquet dataset has no Petastorm schema and prints "Cache cleanup
        # complete." on every reader: all expected here, so kept out of the training output
        warnings.simplefilter("ignore", FutureWarning)
        petastorm_log.setLevel(logging.ERROR)
        try:
            chunks = _read_batches(url, rank=rank, size=size)
        finally:
            petastorm_log.setLevel(level)
    if not chunks:
        return np.zeros((0, width), dtype=np.float32)
    return np.concatenate(chunks)


def _read_batches(url: str, *, rank: int, size: int) -> list[np.ndarray]:
    from petastorm import make_batch_reader

    chunks: list[np.ndarray] = []
    source, filesystem = petastorm_source(url)
    with make_batch_reader(
        source,
        filesystem=filesystem,
        schema_fields=[VECTOR],
        cur_shard=rank if size > 1 else None,
        shard_count=size if size > 1 else None,
        shuffle_row_groups=False,
        num_epochs=1,
        # synchronous reading, in file order: reproducible, and free of the thread pool's
        # end-of-epoch race (measured here: with two processes reading at once, a threaded
        # reader sometimes ended an epoch with no rows)
        reader_pool_type="dummy",
    ) as reader:
        for batch in reader:
            chunks.append(np.asarray(getattr(batch, VECTOR), dtype=np.float32))
    return chunks
