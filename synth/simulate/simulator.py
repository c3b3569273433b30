"""The simulator's entry points: plan on the driver, then one lazy DataFrame.

:func:`plan_simulation` resolves a :class:`~synth.config.simulate.SimulatorConfig` into a
:class:`SimulationPlan` (catalog sizes, segment tables, the number of users that yields the
requested number of events, the partition count) without touching Spark.
:func:`simulate_events` turns the plan into a lazy DataFrame in the raw REES46 schema.

Contract: same config, same rows - whatever ``partitions``, executor count or task order - because
every draw hashes the root seed with the row's keys (``synth.seeding``). No Spark action is
triggered, nothing per user or per event is collected, and there is no shuffle.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synth.config.simulate import SimulatorConfig
from synth.schema import EVENT_COLUMNS, RAW_RECORD
from synth.seeding import derive_seed
from synth.simulate.catalog import CATEGORY_TREE, CatalogPlan, plan_catalog
from synth.simulate.dirt import apply_dirt
from synth.simulate.events import Clock, EventModel, generate_clean_events
from synth.simulate.tables import expected_discrete_loglogistic
from synth.simulate.users import SEGMENTS, USER_ID_SPACE, UserModel, plan_users

log = logging.getLogger(__name__)

USERS_PER_PARTITION = 100_000


@dataclass(frozen=True)
class SimulationPlan:
    """A configuration resolved on the driver.

    Attributes:
        config: The configuration.
        catalog: Category sizes and catalog lookup tables.
        users: The user model (segments, category tables, bot rate).
        events: The session / step / funnel model.
        n_users: Number of users to simulate (bots included).
        n_bots: Number of bots among them.
        partitions: Number of partitions of ``spark.range`` over the users.
        expected_events: Expected number of output rows (bots and duplicates included).
    """

    config: SimulatorConfig
    catalog: CatalogPlan
    users: UserModel
    events: EventModel
    n_users: int
    n_bots: int
    partitions: int
    expected_events: float


def expected_human_events_per_step(cfg: SimulatorConfig) -> float:
    """Return the expected number of events in one human browsing step (block length)."""
    b = cfg.behaviour
    total = sum(s.share for s in SEGMENTS)
    mean = 0.0
    for seg in SEGMENTS:
        buy = min(1.0, b.buy_session_rate * seg.buy_multiplier)
        p_cart = buy * b.cart_rate_buy + (1.0 - buy) * b.cart_rate_browse
        p_direct = buy * (1.0 - b.cart_rate_buy) * b.direct_purchase_rate
        length = 1.0 + p_cart * (1.0 + b.purchase_after_cart + b.remove_after_cart) + p_direct
        mean += seg.share / total * length
    return mean


def expected_human_events(cfg: SimulatorConfig) -> float:
    """Return the expected events of one human user (before duplicate copies)."""
    b = cfg.behaviour
    sessions = expected_discrete_loglogistic(
        b.sessions_per_user_median, b.sessions_per_user_sigma, 1, b.max_sessions_per_user
    )
    steps = expected_discrete_loglogistic(
        b.session_steps_median, b.session_steps_sigma, 1, b.max_session_steps
    )
    return sessions * steps * expected_human_events_per_step(cfg)


def expected_bot_events(cfg: SimulatorConfig) -> float:
    """Return the expected events of one bot (1-2 sessions of uniform length)."""
    b = cfg.behaviour
    return 1.5 * (b.bot_events_min + b.bot_events_max) / 2.0


def expected_events_per_user(cfg: SimulatorConfig) -> float:
    """Return the expected output rows per user: humans, bots and duplicate copies."""
    rate = cfg.dirt.bot_user_rate
    copies = 1.0 + cfg.dirt.exact_duplicate_rate + cfg.dirt.near_duplicate_rate
    return ((1.0 - rate) * expected_human_events(cfg) + rate * expected_bot_events(cfg)) * copies


def user_counts(cfg: SimulatorConfig) -> tuple[int, int]:
    """Return ``(n_users, n_bots)`` for ``cfg``: the counts that target ``cfg.events``.

    Exactly ``round(bot_user_rate * n_users)`` users are bots, and the humans fill the rest of
    the expected volume, so the expected row count matches ``cfg.events`` at any volume.
    """
    copies = 1.0 + cfg.dirt.exact_duplicate_rate + cfg.dirt.near_duplicate_rate
    clean_target = cfg.events / copies
    n_users = max(1, round(cfg.events / expected_events_per_user(cfg)))
    n_bots = round(cfg.dirt.bot_user_rate * n_users)
    humans = round((clean_target - n_bots * expected_bot_events(cfg)) / expected_human_events(cfg))
    humans = max(humans, 0 if n_bots else 1)
    return humans + n_bots, n_bots


def plan_simulation(cfg: SimulatorConfig) -> SimulationPlan:
    """Resolve ``cfg`` on the driver (no Spark involved).

    Raises:
        ValueError: The volume needs more users than the user-id space holds.
    """
    n_users, n_bots = user_counts(cfg)
    if n_users >= USER_ID_SPACE:
        raise ValueError(
            f"SimulatorConfig.events={cfg.events} needs {n_users:,} users, above the "
            f"{USER_ID_SPACE:,} user ids available; lower events"
        )
    partitions = cfg.partitions or max(1, math.ceil(n_users / USERS_PER_PARTITION))
    catalog = plan_catalog(cfg.seed, cfg.resolved_items, CATEGORY_TREE)
    users = plan_users(cfg.seed, catalog.categories)
    model = EventModel(
        seed=derive_seed(cfg.seed, "sim", "events"),
        behaviour=cfg.behaviour,
        catalog=catalog,
        users=users,
        clock=Clock(cfg.start, cfg.days),
    )
    copies = 1.0 + cfg.dirt.exact_duplicate_rate + cfg.dirt.near_duplicate_rate
    expected = (
        n_bots * expected_bot_events(cfg) + (n_users - n_bots) * expected_human_events(cfg)
    ) * copies
    log.debug(
        "simulation plan: %d users (%d bots), %.0f expected events, %d products, %d partitions",
        n_users,
        n_bots,
        expected,
        catalog.items,
        partitions,
    )
    return SimulationPlan(
        config=cfg,
        catalog=catalog,
        users=users,
        events=model,
        n_users=n_users,
        n_bots=n_bots,
        partitions=partitions,
        expected_events=expected,
    )


def simulate_labeled_events(spark: SparkSession, cfg: SimulatorConfig) -> DataFrame:
    """Return the simulated events plus a ``_dirt`` label column (ground truth of the dirt).

    ``_dirt`` is an ``array<string>`` naming the defects of each row (empty for clean rows;
    kinds in :data:`synth.simulate.dirt.DIRT_KINDS`). Otherwise as :func:`simulate_events`.
    """
    plan = plan_simulation(cfg)
    clean = generate_clean_events(
        spark, plan.events, n_users=plan.n_users, n_bots=plan.n_bots, partitions=plan.partitions
    )
    return apply_dirt(
        clean,
        cfg.dirt,
        seed=derive_seed(cfg.seed, "sim", "dirt"),
        start=cfg.start.isoformat(),
    )


def simulate_events(spark: SparkSession, cfg: SimulatorConfig) -> DataFrame:
    """Return a lazy DataFrame of simulated REES46 events.

    Columns: exactly those of :data:`synth.schema.RAW_EVENT_SCHEMA` (all strings, as the raw
    CSV carries them: ``event_time`` like ``2019-10-01 00:00:00 UTC``, prices with two decimals,
    decimal ids, 19-digit category ids, UUID sessions, nulls where values are missing) plus
    ``_raw_record``: null, except for the malformed rows, where it holds the raw CSV line with
    the wrong number of fields.

    Deterministic and partition-independent (same ``cfg``, same rows; ``cfg.partitions`` only
    changes parallelism). Triggers no Spark job; nothing is collected to the driver.

    Args:
        spark: The session (the frame is built on ``spark.range``).
        cfg: What to simulate.

    Returns:
        The lazy DataFrame, rows in no particular order.
    """
    labeled = simulate_labeled_events(spark, cfg)
    return labeled.select(*[F.col(c) for c in (*EVENT_COLUMNS, RAW_RECORD)])
