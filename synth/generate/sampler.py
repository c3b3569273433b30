"""Sampling a trained generator at Spark scale: seeded blocks, ``mapInArrow``, gold rows.

How a run is laid out:

* The rows asked for (unconditional rows, then each condition's rows) are cut into *blocks* of
  ``block_rows`` rows (:func:`plan_blocks`). A block's seed derives from the root seed, its
  condition group and its index, and its rows have fixed global row numbers: the output is a
  function of (model, seed, plan) only, whatever the number of partitions, executors or task
  retries.
* The model folder's files are broadcast once as bytes (:class:`ModelBlob`); each Python
  worker loads them once (a per-process cache keyed by their hash) and samples its blocks with
  ``torch.set_num_threads(torch_threads)`` (one thread per task slot by default).
* A block is decoded column by column (:meth:`TableEncoder.reverse_columns`) straight into an
  Arrow record batch of the model's flat columns (share maps built from the dense matrix, not
  one dict per row, positional share vectors as fixed-length lists); :func:`to_gold` then
  turns the flat rows into the gold table's schema in Spark (ranked-list heads, the synthetic
  ids, item text).

Synthetic ids are negative: ``-(tag(run_id) * 2**32 + row) - 1`` with a 31-bit tag of the run id,
so they never collide with real ids (non-negative, checked by the stage) and two runs' rows keep
distinct ids (up to 2**32 rows per run).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

import synth.models.gan  # noqa: F401  (registers the model class with Synthesizer.load)
import synth.models.vae  # noqa: F401
from synth.errors import InvalidDataError
from synth.features.profiles import item_text
from synth.io import files as storage
from synth.models.base import Synthesizer, TrainableModel
from synth.models.encoding import ColumnSpec, DenseShares, TableEncoder
from synth.models.table_frame import FIRST_SUFFIX
from synth.schema import MODEL_ID, PRODUCT_ID, ROW, RUN_ID, USER_ID
from synth.seeding import derive_seed

log = logging.getLogger(__name__)

MODEL_FILES: tuple[str, ...] = ("model.safetensors", "encoder.json", "model.json")
ROWS_PER_RUN = 1 << 32
_MODELS: dict[str, TrainableModel] = {}  # per Python worker: loaded models by content hash


# -- ids -----------------------------------------------------------------------------------------
def run_tag(run_id: str) -> int:
    """A stable 31-bit tag of a run id (the high bits of its synthetic ids)."""
    return derive_seed(0, "run", run_id) & ((1 << 31) - 1)


def synthetic_id(run_id: str, row: int) -> int:
    """The synthetic id of global row ``row`` of run ``run_id`` (always negative)."""
    if not 0 <= row < ROWS_PER_RUN:
        raise ValueError(f"row {row} out of range [0, 2**32)")
    return -(run_tag(run_id) * ROWS_PER_RUN + row) - 1


def synthetic_id_column(run_id: str, row: Column) -> Column:
    """:func:`synthetic_id` as a Spark column over the row-number column ``row``."""
    return -(F.lit(run_tag(run_id) * ROWS_PER_RUN) + row.cast("long")) - F.lit(1)


# -- the model, shipped as bytes -----------------------------------------------------------------
@dataclass(frozen=True)
class ModelBlob:
    """A saved model folder as bytes (what is broadcast), with its content hash."""

    files: dict[str, bytes]
    key: str

    @classmethod
    def from_dir(cls, folder: str) -> ModelBlob:
        """Read the model files of ``folder`` (any URI; written by ``TrainableModel.save``)."""
        try:
            files = storage.read_folder(str(folder), MODEL_FILES)
        except FileNotFoundError as exc:
            raise InvalidDataError(
                f"{folder} is not a saved model ({exc}): run the `train` stage or set "
                "synthesize.model_dir to a model folder"
            ) from exc
        digest = hashlib.sha256()
        for name in MODEL_FILES:
            digest.update(name.encode() + b"\0" + files[name])
        return cls(files, digest.hexdigest()[:16])

    def load_model(self) -> TrainableModel:
        """The model (any kind), loaded once per process (later calls return the same one)."""
        model = _MODELS.get(self.key)
        if model is None:
            model = TrainableModel.from_files(self.files, where=f"model {self.key}")
            for module in model._modules().values():
                module.eval()
            _MODELS[self.key] = model
        return model

    def load(self) -> Synthesizer:
        """The profile generator, loaded once per process."""
        model = self.load_model()
        if not isinstance(model, Synthesizer):
            raise InvalidDataError(f"the broadcast model is a {model.name!r}, not a vae or gan")
        return model


# -- the plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """``rows`` rows of condition group ``group``; global row numbers start at ``offset``."""

    group: int
    index: int
    offset: int
    rows: int
    seed: int


def plan_blocks(groups: Sequence[int], block_rows: int, seed: int) -> list[Block]:
    """Cut each group's row count into blocks; rows are numbered across groups in order."""
    blocks: list[Block] = []
    offset = 0
    for group, total in enumerate(groups):
        for index, start in enumerate(range(0, total, block_rows)):
            rows = min(block_rows, total - start)
            blocks.append(
                Block(group, index, offset, rows, derive_seed(seed, "block", group, index))
            )
            offset += rows
    if offset > ROWS_PER_RUN:
        raise InvalidDataError(f"{offset} rows in one run: at most 2**32 (split it into runs)")
    return blocks


# -- one block -----------------------------------------------------------------------------------
Decoded = dict[str, "pd.Series | DenseShares"]


def _take(columns: Decoded, index: np.ndarray) -> Decoded:
    return {
        k: v.take(index) if isinstance(v, DenseShares) else v[index].reset_index(drop=True)
        for k, v in columns.items()
    }


def _concat(parts: list[Decoded]) -> Decoded:
    out: Decoded = {}
    for name, first in parts[0].items():
        if isinstance(first, DenseShares):
            out[name] = DenseShares.concat([p[name] for p in parts])  # type: ignore[misc]
        else:
            out[name] = pd.concat([p[name] for p in parts], ignore_index=True)  # type: ignore[misc]
    return out


def check_conditions(encoder: TableEncoder, conditions: Mapping[str, object]) -> None:
    """Conditions may name categorical and count columns of the model only."""
    kinds = {s.name: s.kind for s in encoder.specs}
    for name in conditions:
        if name not in kinds:
            raise InvalidDataError(
                f"condition column {name!r} is not a model column; the model has {sorted(kinds)}"
            )
        if kinds[name] not in ("categorical", "count"):
            raise InvalidDataError(
                f"condition column {name!r} is {kinds[name]}: conditions need a categorical or "
                "count column (equality on a continuous value is never met)"
            )


def _meets(columns: Decoded, conditions: Mapping[str, object]) -> np.ndarray:
    """Which decoded rows equal every condition (compared as text, as YAML values arrive)."""
    keep: np.ndarray | None = None
    for name, value in conditions.items():
        values = columns[name]
        assert isinstance(values, pd.Series)
        hit = (values.astype(str) == str(value)).to_numpy()
        keep = hit if keep is None else keep & hit
    assert keep is not None
    return keep


def acceptance(
    model: Synthesizer, conditions: Mapping[str, object], *, seed: int, draws: int = 2_000
) -> float:
    """The share of ``draws`` sampled rows meeting ``conditions`` (a driver-side probe)."""
    encoder = model.encoder
    assert encoder is not None
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        matrix = model._generate(draws, gen, conditions)
    columns = encoder.reverse_columns(matrix, seed=seed)
    return float(_meets(columns, conditions).mean())


def check_feasible(
    model: Synthesizer,
    groups: Sequence[int],
    conditions: Sequence[Mapping[str, object]],
    *,
    block_rows: int,
    seed: int,
    max_tries: int = 50,
) -> None:
    """Refuse, on the driver, a condition too rare for :func:`sample_block` to meet.

    Raises:
        InvalidDataError: Naming the condition, its measured acceptance and what to change.
    """
    assert model.encoder is not None
    for rows, where in zip(groups, conditions, strict=True):
        if not where or rows == 0:
            continue
        check_conditions(model.encoder, where)
        block = min(block_rows, rows)
        needed = block / (max_tries * max(block, 1_000))
        rate = acceptance(model, where, seed=seed)
        if rate < needed:
            raise InvalidDataError(
                f"condition {dict(where)}: {rate:.2%} of 2,000 sampled rows meet it, a block of "
                f"{block} rows needs at least {needed:.2%} (rejection sampling, {max_tries} "
                "batches): check the value, train the GAN with this condition_column, or lower "
                "synthesize.block_rows"
            )


def sample_block(
    model: Synthesizer,
    rows: int,
    seed: int,
    conditions: Mapping[str, object] | None = None,
    *,
    max_tries: int = 50,
) -> Decoded:
    """``rows`` decoded rows, deterministic for ``seed``; ``conditions`` by rejection.

    Raises:
        InvalidDataError: A condition is too rare to meet within ``max_tries`` batches.
    """
    encoder = model.encoder
    assert encoder is not None
    gen = torch.Generator().manual_seed(seed)
    parts: list[Decoded] = []
    have = 0
    with torch.no_grad():
        for _ in range(max_tries if conditions else 1):
            size = max(rows, 1_000) if conditions else rows
            matrix = model._generate(size, gen, conditions)
            decode_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
            columns = encoder.reverse_columns(matrix, seed=decode_seed)
            if conditions:
                keep = _meets(columns, conditions)
                columns = _take(columns, np.flatnonzero(keep))
                size = int(keep.sum())
            parts.append(columns)
            have += size
            if have >= rows:
                break
    if have < rows:
        raise InvalidDataError(
            f"only {have} of {rows} rows met the conditions {dict(conditions or {})} in "
            f"{max_tries} batches: the condition is too rare for rejection sampling"
        )
    merged = parts[0] if len(parts) == 1 else _concat(parts)
    return _take(merged, np.arange(rows)) if have > rows else merged


# -- flat Arrow rows -----------------------------------------------------------------------------
def _gold_field(schema: StructType, name: str) -> StructField:
    if name in schema.names:
        return schema[name]
    if name.endswith(FIRST_SUFFIX) and name[: -len(FIRST_SUFFIX)] in schema.names:
        return schema[name[: -len(FIRST_SUFFIX)]]
    raise InvalidDataError(f"model column {name!r} is not derived from the gold schema")


def _flat_type(spec: ColumnSpec, gold: StructField) -> DataType:
    """The Spark type of a model column in the flat rows."""
    if spec.kind == "count":
        return LongType()
    if spec.kind == "continuous":
        return DoubleType()
    if spec.kind == "timestamp":
        return TimestampType()
    if spec.kind == "shares":
        if isinstance(gold.dataType, ArrayType):  # a positional share vector (hour shares)
            return ArrayType(DoubleType())
        return MapType(StringType(), DoubleType())
    element = gold.dataType.elementType if isinstance(gold.dataType, ArrayType) else gold.dataType
    return LongType() if isinstance(element, LongType) else StringType()


def flat_schema(encoder: TableEncoder, gold: StructType) -> StructType:
    """The schema of the flat rows: the row number, then every model column."""
    fields = [StructField(ROW, LongType(), False)]
    for spec in encoder.specs:
        fields.append(StructField(spec.name, _flat_type(spec, _gold_field(gold, spec.name)), True))
    return StructType(fields)


_ARROW: dict[type, pa.DataType] = {
    LongType: pa.int64(),
    DoubleType: pa.float64(),
    StringType: pa.string(),
    TimestampType: pa.timestamp("us", tz="UTC"),
}


def _map_array(shares: DenseShares) -> pa.Array:
    # a null row contributes no entries (Arrow takes a slot's end from the next valid offset)
    values = np.where(shares.nulls[:, None], 0.0, shares.values)
    rows, cols = np.nonzero(values)
    counts = np.bincount(rows, minlength=len(shares.values))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    keys = pa.array(np.array(shares.labels, dtype=object)[cols], type=pa.string())
    items = pa.array(values[rows, cols], type=pa.float64())
    offset_array = pa.array(offsets, type=pa.int32())
    if shares.nulls.any():
        mask = np.concatenate([shares.nulls, [False]])
        offset_array = pa.array(offsets, type=pa.int32(), mask=mask)
    return pa.MapArray.from_arrays(offset_array, keys, items)


def _list_array(shares: DenseShares, length: int) -> pa.Array:
    """A positional share vector (labels are positions) as a list of ``length`` doubles."""
    dense = np.zeros((len(shares.nulls), length))
    for j, label in enumerate(shares.labels):
        if label.isdigit() and int(label) < length:
            dense[:, int(label)] = shares.values[:, j]
    sizes = np.where(shares.nulls, 0, length)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    mask = np.concatenate([shares.nulls, [False]]) if shares.nulls.any() else None
    flat = pa.array(dense[~shares.nulls].ravel(), type=pa.float64())
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32(), mask=mask), flat)


def _arrow_column(
    values: pd.Series | DenseShares, dtype: DataType, length: int | None = None
) -> pa.Array:
    if isinstance(values, DenseShares):
        if isinstance(dtype, ArrayType):
            if length is None:
                raise InvalidDataError("a positional share column needs its array length")
            return _list_array(values, length)
        return _map_array(values)
    target = _ARROW[type(dtype)]
    if isinstance(dtype, TimestampType):
        if not pd.api.types.is_datetime64_dtype(values.dtype):  # object when it holds nulls
            values = pd.to_datetime(values)
        stamps = values.to_numpy(dtype="datetime64[us]")
        return pa.array(stamps, type=pa.timestamp("us"), from_pandas=True).cast(target)
    if isinstance(dtype, StringType):
        return pa.array(
            values.map(lambda v: None if v is None else str(v)), type=target, from_pandas=True
        )
    return pa.array(values, type=target, from_pandas=True)


def to_record_batch(
    columns: Decoded,
    schema: StructType,
    offset: int,
    array_lengths: Mapping[str, int] | None = None,
) -> pa.RecordBatch:
    """One block's decoded columns as an Arrow batch of :func:`flat_schema` rows.

    ``array_lengths`` gives the length of each positional share vector (24 for hour shares):
    read from a real row, since a position never used in training has no key.
    """
    lengths = dict(array_lengths or {})
    first = next(iter(columns.values()), None)
    n = 0 if first is None else len(first.nulls if isinstance(first, DenseShares) else first)
    arrays = [pa.array(np.arange(offset, offset + n, dtype=np.int64))]
    for field in schema.fields[1:]:
        arrays.append(_arrow_column(columns[field.name], field.dataType, lengths.get(field.name)))
    return pa.RecordBatch.from_arrays(arrays, names=schema.names)


# -- the Spark job -------------------------------------------------------------------------------
def _block_sampler(
    blob: Any,
    blocks: list[Block],
    conditions: list[dict[str, object]],
    schema: StructType,
    threads: int,
    lengths: dict[str, int],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: block ids in, flat synthetic rows out."""

    def sample(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        torch.set_num_threads(threads)
        model = (blob.value if hasattr(blob, "value") else blob).load()
        for batch in batches:
            for block_id in batch.column(0).to_pylist():
                block = blocks[block_id]
                columns = sample_block(model, block.rows, block.seed, conditions[block.group])
                yield to_record_batch(columns, schema, block.offset, lengths)

    return sample


def sample_flat(
    spark: SparkSession,
    blob: ModelBlob,
    encoder: TableEncoder,
    gold: StructType,
    *,
    groups: Sequence[int],
    conditions: Sequence[Mapping[str, object]],
    seed: int,
    block_rows: int,
    partitions: int | None = None,
    torch_threads: int = 1,
    array_lengths: Mapping[str, int] | None = None,
) -> DataFrame:
    """A lazy DataFrame of flat synthetic rows (:func:`flat_schema`) for ``groups`` row counts.

    ``conditions[g]`` applies to group ``g`` (``{}`` for none). Deterministic for ``seed``
    whatever ``partitions`` is; no Spark job runs until the frame is used.
    """
    if len(groups) != len(conditions):
        raise ValueError("one condition mapping per group")
    for where in conditions:
        check_conditions(encoder, where)
    blocks = plan_blocks(groups, block_rows, seed)
    schema = flat_schema(encoder, gold)
    vectors = [f.name for f in schema.fields if isinstance(f.dataType, ArrayType)]
    missing = [name for name in vectors if name not in (array_lengths or {})]
    if missing:
        raise InvalidDataError(f"array_lengths must give the length of {missing}")
    shipped = spark.sparkContext.broadcast(blob)
    parts = partitions or spark.sparkContext.defaultParallelism
    ids = spark.range(0, len(blocks), 1, numPartitions=max(1, min(parts, len(blocks) or 1)))
    fn = _block_sampler(
        shipped,
        blocks,
        [dict(c) for c in conditions],
        schema,
        torch_threads,
        dict(array_lengths or {}),
    )
    return ids.mapInArrow(fn, schema)  # type: ignore[arg-type]


def sample_local(
    blob: ModelBlob,
    encoder: TableEncoder,
    gold: StructType,
    *,
    rows: int,
    seed: int,
    block_rows: int,
    torch_threads: int = 1,
    array_lengths: Mapping[str, int] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The same blocks as :func:`sample_flat` (no conditions), in this process, as batches."""
    schema = flat_schema(encoder, gold)
    blocks = plan_blocks([rows], block_rows, seed)
    fn = _block_sampler(blob, blocks, [{}], schema, torch_threads, dict(array_lengths or {}))
    ids = pa.RecordBatch.from_arrays([pa.array(range(len(blocks)), pa.int64())], names=["id"])
    return fn(iter([ids]))


# -- flat -> gold ---------------------------------------------------------------------------------
def to_gold(
    flat: DataFrame,
    gold: StructType,
    *,
    run_id: str,
    model_id: str,
) -> DataFrame:
    """Flat synthetic rows -> rows of ``gold`` plus ``_row``, ``run_id`` and ``model_id``."""
    present = set(flat.columns)
    out: list[Column] = [F.col(ROW)]
    for field in gold.fields:
        dtype = field.dataType
        column: Column
        if field.name in (USER_ID, PRODUCT_ID):
            column = synthetic_id_column(run_id, F.col(ROW))
        elif field.name in present:
            column = F.col(field.name)
        elif field.name + FIRST_SUFFIX in present and isinstance(dtype, ArrayType):
            head = F.col(field.name + FIRST_SUFFIX).cast(dtype.elementType)
            column = F.when(head.isNull(), F.array().cast(dtype)).otherwise(F.array(head))
        elif field.name == "item_text":
            column = item_text(F.col("category_code"), F.col("brand"))
        else:
            # not a model input (the text embedding) or null in every training row
            column = F.lit(None)
        out.append(column.cast(dtype).alias(field.name, metadata=field.metadata))
    return flat.select(*out, F.lit(run_id).alias(RUN_ID), F.lit(model_id).alias(MODEL_ID))
