"""Configuration of the seeded e-commerce event simulator (``synth.simulate``).

Three strict, frozen models:

- :class:`DirtConfig`: the rates at which realistic dirt is injected (all in [0, 1]).
- :class:`SimulatedBehaviourConfig`: the knobs of the behaviour model (popularity skew, session
  shape, funnel rates). Its defaults are calibrated against the real REES46 multi-category sample
  (``bench/calibrate_simulator.py``); change them only with a new calibration run.
- :class:`SimulatorConfig`: seed, volume, period, catalog size, parallelism, and the two above.

Every validation message names the field (``Model.field=value``) and the allowed range.
"""

from __future__ import annotations

import math
from datetime import date

from pydantic import Field, ValidationInfo, field_validator, model_validator

from synth.config.base import StrictModel

# User ids are drawn from a permutation of 10**8 slots (``synth.simulate.users``), and a user
# averages about seven events, so this keeps every user id unique with a wide margin.
MAX_EVENTS = 500_000_000
MAX_DAYS = 3660
MIN_ITEMS = 50
MAX_ITEMS = 50_000_000


def _check_rate(model: str, field: str, value: float) -> float:
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"{model}.{field}={value!r} is out of range: allowed [0, 1]")
    return value


class DirtConfig(StrictModel):
    """Rates of the realistic dirt the simulator injects (each in [0, 1]).

    Row-level rates are the share of clean events that receive the defect; decisions are
    independent per kind and per event, keyed by the event's identity (so they do not depend on
    partitioning either).

    Attributes:
        exact_duplicate_rate: Share of events followed by a byte-identical copy.
        near_duplicate_rate: Share of events followed by a copy 1-2 seconds later (same user,
            session, product, type; e.g. a double click or a client retry).
        missing_brand_rate: Share of events whose (known) brand is blanked, on top of the
            catalog's natural share of unbranded items.
        missing_category_code_rate: Share of events whose (known) category_code is blanked, on
            top of the catalog's natural share of uncoded categories.
        missing_session_rate: Share of events with an empty ``user_session`` (cleaning must
            rebuild sessions from the user's event times).
        bot_user_rate: Share of users that are bots: hundreds of views at about two events a
            second, uniformly over the catalog and the clock.
        bad_price_rate: Share of events whose price is zero or negative (half each).
        bad_timestamp_rate: Share of events whose ``event_time`` cannot be parsed.
        wrong_field_count_rate: Share of events written as a CSV line with too few or too many
            comma-separated fields (truncated line, stray comma, trailing field).
    """

    exact_duplicate_rate: float = 0.004
    near_duplicate_rate: float = 0.004
    missing_brand_rate: float = 0.003
    missing_category_code_rate: float = 0.003
    missing_session_rate: float = 0.001
    bot_user_rate: float = 0.0005
    bad_price_rate: float = 0.002
    bad_timestamp_rate: float = 0.001
    wrong_field_count_rate: float = 0.001

    @field_validator("*")
    @classmethod
    def _rate_in_unit_interval(cls, value: float, info: ValidationInfo) -> float:
        return _check_rate(cls.__name__, str(info.field_name), value)

    @model_validator(mode="after")
    def _row_rates_leave_clean_rows(self) -> DirtConfig:
        total = self.row_rate_total
        if total > 1.0:
            raise ValueError(
                f"DirtConfig: the row-level rates add up to {total:.3f}; allowed at most 1 "
                "(lower some of them: most rows must stay clean for the data to be useful)"
            )
        return self

    @property
    def row_rate_total(self) -> float:
        """Return the sum of the row-level rates (every rate but ``bot_user_rate``)."""
        return sum(v for k, v in self.rates().items() if k != "bot_user_rate")

    def rates(self) -> dict[str, float]:
        """Return every rate by field name."""
        return {name: float(getattr(self, name)) for name in type(self).model_fields}

    @classmethod
    def none(cls) -> DirtConfig:
        """Return a config that injects no dirt at all (clean output)."""
        return cls(**{name: 0.0 for name in cls.model_fields})


class SimulatedBehaviourConfig(StrictModel):
    """Knobs of the behaviour model; the defaults are calibrated (see the module docstring).

    Attributes:
        zipf_exponent: Exponent of the (bounded, continuous) Zipf-Mandelbrot law of item
            popularity within a category. Larger means more concentrated on the top items.
        zipf_offset: Mandelbrot offset of that law: flattens the head, so the top few products of
            a category have similar shares (0 is plain Zipf).
        price_sensitivity: Chance that a user picks, of two candidate products, the one nearer
            their preferred price level (else the first candidate).
        sessions_per_user_median: Median of the log-normal number of sessions per user over the
            whole simulated period (rounded up, at least 1).
        sessions_per_user_sigma: Log-scale spread of sessions per user (heavy tail).
        max_sessions_per_user: Cap on sessions per user.
        return_rate: Chance that a later session of a user is a return visit within hours of the
            user's first session (otherwise it falls on an independent day and hour).
        session_steps_median: Median of the log-normal number of browsing steps per session (a
            step is one view, possibly followed by cart / purchase / remove_from_cart).
        session_steps_sigma: Log-scale spread of steps per session.
        max_session_steps: Cap on steps per session.
        gap_median_s: Median gap in seconds between consecutive steps of a session.
        gap_sigma: Log-scale spread of the gaps.
        max_gap_s: Cap on one gap, in seconds (a longer pause starts a new session).
        buy_session_rate: Share of sessions with purchase intent (before segment multipliers).
        cart_rate_browse: Chance that a step of a browsing session puts the item in the cart.
        cart_rate_buy: Same, in a session with purchase intent.
        purchase_after_cart: Chance that a cart event is followed by a purchase of the item.
        remove_after_cart: Chance that a cart event is followed by a remove_from_cart.
        direct_purchase_rate: Chance that a step of a purchase-intent session is a view followed
            by a purchase with no logged cart event (common in the real October data).
        revisit_rate: Chance that a step re-views an item seen earlier in the session.
        category_stickiness: Chance that a step stays in the session's main category.
        bot_events_min: Fewest events of one bot session.
        bot_events_max: Most events of one bot session.
    """

    zipf_exponent: float = Field(default=1.0, gt=0.0, le=4.0)
    zipf_offset: float = Field(default=4.0, ge=0.0, le=1_000.0)
    price_sensitivity: float = 0.35
    sessions_per_user_median: float = Field(default=1.6, ge=1.0, le=100.0)
    sessions_per_user_sigma: float = Field(default=0.8, ge=0.0, le=3.0)
    max_sessions_per_user: int = Field(default=200, ge=1, le=10_000)
    return_rate: float = 0.2
    session_steps_median: float = Field(default=2.0, ge=1.0, le=100.0)
    session_steps_sigma: float = Field(default=0.9, ge=0.0, le=3.0)
    max_session_steps: int = Field(default=120, ge=1, le=1_000)
    gap_median_s: float = Field(default=33.0, gt=0.0, le=3_600.0)
    gap_sigma: float = Field(default=1.1, ge=0.0, le=3.0)
    max_gap_s: float = Field(default=1_800.0, ge=1.0, le=86_400.0)
    buy_session_rate: float = 0.05
    cart_rate_browse: float = 0.004
    cart_rate_buy: float = 0.14
    purchase_after_cart: float = 0.45
    remove_after_cart: float = 0.25
    direct_purchase_rate: float = 0.2
    revisit_rate: float = 0.5
    category_stickiness: float = 0.85
    bot_events_min: int = Field(default=100, ge=1, le=100_000)
    bot_events_max: int = Field(default=300, ge=1, le=100_000)

    @field_validator(
        "price_sensitivity",
        "return_rate",
        "buy_session_rate",
        "cart_rate_browse",
        "cart_rate_buy",
        "purchase_after_cart",
        "remove_after_cart",
        "direct_purchase_rate",
        "revisit_rate",
        "category_stickiness",
    )
    @classmethod
    def _probability(cls, value: float, info: ValidationInfo) -> float:
        return _check_rate(cls.__name__, str(info.field_name), value)

    @model_validator(mode="after")
    def _consistent(self) -> SimulatedBehaviourConfig:
        after = self.purchase_after_cart + self.remove_after_cart
        if after > 1.0:
            raise ValueError(
                "SimulatedBehaviourConfig.purchase_after_cart + remove_after_cart = "
                f"{after:.3f}; allowed at most 1 (they are exclusive outcomes of one cart event)"
            )
        if self.bot_events_min > self.bot_events_max:
            raise ValueError(
                f"SimulatedBehaviourConfig.bot_events_min={self.bot_events_min} is above "
                f"bot_events_max={self.bot_events_max}; allowed: bot_events_min <= bot_events_max"
            )
        if self.gap_median_s > self.max_gap_s:
            raise ValueError(
                f"SimulatedBehaviourConfig.gap_median_s={self.gap_median_s} is above "
                f"max_gap_s={self.max_gap_s}; allowed: gap_median_s <= max_gap_s"
            )
        return self


class SimulatorConfig(StrictModel):
    """What to simulate: seed, volume, period, catalog size, parallelism, behaviour and dirt.

    Attributes:
        seed: Root seed; every random draw derives from it. Same seed, same rows.
        events: Approximate number of events (rows) to produce. The number of users is derived
            from the expected events per user, so the actual count lands within a few per cent
            (more spread for tiny volumes, where single heavy users matter).
        start: First simulated day (UTC).
        days: Number of simulated days, from 1 to 3660.
        items: Catalog size (products). ``None`` derives it from ``events``: about
            ``25 * sqrt(events)`` (Heaps-like growth; 42M events give ~160k products, as in the
            real October multi-category month).
        partitions: Physical parallelism of the generated DataFrame. It never changes the rows;
            ``None`` picks about one partition per 100k users.
        behaviour: The behaviour model's knobs (calibrated defaults).
        dirt: The dirt rates (small realistic defaults; :meth:`DirtConfig.none` for clean data).
    """

    seed: int = Field(default=42, ge=0, le=2**63 - 1)
    events: int = 1_000_000
    start: date = date(2019, 10, 1)
    days: int = 31
    items: int | None = None
    partitions: int | None = None
    behaviour: SimulatedBehaviourConfig = SimulatedBehaviourConfig()
    dirt: DirtConfig = DirtConfig()

    @model_validator(mode="after")
    def _ranges(self) -> SimulatorConfig:
        if not 1 <= self.events <= MAX_EVENTS:
            raise ValueError(
                f"SimulatorConfig.events={self.events} is out of range: allowed 1 to {MAX_EVENTS:,}"
            )
        if not 1 <= self.days <= MAX_DAYS:
            raise ValueError(
                f"SimulatorConfig.days={self.days} is out of range: allowed 1 to {MAX_DAYS}"
            )
        if self.items is not None and not MIN_ITEMS <= self.items <= MAX_ITEMS:
            raise ValueError(
                f"SimulatorConfig.items={self.items} is out of range: allowed {MIN_ITEMS} to "
                f"{MAX_ITEMS:,}, or null to derive it from events"
            )
        if self.partitions is not None and not 1 <= self.partitions <= 100_000:
            raise ValueError(
                f"SimulatorConfig.partitions={self.partitions} is out of range: allowed 1 to "
                "100000, or null to pick it from the volume"
            )
        return self

    @property
    def resolved_items(self) -> int:
        """Return the catalog size: ``items``, or the value derived from ``events``."""
        if self.items is not None:
            return self.items
        return max(MIN_ITEMS, min(MAX_ITEMS, round(25.0 * math.sqrt(self.events))))
