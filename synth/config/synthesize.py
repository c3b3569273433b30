"""Configuration of synthesis at Spark scale, filtering and fusion (stages synthesize/filter/fuse).

Kept free of torch imports, so a job config validates on a machine (or driver) without it.

Example::

    synthesize:
      run_id: nightly-001
      rows: 100000
      conditions:
        - {where: {lifecycle: new}, rows: 5000}
      filters:
        realism: {threshold: 0.95}
        privacy: {quantile: 0.05}
      fusion:
        enrich: {max_events: 3, target_events: 6}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from synth.config.base import StrictModel
from synth.errors import ConfigError

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Condition(StrictModel):
    """One row of the condition table: ``rows`` synthetic rows whose columns equal ``where``.

    Attributes:
        where: Model column -> required value (e.g. ``{top_categories_first: 2053013555631882655}``
            or ``{lifecycle: new}``). Met by the GAN's conditional column when it is that
            column, otherwise by rejection sampling.
        rows: How many rows to generate for this condition.
    """

    where: dict[str, str | int | float | bool] = Field(min_length=1)
    rows: int = Field(ge=1, le=10_000_000_000)


class ValidityFilter(StrictModel):
    """Constraints derived from the real training rows.

    Attributes:
        enabled: Apply the filter.
        ranges: Numeric and timestamp values within the real [min, max].
        vocabularies: Categorical values (and ranked-list heads) seen in the real rows; the
            vocabulary of a column with more than ``max_vocabulary`` distinct values is not
            checked (reported as skipped).
        orders: Pairs of count or timestamp columns ordered in every real row (``a <= b``, e.g.
            ``n_purchase <= n_events``, ``first_seen <= last_seen``) stay ordered.
        required: Columns never null in the real rows must not be null.
        max_vocabulary: Largest vocabulary checked.
    """

    enabled: bool = True
    ranges: bool = True
    vocabularies: bool = True
    orders: bool = True
    required: bool = True
    max_vocabulary: int = Field(default=100_000, ge=1)


class RealismFilter(StrictModel):
    """A detector (logistic regression on the model's encoding) trained real vs synthetic.

    Attributes:
        enabled: Apply the filter.
        threshold: Rows the detector calls synthetic with a probability above this are dropped.
        sample_rows: Rows of each class the detector is trained on (seeded samples).
        quality_rows: Rows compared with the real sample for quality before / after.
    """

    enabled: bool = True
    threshold: float = Field(default=0.95, gt=0.5, le=1.0)
    sample_rows: int = Field(default=20_000, ge=100)
    quality_rows: int = Field(default=5_000, ge=100)


class PrivacyFilter(StrictModel):
    """Exact copies and rows too close to a training row.

    Distances are Euclidean on the model's encoding standardised by the real rows. The
    threshold is the ``quantile`` of the real holdout rows' distances to the same training
    reference (holdout users were never seen by the model), so a kept synthetic row is no
    closer to the training rows than ``1 - quantile`` of fresh real rows are.

    Attributes:
        enabled: Apply the filter.
        exact: Drop rows equal to a real row in every model column (checked against all rows).
        quantile: Holdout distance quantile used as the threshold (0 disables the distance part).
        reference_rows: Training rows in the distance reference (seeded sample).
        holdout_rows: Holdout rows the threshold is computed from.
    """

    enabled: bool = True
    exact: bool = True
    quantile: float = Field(default=0.05, ge=0.0, lt=0.5)
    reference_rows: int = Field(default=5_000, ge=10)
    holdout_rows: int = Field(default=2_000, ge=10)


class SequenceCopies(StrictModel):
    """Refusing synthetic users whose events replay a training user's run of items.

    See :mod:`synth.generate.copies`: the run length is the smallest n (2..``longest``) whose
    share of holdout users holding a training n-gram is at most ``max_holdout_share``.

    Attributes:
        enabled: Apply the check (to synthetic users' events, in the ``fuse`` stage).
        max_holdout_share: The natural share of fresh real users allowed to match at the chosen
            length (the rate at which the check would refuse a user who copies nothing).
        longest: The longest run length tried.
    """

    enabled: bool = True
    max_holdout_share: float = Field(default=0.01, gt=0.0, lt=1.0)
    longest: int = Field(default=10, ge=2, le=100)


class FilterConfig(StrictModel):
    """The profile filters, applied in order (validity, realism, privacy), and the events' check.

    ``sequences`` (copied runs of items) applies to synthetic users' events, in ``fuse``.
    """

    validity: ValidityFilter = ValidityFilter()
    realism: RealismFilter = RealismFilter()
    privacy: PrivacyFilter = PrivacyFilter()
    sequences: SequenceCopies = SequenceCopies()


class BehaviourSynthesisConfig(StrictModel):
    """How synthetic behaviour events are drawn.

    Attributes:
        model: ``rules`` (:mod:`synth.generate.behaviour`: category shares -> popular items, the
            funnel, uniform session times; the baseline) or ``learned`` (the event sequence
            model the ``train`` stage trains on gold ``user_sequences``,
            :mod:`synth.generate.learned`).
        brand_affinity: Probability an event's item is of the user's top brand (when that
            brand has items in the drawn category).
        price_candidates: Items drawn per event; the one whose price relative to its category
            is closest to the user's price sensitivity wins (1: no price sensitivity).
        mean_gap_s: Mean seconds between events of a session.
    """

    model: Literal["rules", "learned"] = "rules"
    brand_affinity: float = Field(default=0.5, ge=0.0, le=1.0)
    price_candidates: int = Field(default=4, ge=1, le=64)
    mean_gap_s: float = Field(default=90.0, gt=0.0, le=86_400.0)


class EnrichConfig(StrictModel):
    """Densifying sparse real users with synthetic behaviour.

    A real user with at most ``max_events`` train events gets ``target_events - n_events``
    synthetic events drawn from their own profile (categories, brand, price sensitivity,
    hours); event types follow the population's funnel (the real share of each event type).
    Their fused profile is recomputed from real + synthetic events and flagged ``enriched``.

    Attributes:
        enabled: Enrich sparse users.
        max_events: Users with at most this many train events are sparse.
        target_events: Events a sparse user has after enrichment.
    """

    enabled: bool = True
    max_events: int = Field(default=3, ge=1)
    target_events: int = Field(default=6, ge=2)

    @model_validator(mode="after")
    def _check(self) -> EnrichConfig:
        if self.target_events <= self.max_events:
            raise ConfigError(
                f"synthesize.fusion.enrich.target_events={self.target_events} must exceed "
                f"max_events={self.max_events} (a sparse user must gain events)"
            )
        return self


class FusionConfig(StrictModel):
    """Fused profile tables: real + synthetic rows with provenance and weights.

    Attributes:
        synthetic_weight: ``weight`` of synthetic rows (real rows weigh 1).
        enrich: Densifying sparse real users.
        behaviour: Drawing the events.
    """

    synthetic_weight: float = Field(default=1.0, gt=0.0, le=1.0)
    enrich: EnrichConfig = EnrichConfig()
    behaviour: BehaviourSynthesisConfig = BehaviourSynthesisConfig()


class SynthesizeConfig(StrictModel):
    """Stages ``synthesize``, ``filter`` and ``fuse``.

    Attributes:
        run_id: Names the run (letters, digits, ``_.-``): output rows carry it, and re-running
            the same id replaces that run's rows (same seed and settings: the same rows).
            Default: ``<model id>-s<seed>``.
        model_dir: The model folder to sample from. Default: the model the ``train`` stage
            configuration produces on the table's current version.
        rows: Unconditional synthetic rows.
        conditions: The condition table, inline: extra rows per condition.
        conditions_table: The condition table as a Delta table (path): a ``rows`` column and one
            column per model column to condition on (null: not constrained in that row); read
            in sorted order, after the inline conditions. E.g. the top categories and
            lifecycles of sparse real users, with how many profiles to make for each.
        seed: Root seed of the sampling (each block's seed derives from it and the block).
        block_rows: Rows per sampling block (the unit of determinism: the output is the same for
            any number of partitions or executors).
        partitions: Spark partitions of the sampling job (default: the default parallelism).
        torch_threads: Torch threads per Python worker (1: one per task slot).
        filters: Validity, realism and privacy filters.
        fusion: Fused tables and enrichment.
    """

    run_id: str | None = None
    model_dir: str | None = None
    rows: int = Field(default=50_000, ge=0, le=10_000_000_000)
    conditions: tuple[Condition, ...] = ()
    conditions_table: str | None = None
    seed: int = Field(default=0, ge=0)
    block_rows: int = Field(default=10_000, ge=100, le=1_000_000)
    partitions: int | None = Field(default=None, ge=1, le=100_000)
    torch_threads: int = Field(default=1, ge=1, le=256)
    filters: FilterConfig = FilterConfig()
    fusion: FusionConfig = FusionConfig()

    @field_validator("run_id")
    @classmethod
    def _valid_run_id(cls, value: str | None) -> str | None:
        if value is not None and not _RUN_ID.match(value):
            raise ConfigError(
                f"synthesize.run_id={value!r}: use 1-64 letters, digits, '_', '.', '-' "
                "(starting with a letter or digit)"
            )
        return value

    @model_validator(mode="after")
    def _some_rows(self) -> SynthesizeConfig:
        if self.rows == 0 and not self.conditions and not self.conditions_table:
            raise ConfigError("synthesize.rows is 0 and there are no conditions: nothing to make")
        return self
