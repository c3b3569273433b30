"""Configuration of featurization: silver's train split -> gold profile and interaction tables."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from synth.config.base import StrictModel
from synth.schema import EVENT_TYPES


class ProfileConfig(StrictModel):
    """User and item profiles.

    Attributes:
        top_k_categories: Interest tags per user: the ids of their most frequent categories.
        top_k_brands: Brands per user: their most frequent known brands.
        new_days: A user first seen within this many days of the reference time is ``new``.
        active_days: Otherwise, a user last seen within this many days is ``active``, else
            ``lapsing``. The reference time is the last event time of the train split.
    """

    top_k_categories: int = Field(default=3, ge=1, le=50)
    top_k_brands: int = Field(default=3, ge=1, le=50)
    new_days: float = Field(default=7.0, gt=0, le=3650)
    active_days: float = Field(default=14.0, gt=0, le=3650)


DEFAULT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "cart": 3.0,
    "remove_from_cart": -1.0,
    "purchase": 5.0,
    "favorite": 2.0,
}
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class InteractionConfig(StrictModel):
    """User x item implicit-feedback strength.

    ``strength = max(0, sum over the pair's events of weight[event_type] * quantity * 0.5 **
    (age / half life))`` where ``age`` is the time from the event to the last event time of its
    split, in days.

    Attributes:
        weights: Weight per event type, negative allowed (a removal from the cart weakens the
            signal). Canonical types left out keep their defaults (:data:`DEFAULT_WEIGHTS`); any
            other key *declares an extra event type* of the job (e.g. ``share: 2.0``), which a
            source vocabulary may then map to and which gold counts in ``n_other``.
        half_life_days: Time decay half-life in days (events this old count half).
    """

    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    half_life_days: float = Field(default=14.0, gt=0, le=3650)

    @field_validator("weights")
    @classmethod
    def _complete(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k in value if not _TYPE_NAME.match(k))
        if bad:
            raise ValueError(
                f"event type names {bad}: lower-case letters, digits and '_' (start with a letter)"
            )
        return {**DEFAULT_WEIGHTS, **value}

    def extra_types(self) -> tuple[str, ...]:
        """The declared extra event types (sorted)."""
        return tuple(sorted(set(self.weights) - set(EVENT_TYPES)))

    def event_types(self) -> tuple[str, ...]:
        """Every event type of the job: the canonical ones, then the extra ones."""
        return (*EVENT_TYPES, *self.extra_types())


class EmbeddingConfig(StrictModel):
    """Item text embeddings (all-MiniLM-L6-v2, 384 dimensions, projected by PCA).

    Attributes:
        enabled: Compute embeddings (off: the column is null; needs no ``ml`` extra).
        dim: Output dimension after the PCA projection fitted in the job (at most 384).
        batch_size: Texts per model call inside the pandas UDF.
        max_length: Token limit per text (item texts are short).
        pca_sample: Most distinct texts the PCA is fitted on (a seeded sample).
        seed: Seed of that sample.
    """

    enabled: bool = True
    dim: int = Field(default=32, ge=1, le=384)
    batch_size: int = Field(default=256, ge=1, le=8192)
    max_length: int = Field(default=64, ge=8, le=512)
    pca_sample: int = Field(default=20_000, ge=2, le=1_000_000)
    seed: int = 42


class FeaturesConfig(StrictModel):
    """Everything featurization needs."""

    profiles: ProfileConfig = ProfileConfig()
    interactions: InteractionConfig = InteractionConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
