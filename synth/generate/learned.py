"""Learned behaviour: the event sequence model writes the events, in Spark.

``synthesize.fusion.behaviour.model: learned`` makes the ``fuse`` stage draw events with the
model the ``train`` stage trained on gold ``user_sequences``
(:mod:`synth.train.sequences`, :mod:`synth.models.sequence`) instead of the rules of
:mod:`synth.generate.behaviour`:

* **Synthetic users**: each kept synthetic profile gets exactly its profile's event counts by
  type (``n_view`` ... ``n_other``; the model draws the order, items and gaps, and types within
  what is left of the budget) and ``n_sessions - 1`` session breaks. Times start at the
  profile's ``first_seen``; when the drawn gaps overshoot ``last_seen`` the session breaks (and,
  if that is not enough, all gaps) shrink so that the last event is at or before
  ``last_seen``; with room to spare the breaks stretch so that it is exactly there.
* **Sparse real users** (enrichment): the model reads the user's real train events (gold
  ``user_sequences``) as a prefix and continues the sequence with ``target_events - n_events``
  events (types, items and gaps all drawn); the continuation starts after the last real event
  and shrinks to end within the real window.

Spark: the model folder is broadcast once as bytes and loaded once per Python worker;
``mapInArrow`` runs over users hashed into fixed blocks of about ``BLOCK_USERS`` users (a block
is the unit of determinism: it is processed whole, sorted by user id, by one task), so the same
seed gives the same events whatever the partitioning.

A model is used only on the gold versions it was trained on: its id is derived from the current
versions of ``user_sequences``, ``user_profiles`` and ``item_profiles``
(:func:`synth.train.sequences.sequence_model_id`); a model for other versions is not found, and
the error names the versions of the models that are there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from synth.config.job import JobConfig
from synth.errors import InputError, InvalidDataError
from synth.generate.behaviour import Catalog, events_frame, session_id_strings, time_column
from synth.generate.sampler import ModelBlob
from synth.io import files
from synth.io.delta import Lakehouse, table_exists, table_version
from synth.models.encoding import TableEncoder
from synth.models.sequence import (
    N_BINS,
    EventSequenceModel,
    gap_class,
    gap_seconds,
    gap_value_draws,
)
from synth.models.table_frame import model_rows
from synth.refs import ARTIFACT
from synth.schema import COUNT_COLUMNS, SILVER_SCHEMA, USER_ID, USER_PROFILE_SCHEMA
from synth.train.sequences import SEQUENCES, sequence_model_id

BLOCK_USERS = 2_048  # users per block: larger blocks amortise the per-step cost (measured)
_BLOCK = "_block"
_NS = 1_000_000_000


@dataclass(frozen=True)
class SequenceRef:
    """A trained sequence model folder and the gold versions it was trained on."""

    model_dir: str
    model_id: str
    versions: dict[str, int]


def resolve_sequence_model(
    spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig
) -> SequenceRef:
    """The sequence model trained on the current gold versions with the job's train config."""
    versions: dict[str, int] = {}
    for name in ("user_sequences", "user_profiles", "item_profiles"):
        path = lakehouse.gold_table(name)
        if not table_exists(spark, path):
            raise InputError(f"gold table {path} does not exist: run the `features` stage first")
        versions[name] = table_version(spark, path)
    ident = sequence_model_id(cfg.train, versions)
    folder = files.join(lakehouse.model_dir(SEQUENCES, ident), "model")
    if not files.is_file(files.join(folder, ARTIFACT)):
        others = []
        store = files.parent_of(lakehouse.model_dir(SEQUENCES, ident))
        for name in files.list_names(store):
            try:
                data = files.read_json(files.join(store, name, "model", ARTIFACT))
                others.append(f"{name} (versions {data.get('versions')})")
            except (OSError, ValueError):
                continue
        seen = f"; models there, trained on other versions or settings: {others}" if others else ""
        raise InputError(
            f"no sequence model trained on the current gold versions {versions} with this "
            f"train.sequence config (expected {folder}){seen}: run the `train` stage with "
            "synthesize.fusion.behaviour.model: learned"
        )
    return SequenceRef(folder, ident, versions)


def _arrow_schema() -> pa.Schema:
    return to_arrow_schema(SILVER_SCHEMA)  # timestamps: UTC microseconds


def _to_batch(frame: pd.DataFrame, schema: pa.Schema) -> pa.RecordBatch:
    frame = frame.copy()
    frame["event_time"] = pd.to_datetime(frame["event_time"]).dt.tz_localize("UTC")
    return pa.RecordBatch.from_pandas(frame, schema=schema, preserve_index=False)


def _blocks(frames: Iterable[pa.RecordBatch]) -> Iterator[pd.DataFrame]:
    """Whole blocks, from batches sorted by block (a block never spans two partitions)."""
    pending: list[pd.DataFrame] = []
    for batch in frames:
        pdf = batch.to_pandas()
        if pdf.empty:
            continue
        for block, part in pdf.groupby(_BLOCK, sort=False):
            if pending and pending[0][_BLOCK].iloc[0] != block:
                yield pd.concat(pending, ignore_index=True)
                pending = []
            pending.append(part)
    if pending:
        yield pd.concat(pending, ignore_index=True)


def _fit_times(
    start: np.ndarray,
    gaps: np.ndarray,
    breaks: np.ndarray,
    row: np.ndarray,
    room: np.ndarray,
    *,
    stretch: bool,
) -> np.ndarray:
    """Event times (ns): ``start`` of each row plus its cumulative gaps, fitted into ``room``.

    With ``room[r] >= 0``: when the gaps overshoot it, the row's session breaks shrink so that
    its last event is at ``start + room`` (every gap shrinks by one factor when the
    within-session gaps alone overshoot); with ``stretch``, a row with room to spare has its
    breaks stretched to end there too. With ``room < 0`` (no limit): the gaps as drawn.
    """
    n_rows = len(start)
    within = np.bincount(row, weights=np.where(breaks, 0, gaps), minlength=n_rows)
    across = np.bincount(row, weights=np.where(breaks, gaps, 0), minlength=n_rows)
    limited = room >= 0
    scale_break = np.ones(n_rows)
    scale_all = np.ones(n_rows)
    overshoot = within + across > room
    fits = limited & (across > 0) & (within <= room) & (overshoot | stretch)
    scale_break[fits] = (room[fits] - within[fits]) / across[fits]
    over = limited & ~fits & (within + across > room)
    scale_all[over] = room[over] / (within[over] + across[over])
    scaled = gaps * np.where(breaks, scale_break[row], 1.0) * scale_all[row]
    ns = np.floor(scaled * 1e6).astype(np.int64) * 1_000  # whole microseconds, as Spark keeps
    return start[row] + _row_cumsum(ns, row)


def _row_cumsum(values: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``values`` restarting at each new ``row`` (rows sorted)."""
    if len(row) == 0:
        return np.zeros(0, dtype=values.dtype)
    cum = np.cumsum(values)
    row_start = np.r_[0, np.flatnonzero(np.diff(row)) + 1]
    sizes = np.diff(np.r_[row_start, len(row)])
    before = cum[row_start] - values[row_start]
    return cum - np.repeat(before, sizes)


def _draw_block(
    pdf: pd.DataFrame,
    model: EventSequenceModel,
    catalog: Catalog,
    *,
    seed: int,
    source: str,
    source_file: str,
    enrich: bool,
    window_hi_ns: int,
) -> pd.DataFrame:
    """Events of one block of users (synthetic profiles, or sparse users with their prefix)."""
    pdf = pdf.sort_values(USER_ID, kind="stable").reset_index(drop=True)
    assert model.encoder is not None
    names = [c.spec.name for c in model.encoder.columns]
    encoder: TableEncoder = model.encoder
    profiles, _ = encoder.transform_lenient(model_rows(pdf, USER_PROFILE_SCHEMA, names))
    uid = pdf[USER_ID].to_numpy(np.int64)
    if enrich:
        n_new = pdf["_n_new"].to_numpy(np.int64)
        prefix_types = [np.asarray(v, dtype=object) for v in pdf["event_types"]]
        prefix_items = [np.asarray(v, dtype=np.int64) for v in pdf["product_ids"]]
        prefix_gaps = [
            gap_class(np.asarray(g, dtype=np.float64), np.asarray(o, dtype=bool))
            for g, o in zip(pdf["gaps_s"], pdf["new_session"], strict=True)
        ]
        out = model.sample_events(
            profiles,
            uid,
            n_new,
            seed=seed,
            prefix=(prefix_types, prefix_items, prefix_gaps),
        )
        last = (
            time_column(pdf, "first_event_time")
            + np.array([int(np.sum(g)) for g in pdf["gaps_s"]], dtype=np.int64) * _NS
        )
        start = last
        room = np.maximum(window_hi_ns - last, 0) / _NS
    else:
        budget = np.stack([pdf[c].fillna(0).to_numpy(np.int64) for c in COUNT_COLUMNS], axis=1)
        n_new = budget.sum(axis=1)
        breaks = np.clip(pdf["n_sessions"].fillna(1).to_numpy(np.int64) - 1, 0, None)
        out = model.sample_events(
            profiles, uid, n_new, seed=seed, type_budget=budget, breaks=breaks
        )
        start = time_column(pdf, "first_seen")
        room = np.maximum(time_column(pdf, "last_seen") - start, 0) / _NS
    if len(out.row) == 0:
        return events_frame(
            catalog,
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=object),
            np.zeros(0, dtype=object),
            source=source,
            source_file=source_file,
        )
    is_break = out.gap_class >= N_BINS
    first = out.gap_class < 0
    seconds = gap_seconds(
        np.maximum(out.gap_class, 0), gap_value_draws(seed, uid[out.row], out.step)
    )
    seconds = np.where(first, 0, seconds).astype(np.float64)
    if enrich:
        # the continuation's first event follows the last real one by its drawn gap
        time_ns = _fit_times(start, seconds, is_break, out.row, room, stretch=False)
    else:
        time_ns = _fit_times(start, seconds, is_break & ~first, out.row, room, stretch=True)
    # catalog positions of the drawn items (the model's vocabulary is the catalog's items)
    pid = model.product_ids[out.item]
    pos = np.searchsorted(catalog.product_id, pid)
    pos = np.clip(pos, 0, len(catalog.product_id) - 1)
    if (catalog.product_id[pos] != pid).any():
        missing = int(pid[catalog.product_id[pos] != pid][0])
        raise InvalidDataError(
            f"the sequence model draws product {missing}, which gold item_profiles lacks: the "
            "model was trained on another item_profiles version; retrain it"
        )
    # session k of the user: 0 for the first drawn session (a continuation's first event opens
    # session 1 when it breaks, else it continues session 0)
    opens = (is_break | first).astype(np.int64)
    session_k = _row_cumsum(opens, out.row) - (0 if enrich else 1)
    types = np.asarray(model.event_types, dtype=object)[out.event_type]
    return events_frame(
        catalog,
        pos,
        uid[out.row],
        time_ns,
        types,
        session_id_strings(uid[out.row], session_k),
        source=source,
        source_file=source_file,
    )


def learned_events(
    users: DataFrame,
    blob: ModelBlob,
    catalog: Catalog,
    *,
    seed: int,
    source: str,
    source_file: str,
    enrich: bool,
    window_hi_ns: int,
    partitions: int,
    threads: int = 1,
    block_users: int = BLOCK_USERS,
) -> DataFrame:
    """Events (silver schema) for ``users`` drawn by the broadcast sequence model.

    ``users`` holds the gold profile columns; with ``enrich``, also the user's
    ``user_sequences`` arrays and ``_n_new`` (events to add).
    """
    spark = users.sparkSession
    shipped = spark.sparkContext.broadcast(blob)
    arrow_schema = _arrow_schema()
    n = users.count()
    blocks = max(1, math.ceil(n / block_users))

    def draw(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        torch.set_num_threads(threads)  # one per task slot: tasks already fill the cores
        model = shipped.value.load_model()
        assert isinstance(model, EventSequenceModel)
        for pdf in _blocks(batches):
            frame = _draw_block(
                pdf,
                model,
                catalog,
                seed=seed,
                source=source,
                source_file=source_file,
                enrich=enrich,
                window_hi_ns=window_hi_ns,
            )
            if len(frame):
                yield _to_batch(frame, arrow_schema)

    keyed = users.withColumn(_BLOCK, F.pmod(F.xxhash64(F.col(USER_ID), F.lit(seed)), F.lit(blocks)))
    return (
        keyed.repartition(max(1, min(partitions, blocks)), F.col(_BLOCK))
        .sortWithinPartitions(_BLOCK, USER_ID)
        .mapInArrow(draw, SILVER_SCHEMA)
    )
