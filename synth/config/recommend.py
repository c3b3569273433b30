"""Configuration of the ``recommend`` stage: recommenders trained per data variant.

Kept free of torch and Spark imports, so a job config validates anywhere.

Example::

    recommend:
      seeds: [0, 1, 2, 3, 4]
      k: [10, 20]
      models:
        als: {rank: 32, reg_params: [0.05, 0.2]}
        item_knn: {neighbours: [50, 200]}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from synth.config.base import StrictModel
from synth.errors import ConfigError

Variant = Literal["real", "fused", "synthetic"]
VARIANTS: tuple[Variant, ...] = ("real", "fused", "synthetic")


def _distinct(values: tuple[object, ...], where: str) -> None:
    if len(set(values)) != len(values):
        raise ConfigError(f"{where}: repeated values {values}")


def _grid(values: tuple[float, ...], where: str, *, least: float, inclusive: bool) -> None:
    """A tuned grid: every value above ``least`` (or at it, when ``inclusive``), no repeats."""
    if any(v < least or (v == least and not inclusive) for v in values):
        rule = f">= {least:g}" if inclusive else f"> {least:g}"
        raise ConfigError(f"{where} must be {rule}, got {values}")
    _distinct(values, where)


class PopularityConfig(StrictModel):
    """Most popular items of the training data (by interaction strength), the same for all."""

    enabled: bool = True


class AlsConfig(StrictModel):
    """Spark MLlib ALS for implicit feedback (confidence ``1 + alpha * strength``).

    Attributes:
        enabled: Train it.
        rank: Latent factors.
        max_iter: ALS sweeps.
        reg_params: Regularisation values tried; the best on the validation split is used.
        alpha: Confidence scale of implicit feedback.
    """

    enabled: bool = True
    rank: int = Field(default=16, ge=1, le=512)
    max_iter: int = Field(default=8, ge=1, le=100)
    reg_params: tuple[float, ...] = Field(default=(0.05, 0.5), min_length=1)
    alpha: float = Field(default=10.0, gt=0.0)

    @field_validator("reg_params")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        _grid(value, "recommend.models.als.reg_params", least=0.0, inclusive=False)
        return value


class ItemKnnConfig(StrictModel):
    """Item-based k nearest neighbours: cosine similarity of items' user vectors.

    Attributes:
        enabled: Train it.
        neighbours: Neighbours kept per item, tried in turn (best on validation used).
        shrink: Added to the cosine denominator (damps similarities from few co-occurrences).
    """

    enabled: bool = True
    neighbours: tuple[int, ...] = Field(default=(50, 200), min_length=1)
    shrink: float = Field(default=10.0, ge=0.0)

    @field_validator("neighbours")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        _grid(value, "recommend.models.item_knn.neighbours", least=1, inclusive=True)
        return value


class EaseConfig(StrictModel):
    """EASE: closed-form item-item weights ``B = -P / diag(P)``, ``P = (X'X + l2 I)^-1``.

    Attributes:
        enabled: Train it.
        l2: Regularisation values tried (best on validation used).
        max_items: Items in the dense inverse (``max_items^3`` work, ``max_items^2`` memory):
            a larger catalog keeps its ``max_items`` items with the most training users, and
            its other items are scored by item-kNN cosine similarity.
        neighbours: Item-kNN neighbours per item for the items beyond ``max_items``.
        shrink: Item-kNN shrink for those items.
    """

    enabled: bool = True
    l2: tuple[float, ...] = Field(default=(50.0, 500.0), min_length=1)
    max_items: int = Field(default=2_000, ge=1, le=20_000)
    neighbours: int = Field(default=100, ge=1)
    shrink: float = Field(default=10.0, ge=0.0)

    @field_validator("l2")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        _grid(value, "recommend.models.ease.l2", least=0.0, inclusive=False)
        return value


class SasRecConfig(StrictModel):
    """SASRec-style next-item model: a causal transformer over each user's items in time order.

    Trained like the generators (``train`` stage machinery: Petastorm cache, the configured
    ``train.backend``, checkpoints), once per grid value, variant and seed: the costliest
    model, so off by default (the REES46 example configs turn it on).

    Attributes:
        enabled: Train it.
        hidden: Embedding sizes tried (best on validation used); each a multiple of ``heads``.
        max_len: Items a user's sequence keeps (its last ones by time).
        heads: Attention heads.
        layers: Transformer blocks.
        dropout: Dropout of the embeddings and inside the blocks.
        epochs: Passes over the training sequences.
        batch_size: Sequences per optimizer step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
    """

    enabled: bool = False
    hidden: tuple[int, ...] = Field(default=(32, 64), min_length=1)
    max_len: int = Field(default=20, ge=2, le=512)
    heads: int = Field(default=1, ge=1, le=16)
    layers: int = Field(default=2, ge=1, le=8)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    epochs: int = Field(default=20, ge=1, le=1_000)
    batch_size: int = Field(default=256, ge=2, le=100_000)
    lr: float = Field(default=1e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0, le=1.0)

    @field_validator("hidden")
    @classmethod
    def _sizes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        _grid(value, "recommend.models.sasrec.hidden", least=1, inclusive=True)
        return value

    @model_validator(mode="after")
    def _heads_divide(self) -> SasRecConfig:
        odd = [h for h in self.hidden if h % self.heads]
        if odd:
            raise ConfigError(
                f"recommend.models.sasrec.hidden values {odd} are not multiples of heads "
                f"{self.heads}: pick sizes divisible by it"
            )
        return self


class ModelsConfig(StrictModel):
    """The item recommenders."""

    popularity: PopularityConfig = PopularityConfig()
    als: AlsConfig = AlsConfig()
    item_knn: ItemKnnConfig = ItemKnnConfig()
    ease: EaseConfig = EaseConfig()
    sasrec: SasRecConfig = SasRecConfig()


class RecommendConfig(StrictModel):
    """Stage ``recommend``: recommenders trained per data variant, scored on held-out real events.

    Attributes:
        enabled: Run the stage.
        variants: Training data: ``real`` (the train split), ``fused`` (plus the run's synthetic
            events: synthetic users and enrichment of sparse real users) and ``synthetic``
            (the run's synthetic users only; real users' train events are only the input the
            model scores them from).
        seeds: One training run per seed: the seed draws the subsample of training pairs
            (``subsample``, the same real pairs in every variant) and the model's own seed.
        subsample: Share of training (user, item) pairs each seed keeps.
        k: Cut-offs of Recall / NDCG / MAP@K (the first is the headline).
        cold_max_events: Users with at most this many real train events are cold / sparse.
        cold_share: Share of the real users with held-out events made sparse: their train
            history is cut to its last ``cold_max_events`` events (the older ones are dropped
            from every variant), and the fused variant adds their enrichment events, drawn as
            the ``fuse`` stage draws them for naturally sparse users. Needed because the
            per-user split leaves users with at most a few events no held-out events to score.
        head_share: The most popular items (this share of the catalog, by real train events)
            are the head; the rest is the long tail.
        max_eval_users: Evaluated users (a seeded sample of the real users with held-out
            events when there are more).
        alpha: Significance level of the paired test between real and fused.
        fit_threads: Models fitted at once on the driver (a variant's grids, then the other
            seeds' models, seed by seed; MLlib fits run as concurrent Spark jobs) while the
            fitted ones are scored.
            The results do not depend on it. On 2 local cores 2 threads gave no gain with
            the earlier model-by-model scoring (the fits and the scoring share the same
            cores); a cluster's driver may gain.
        models: The recommenders.
    """

    enabled: bool = True
    variants: tuple[Variant, ...] = Field(default=VARIANTS, min_length=1)
    seeds: tuple[int, ...] = Field(default=(0, 1, 2, 3, 4), min_length=2)
    subsample: float = Field(default=0.9, gt=0.0, le=1.0)
    k: tuple[int, ...] = Field(default=(10, 20), min_length=1)
    cold_max_events: int = Field(default=3, ge=1)
    cold_share: float = Field(default=0.3, ge=0.0, lt=1.0)
    head_share: float = Field(default=0.2, gt=0.0, lt=1.0)
    max_eval_users: int = Field(default=10_000, ge=10)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    fit_threads: int = Field(default=1, ge=1, le=64)
    models: ModelsConfig = ModelsConfig()

    @field_validator("variants", "seeds", "k")
    @classmethod
    def _no_repeats(cls, value: tuple[object, ...], info: ValidationInfo) -> tuple[object, ...]:
        _distinct(value, f"recommend.{info.field_name}")
        return value

    @field_validator("k")
    @classmethod
    def _k_positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(v < 1 for v in value):
            raise ConfigError(f"recommend.k values must be >= 1, got {value}")
        return value
