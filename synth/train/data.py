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
  row-group order shuffled with a seed per epoch; returns the shard as one float32 matrix.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, LongType, StructField, StructType

from synth.errors import InvalidDataError
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


def _local(url: str) -> Path | None:
    """The local path of ``url``, or None for a remote store (no metadata file then)."""
    for prefix in ("file://", "file:"):
        if url.startswith(prefix):
            return Path(url[len(prefix) :])
    return None if "://" in url else Path(url)


def read_cache_info(url: str) -> CacheInfo | None:
    """The metadata of a complete cache at ``url``, or None."""
    local = _local(url)
    if local is None or not (local / CACHE_META).is_file():
        return None
    data = json.loads((local / CACHE_META).read_text(encoding="utf-8"))
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

    files = max(min_files, math.ceil(rows / rows_per_file))
    log.info("train: encoding %d rows x %d values into %d files at %s", rows, width, files, url)
    (
        df.repartition(files, F.col(key))
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
        files=files,
        replaced_cells=int(counted["r"] or 0),
    )
    local = _local(url)
    if local is not None:
        (local / CACHE_META).write_text(json.dumps(info.to_dict(), indent=2), encoding="utf-8")
    if info.replaced_cells:
        log.warning(
            "train: %d cells held values the encoder's sample had not seen; encoded as "
            "their column's fill value (raise encoder_sample_rows to see more)",
            info.replaced_cells,
        )
    return info


def petastorm_url(url: str) -> str:
    """Petastorm wants a URL with a scheme: a local path becomes ``file://``."""
    return url if "://" in url else f"file://{Path(url).resolve()}"


def read_shard(url: str, width: int, *, rank: int, size: int, seed: int) -> np.ndarray:
    """Rank ``rank`` of ``size``'s shard of the cache, row groups in a seeded order.

    Returns a ``(rows, width)`` float32 matrix (the shard of one epoch).
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
            chunks = _read_batches(url, rank=rank, size=size, seed=seed)
        finally:
            petastorm_log.setLevel(level)
    if not chunks:
        return np.zeros((0, width), dtype=np.float32)
    return np.concatenate(chunks)


def _read_batches(url: str, *, rank: int, size: int, seed: int) -> list[np.ndarray]:
    from petastorm import make_batch_reader

    chunks: list[np.ndarray] = []
    with make_batch_reader(
        petastorm_url(url),
        schema_fields=[VECTOR],
        cur_shard=rank if size > 1 else None,
        shard_count=size if size > 1 else None,
        shuffle_row_groups=True,
        seed=seed,
        num_epochs=1,
        # synchronous reading, in the seeded order: reproducible, and free of the thread pool's
        # end-of-epoch race (measured here: with two processes reading at once, a threaded
        # reader sometimes ended an epoch with no rows)
        reader_pool_type="dummy",
    ) as reader:
        for batch in reader:
            chunks.append(np.asarray(getattr(batch, VECTOR), dtype=np.float32))
    return chunks
