"""Configuration of the ``evaluate`` stage: fidelity, utility and privacy of a synthetic table.

Kept free of torch and Spark imports, so a job config validates anywhere. The recommender's
configuration is in :mod:`synth.config.recommend`.

Example::

    evaluate:
      privacy: {rows: 2000}
"""

from __future__ import annotations

from pydantic import Field

from synth.config.base import StrictModel


class PrivacyEvalConfig(StrictModel):
    """Privacy figures of the released (kept) synthetic rows.

    Attributes:
        rows: Rows drawn from each of: training rows, holdout rows, synthetic rows (seeded);
            the training and holdout samples have equal size (the smaller decides).
    """

    rows: int = Field(default=2_000, ge=50)


class UtilityEvalConfig(StrictModel):
    """Train-on-synthetic / test-on-real: does the synthetic table teach what the real one does?

    A logistic regression predicts whether a user (item) has purchased from the profile's other
    columns (purchase columns left out); trained on synthetic rows, then on real training rows,
    each scored on the real holdout rows (never seen by the generator).

    Attributes:
        rows: Training rows drawn from each side (seeded).
    """

    rows: int = Field(default=10_000, ge=100)


class FidelityEvalConfig(StrictModel):
    """Marginals and pair correlations for the report.

    Attributes:
        rows: Rows drawn from the real training rows and from the kept synthetic rows.
        max_columns: Most columns plotted (in the model's column order).
    """

    rows: int = Field(default=5_000, ge=100)
    max_columns: int = Field(default=12, ge=1, le=64)


class BehaviourEvalConfig(StrictModel):
    """Fidelity of the synthetic users' events (:mod:`synth.evaluate.behaviour`).

    Attributes:
        enabled: Measure it (when the run has synthetic users' events).
        users: Users drawn from each side (real train users, synthetic users, holdout users;
            seeded) for the item-neighbour overlap; accuracy and coherence use every event.
        min_users: Items with fewer users on either side are left out of the neighbour overlap.
        max_items: Most items in the neighbour overlap (the most popular real ones).
    """

    enabled: bool = True
    users: int = Field(default=5_000, ge=50)
    min_users: int = Field(default=5, ge=1)
    max_items: int = Field(default=2_000, ge=20, le=20_000)


class EvaluateConfig(StrictModel):
    """Stage ``evaluate``: fidelity, utility and privacy of the run's synthetic table.

    Attributes:
        seed: Seed of every sample drawn.
    """

    seed: int = Field(default=0, ge=0)
    fidelity: FidelityEvalConfig = FidelityEvalConfig()
    utility: UtilityEvalConfig = UtilityEvalConfig()
    privacy: PrivacyEvalConfig = PrivacyEvalConfig()
    behaviour: BehaviourEvalConfig = BehaviourEvalConfig()
