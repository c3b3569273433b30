"""Training the event sequence model: gold ``user_sequences`` -> a model in the model store.

The same machinery as the profile generators (:mod:`synth.train.stage`): the tables' Delta
versions are resolved once and read by time travel; the holdout users (the profile model's
seeded hash of the user id) are never trained on; each training user becomes one float32 row
(encoded profile + sequence tokens, :mod:`synth.models.sequence`) in a Petastorm cache keyed by
the versions and the encoding; :func:`synth.train.loop.train_worker` trains on the configured
backend (``local``, ``horovod``, ``torch_distributor``) with checkpoints and ``resume``.

Early stopping: with ``train.sequence.train.validation_fraction`` > 0, a seeded hash of the user
id sets that share of the training users aside (never in the cache); up to ``holdout_rows`` of
them are encoded to ``validation.npy`` in the model folder, and the loop keeps the epoch with the
lowest validation loss, stopping after ``patience`` scores without a better one.

The model id is ``user_sequences-sequence-v<sequences version>-<hash>``, the hash over the
sequence config, the holdout and the versions of ``user_profiles`` and ``item_profiles`` (the
profile encoding and the item vocabulary come from them), so a new version of any of the three
tables trains a new model. ``artifact.json`` records the three versions; synthesis refuses a
model whose versions are not the tables' current ones (:func:`resolve_sequence_model`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synth.config.job import JobConfig
from synth.config.train import TrainStageConfig
from synth.errors import InputError, InvalidDataError
from synth.io import files
from synth.io.delta import Lakehouse, read_table, table_exists, table_version
from synth.models.base import TrainableModel, TrainConfig
from synth.models.encoding import TableEncoder
from synth.models.sequence import EventSequenceModel, SequenceVocabulary, encode_sequence_rows
from synth.models.table_frame import model_rows
from synth.schema import USER_ID, USER_PROFILE_SCHEMA
from synth.seeding import holdout_mask
from synth.stages import StageReport
from synth.train.data import RowEncoder, encoder_fingerprint, fit_encoder, write_cache
from synth.train.launch import LAUNCHERS, process_count, stage_job
from synth.train.store import publish_model

log = logging.getLogger(__name__)

SEQUENCES = "user_sequences"
_TABLES = ("user_sequences", "user_profiles", "item_profiles")


@dataclass
class SequenceTrainReport(StageReport):
    """What one sequence-model training run produced."""

    model_id: str
    model_dir: str
    versions: dict[str, int]
    backend: str
    world_size: int
    epochs: int
    best_epoch: int | None
    resumed_after: int
    users: int
    truncated_users: int
    empty_users: int
    items: int
    event_types: list[str]
    seconds: float
    seconds_per_epoch: float
    metrics: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines."""
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in self.metrics.items())
        best = f" (the best: {self.best_epoch})" if self.best_epoch else ""
        return (
            f"{self.model_id}: {self.epochs} epochs{best} on {self.users:,} users' sequences "
            f"({self.truncated_users:,} cut to max_len, {self.empty_users:,} without events "
            f"skipped), {self.items:,} items, {self.backend} x"
            f"{self.world_size}, {self.seconds:.0f}s ({self.seconds_per_epoch:.1f}s/epoch)\n"
            f"  holdout losses: {metrics}\n  model: {self.model_dir}"
        )


def _versions(spark: SparkSession, lakehouse: Lakehouse) -> dict[str, int]:
    versions = {}
    for name in _TABLES:
        path = lakehouse.gold_table(name)
        if not table_exists(spark, path):
            raise InputError(f"gold table {path} does not exist: run the `features` stage first")
        versions[name] = table_version(spark, path)
    return versions


def sequence_model_id(cfg: TrainStageConfig, versions: dict[str, int]) -> str:
    """``user_sequences-sequence-v<version>-<hash of config, holdout and table versions>``."""
    payload = json.dumps(
        {
            "sequence": cfg.sequence.model_dump(mode="json"),
            "holdout": [cfg.holdout_fraction, cfg.holdout_seed],
            "encoder": [cfg.encoder_sample_rows, cfg.max_categories],
            "versions": versions,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()[:8]
    return f"{SEQUENCES}-sequence-v{versions[SEQUENCES]}-{digest}"


def vocabulary(
    spark: SparkSession, lakehouse: Lakehouse, version: int, sequences: DataFrame
) -> SequenceVocabulary:
    """The item vocabulary (gold item profiles at ``version``) and the sequences' event types."""
    items = read_table(spark, lakehouse.gold_table("item_profiles"), version=version)
    frame = items.select("product_id", "category_id", "n_events", "text_embedding").toPandas()
    types = sorted(
        r[0] for r in sequences.select(F.explode("event_types").alias("t")).distinct().collect()
    )
    return SequenceVocabulary.build(frame, types, text_column="text_embedding")


def _row_encoder(encoder: TableEncoder, vocab: SequenceVocabulary, max_len: int) -> RowEncoder:
    state = encoder.to_json()
    names = [c.spec.name for c in encoder.columns]

    def encode(batches: Iterator[pd.DataFrame]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        fitted = TableEncoder.from_json(state)
        for pdf in batches:
            profiles, replaced = fitted.transform_lenient(
                model_rows(pdf, USER_PROFILE_SCHEMA, names)
            )
            types, items, gaps = vocab.tokens(pdf)
            yield encode_sequence_rows(profiles, types, items, gaps, max_len=max_len), replaced

    return encode


def training_frame(
    spark: SparkSession, lakehouse: Lakehouse, cfg: TrainStageConfig, versions: dict[str, int]
) -> tuple[DataFrame, DataFrame]:
    """(training users, holdout users): sequences joined with their profile rows.

    A sequence without events (``length`` 0 or null: the features stage never writes one, a
    hand-edited table may) has nothing to learn from; it is left out of both and counted by
    :func:`train_sequences` as ``empty_users``.
    """
    sequences = read_table(spark, lakehouse.gold_table(SEQUENCES), version=versions[SEQUENCES])
    sequences = sequences.where(F.coalesce(F.col("length"), F.lit(0)) > 0)
    profiles = read_table(
        spark, lakehouse.gold_table("user_profiles"), version=versions["user_profiles"]
    )
    joined = sequences.select(
        USER_ID, "length", "event_types", "product_ids", "gaps_s", "new_session"
    ).join(profiles, USER_ID, "inner")
    if cfg.holdout_fraction <= 0:
        return joined, joined.limit(0)
    held = holdout_mask(USER_ID, cfg.holdout_fraction, cfg.holdout_seed)
    return joined.where(~held), joined.where(held)


def train_sequences(
    spark: SparkSession, lakehouse: Lakehouse, cfg: TrainStageConfig
) -> SequenceTrainReport:
    """Train the sequence model on the current gold tables (see the module docstring)."""
    began = time.perf_counter()
    versions = _versions(spark, lakehouse)
    train_df, holdout_df = training_frame(spark, lakehouse, cfg, versions)
    seq = cfg.sequence
    params = seq.params
    tc = seq.train
    validation_df = train_df.limit(0)
    if tc.validation_fraction > 0:
        aside = holdout_mask(USER_ID, tc.validation_fraction, tc.seed + 1)
        train_df, validation_df = train_df.where(~aside), train_df.where(aside)
    users = train_df.count()
    empty = (
        read_table(spark, lakehouse.gold_table(SEQUENCES), version=versions[SEQUENCES])
        .where(F.coalesce(F.col("length"), F.lit(0)) <= 0)
        .count()
    )
    if empty:
        log.warning(
            "train: %d user(s) in gold %s v%d have no events: skipped",
            empty,
            SEQUENCES,
            versions[SEQUENCES],
        )
    if users < 2:
        raise InvalidDataError(
            f"gold {SEQUENCES} v{versions[SEQUENCES]} has {users} training user(s) with a "
            "profile: need at least 2 to train the sequence model"
        )
    truncated = train_df.where(F.col("length") > F.lit(params.max_len)).count()
    profiles = read_table(
        spark, lakehouse.gold_table("user_profiles"), version=versions["user_profiles"]
    )
    profiles = profiles.join(train_df.select(USER_ID), USER_ID, "left_semi")
    encoder, _ = fit_encoder(
        profiles,
        USER_PROFILE_SCHEMA,
        rows=users,
        sample_rows=cfg.encoder_sample_rows,
        max_categories=cfg.max_categories,
        seed=seq.train.seed,
    )
    vocab = vocabulary(spark, lakehouse, versions["item_profiles"], train_df)
    ident = sequence_model_id(cfg, versions)
    width = encoder.width + 1 + 3 * params.max_len
    holdout = f"-h{cfg.holdout_fraction:g}s{cfg.holdout_seed}" if cfg.holdout_fraction else ""
    if tc.validation_fraction > 0:
        holdout += f"-v{tc.validation_fraction:g}s{tc.seed + 1}"
    url = (
        f"{lakehouse.train_cache_dir(SEQUENCES)}/v{versions[SEQUENCES]}-"
        f"{encoder_fingerprint(encoder)}-p{versions['user_profiles']}-i{versions['item_profiles']}"
        f"-L{params.max_len}{holdout}"
    )
    processes = process_count(cfg)
    cache = write_cache(
        spark,
        train_df,
        _row_encoder(encoder, vocab, params.max_len),
        key=USER_ID,
        url=url,
        table=SEQUENCES,
        version=versions[SEQUENCES],
        rows=users,
        width=width,
        fingerprint=encoder_fingerprint(encoder),
        rows_per_file=cfg.cache_rows_per_file,
        min_files=2 * processes,
    )
    model_dir = lakehouse.model_dir(SEQUENCES, ident)
    validation_path = _validation_rows(
        validation_df, _row_encoder(encoder, vocab, params.max_len), seq.holdout_rows, model_dir
    )
    job = stage_job(
        cfg,
        model=EventSequenceModel.name,
        params={**params.model_dump(mode="json"), "vocabulary": vocab},
        train=seq.train.model_dump(mode="json"),
        encoder_json=encoder.to_json(),
        cache=cache,
        model_dir=model_dir,
        validation_path=validation_path,
    )
    log.info(
        "train: sequence model on %s users, %s items, with %s x%d",
        f"{users:,}",
        f"{vocab.n_items:,}",
        cfg.backend,
        processes,
    )
    result = LAUNCHERS[cfg.backend](spark, job, cfg)
    model = TrainableModel.load(result["checkpoint"])
    assert isinstance(model, EventSequenceModel)
    metrics = _holdout_losses(model, holdout_df, encoder, vocab, seq.holdout_rows, seq.train)
    target = files.join(model_dir, "model")
    history = result["history"]
    trained = [e["seconds"] for e in history[int(result["resumed_after"]) :]]
    report = SequenceTrainReport(
        model_id=ident,
        model_dir=target,
        versions=versions,
        backend=cfg.backend,
        world_size=int(result["world_size"]),
        epochs=int(result["epochs"]),
        best_epoch=result.get("best_epoch"),
        resumed_after=int(result["resumed_after"]),
        users=users,
        truncated_users=truncated,
        empty_users=empty,
        items=vocab.n_items,
        event_types=list(vocab.event_types),
        seconds=round(time.perf_counter() - began, 2),
        seconds_per_epoch=round(float(np.mean(trained)) if trained else 0.0, 2),
        metrics=metrics,
    )
    artifact = {
        **report.to_dict(),
        "table": SEQUENCES,
        "config": cfg.sequence.model_dump(mode="json"),
        "holdout_fraction": cfg.holdout_fraction,
        "holdout_seed": cfg.holdout_seed,
        "history": history,
        "cache": cache.to_dict(),
        "device": result.get("device"),
    }
    publish_model(model, target, artifact)  # model and artifact.json, swapped in whole
    log.info("train:\n%s", report.summary())
    return report


def _validation_rows(
    validation: DataFrame, encode: RowEncoder, rows: int, model_dir: str
) -> str | None:
    """Up to ``rows`` validation users encoded to ``<model_dir>/validation.npy``; its path."""
    pdf = validation.orderBy(USER_ID).limit(rows).toPandas()
    if pdf.empty:
        return None
    matrix, _ = next(encode(iter([pdf])))
    path = files.join(model_dir, "validation.npy")
    files.write_bytes(path, files.npy_bytes(matrix.astype(np.float32)))
    return path


def _holdout_losses(
    model: EventSequenceModel,
    holdout: DataFrame,
    encoder: TableEncoder,
    vocab: SequenceVocabulary,
    rows: int,
    train: TrainConfig,
) -> dict[str, float]:
    """Mean next-event losses (nats per event token) on up to ``rows`` holdout users."""
    pdf = holdout.orderBy(USER_ID).limit(rows).toPandas()
    if pdf.empty:
        return {}
    encode = _row_encoder(encoder, vocab, model.max_len)
    matrix, _ = next(encode(iter([pdf])))
    losses = model.evaluate_loss(torch.from_numpy(matrix), seed=train.seed)
    return {f"holdout_{k}_loss": round(v, 4) for k, v in losses.items()}


def run(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> SequenceTrainReport:
    """Train the sequence model with the job's ``train`` config."""
    return train_sequences(spark, lakehouse, cfg.train)
