"""The sequence model through the train stage: gold user_sequences -> Petastorm cache -> every
backend, checkpoints and resume, holdout users never trained on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from synth.config.features import EmbeddingConfig, FeaturesConfig
from synth.config.job import JobConfig, SimulatorSource
from synth.config.simulate import SimulatorConfig
from synth.config.train import TrainConfig, TrainStageConfig
from synth.errors import InputError
from synth.io.delta import Lakehouse, read_table, table_version
from synth.models.base import TrainableModel
from synth.models.sequence import EventSequenceModel
from synth.refs import ARTIFACT
from synth.seeding import holdout_mask
from synth.train.data import read_cache_info
from synth.train.loop import STOP_AFTER_ENV
from synth.train.sequences import train_sequences

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[3]


def _stage(
    epochs: int = 2,
    *,
    patience: int = 0,
    validation: float = 0.0,
    lr: float = 1e-3,
    **changes: object,
) -> TrainStageConfig:
    base = {
        "encoder_sample_rows": 2_000,
        "cache_rows_per_file": 500,
        "sequence": {
            "train": TrainConfig(
                epochs=epochs,
                batch_size=64,
                seed=0,
                lr=lr,
                patience=patience,
                validation_fraction=validation,
                validate_every=1,
            ),
            "params": {"max_len": 16, "hidden": 32, "item_dim": 8, "negatives": 8},
            "holdout_rows": 200,
        },
    }
    return TrainStageConfig.model_validate({**base, **changes})


@pytest.fixture(scope="module")
def gold(gold_lakehouse, tmp_path_factory):  # noqa: ANN001, ANN201
    root = tmp_path_factory.mktemp("seq") / "lake"
    cfg = JobConfig(
        lakehouse=str(root),
        source=SimulatorSource(simulator=SimulatorConfig(seed=5, events=15_000, days=10)),
        features=FeaturesConfig(embedding=EmbeddingConfig(dim=8, pca_sample=500)),
    )
    return gold_lakehouse(cfg)  # simulate -> features (tests/integration/conftest.py)


def _weights(folder: str | Path) -> dict[str, torch.Tensor]:
    model = TrainableModel.load(folder)
    return {f"{k}.{n}": t for k, m in model._modules().items() for n, t in m.state_dict().items()}


def test_local_training_records_versions_and_leaves_the_holdout_out(spark, gold) -> None:  # noqa: ANN001
    lakehouse = Lakehouse(gold.lakehouse)
    report = train_sequences(spark, lakehouse, _stage())
    artifact = json.loads((Path(report.model_dir) / ARTIFACT).read_text())
    for table in ("user_sequences", "user_profiles", "item_profiles"):
        assert artifact["versions"][table] == table_version(spark, lakehouse.gold_table(table))
    assert artifact["backend"] == "local" and [e["epoch"] for e in artifact["history"]] == [1, 2]
    assert set(artifact["metrics"]) == {
        f"holdout_{k}_loss" for k in ("gap", "type", "category", "item")
    }
    sequences = read_table(spark, lakehouse.gold_table("user_sequences"))
    trained = sequences.where(~holdout_mask("user_id", 0.1, 7)).count()
    assert report.users == trained < sequences.count()
    cache = read_cache_info(artifact["cache"]["url"])
    assert cache is not None and cache.rows == trained
    model = TrainableModel.load(report.model_dir)
    assert isinstance(model, EventSequenceModel)
    items = read_table(spark, lakehouse.gold_table("item_profiles")).count()
    assert model.n_items == items == report.items
    # a second run reuses the cache and the model id
    again = train_sequences(spark, lakehouse, _stage())
    assert again.model_id == report.model_id


def test_torch_distributor_two_processes(spark, gold) -> None:  # noqa: ANN001
    lakehouse = Lakehouse(gold.lakehouse)
    report = train_sequences(spark, lakehouse, _stage(backend="torch_distributor", num_processes=2))
    assert report.backend == "torch_distributor" and report.world_size == 2
    assert report.epochs == 2 and report.metrics["holdout_item_loss"] > 0


def _stopped_early(report, epochs: int, patience: int) -> list[dict[str, object]]:  # noqa: ANN001
    history = json.loads((Path(report.model_dir) / ARTIFACT).read_text())["history"]
    scores = [e["validation_score"] for e in history]
    assert all(s is not None for s in scores)
    best = report.best_epoch
    assert best is not None and scores[best - 1] == min(scores)
    # it stopped `patience` scores after the best, before the last epoch
    assert report.epochs == len(history) == best + patience < epochs
    assert min(scores[best:]) > scores[best - 1]
    return history


def test_early_stopping_keeps_the_best_epoch(spark, gold) -> None:  # noqa: ANN001
    lakehouse = Lakehouse(gold.lakehouse)
    # a large learning rate on a small model over-fits within a few epochs
    cfg = _stage(epochs=15, patience=2, validation=0.2, lr=0.05)
    report = train_sequences(spark, lakehouse, cfg)
    _stopped_early(report, 15, 2)
    checkpoints = Path(report.model_dir).parent / "checkpoints"
    best = checkpoints / f"epoch-{report.best_epoch:05d}"
    assert best.is_dir()  # kept beside the last two
    got, want = _weights(report.model_dir), _weights(best)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)
    # the validation users are not trained on
    plain = train_sequences(spark, lakehouse, _stage())
    assert report.users < plain.users and report.model_id != plain.model_id
    # two processes stop together (the decision is rank 0's, shared) at the same epoch
    distributed = {"backend": "torch_distributor", "num_processes": 2}
    both = train_sequences(spark, lakehouse, cfg.model_copy(update=distributed))
    assert both.world_size == 2
    _stopped_early(both, 15, 2)


def test_horovod_two_processes(spark, gold) -> None:  # noqa: ANN001
    try:
        import horovod.torch  # noqa: F401
    except ImportError:
        pytest.skip("Horovod is not installed: bin/bootstrap builds it (SYNTH_SKIP_HOROVOD unset)")
    lakehouse = Lakehouse(gold.lakehouse)
    report = train_sequences(spark, lakehouse, _stage(backend="horovod", num_processes=2))
    assert report.backend == "horovod" and report.world_size == 2 and report.epochs == 2


_KILLED = """
import sys
from synth.config.train import TrainStageConfig
from synth.io.delta import Lakehouse
from synth.spark import build_session
from synth.train.sequences import train_sequences
spark = build_session("local", app_name="killed", overrides={"spark.master": "local[2]",
    "spark.sql.shuffle.partitions": "2"})
train_sequences(spark, Lakehouse(sys.argv[1]), TrainStageConfig.model_validate_json(sys.argv[2]))
"""


def test_killed_after_epoch_1_then_resumed_ends_like_an_uninterrupted_run(spark, gold) -> None:  # noqa: ANN001
    lakehouse = Lakehouse(gold.lakehouse)
    cfg = _stage(epochs=3)
    uninterrupted = train_sequences(spark, lakehouse, cfg)
    want = _weights(uninterrupted.model_dir)
    folder = Path(uninterrupted.model_dir).parent
    shutil.rmtree(folder)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, gold.lakehouse, cfg.model_dump_json()],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), STOP_AFTER_ENV: "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert (folder / "checkpoints" / "LATEST").read_text() == "1"
    resumed = train_sequences(spark, lakehouse, cfg.model_copy(update={"resume": True}))
    assert resumed.resumed_after == 1 and resumed.model_id == uninterrupted.model_id
    got = _weights(resumed.model_dir)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)


def test_without_gold_sequences_is_a_clear_error(spark, lakehouse) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match=r"user_sequences does not exist: run the `features`"):
        train_sequences(spark, lakehouse, _stage())


def test_users_without_events_are_skipped_and_counted(spark, gold) -> None:  # noqa: ANN001
    # the last test of the module: it writes a new version of gold user_sequences
    lakehouse = Lakehouse(gold.lakehouse)
    before = train_sequences(spark, lakehouse, _stage())
    path = lakehouse.gold_table("user_sequences")
    sequences = read_table(spark, path)
    emptied = [
        r.user_id
        for r in sequences.where(~holdout_mask("user_id", 0.1, 7))
        .orderBy("user_id")
        .limit(3)
        .collect()
    ]
    empty = "array()"
    DeltaTable.forPath(spark, path).update(
        condition=F.col("user_id").isin(emptied),
        set={
            "length": F.lit(0),
            "event_types": F.expr(f"cast({empty} as array<string>)"),
            "product_ids": F.expr(f"cast({empty} as array<bigint>)"),
            "gaps_s": F.expr(f"cast({empty} as array<bigint>)"),
            "new_session": F.expr(f"cast({empty} as array<boolean>)"),
        },
    )
    after = train_sequences(spark, lakehouse, _stage())
    assert after.model_id != before.model_id  # a new table version, a new model
    assert after.empty_users == 3 and after.users == before.users - 3
    assert all(v > 0 for v in after.metrics.values())
