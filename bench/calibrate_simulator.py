"""Calibrate the event simulator against the real REES46 samples in ../shared/data.

The main reference is the multi-category store's first 17,434 October events
(``2019-10-01 00:00:00`` to ``02:50:00`` UTC). The real window is short (under three hours, at
night UTC), so only marginals that such a window supports are compared, and the simulation is cut
to the *same* window: it simulates 2019-09-30 and 2019-10-01 with default settings and dirt off,
sized so that the window holds about as many events as the real sample, and keeps the events of
2019-10-01 00:00:00-02:50:00. Sessions are truncated at the window edges exactly like the real
file's.

Compared: event-type shares (total variation distance), the log-price distribution (two-sample
KS statistic and quantiles), events per session, distinct items per user, the share of missing
brand / category_code, intra-session gap quantiles, and popularity concentration (share of events
on the top 1% of items). The cosmetics-shop samples (a different store: no category codes, a much
stronger cart funnel) are summarized as reference values, without targets.

Usage::

    .venv/bin/python -m bench.calibrate_simulator [--set zipf_exponent=1.1 ...] [--no-write]

Prints a table and writes ``bench/results/simulator_calibration.json``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import (
    RESULTS,
    SHARED_DATA,
    Targets,
    local_session,
    result_document,
    targets_met,
    write_json,
)
from synth.config.simulate import DirtConfig, SimulatedBehaviourConfig, SimulatorConfig
from synth.simulate import plan_simulation, simulate_events
from synth.simulate.events import HOUR_WEIGHTS_UTC, WEEKDAY_WEIGHTS
from synth.stats.fidelity import ks_statistic

MULTI = SHARED_DATA / "rees46-multi-category-store" / "2019-Oct_head17434.csv.gz"
COSMETICS = sorted((SHARED_DATA / "rees46-cosmetics-shop").glob("*.csv.gz"))
OUT = RESULTS / "simulator_calibration.json"

WINDOW_START = "2019-10-01 00:00:00 UTC"
WINDOW_END = "2019-10-01 02:50:01 UTC"  # exclusive; the real sample ends at 02:50:00
SIM_START = date(2019, 9, 30)
SIM_DAYS = 2
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")

TARGETS: Targets = {
    "event_type_tvd": ("<=", 0.05),
    "log_price_ks": ("<=", 0.15),
    "log_price_median_abs_diff": ("<=", 0.25),
    "events_per_session_rel_err": ("<=", 0.20),
    "items_per_user_rel_err": ("<=", 0.20),
    "missing_brand_abs_err": ("<=", 0.03),
    "missing_category_code_abs_err": ("<=", 0.03),
    "gap_p50_rel_err": ("<=", 0.25),
    "gap_p90_rel_err": ("<=", 0.30),
    "top1pct_share_abs_err": ("<=", 0.05),
    "event_count_rel_err": ("<=", 0.10),
}


def read_real(path: Path, *, cosmetics: bool = False) -> pd.DataFrame:
    """Read a real sample as strings (empty fields as empty strings)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if cosmetics:
        # Two blocks per file (head and tail of the month); keep the contiguous head block.
        df = df[df["source_row"].astype(int) < 20_000].drop(columns=["source_row"])
    return df


def marginals(df: pd.DataFrame) -> dict[str, float]:
    """Return the window marginals of a raw-schema frame (strings, empty = missing)."""
    df = df.copy()
    df["ts"] = pd.to_datetime(df["event_time"].str.replace(" UTC", "", regex=False))
    price = df["price"].astype(float)
    shares = df["event_type"].value_counts(normalize=True)
    sessions = df.groupby("user_session").size()
    items_per_user = df.groupby("user_id")["product_id"].nunique()
    ordered = df.sort_values(["user_session", "ts"])
    gaps = ordered.groupby("user_session")["ts"].diff().dt.total_seconds().dropna().to_numpy()
    counts = df["product_id"].value_counts().to_numpy()
    top = max(1, round(0.01 * len(counts)))
    log_price = np.log(price[price > 0].to_numpy())
    out = {
        "events": float(len(df)),
        "users": float(df["user_id"].nunique()),
        "items": float(len(counts)),
        "events_per_session": float(sessions.mean()),
        "events_per_session_p90": float(np.quantile(sessions, 0.9)),
        "sessions_per_user": float(df.groupby("user_id")["user_session"].nunique().mean()),
        "items_per_user": float(items_per_user.mean()),
        "missing_brand": float((df["brand"] == "").mean()),
        "missing_category_code": float((df["category_code"] == "").mean()),
        "gap_p25": float(np.quantile(gaps, 0.25)),
        "gap_p50": float(np.quantile(gaps, 0.5)),
        "gap_p90": float(np.quantile(gaps, 0.9)),
        "top1pct_share": float(counts[:top].sum() / counts.sum()),
        "log_price_q10": float(np.quantile(log_price, 0.1)),
        "log_price_q50": float(np.quantile(log_price, 0.5)),
        "log_price_q90": float(np.quantile(log_price, 0.9)),
    }
    for et in EVENT_TYPES:
        out[f"share_{et}"] = float(shares.get(et, 0.0))
    return out


def window_share() -> float:
    """Return the expected share of the simulated events inside the real sample's window."""
    hours = np.array(HOUR_WEIGHTS_UTC)
    in_window = hours[0] + hours[1] + hours[2] * (50 / 60 + 1 / 3600)
    day_weights = [
        WEEKDAY_WEIGHTS[(SIM_START + timedelta(days=d)).weekday()] for d in range(SIM_DAYS)
    ]
    return float(in_window / hours.sum() * day_weights[1] / sum(day_weights))


def parse_overrides(items: list[str]) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = int(value) if value.lstrip("-").isdigit() else float(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], help="behaviour knob=value")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true", help="do not write the JSON")
    parser.add_argument("--dump", help="also save the simulated window as CSV here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not MULTI.exists():
        print(f"real sample not found: {MULTI}", file=sys.stderr)
        return 2

    real = read_real(MULTI)
    real_m = marginals(real)
    events = round(len(real) / window_share())
    behaviour = SimulatedBehaviourConfig(**parse_overrides(args.set))
    cfg = SimulatorConfig(
        seed=args.seed,
        events=events,
        start=SIM_START,
        days=SIM_DAYS,
        behaviour=behaviour,
        dirt=DirtConfig.none(),
    )
    plan = plan_simulation(cfg)
    print(f"simulating {events:,} events ({plan.n_users:,} users, {plan.catalog.items:,} items)")

    spark = local_session("calibrate-simulator", driver_memory="4g")
    work = Path(tempfile.mkdtemp(prefix="calibrate_sim_"))
    try:
        began = time.perf_counter()
        simulate_events(spark, cfg).write.parquet(str(work / "sim"))
        sim_all = spark.read.parquet(str(work / "sim"))
        total = sim_all.count()
        window = sim_all.where(
            (sim_all.event_time >= WINDOW_START) & (sim_all.event_time < WINDOW_END)
        ).drop("_raw_record")
        sim = window.toPandas().fillna("")
        elapsed = time.perf_counter() - began
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    sim_m = marginals(sim)
    if args.dump:
        sim.to_csv(args.dump, index=False)

    real_price = real["price"].astype(float).to_numpy()
    real_lp = np.log(real_price[real_price > 0])  # the real file has a few zero prices
    sim_price = sim["price"].astype(float).to_numpy()
    sim_lp = np.log(sim_price[sim_price > 0])
    metrics: dict[str, float] = {
        "simulated_events_total": float(total),
        "simulated_events_requested": float(events),
        "event_count_rel_err": abs(total / events - 1.0),
        "simulate_and_write_seconds": round(elapsed, 1),
        "event_type_tvd": 0.5
        * sum(abs(real_m[f"share_{e}"] - sim_m[f"share_{e}"]) for e in EVENT_TYPES),
        "log_price_ks": ks_statistic(real_lp, sim_lp),
        "log_price_median_abs_diff": abs(real_m["log_price_q50"] - sim_m["log_price_q50"]),
    }
    for key in sorted(real_m):
        metrics[f"real_{key}"] = real_m[key]
        metrics[f"sim_{key}"] = sim_m[key]
    for key in ("events_per_session", "items_per_user"):
        metrics[f"{key}_rel_err"] = abs(sim_m[key] / real_m[key] - 1.0)
    for key in ("missing_brand", "missing_category_code", "top1pct_share"):
        metrics[f"{key}_abs_err"] = abs(sim_m[key] - real_m[key])
    for key in ("gap_p25", "gap_p50", "gap_p90"):
        metrics[f"{key}_rel_err"] = abs(sim_m[key] / real_m[key] - 1.0)
    for path in COSMETICS:
        cos_m = marginals(read_real(path, cosmetics=True))
        tag = "cosmetics_" + path.name.split("_")[0].lower().replace("-", "_")
        for key in ("events_per_session", "items_per_user", "gap_p50", "gap_p90", "top1pct_share"):
            metrics[f"{tag}_{key}"] = cos_m[key]
        for et in EVENT_TYPES:
            metrics[f"{tag}_share_{et}"] = cos_m[f"share_{et}"]

    met = targets_met(metrics, TARGETS)

    print(f"\n{'metric':34s} {'real':>10s} {'sim':>10s}")
    for key in sorted(real_m):
        print(f"{key:34s} {real_m[key]:10.4f} {sim_m[key]:10.4f}")
    print(f"\n{'target':34s} {'value':>10s} {'bound':>10s}  met")
    for name, (op, bound) in TARGETS.items():
        print(f"{name:34s} {metrics[name]:10.4f} {op:>3s}{bound:7.3f}  {met[name]}")
    print(f"\n{sum(met.values())}/{len(met)} targets met; simulation took {elapsed:.0f}s")

    if not args.no_write:
        rounded = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()}
        write_json(OUT, result_document("simulator_calibration", rounded, TARGETS, met))
        print(f"wrote {OUT}")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
