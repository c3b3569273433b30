"""The train stage's config: defaults, backends, and errors that name the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.config.job import load_job_config
from synth.config.train import TrainStageConfig
from synth.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text("source: {kind: simulator}\n" + text)
    return path


def test_defaults_train_a_vae_on_user_profiles_locally():
    cfg = TrainStageConfig()
    assert (cfg.table, cfg.model, cfg.backend) == ("user_profiles", "vae", "local")
    assert cfg.train.patience == 0 and cfg.vae.kl_weight == 0.5


def test_backend_and_hyperparameters_from_yaml(tmp_path):
    path = _write(
        tmp_path,
        "train: {model: gan, backend: horovod, num_processes: 4, "
        "gan: {pac: 5}, train: {epochs: 3, batch_size: 100}}\n",
    )
    cfg = load_job_config(path).train
    assert (cfg.model, cfg.backend, cfg.num_processes, cfg.gan.pac) == ("gan", "horovod", 4, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "train: {backend: mpi}\n",
            r"train.backend: Input should be 'local', 'horovod' or "
            r"'torch_distributor'",
        ),
        ("train: {modle: vae}\n", r"train.modle: unknown key"),
        ("train: {vae: {latent: 0}}\n", r"train.vae.latent: Input should be greater than or"),
        ("train: {model: gan, train: {batch_size: 105}}\n", r"must be a multiple of"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_job_config(_write(tmp_path, text))
