"""Configuration of cleaning bronze events into silver."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from synth.config.base import StrictModel


class DedupConfig(StrictModel):
    """Duplicate removal. Exact duplicates: every raw event field equal.

    Near duplicates: same user, product and event type within ``near_duplicate_window_s`` seconds
    of that user's previous such event (0 disables near-duplicate removal).
    """

    near_duplicate_window_s: float = Field(default=1.0, ge=0, le=3600)


class BotConfig(StrictModel):
    """Bot-like users: every event of a user above either rate threshold is quarantined."""

    enabled: bool = True
    max_events_per_minute: int = Field(default=60, ge=1, description="in any rolling 60 s")
    max_events_per_day: int = Field(default=2000, ge=1, description="in any rolling 24 h")


class PriceConfig(StrictModel):
    """Valid prices lie in (``min_price``, ``max_price``]; others are quarantined."""

    min_price: float = Field(default=0.0, ge=0)
    max_price: float = Field(default=1_000_000.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> PriceConfig:
        if self.max_price <= self.min_price:
            raise ValueError(
                f"max_price ({self.max_price}) must be greater than min_price ({self.min_price})"
            )
        return self


class TimestampWindow(StrictModel):
    """Event times that can be real; outside the window an event is ``bad_timestamp``.

    An event before ``earliest`` (e-commerce logs start in the 1990s), or more than
    ``max_future_hours`` after the moment its file was ingested, is implausible: one event dated
    9999-12-31 would otherwise set every user's recency to millions of days. The bound is relative
    to each row's recorded ingest time, so a rerun on the same bronze gives the same silver.
    """

    earliest: date = date(1990, 1, 1)
    max_future_hours: float = Field(default=24.0, ge=0, le=24 * 366)


class SessionConfig(StrictModel):
    """Rebuilding sessions for events whose session id is missing."""

    gap_minutes: float = Field(default=30.0, gt=0, le=24 * 60)


class SplitConfig(StrictModel):
    """Temporal split per user: each user's events in time order are cut by these fractions.

    Users with fewer than ``min_events_for_holdout`` events keep all of them in ``train``.
    """

    train: float = Field(default=0.8, gt=0, le=1)
    validation: float = Field(default=0.1, ge=0, lt=1)
    test: float = Field(default=0.1, ge=0, lt=1)
    min_events_for_holdout: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(
                f"train + validation + test must be 1.0, got {total:g} "
                f"({self.train:g} + {self.validation:g} + {self.test:g})"
            )
        return self


class CleanConfig(StrictModel):
    """All cleaning settings.

    Attributes:
        require_price: Quarantine events without a usable price (``missing_price``). Off by
            default: a log without prices, or a product never priced, keeps its events with a
            null price and the reason in silver's ``price_missing``.
        min_kept_share: A run that would keep less than this share of bronze in silver stops
            before writing anything, naming the top reasons, an example raw row of each and the
            config key that changes the outcome (0 disables the check; an empty silver is
            always refused).
        timestamps: The window of plausible event times (:class:`TimestampWindow`).
    """

    require_price: bool = False
    min_kept_share: float = Field(default=0.5, ge=0, le=1)
    dedup: DedupConfig = DedupConfig()
    bots: BotConfig = BotConfig()
    prices: PriceConfig = PriceConfig()
    sessions: SessionConfig = SessionConfig()
    split: SplitConfig = SplitConfig()
    timestamps: TimestampWindow = TimestampWindow()
