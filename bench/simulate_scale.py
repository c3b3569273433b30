"""Benchmark the simulator's scaling: 50M events against a 5M baseline, memory and time per event.

The simulator is a chain of narrow ``explode`` s over ``spark.range`` with no shuffle and nothing
per user or per event on the driver, so its memory should not grow with the volume. This script
checks that claim: it generates ``--baseline-events`` (default 5M) and then ``--events`` (default
50M) events with the default dirt, each in a fresh child process (one local-mode JVM, driver
memory ``--driver-memory``), consumes every row with Spark's ``noop`` sink (the rows are fully
computed, nothing is written), and samples the peak RSS of the child's process tree.

Targets: the large run's peak RSS at most 1.25x the baseline's, and its time per event at most
1.25x the baseline's (linear scaling).

Usage::

    .venv/bin/python -m bench.simulate_scale                      # 5M baseline, then 50M
    .venv/bin/python -m bench.simulate_scale --events 10000000    # a shorter check

Writes ``bench/results/simulate_scale.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from bench.common import (
    GIB,
    RESULTS,
    WORK,
    Targets,
    local_session,
    print_targets,
    run_module,
    write_result,
)

RESULT = RESULTS / "simulate_scale.json"
TARGETS: Targets = {
    "peak_rss_ratio": ("<=", 1.25),
    "seconds_per_event_ratio": ("<=", 1.25),
}

log = logging.getLogger("bench.simulate_scale")


def phase_run(events: int, seed: int, driver_memory: str, out: Path) -> None:
    """Generate ``events`` events into the ``noop`` sink; write the row count and seconds."""
    from pyspark.sql import functions as F

    from synth.config.simulate import SimulatorConfig
    from synth.simulate import simulate_events

    spark = local_session("bench-simulate-scale", driver_memory=driver_memory)
    try:
        start = time.perf_counter()
        df = simulate_events(spark, SimulatorConfig(events=events, seed=seed))
        rows = df.agg(F.count(F.lit(1)).alias("n")).first()
        # the count alone could skip columns: write every column to the noop sink as well
        df.write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - start
    finally:
        spark.stop()
    out.write_text(json.dumps({"rows": int(rows["n"]), "seconds": seconds}) + "\n")


def run_child(events: int, args: argparse.Namespace) -> dict[str, float]:
    """Run one size in a child process; return its rows, seconds and peak tree RSS (GiB)."""
    out = Path(args.workdir) / f"scale_{events}.json"
    out.unlink(missing_ok=True)
    log.info("[%s events] started", f"{events:,}")
    rc, peak_bytes = run_module(
        "bench.simulate_scale",
        "--phase-events",
        str(events),
        "--seed",
        str(args.seed),
        "--driver-memory",
        args.driver_memory,
        "--workdir",
        args.workdir,
    )
    if rc != 0 or not out.is_file():
        raise RuntimeError(f"the {events:,}-event run failed (exit code {rc})")
    result = json.loads(out.read_text())
    result["peak_rss_gb"] = peak_bytes / GIB
    log.info(
        "[%s events] %.1f s, peak RSS %.2f GiB",
        f"{events:,}",
        result["seconds"],
        result["peak_rss_gb"],
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with the hidden ``--phase-events``, one size); return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--baseline-events", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--workdir", default=str(WORK))
    parser.add_argument("--output", default=str(RESULT))
    parser.add_argument("--phase-events", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    if args.phase_events:
        out = Path(args.workdir) / f"scale_{args.phase_events}.json"
        phase_run(args.phase_events, args.seed, args.driver_memory, out)
        return 0
    if not 0 < args.baseline_events < args.events:
        parser.error("--baseline-events must be positive and below --events")

    try:
        base = run_child(args.baseline_events, args)
        large = run_child(args.events, args)
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    metrics = {
        "baseline_rows": base["rows"],
        "rows": large["rows"],
        "baseline_seconds": round(base["seconds"], 1),
        "seconds": round(large["seconds"], 1),
        "events_per_s": round(large["rows"] / large["seconds"]),
        "baseline_peak_rss_gb": round(base["peak_rss_gb"], 2),
        "peak_rss_gb": round(large["peak_rss_gb"], 2),
        "peak_rss_ratio": round(large["peak_rss_gb"] / base["peak_rss_gb"], 3),
        "seconds_per_event_ratio": round(
            (large["seconds"] / large["rows"]) / (base["seconds"] / base["rows"]), 3
        ),
    }
    met = write_result("simulate_scale", metrics, TARGETS, Path(args.output))
    rows, base_rows = metrics["rows"], metrics["baseline_rows"]
    print(f"\nsimulate_scale: {rows:,} events vs a {base_rows:,} baseline")
    print(f"  {'':<12}{'seconds':>10}{'peak RSS GiB':>15}")
    print(
        f"  {'baseline':<12}{metrics['baseline_seconds']:>10.1f}"
        f"{metrics['baseline_peak_rss_gb']:>15.2f}"
    )
    print(f"  {'large':<12}{metrics['seconds']:>10.1f}{metrics['peak_rss_gb']:>15.2f}")
    print(f"  {metrics['events_per_s']:,} events/s at the large size")
    print_targets(metrics, TARGETS, met, name_width=26, value_spec=">8")
    print(f"  written: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
