"""The train stage end to end on local Spark: Delta version, Petastorm cache, backends, resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from synth.config.features import EmbeddingConfig, FeaturesConfig
from synth.config.job import JobConfig, SimulatorSource
from synth.config.simulate import SimulatorConfig
from synth.config.train import TrainConfig, TrainStageConfig
from synth.features.pipeline import build_features
from synth.io.delta import Lakehouse, read_table, table_version
from synth.models.base import Synthesizer
from synth.refs import ARTIFACT
from synth.seeding import holdout_mask
from synth.train.data import CACHE_META, read_cache_info
from synth.train.loop import STOP_AFTER_ENV
from synth.train.stage import train

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[3]
FEATURES = FeaturesConfig(embedding=EmbeddingConfig(enabled=False))


def _stage(**changes: object) -> TrainStageConfig:
    base = {
        "train": TrainConfig(epochs=2, batch_size=100, seed=0, patience=0, validation_fraction=0.0),
        "vae": {"latent": 8, "hidden": (32,)},
        "gan": {"noise_dim": 8, "generator_hidden": (32,), "critic_hidden": (32,)},
        "encoder_sample_rows": 2_000,
        "cache_rows_per_file": 500,
        "sample_rows": 500,
    }
    return TrainStageConfig.model_validate({**base, **changes})


@pytest.fixture(scope="module")
def gold(gold_lakehouse, tmp_path_factory):  # noqa: ANN001, ANN201
    """A small simulated lakehouse with gold tables (tests/integration/conftest.py)."""
    root = tmp_path_factory.mktemp("train") / "lake"
    cfg = JobConfig(
        lakehouse=str(root),
        source=SimulatorSource(simulator=SimulatorConfig(seed=5, events=20_000, days=10)),
        features=FEATURES,
    )
    return gold_lakehouse(cfg)


def _weights(model_dir: str) -> dict[str, torch.Tensor]:
    model = Synthesizer.load(model_dir)
    return {f"{k}.{n}": t for k, m in model._modules().items() for n, t in m.state_dict().items()}


class TestLocal:
    def test_artifact_records_the_delta_version_and_the_run(self, spark, gold):
        lakehouse = Lakehouse(gold.lakehouse)
        path = lakehouse.gold_table("user_profiles")
        # Run
        report = train(spark, lakehouse, _stage())
        # Assert: artifact, model folder, cache keyed by version
        artifact = json.loads((Path(report.model_dir) / ARTIFACT).read_text())
        assert artifact["delta_version"] == table_version(spark, path) == report.delta_version
        assert artifact["table_path"] == path and artifact["backend"] == "local"
        assert artifact["world_size"] == 1 and artifact["seed"] == 0 and artifact["epochs"] == 2
        assert [e["epoch"] for e in artifact["history"]] == [1, 2]
        assert set(artifact["metrics"]) == {
            "quality",
            "column_shapes",
            "column_pair_trends",
            "detection_auc",
        }
        assert 0 < artifact["metrics"]["quality"] <= 1
        assert (Path(report.model_dir) / "encoder.json").is_file()
        # the holdout (a seeded hash of 10% of the ids) is never trained on
        rows = read_table(spark, path).count()
        cfg = _stage()
        holdout = holdout_mask("user_id", cfg.holdout_fraction, cfg.holdout_seed)
        trained = read_table(spark, path).where(~holdout).count()
        assert 0.8 * rows < trained < rows and artifact["config"]["holdout_fraction"] == 0.1
        cache = read_cache_info(report.cache["url"])
        assert cache is not None and cache.rows == trained
        assert cache.version == report.delta_version
        sample = Synthesizer.load(report.model_dir).sample(50, seed=1)
        assert len(sample) == 50 and "n_events" in sample

    def test_the_cache_is_reused_for_a_version_and_rebuilt_for_a_new_one(self, spark, gold):
        lakehouse = Lakehouse(gold.lakehouse)
        first = train(spark, lakehouse, _stage(model="gan"))
        meta = Path(first.cache["url"]) / CACHE_META
        stamp = meta.stat().st_mtime_ns
        again = train(spark, lakehouse, _stage(model="gan"))
        assert again.cache["url"] == first.cache["url"] and meta.stat().st_mtime_ns == stamp
        # Run: the gold table gets a new version
        build_features(spark, lakehouse, FEATURES, force=True)
        newer = train(spark, lakehouse, _stage(model="gan"))
        # Assert: a new version, a new cache and a new model id
        assert newer.delta_version == first.delta_version + 1
        assert newer.cache["url"] != first.cache["url"] and newer.model_id != first.model_id


class TestResume:
    def test_killed_after_epoch_1_then_resumed_ends_like_an_uninterrupted_run(
        self, spark, gold, tmp_path
    ):
        # Setup: an uninterrupted run of three epochs (here), its weights kept, its folder removed
        stage = _stage(
            train=TrainConfig(epochs=3, batch_size=100, seed=0, patience=0, validation_fraction=0.0)
        )
        lakehouse = Lakehouse(gold.lakehouse)
        uninterrupted = train(spark, lakehouse, stage)
        want = _weights(uninterrupted.model_dir)
        target = Path(uninterrupted.model_dir).parent
        shutil.rmtree(target)
        # Run: `synth train` in a process of its own, killed right after epoch 1's checkpoint;
        # then the stage resumed (here)
        path = tmp_path / "job.yaml"
        path.write_text(
            yaml.safe_dump(gold.model_copy(update={"train": stage}).model_dump(mode="json"))
        )
        killed = subprocess.run(
            [sys.executable, "-m", "synth", "train", "--config", str(path)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), STOP_AFTER_ENV: "1"},
            text=True,
            capture_output=True,
            timeout=900,
            check=False,
        )
        assert killed.returncode == 137, killed.stderr[-3000:]
        assert (target / "checkpoints" / "LATEST").read_text() == "1"
        resumed = train(spark, lakehouse, stage.model_copy(update={"resume": True}))
        # Assert: it continued after epoch 1, in the same folder, and ends with the same weights
        assert resumed.model_dir == uninterrupted.model_dir
        artifact = json.loads((target / "model" / ARTIFACT).read_text())
        assert artifact["resumed_after"] == 1
        assert [e["epoch"] for e in artifact["history"]] == [1, 2, 3]
        got = _weights(str(target / "model"))
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)


def _horovod() -> None:
    try:
        import horovod.torch  # noqa: F401
    except ImportError:
        pytest.skip(
            "Horovod is not installed: bin/bootstrap builds it when cmake and a C++ "
            "compiler are available (SYNTH_SKIP_HOROVOD unset)"
        )


class TestDistributed:
    def test_torch_distributor_two_processes(self, spark, gold):
        lakehouse = Lakehouse(gold.lakehouse)
        report = train(spark, lakehouse, _stage(backend="torch_distributor", num_processes=2))
        artifact = json.loads((Path(report.model_dir) / ARTIFACT).read_text())
        assert artifact["backend"] == "torch_distributor" and artifact["world_size"] == 2
        assert [e["epoch"] for e in artifact["history"]] == [1, 2]
        assert 0 < artifact["metrics"]["quality"] <= 1

    def test_horovod_two_processes(self, spark, gold):
        _horovod()
        lakehouse = Lakehouse(gold.lakehouse)
        report = train(spark, lakehouse, _stage(backend="horovod", num_processes=2, model="gan"))
        artifact = json.loads((Path(report.model_dir) / ARTIFACT).read_text())
        assert artifact["backend"] == "horovod" and artifact["world_size"] == 2
        assert [e["epoch"] for e in artifact["history"]] == [1, 2]
        assert 0 < artifact["metrics"]["quality"] <= 1


class TestHorovodBuild:
    def test_check_build_lists_pytorch_and_gloo(self):
        _horovod()
        out = subprocess.run(
            [str(Path(sys.executable).parent / "horovodrun"), "--check-build"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert "[X] PyTorch" in out.stdout and "[X] Gloo" in out.stdout


class TestBadInput:
    def test_without_gold_tables_is_a_clear_error(self, spark, lakehouse):
        from synth.errors import InputError

        with pytest.raises(
            InputError,
            match=r"gold table .*user_profiles does not exist: run "
            r"the `features` stage first",
        ):
            train(spark, lakehouse, _stage())

    def test_an_empty_table_is_a_clear_error(self, spark):
        from synth.errors import InvalidDataError
        from synth.schema import USER_PROFILE_SCHEMA
        from synth.train.data import fit_encoder

        empty = spark.createDataFrame([], USER_PROFILE_SCHEMA)
        with pytest.raises(InvalidDataError, match="the training table is empty"):
            fit_encoder(
                empty, USER_PROFILE_SCHEMA, rows=0, sample_rows=100, max_categories=5, seed=0
            )
