"""Seeded, partition-independent simulator of REES46-style e-commerce events.

The project's embedded default dataset: a Spark-native generator of realistic behaviour (a
category tree with brands and log-normal prices, Zipf popularity, user segments, heavy-tailed
sessions, a view -> cart -> purchase funnel, daily and weekly rhythm) with realistic dirt injected
at configurable rates. See :mod:`synth.simulate.simulator` for the contract.

Public API:
    simulate_events(spark, cfg) -> DataFrame: raw-schema events plus ``_raw_record``.
    simulate_labeled_events(spark, cfg) -> DataFrame: the same plus the ``_dirt`` labels.
    write_event_csv(df, path, *, compression, files, mode) -> None: REES46 CSV files.
    plan_simulation(cfg) -> SimulationPlan: the driver-side resolution (users, catalog sizes).
"""

from __future__ import annotations

from synth.simulate.dirt import DIRT, DIRT_KINDS, RATE_FIELD
from synth.simulate.simulator import (
    SimulationPlan,
    expected_events_per_user,
    plan_simulation,
    simulate_events,
    simulate_labeled_events,
)
from synth.simulate.writer import HEADER, write_event_csv

__all__ = [
    "DIRT",
    "DIRT_KINDS",
    "HEADER",
    "RATE_FIELD",
    "SimulationPlan",
    "expected_events_per_user",
    "plan_simulation",
    "simulate_events",
    "simulate_labeled_events",
    "write_event_csv",
]
