"""The ``train`` stage: a gold table's Delta version -> a trained generator in the model store.

1. Resolve the table's current Delta version (recorded in the artifact; training reads exactly
   that version, by time travel, even if the table moves on meanwhile).
2. Fit the data encoding on the driver on a bounded seeded sample; encode the whole version
   into the Petastorm cache (:mod:`synth.train.data`), reused when already there.
3. Launch :func:`synth.train.loop.train_worker` on the configured backend
   (:data:`~synth.train.launch.LAUNCHERS`): in this process (``local``), with
   ``horovod.spark.run`` (``horovod``), or with PySpark's
   ``TorchDistributor`` (``torch_distributor``).
4. Load the last checkpoint, score it (quality against the encoder's sample, detection AUC),
   and write the model folder plus ``artifact.json``: table, path and Delta version, config,
   backend, world size, seed, encoder (``encoder.json``), metrics, loss history, cache.

The model id is ``<table>-<model>-v<version>-<config hash>`` (:func:`synth.refs.model_id`): the
same config on the same table version lands in the same folder, which is what ``resume``
continues. :func:`run` is the stage's entry point; :func:`train` takes the ``train`` config alone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from synth.config.job import JobConfig
from synth.config.train import TrainStageConfig
from synth.errors import InputError
from synth.io import files
from synth.io.delta import Lakehouse, read_table, table_exists, table_version
from synth.models.base import Synthesizer
from synth.models.detection import detection_auc
from synth.refs import model_id
from synth.schema import GOLD_SCHEMAS, table_key
from synth.seeding import holdout_mask
from synth.stages import StageReport
from synth.stats.fidelity import quality_score, sdtypes
from synth.train.data import build_cache, cache_url, fit_encoder
from synth.train.launch import LAUNCHERS, process_count, stage_job
from synth.train.sequences import train_sequences
from synth.train.store import publish_model

log = logging.getLogger(__name__)


@dataclass
class TrainReport(StageReport):
    """What one training run produced."""

    model_id: str
    model_dir: str
    table: str
    table_path: str
    delta_version: int
    backend: str
    world_size: int
    seed: int
    epochs: int
    resumed_after: int
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    cache: dict[str, object] = field(default_factory=dict)
    sequence: dict[str, object] | None = None  # the sequence model's report (learned behaviour)

    def summary(self) -> str:
        """A few human-readable lines."""
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in self.metrics.items())
        text = (
            f"{self.model_id}: {self.epochs} epochs on {self.table} v{self.delta_version} "
            f"({self.backend}, {self.world_size} process(es), {self.seconds:.0f}s)\n"
            f"  {metrics}\n  model: {self.model_dir}"
        )
        if self.sequence is not None:
            text += (
                f"\n{self.sequence['model_id']}: {self.sequence['epochs']} epochs on "
                f"{self.sequence['users']:,} users' sequences ({self.sequence['seconds']:.0f}s)"
                f"\n  model: {self.sequence['model_dir']}"
            )
        return text


def _model_params(cfg: TrainStageConfig) -> dict[str, Any]:
    params = (cfg.vae if cfg.model == "vae" else cfg.gan).model_dump(mode="json")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}


def train(spark: SparkSession, lakehouse: Lakehouse, cfg: TrainStageConfig) -> TrainReport:
    """Run the ``train`` stage (see the module docstring)."""
    began = time.perf_counter()
    path = lakehouse.gold_table(cfg.table)
    if not table_exists(spark, path):
        raise InputError(f"gold table {path} does not exist: run the `features` stage first")
    version = table_version(spark, path)
    schema = GOLD_SCHEMAS[cfg.table]
    df = read_table(spark, path, version=version)
    holdout = ""
    if cfg.holdout_fraction > 0:
        # the holdout rows are never trained on: privacy checks compare synthetic rows with them
        df = df.where(~holdout_mask(table_key(cfg.table), cfg.holdout_fraction, cfg.holdout_seed))
        holdout = f"-h{cfg.holdout_fraction:g}s{cfg.holdout_seed}"
    rows = df.count()
    seed = cfg.train.seed
    encoder, frame = fit_encoder(
        df,
        schema,
        rows=rows,
        sample_rows=cfg.encoder_sample_rows,
        max_categories=cfg.max_categories,
        seed=seed,
    )
    processes = process_count(cfg)
    cache = build_cache(
        spark,
        df,
        schema,
        encoder,
        url=cache_url(lakehouse, cfg.table, version, encoder, holdout=holdout),
        table=cfg.table,
        version=version,
        rows=rows,
        rows_per_file=cfg.cache_rows_per_file,
        min_files=2 * processes,
    )
    ident = model_id(cfg, version)
    model_dir = lakehouse.model_dir(cfg.table, ident)
    job = stage_job(
        cfg,
        model=cfg.model,
        params=_model_params(cfg),
        train=cfg.train.model_dump(mode="json"),
        encoder_json=encoder.to_json(),
        cache=cache,
        model_dir=model_dir,
    )
    log.info(
        "train: %s on %s v%d (%d rows) with %s x%d",
        cfg.model,
        cfg.table,
        version,
        rows,
        cfg.backend,
        processes,
    )
    result = LAUNCHERS[cfg.backend](spark, job, cfg)
    model = Synthesizer.load(result["checkpoint"])
    # score against the sample the encoder saw (flat columns; share maps have no shape score)
    scored = [c.spec for c in encoder.columns if c.spec.kind != "shares"]
    names = [s.name for s in scored]
    real = frame.frame[names].head(cfg.sample_rows).reset_index(drop=True)
    synth = model.sample(len(real), seed=seed)[names]
    quality = quality_score(real, synth, sdtypes(scored))
    metrics = {
        "quality": round(quality.overall, 4),
        "column_shapes": round(quality.column_shapes, 4),
        "column_pair_trends": round(quality.column_pair_trends, 4),
        "detection_auc": round(detection_auc(real, synth, scored, seed=seed), 4),
    }
    target = files.join(model_dir, "model")
    report = TrainReport(
        model_id=ident,
        model_dir=target,
        table=cfg.table,
        table_path=path,
        delta_version=version,
        backend=cfg.backend,
        world_size=int(result["world_size"]),
        seed=seed,
        epochs=int(result["epochs"]),
        resumed_after=int(result["resumed_after"]),
        seconds=round(time.perf_counter() - began, 2),
        metrics=metrics,
        cache=cache.to_dict(),
    )
    artifact = {
        **report.to_dict(),
        "config": cfg.model_dump(mode="json"),
        "history": result["history"],
        "device": result.get("device"),
    }
    publish_model(model, target, artifact)  # model and artifact.json, swapped in whole
    return report


def run(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> TrainReport:
    """Run the stage with the job's ``train`` config (see :func:`train`).

    With learned behaviour (``synthesize.fusion.behaviour.model: learned``) the event sequence
    model is trained too (:func:`synth.train.sequences.train_sequences`).
    """
    report = train(spark, lakehouse, cfg.train)
    if cfg.synthesize.fusion.behaviour.model == "learned":
        report.sequence = train_sequences(spark, lakehouse, cfg.train).to_dict()
    return report
