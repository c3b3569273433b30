"""Configuration of generator training: the model, its hyperparameters and the training backend.

Kept free of torch imports, so a job config validates on a machine (or driver) without it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from synth.config.base import StrictModel
from synth.errors import ConfigError


class TrainConfig(StrictModel):
    """Training settings shared by the generators.

    Attributes:
        epochs: Most passes over the training rows.
        batch_size: Rows per step (per process when training is distributed).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        seed: Seeds the weight init, the batch order and the validation split.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        validation_fraction: Rows held out for the validation score (0 disables it).
        validate_every: Epochs between validation scores.
        patience: Validation checks without improvement before stopping (0: never stop early).
    """

    epochs: int = Field(default=300, ge=1, le=100_000)
    batch_size: int = Field(default=500, ge=2, le=1_000_000)
    lr: float = Field(default=1e-3, gt=0, le=1)
    weight_decay: float = Field(default=1e-5, ge=0, le=1)
    seed: int = 0
    device: str = "cpu"
    validation_fraction: float = Field(default=0.1, ge=0, lt=0.9)
    validate_every: int = Field(default=5, ge=1)
    patience: int = Field(default=10, ge=0)


class VAEParams(StrictModel):
    """Hyperparameters of :class:`synth.models.vae.VAE` (see there)."""

    latent: int = Field(default=64, ge=1, le=4096)
    hidden: tuple[int, ...] = (256, 256)
    kl_weight: float = Field(default=0.5, ge=0)


class GANParams(StrictModel):
    """Hyperparameters of :class:`synth.models.gan.GAN` (see there)."""

    condition_column: str | None = None
    noise_dim: int = Field(default=128, ge=1, le=4096)
    generator_hidden: tuple[int, ...] = (256, 256)
    critic_hidden: tuple[int, ...] = (256, 256)
    pac: int = Field(default=10, ge=1, le=100)
    gp_weight: float = Field(default=10.0, ge=0)
    tau: float = Field(default=0.2, gt=0)


class SequenceParams(StrictModel):
    """Hyperparameters of :class:`synth.models.sequence.EventSequenceModel` (see there).

    Attributes:
        max_len: Events per user trained on (the first ones; longer users are cut and counted).
        hidden: GRU width.
        item_dim: Item embedding width.
        layers: GRU layers.
        negatives: Items sampled per position in the item loss (within the target's category).
        candidates: Items scored per generated event (importance resampling).
        dropout: Dropout between GRU layers.
    """

    max_len: int = Field(default=64, ge=2, le=4096)
    hidden: int = Field(default=128, ge=4, le=4096)
    item_dim: int = Field(default=32, ge=2, le=1024)
    layers: int = Field(default=1, ge=1, le=8)
    negatives: int = Field(default=64, ge=1, le=4096)
    candidates: int = Field(default=64, ge=1, le=4096)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class SequenceTrainConfig(StrictModel):
    """Training the event sequence model.

    The ``train`` stage trains it when ``synthesize.fusion.behaviour.model`` is ``learned``,
    with the stage's backend, processes and holdout users.

    Attributes:
        train: Epochs, batch size (users), learning rate, seed, device; early stopping with
            ``validation_fraction`` > 0 (that share of the training users scored after every
            ``validate_every`` epochs; stop after ``patience`` scores without a better one; the
            best epoch is the model).
        params: The model's hyperparameters.
        holdout_rows: Holdout users' sequences the trained model's losses are measured on.
    """

    train: TrainConfig = TrainConfig(
        epochs=8, batch_size=256, lr=2e-3, patience=0, validation_fraction=0.0
    )
    params: SequenceParams = SequenceParams()
    holdout_rows: int = Field(default=2_000, ge=10)


Backend = Literal["local", "horovod", "torch_distributor"]


class TrainStageConfig(StrictModel):
    """The ``train`` stage: which gold table, which model, how, on which backend.

    Attributes:
        table: The gold table learned (``user_profiles`` or ``item_profiles``).
        model: ``vae`` or ``gan``.
        train: Epochs, batch size, learning rate, seed, device (:class:`TrainConfig`).
        vae: VAE hyperparameters (used when ``model`` is ``vae``).
        gan: GAN hyperparameters (used when ``model`` is ``gan``).
        backend: ``local`` (one process), ``horovod`` (``horovod.spark.run``) or
            ``torch_distributor`` (PySpark's TorchDistributor).
        num_processes: Training processes for the distributed backends.
        local_mode: TorchDistributor only: run the processes on the driver instead of as Spark
            barrier tasks on the executors.
        use_gpu: Give each process a GPU (``cuda:<local rank>``, NCCL collectives); otherwise
            processes run on CPU with Gloo and ``train.device`` applies to ``local`` only.
        encoder_sample_rows: Rows the data encoding is fitted on (a seeded sample, on the driver).
        max_categories: One-hot width cap of categorical and share columns.
        cache_rows_per_file: Rows per Parquet file of the encoded training cache (Petastorm
            shards by row group, so a table needs at least ``num_processes`` files).
        sample_rows: Rows sampled after training to score the model (quality, detection).
        resume: Continue from the last checkpoint of the same run instead of starting over.
        holdout_fraction: Share of the table's rows (by a seeded hash of the id) never trained
            on: the privacy filter and evaluation compare synthetic rows with them.
        holdout_seed: Seed of that hash.
        sequence: Training the event sequence model (learned behaviour).
    """

    table: Literal["user_profiles", "item_profiles"] = "user_profiles"
    model: Literal["vae", "gan"] = "vae"
    train: TrainConfig = TrainConfig(epochs=50, patience=0, validation_fraction=0.0)
    vae: VAEParams = VAEParams()
    gan: GANParams = GANParams()
    backend: Backend = "local"
    num_processes: int = Field(default=2, ge=1, le=4096)
    local_mode: bool = False
    use_gpu: bool = False
    encoder_sample_rows: int = Field(default=100_000, ge=100)
    max_categories: int = Field(default=50, ge=1, le=10_000)
    cache_rows_per_file: int = Field(default=50_000, ge=100)
    sample_rows: int = Field(default=20_000, ge=100)
    resume: bool = False
    holdout_fraction: float = Field(default=0.1, ge=0.0, le=0.5)
    holdout_seed: int = Field(default=7, ge=0)
    sequence: SequenceTrainConfig = SequenceTrainConfig()

    @model_validator(mode="after")
    def _check(self) -> TrainStageConfig:
        if self.model == "gan" and self.train.batch_size % self.gan.pac:
            raise ConfigError(
                f"train.train.batch_size={self.train.batch_size} must be a multiple of "
                f"train.gan.pac={self.gan.pac} (the critic judges pac rows together)"
            )
        return self
