"""Which trained model and which synthesis run: the references every later stage resolves.

The ``train`` stage writes a model folder (``<lakehouse>/_models/<table>/<model id>/model``)
holding ``artifact.json`` (:data:`ARTIFACT`); the model id is ``<table>-<model>-v<version>-<config
hash>`` (:func:`model_id`), so the same config on the same table version lands in the same folder.
``synthesize``, ``filter``, ``fuse``, ``recommend``, ``evaluate`` and ``report`` find that folder
again with :func:`resolve_model` and name their run with :func:`resolve_run_id`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pyspark.sql import SparkSession

from synth.config.job import JobConfig
from synth.config.train import TrainStageConfig
from synth.errors import InputError
from synth.io import files
from synth.io.delta import Lakehouse, table_exists, table_version

ARTIFACT = "artifact.json"


def model_id(cfg: TrainStageConfig, version: int) -> str:
    """``<table>-<model>-v<version>-<hash of the config without resume>``.

    The sequence model's settings are left out too: they do not change the profile model (the
    sequence model has its own id, :func:`synth.train.sequences.sequence_model_id`).
    """
    payload = json.dumps(
        cfg.model_dump(mode="json", exclude={"resume", "sequence"}), sort_keys=True
    )
    return f"{cfg.table}-{cfg.model}-v{version}-{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class ModelRef:
    """A trained model folder and what its ``artifact.json`` says about it."""

    model_dir: str
    model_id: str
    table: str
    table_path: str
    delta_version: int
    holdout_fraction: float
    holdout_seed: int


def resolve_model(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> ModelRef:
    """The model to sample: ``synthesize.model_dir``, or the one the ``train`` config produces."""
    if cfg.synthesize.model_dir:
        folder = cfg.synthesize.model_dir
    else:
        path = lakehouse.gold_table(cfg.train.table)
        if not table_exists(spark, path):
            raise InputError(f"gold table {path} does not exist: run the `features` stage first")
        ident = model_id(cfg.train, table_version(spark, path))
        folder = files.join(lakehouse.model_dir(cfg.train.table, ident), "model")
    artifact = files.join(folder, ARTIFACT)
    if not files.is_file(artifact):
        raise InputError(
            f"no trained model at {folder} ({ARTIFACT} missing): run the `train` stage with this "
            "config first, or set synthesize.model_dir to a model folder"
        )
    data = files.read_json(artifact)
    config = data.get("config", {})
    return ModelRef(
        model_dir=folder,
        model_id=str(data["model_id"]),
        table=str(data["table"]),
        table_path=str(data["table_path"]),
        delta_version=int(data["delta_version"]),
        holdout_fraction=float(config.get("holdout_fraction", 0.0)),
        holdout_seed=int(config.get("holdout_seed", 0)),
    )


def resolve_run_id(cfg: JobConfig, ref: ModelRef) -> str:
    """``synthesize.run_id``, or ``<model id>-s<seed>``."""
    return cfg.synthesize.run_id or f"{ref.model_id}-s{cfg.synthesize.seed}"[-64:]
