"""Scoring a fitted recommender in Spark: evaluated users in blocks, metrics per user, aggregated.

The evaluated users of a held-out split (:class:`Split`, at most ``max_eval_users``) and their
history rows of one (variant, seed) become a small DataFrame (:func:`user_blocks`: one row per
user, history and held-out items as index arrays), built once and shared by every model scored
on that (variant, seed). :func:`score_many` broadcasts fitted models and runs one
``mapInArrow`` pass for all of them: each task decodes its users a block at a time, every model
ranks the block (at most :data:`BLOCK_CELLS` users x items scores in memory, never the whole
users x items matrix), and per model it computes Recall / NDCG / MAP@K per user
(:mod:`synth.recommend.metrics`) and emits per-segment sums, counts and the items its lists
cover; the driver adds those up per model. Every core scores; the numbers equal a single-process
evaluation of the same users (tested to 1e-9).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from synth.recommend.metrics import METRICS, SEGMENTS, hits, tie_rank, user_metrics
from synth.recommend.models import Recommender

# Scores of one block of users (users x catalog items): 16 MiB of float64, below glibc's largest
# mmap threshold (32 MiB), so a block's arrays reuse freed heap memory instead of fresh pages
# (on the default job's catalog, item-kNN and EASE ranked in such blocks in half the time of
# 1,024-user blocks).
BLOCK_CELLS = 1 << 21
MAX_BLOCK_USERS = 1_024

_BLOCK_SCHEMA = T.StructType(
    [
        T.StructField("row", T.LongType(), False),
        T.StructField("history_items", T.ArrayType(T.IntegerType(), False), False),
        T.StructField("history_values", T.ArrayType(T.DoubleType(), False), False),
        T.StructField("history_order", T.ArrayType(T.DoubleType(), False), True),
        T.StructField("relevant", T.ArrayType(T.IntegerType(), False), False),
        T.StructField("n_relevant", T.LongType(), False),
        T.StructField("tail_relevant", T.ArrayType(T.IntegerType(), False), False),
        T.StructField("n_tail", T.LongType(), False),
        T.StructField("cold", T.BooleanType(), False),
    ]
)
_OUT_SCHEMA = T.StructType(
    [
        T.StructField("model", T.IntegerType(), False),
        T.StructField("segment", T.StringType(), False),
        T.StructField("metric", T.StringType(), False),
        T.StructField("total", T.DoubleType(), False),
        T.StructField("n", T.LongType(), False),
        T.StructField("items", T.ArrayType(T.IntegerType(), False), False),
    ]
)


@dataclass
class Split:
    """Evaluated users of one held-out split and their relevant items."""

    users: np.ndarray  # user indexes (rows of the history matrix)
    relevant: sp.csr_matrix  # users x items, 1 where held out (catalog items)
    n_relevant: np.ndarray  # held-out items per user, off-catalog ones included
    tail_relevant: sp.csr_matrix
    n_tail: np.ndarray
    cold: np.ndarray  # bool per user

    def masks(self) -> dict[str, np.ndarray]:
        """Per segment, which of the users it holds."""
        return segment_masks(self.cold, self.n_tail)


def segment_masks(cold: np.ndarray, n_tail: np.ndarray) -> dict[str, np.ndarray]:
    """Per segment, which users it holds: all, the cold ones, those with held-out tail items."""
    return {"all": np.ones(len(n_tail), dtype=bool), "cold": cold, "long_tail": n_tail > 0}


def _rows(matrix: sp.csr_matrix, values: bool = False) -> list[np.ndarray]:
    """Each row's column indexes (or its values), one array per row."""
    if matrix.shape[0] == 0:
        return []
    data = matrix.data.astype(np.float64) if values else matrix.indices.astype(np.int32)
    return np.split(data, matrix.indptr[1:-1])


def user_blocks(
    spark: SparkSession,
    split: Split,
    history: sp.csr_matrix,
    partitions: int,
    order: sp.csr_matrix | None = None,
) -> DataFrame:
    """One row per evaluated user of ``split``: its ``history`` row and held-out items.

    ``order`` (the same pairs as ``history``, valued by their last event time) is what ordered
    models (:attr:`Recommender.ordered`) score from; without it those models are refused.
    Cached by the caller. Contiguous slices of the users, at most ``partitions`` (the tasks;
    Spark slices a local frame into up to its default parallelism): the same slices on every
    run, so the per-task sums add up in the same order.
    """
    h = history[split.users].tocsr()
    h.sort_indices()
    times: list[np.ndarray | None] = [None] * len(split.users)
    if order is not None:
        o = order[split.users].tocsr()
        o.sort_indices()
        if not (np.array_equal(o.indptr, h.indptr) and np.array_equal(o.indices, h.indices)):
            raise ValueError("user_blocks: `order` must hold the same pairs as `history`")
        times = list(_rows(o, values=True))
    frame = pd.DataFrame(
        {
            "row": np.arange(len(split.users), dtype=np.int64),
            "history_items": _rows(h),
            "history_values": _rows(h, values=True),
            "history_order": times,
            "relevant": _rows(split.relevant),
            "n_relevant": split.n_relevant.astype(np.int64),
            "tail_relevant": _rows(split.tail_relevant),
            "n_tail": split.n_tail.astype(np.int64),
            "cold": split.cold.astype(bool),
        }
    )
    return spark.createDataFrame(frame, _BLOCK_SCHEMA).coalesce(max(1, partitions))


def _csr(items: pa.ListArray, values: pa.ListArray | None, n_items: int) -> sp.csr_matrix:
    """A rows x items CSR matrix of one Arrow list column (values 1 when ``values`` is None)."""
    offsets = items.offsets.to_numpy()
    indices = items.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    data = (
        np.ones(len(indices))
        if values is None
        else values.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    )
    return sp.csr_matrix((data, indices, offsets - offsets[0]), shape=(len(items), n_items))


def block_rows(n_items: int) -> int:
    """Users ranked at once: :data:`BLOCK_CELLS` scores, 16 to :data:`MAX_BLOCK_USERS` users."""
    return int(min(MAX_BLOCK_USERS, max(16, BLOCK_CELLS // max(n_items, 1))))


class _Totals:
    """Per-segment sums, counts and covered items of one task."""

    def __init__(self, ks: tuple[int, ...]) -> None:
        self.ks = ks
        self.sums: dict[tuple[str, str], list[float]] = {}
        self.covered: dict[tuple[str, int], set[int]] = {
            (seg, k): set() for seg in SEGMENTS for k in ks
        }

    def add(
        self,
        top: np.ndarray,
        relevant: sp.csr_matrix,
        n_relevant: np.ndarray,
        tail_relevant: sp.csr_matrix,
        n_tail: np.ndarray,
        cold: np.ndarray,
    ) -> None:
        full_hits, tail_hits = hits(top, relevant), hits(top, tail_relevant)
        masks = segment_masks(cold, n_tail)
        for k in self.ks:
            full = user_metrics(full_hits, n_relevant, k)
            tail = user_metrics(tail_hits, n_tail, k)
            for seg in SEGMENTS:
                got = tail if seg == "long_tail" else full
                mask = masks[seg]
                for name in METRICS:
                    values = getattr(got, name)[mask]
                    values = values[np.isfinite(values)]
                    acc = self.sums.setdefault((seg, f"{name}@{k}"), [0.0, 0.0])
                    acc[0] += float(values.sum())
                    acc[1] += len(values)
                self.covered[(seg, k)].update(np.unique(top[mask, :k]).tolist())

    def batch(self, model: int) -> pa.RecordBatch:
        """The sums as :data:`_OUT_SCHEMA` rows of model number ``model``."""
        segs: list[str] = []
        metrics: list[str] = []
        totals: list[float] = []
        ns: list[int] = []
        items: list[list[int]] = []
        for (seg, metric), (total, n) in self.sums.items():
            segs.append(seg)
            metrics.append(metric)
            totals.append(total)
            ns.append(int(n))
            items.append([])
        for (seg, k), covered in self.covered.items():
            segs.append(seg)
            metrics.append(f"coverage@{k}")
            totals.append(0.0)
            ns.append(0)
            items.append(sorted(covered))
        return pa.RecordBatch.from_arrays(
            [
                pa.array([model] * len(segs), pa.int32()),
                pa.array(segs, pa.string()),
                pa.array(metrics, pa.string()),
                pa.array(totals, pa.float64()),
                pa.array(ns, pa.int64()),
                pa.array(items, pa.list_(pa.int32())),
            ],
            schema=pa.schema(
                [
                    pa.field("model", pa.int32(), False),
                    pa.field("segment", pa.string(), False),
                    pa.field("metric", pa.string(), False),
                    pa.field("total", pa.float64(), False),
                    pa.field("n", pa.int64(), False),
                    pa.field("items", pa.list_(pa.field("element", pa.int32(), False)), False),
                ]
            ),
        )


def score(
    spark: SparkSession,
    model: Recommender,
    blocks: DataFrame,
    split: Split,
    ks: tuple[int, ...],
    tiebreak: np.ndarray,
) -> dict[str, dict[str, float]]:
    """``{segment: {metric@k: mean, coverage@k: share, users: count}}`` of ``model``.

    ``blocks`` is :func:`user_blocks` of ``split``; ``tiebreak`` orders equal scores (larger
    first; the training popularity).
    """
    return score_many(spark, [model], blocks, split, ks, tiebreak)[0]


def score_many(
    spark: SparkSession,
    models: list[Recommender],
    blocks: DataFrame,
    split: Split,
    ks: tuple[int, ...],
    tiebreak: np.ndarray,
) -> list[dict[str, dict[str, float]]]:
    """:func:`score` of each of ``models``, in one pass over the blocks.

    Every model ranks each block of users while it is decoded, so a (variant, seed) costs
    one Spark job and one read of its blocks however many models it scores; the figures are
    those of scoring each model alone.
    """
    if not models:
        return []
    n_items = len(tiebreak)
    kmax = max(ks)
    per_block = block_rows(n_items)
    ordered = [m.ordered for m in models]
    if any(ordered) and blocks.where(blocks["history_order"].isNull()).limit(1).count():
        name = type(models[ordered.index(True)]).__name__
        raise ValueError(
            f"{name} scores from the pairs' event order: build the blocks with "
            "user_blocks(..., order=...)"
        )
    tie = np.asarray(tiebreak, dtype=np.float64)
    shared = spark.sparkContext.broadcast((models, tie, tie_rank(tie)))

    def rank_and_measure(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fitted, tie, rank = shared.value
        totals = [_Totals(ks) for _ in fitted]
        for batch in batches:
            for start in range(0, batch.num_rows, per_block):
                part = batch.slice(start, per_block)
                col = part.column
                histories = {
                    values: _csr(col("history_items"), col(values), n_items)
                    for values in {_VALUES[m.ordered] for m in fitted}
                }
                truth = (
                    _csr(col("relevant"), None, n_items),
                    col("n_relevant").to_numpy(),
                    _csr(col("tail_relevant"), None, n_items),
                    col("n_tail").to_numpy(),
                    col("cold").to_numpy(zero_copy_only=False).astype(bool),
                )
                for model, acc in zip(fitted, totals, strict=True):
                    top = model.top(histories[_VALUES[model.ordered]], kmax, tie, rank)
                    acc.add(top, *truth)
        for n, acc in enumerate(totals):
            yield acc.batch(n)

    try:
        rows = blocks.mapInArrow(rank_and_measure, _OUT_SCHEMA).collect()  # type: ignore[arg-type]
    finally:
        shared.destroy()  # its copies on the executors and its file on the driver
    return [
        _means([r for r in rows if r["model"] == n], split, ks, n_items) for n in range(len(models))
    ]


_VALUES = {False: "history_values", True: "history_order"}


def _means(
    rows: list[Any], split: Split, ks: tuple[int, ...], n_items: int
) -> dict[str, dict[str, float]]:
    """One model's per-task sums added up: means, coverage shares and user counts."""
    sums: dict[tuple[str, str], list[float]] = {}
    covered: dict[tuple[str, str], set[int]] = {}
    for r in rows:
        if r["metric"].startswith("coverage@"):
            covered.setdefault((r["segment"], r["metric"]), set()).update(r["items"])
        else:
            acc = sums.setdefault((r["segment"], r["metric"]), [0.0, 0.0])
            acc[0] += r["total"]
            acc[1] += r["n"]
    out: dict[str, dict[str, float]] = {seg: {} for seg in SEGMENTS}
    for seg in SEGMENTS:
        for k in ks:
            for name in METRICS:
                total, n = sums.get((seg, f"{name}@{k}"), [0.0, 0.0])
                out[seg][f"{name}@{k}"] = total / n if n else math.nan
        for k in ks:
            out[seg][f"coverage@{k}"] = len(covered.get((seg, f"coverage@{k}"), ())) / n_items
    for seg, mask in split.masks().items():
        out[seg]["users"] = float(mask.sum())
    return out
