"""Benchmark distributed training: local vs 2-process Horovod vs 2-process TorchDistributor.

On the gold user-profile table built from ``--sim-events`` simulated events (default 1M, about
96k users; embeddings off), with the train stage's own data path (Delta version -> encoded
Parquet cache -> Petastorm):

* Petastorm read throughput alone: the whole cache read by one reader (rows/s), best of 3;
* epoch time of the same model (VAE by default) for ``local`` (one process, all cores as torch
  threads: the named baseline), ``horovod`` with 2 processes (``horovod.spark.run``, Gloo) and
  ``torch_distributor`` with 2 processes (Gloo); the median of epochs 2..N (epoch 1 carries
  start-up), each epoch reading its shard through Petastorm;
* scaling efficiency ``t_local / (2 * t_distributed)`` (1.0 is perfect); on a 2-core machine two
  processes compete with Spark and each other for two cores, so this figure is bounded by cores,
  not by the backends.

No GPU here: a CUDA run is recorded only where one is available (``--cuda``; not run on this
machine).

Usage::

    .venv/bin/python -m bench.training                 # 1M events, 5 epochs per backend
    .venv/bin/python -m bench.training --sim-events 200000 --epochs 3   # a quick check

Writes ``bench/results/training.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

from bench.common import RESULTS, WORK, Targets, local_session, print_targets, write_result

RESULT = RESULTS / "training.json"
BACKENDS = ("local", "horovod", "torch_distributor")
TARGETS: Targets = {
    "horovod_scaling_efficiency": (">=", 0.7),
    "torch_distributor_scaling_efficiency": (">=", 0.7),
    "petastorm_read_share_of_local_epoch": ("<=", 0.2),
}
log = logging.getLogger("bench.training")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim-events", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--model", choices=("vae", "gan"), default="vae")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workdir", default=str(WORK / "training"))
    parser.add_argument("--output", default=str(RESULT))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from synth.config.features import EmbeddingConfig, FeaturesConfig
    from synth.config.job import JobConfig, SimulatorSource
    from synth.config.simulate import SimulatorConfig
    from synth.config.train import TrainConfig, TrainStageConfig
    from synth.io.delta import Lakehouse, table_exists
    from synth.pipeline import run
    from synth.train.data import read_cache_info, read_shard
    from synth.train.stage import train

    cfg = JobConfig(
        lakehouse=str(Path(args.workdir) / "lakehouse"),
        source=SimulatorSource(simulator=SimulatorConfig(events=args.sim_events)),
        features=FeaturesConfig(embedding=EmbeddingConfig(enabled=False)),
    )
    lakehouse = Lakehouse(cfg.lakehouse)
    spark = local_session("bench-training")
    metrics: dict[str, float] = {"sim_events": args.sim_events, "epochs": args.epochs}
    try:
        if not table_exists(spark, lakehouse.gold_table("user_profiles")):
            run(spark, cfg, stages=("simulate", "ingest", "clean", "features"))
        epoch_s: dict[str, float] = {}
        for backend in BACKENDS:
            stage = TrainStageConfig(
                model=args.model,
                backend=backend,  # type: ignore[arg-type]
                num_processes=2,
                train=TrainConfig(
                    epochs=args.epochs,
                    batch_size=args.batch_size,
                    seed=0,
                    patience=0,
                    validation_fraction=0.0,
                ),
            )
            log.info("training with %s", backend)
            began = time.perf_counter()
            report = train(spark, lakehouse, stage)
            wall = time.perf_counter() - began
            artifact = json.loads((Path(report.model_dir) / "artifact.json").read_text())
            seconds = [e["seconds"] for e in artifact["history"]][1:] or [
                artifact["history"][0]["seconds"]
            ]
            epoch_s[backend] = statistics.median(seconds)
            metrics[f"{backend}_epoch_s"] = round(epoch_s[backend], 3)
            metrics[f"{backend}_world_size"] = report.world_size
            metrics[f"{backend}_stage_wall_s"] = round(wall, 1)
            metrics[f"{backend}_quality"] = report.metrics["quality"]
            metrics["rows"] = int(report.cache["rows"])  # type: ignore[call-overload]
            metrics["encoded_width"] = int(report.cache["width"])  # type: ignore[call-overload]
            cache_url = str(report.cache["url"])
        for backend in ("horovod", "torch_distributor"):
            metrics[f"{backend}_scaling_efficiency"] = round(
                epoch_s["local"] / (2 * epoch_s[backend]), 3
            )
        info = read_cache_info(cache_url)
        assert info is not None
        reads = []
        for _ in range(3):
            began = time.perf_counter()
            shard = read_shard(cache_url, info.width, rank=0, size=1, seed=0)
            reads.append(time.perf_counter() - began)
            assert len(shard) == info.rows
        read_s = min(reads)
        metrics["petastorm_read_s"] = round(read_s, 3)
        metrics["petastorm_rows_per_s"] = round(info.rows / read_s, 1)
        metrics["petastorm_read_share_of_local_epoch"] = round(read_s / epoch_s["local"], 3)
    finally:
        spark.stop()
    met = write_result("training", metrics, TARGETS, Path(args.output))
    print(
        f"\ntraining: {args.model}, {metrics['rows']:,} user profiles x "  # noqa: T201
        f"{metrics['encoded_width']} encoded columns, {args.epochs} epochs per backend"
    )
    for backend in BACKENDS:
        print(
            f"  {backend:<20} {metrics[f'{backend}_world_size']} process(es)  "  # noqa: T201
            f"{metrics[f'{backend}_epoch_s']:>7.2f} s/epoch  quality "
            f"{metrics[f'{backend}_quality']:.3f}"
        )
    print(
        f"  petastorm read: {metrics['petastorm_rows_per_s']:,.0f} rows/s "  # noqa: T201
        f"({metrics['petastorm_read_s']:.2f} s for the table)"
    )
    print_targets(metrics, TARGETS, met)
    print(f"  written: {args.output}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
