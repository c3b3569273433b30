"""Benchmark silver -> gold (profiles, interactions, item text embeddings) on 10M simulated events.

Steps, each in its own child process (a fresh JVM; the parent samples the peak RSS of its tree):

1. ``prepare`` (untimed): simulate ``--events`` events (default dirt, seed ``--seed``), ingest and
   clean them into ``<workdir>/lakehouse`` with the project's pipeline, unless that lakehouse
   already holds silver made from the same settings (``--reuse``).
2. ``baseline``: the I/O floor, a full scan of the same silver version (read every column, count).
3. ``features``: ``synth.features.pipeline.build_features`` with the default ``FeaturesConfig()``
   (``force=True``), timed end to end, with its own timings of the embedding step.

4. ``model``: the model's own rate without Spark, on 5,000 distinct short texts (all cores).

Targets: all gold tables in under 240 s on 2 cores; embeddings at least 1,000 items/s on CPU.
Items share texts (category path + brand), and the job embeds each distinct text once, so the
distinct-text rate inside the job and the model's own rate are reported next to items/s.

Usage::

    .venv/bin/python -m bench.features                    # 10M events (the real run)
    .venv/bin/python -m bench.features --events 300000    # a quick check
    .venv/bin/python -m bench.features --reuse            # keep the silver already prepared

Writes ``bench/results/features.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

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

RESULT = RESULTS / "features.json"
MARKER = "features_marker.json"
TARGETS: Targets = {
    "gold_total_s": ("<=", 240.0),
    "embedding_items_per_s": (">=", 1_000.0),
}

log = logging.getLogger("bench.features")


def _session(args: argparse.Namespace) -> Any:
    return local_session(
        f"bench-features-{args.phase}",
        driver_memory=args.driver_memory,
        local_dir=Path(args.workdir) / "spark-local",
    )


def _job(args: argparse.Namespace):  # noqa: ANN202
    from synth.config.job import JobConfig, SimulatorSource
    from synth.config.simulate import SimulatorConfig

    return JobConfig(
        lakehouse=str(Path(args.workdir) / "lakehouse"),
        source=SimulatorSource(simulator=SimulatorConfig(events=args.events, seed=args.seed)),
    )


def phase_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Simulate, ingest and clean into the bench lakehouse (untimed)."""
    from synth.pipeline import run

    spark = _session(args)
    try:
        start = time.perf_counter()
        run(spark, _job(args), stages=("simulate", "ingest", "clean"))
        return {"prepare_s": time.perf_counter() - start}
    finally:
        spark.stop()


def phase_baseline(args: argparse.Namespace) -> dict[str, Any]:
    """Scan every column of the current silver version once (the I/O floor)."""
    from pyspark.sql import functions as F

    from synth.io.delta import Lakehouse, read_table

    spark = _session(args)
    try:
        silver = read_table(spark, Lakehouse(_job(args).lakehouse).silver_table())
        start = time.perf_counter()
        # hash every column so none is pruned, then count
        row = silver.agg(F.count(F.lit(1)), F.sum(F.xxhash64(*silver.columns) % 7)).first()
        return {"scan_s": time.perf_counter() - start, "silver_rows": int(row[0])}
    finally:
        spark.stop()


def phase_features(args: argparse.Namespace) -> dict[str, Any]:
    """Time build_features (forced rebuild) with the default config."""
    from synth.config.features import FeaturesConfig
    from synth.features.pipeline import build_features
    from synth.io.delta import Lakehouse

    spark = _session(args)
    try:
        start = time.perf_counter()
        report = build_features(
            spark, Lakehouse(_job(args).lakehouse), FeaturesConfig(), force=True
        )
        total = time.perf_counter() - start
        return {"total_s": total, "report": report.to_dict()}
    finally:
        spark.stop()


MODEL_TEXTS = 5_000


def phase_model(args: argparse.Namespace) -> dict[str, Any]:
    """The model's own rate: 5,000 distinct short item texts, 2 torch threads, no Spark.

    The texts are category paths and brands from the simulator's catalog, each made distinct
    with a model number, so no text is embedded twice.
    """
    import numpy as np

    from synth.features.embed import TextEmbedder
    from synth.simulate.catalog import CATEGORY_TREE

    rng = np.random.default_rng(args.seed)
    codes = [(c.code or c.name).replace(".", " ") for c in CATEGORY_TREE]
    texts = [
        f"{codes[rng.integers(len(codes))]} brand{rng.integers(500)} model {i}"
        for i in range(MODEL_TEXTS)
    ]
    embedder = TextEmbedder.load(threads=os.cpu_count() or 1)
    embedder.encode(texts[:256])  # warm-up
    start = time.perf_counter()
    embedder.encode(texts, batch_size=256)
    seconds = time.perf_counter() - start
    return {"texts": MODEL_TEXTS, "seconds": seconds, "threads": os.cpu_count() or 1}


PHASES = {
    "prepare": phase_prepare,
    "baseline": phase_baseline,
    "features": phase_features,
    "model": phase_model,
}


def run_phase(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], float]:
    """Run one phase in a child process; return its result and the peak tree RSS (GiB)."""
    work = Path(args.workdir)
    out = work / f"features_phase_{name}.json"
    out.unlink(missing_ok=True)
    log.info("[%s] started", name)
    rc, peak_bytes = run_module(
        "bench.features",
        "--phase",
        name,
        "--events",
        str(args.events),
        "--seed",
        str(args.seed),
        "--workdir",
        str(work),
        "--driver-memory",
        args.driver_memory,
    )
    if rc != 0 or not out.is_file():
        raise RuntimeError(f"phase {name!r} failed (exit code {rc}); see its output above")
    log.info("[%s] done, peak RSS %.2f GiB", name, peak_bytes / GIB)
    return json.loads(out.read_text()), peak_bytes / GIB


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with the hidden ``--phase``, one step of it); return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", default=str(WORK / "features"))
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--reuse", action="store_true", help="keep silver prepared earlier")
    parser.add_argument("--output", default=str(RESULT))
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.phase:
        payload = PHASES[args.phase](args)
        (work / f"features_phase_{args.phase}.json").write_text(json.dumps(payload) + "\n")
        return 0

    marker = work / MARKER
    wanted = {"events": args.events, "seed": args.seed}
    try:
        if not (args.reuse and marker.is_file() and json.loads(marker.read_text()) == wanted):
            marker.unlink(missing_ok=True)
            run_phase("prepare", args)
            marker.write_text(json.dumps(wanted) + "\n")
        base, base_peak = run_phase("baseline", args)
        feats, peak = run_phase("features", args)
        model, _ = run_phase("model", args)
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    report = feats["report"]
    emb = report["embedding"]
    rows = base["silver_rows"]
    metrics: dict[str, float] = {
        "silver_rows": rows,
        "gold_total_s": round(feats["total_s"], 1),
        "events_per_s": round(rows / feats["total_s"]),
        "silver_scan_s": round(base["scan_s"], 1),
        "gold_vs_scan_ratio": round(feats["total_s"] / base["scan_s"], 1),
        "embedding_items": emb["items"],
        "embedding_texts": emb["texts"],
        "embedding_s": emb["seconds"],
        "embedding_items_per_s": emb["items_per_s"],
        "embedding_texts_per_s": emb["texts_per_s"],
        "model_texts_per_s": round(model["texts"] / model["seconds"], 1),
        "model_threads": model["threads"],
        "peak_rss_gb": round(peak, 2),
        "baseline_peak_rss_gb": round(base_peak, 2),
        **{f"write_{k}_s": v for k, v in report["seconds"].items() if k != "total"},
        **{f"rows_{k}": v["rows"] for k, v in report["tables"].items()},
    }
    met = write_result("features", metrics, TARGETS, Path(args.output))
    print(f"\nfeatures: silver ({rows:,} events) -> gold, {os.cpu_count()} cores")
    for key in (
        "gold_total_s",
        "events_per_s",
        "silver_scan_s",
        "gold_vs_scan_ratio",
        "embedding_items",
        "embedding_texts",
        "embedding_s",
        "embedding_items_per_s",
        "embedding_texts_per_s",
        "model_texts_per_s",
        "peak_rss_gb",
    ):
        print(f"  {key:<26}{metrics[key]:>14,}")
    print_targets(metrics, TARGETS, met, name_width=26, value_spec=">14,", bound_spec=",")
    print(f"  written: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
