"""Benchmark synthesis: 10M synthetic user profiles through the Spark job vs one process.

Set-up (untimed, reused): a lakehouse at ``<work>/lakehouse`` built with the project's pipeline
(``simulate``, ``ingest``, ``clean``, ``features``, ``train``) from ``--events`` simulated events
(31 days, seed 42, default dirt; text embeddings off), and a VAE trained on the gold user
profiles (local backend, ``--epochs`` epochs, batch 500, no validation, no early stop, default
10% holdout). ``<work>/setup_marker.json`` records those settings; a later run with the same
settings and a model in place skips the set-up, a run with other settings deletes the lakehouse
and rebuilds it.

Phases (each prints its start and end; peak RSS is tracked per phase):

1. ``single_sample``: the model's own ``Synthesizer.sample()`` in this process, ``--rows`` rows in
   chunks of ``--block-rows`` (chunk ``i`` seeded ``i``), one torch thread; the frames are
   counted, not kept. The model is loaded before the clock starts.
2. ``single_blocks``: the same count through ``sample_local`` (the per-block code of the Spark
   job: ``sample_block`` + the Arrow conversion), one torch thread, in this process. The model is
   loaded into the per-process cache before the clock starts.
3. ``spark_2`` / ``spark_1``: the Spark sampling job ``sample_flat`` -> ``to_gold`` written to the
   ``noop`` format, with ``local[2]`` and then ``local[1]`` (a new session each; 2 partitions per
   core). Session start-up is not timed; Python worker start-up and each worker's model load are
   (they are part of every real job), so this is a cold job.
4. ``pipeline`` (``--skip-pipeline`` leaves it out): with ``local[2]``, the real stages
   ``synthesize``, ``filter`` and ``fuse`` via ``synth.pipeline.run`` for ``--rows`` rows
   (run id ``bench``, seed 0, default filter settings), with each stage's seconds, the
   synthesize stage's rows/s (Delta write included), the filter yields and the fuse events.

Derived figures:

* ``spark_overhead_vs_blocks = (2 / spark_2cores_rows_per_s) / (1 / single_blocks_rows_per_s)``:
  Spark's core-seconds per row over the single process's (1.0: no overhead);
  ``spark_overhead_vs_sample`` the same against ``sample()``;
* ``scaling_efficiency_2_vs_1 = spark_2 / (2 * spark_1)`` (1.0: linear in cores).

Peak memory: a background thread sums the RSS of this process and all its descendants (the JVM
and the Python workers) every 0.5 s; the peak is reported overall and per phase. RSS counts
pages shared by forked workers once per process, so the sum slightly overstates.

Small decisions taken here: the Spark sessions set ``spark.default.parallelism`` to 2 per core
(so the pipeline's synthesize stage uses the same 4 partitions as ``spark_2``); the Spark row
count is the planned count (the ``noop`` sink returns none); the sessions run one after another
in one JVM (stopped and rebuilt with another ``spark.master``).

Targets: ``spark_2cores_rows_per_s >= 100000``; ``spark_overhead_vs_blocks <= 1.3``;
``scaling_efficiency_2_vs_1 >= 0.8``.

Usage::

    .venv/bin/python -m bench.synthesis                  # 10M rows, 1M events, 20 epochs
    .venv/bin/python -m bench.synthesis --rows 100000 --events 100000 --epochs 3   # quick check

Writes ``bench/results/synthesis.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    GIB,
    RESULTS,
    WORK,
    PeakRss,
    Targets,
    local_session,
    print_targets,
    write_result,
)

RESULT = RESULTS / "synthesis.json"
MARKER = "setup_marker.json"
SIM_DAYS, SIM_SEED = 31, 42
TARGETS: Targets = {
    "spark_2cores_rows_per_s": (">=", 100_000.0),
    "spark_overhead_vs_blocks": ("<=", 1.3),
    "scaling_efficiency_2_vs_1": (">=", 0.8),
}
log = logging.getLogger("bench.synthesis")
_START = time.perf_counter()


def say(line: str) -> None:
    """A progress line with the seconds since the script started."""
    print(f"[{time.perf_counter() - _START:8.1f}s] {line}", flush=True)


def session(work: Path, cores: int, app: str) -> Any:
    """A local session with ``cores`` task slots, scratch under ``work``."""
    return local_session(
        app,
        driver_memory="6g",
        local_dir=work / "spark-local",
        warehouse_dir=work / "spark-warehouse",
        conf={
            "spark.master": f"local[{cores}]",
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": str(2 * cores),
            "spark.ui.enabled": "false",
        },
    )


def job_config(args: argparse.Namespace, work: Path, synthesize: Any = None) -> Any:
    """The job config of the set-up (and, with ``synthesize``, of the pipeline phase)."""
    from synth.config.features import EmbeddingConfig, FeaturesConfig
    from synth.config.job import JobConfig, SimulatorSource
    from synth.config.simulate import SimulatorConfig
    from synth.config.synthesize import SynthesizeConfig
    from synth.config.train import TrainConfig, TrainStageConfig

    train = TrainStageConfig(
        model="vae",
        backend="local",
        train=TrainConfig(epochs=args.epochs, batch_size=500, validation_fraction=0.0, patience=0),
    )
    return JobConfig(
        lakehouse=str(work / "lakehouse"),
        source=SimulatorSource(
            simulator=SimulatorConfig(events=args.events, days=SIM_DAYS, seed=SIM_SEED)
        ),
        features=FeaturesConfig(embedding=EmbeddingConfig(enabled=False)),
        train=train,
        synthesize=synthesize or SynthesizeConfig(),
    )


def setup(spark: Any, args: argparse.Namespace, work: Path, cfg: Any) -> Any:
    """Build (or reuse) the lakehouse and the trained model; return the model reference."""
    from synth.errors import InputError
    from synth.io.delta import Lakehouse
    from synth.pipeline import run
    from synth.refs import resolve_model

    marker = work / MARKER
    wanted = {
        "events": args.events,
        "days": SIM_DAYS,
        "seed": SIM_SEED,
        "epochs": args.epochs,
        "model": "vae",
        "batch_size": 500,
        "embedding": False,
    }
    lakehouse = Lakehouse(cfg.lakehouse)
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        try:
            ref = resolve_model(spark, lakehouse, cfg)
            say(f"setup: reusing {cfg.lakehouse} ({wanted})")
            return ref
        except InputError as exc:
            say(f"setup: marker present but no model ({exc}); rebuilding")
    marker.unlink(missing_ok=True)
    shutil.rmtree(work / "lakehouse", ignore_errors=True)
    began = time.perf_counter()
    run(
        spark,
        cfg,
        stages=("simulate", "ingest", "clean", "features", "train"),
        progress=lambda line: say(f"setup {line}"),
    )
    marker.write_text(json.dumps(wanted) + "\n")
    say(f"setup: done in {time.perf_counter() - began:.1f}s")
    return resolve_model(spark, lakehouse, cfg)


def array_lengths(spark: Any, ref: Any, encoder: Any, gold: Any) -> dict[str, int]:
    """The positional share arrays' lengths, read from the real table (as the stage does)."""
    from pyspark.sql import functions as F

    from synth.generate.stage import positional_columns
    from synth.io.delta import read_table

    positional = positional_columns(encoder, gold)
    if not positional:
        return {}
    real = read_table(spark, ref.table_path, version=ref.delta_version)
    row = real.agg(*[F.max(F.size(c)).alias(c) for c in positional]).first()
    assert row is not None
    return {c: int(row[c]) for c in positional}


@contextmanager
def timed_phase(name: str, peak: PeakRss, seconds: dict[str, float]) -> Iterator[None]:
    """Print the phase's start and end, record its wall seconds and its peak RSS."""
    say(f"[{name}] started")
    began = time.perf_counter()
    with peak.phase(name):
        yield
    seconds[name] = time.perf_counter() - began
    say(
        f"[{name}] done in {seconds[name]:.1f}s, peak RSS {peak.by_phase.get(name, 0) / GIB:.2f} GB"
    )


def single_sample(model_dir: str, rows: int, block_rows: int) -> float:
    """Rows/s of ``Synthesizer.sample()`` in chunks, one torch thread (model load untimed)."""
    import torch

    import synth.models.gan  # noqa: F401  (registers the model classes)
    import synth.models.vae  # noqa: F401
    from synth.models.base import Synthesizer

    torch.set_num_threads(1)
    model = Synthesizer.load(model_dir)
    done = 0
    began = time.perf_counter()
    for i, start in enumerate(range(0, rows, block_rows)):
        done += len(model.sample(min(block_rows, rows - start), seed=i))
    seconds = time.perf_counter() - began
    assert done == rows, (done, rows)
    return rows / seconds


def single_blocks(
    blob: Any, encoder: Any, gold: Any, lengths: dict[str, int], rows: int, block_rows: int
) -> float:
    """Rows/s of ``sample_local`` (the Spark job's per-block code), one torch thread."""
    import torch

    from synth.generate.sampler import sample_local

    torch.set_num_threads(1)
    blob.load()  # the per-process cache: the clock starts with the model loaded
    done = 0
    began = time.perf_counter()
    for batch in sample_local(
        blob,
        encoder,
        gold,
        rows=rows,
        seed=0,
        block_rows=block_rows,
        torch_threads=1,
        array_lengths=lengths,
    ):
        done += batch.num_rows
    seconds = time.perf_counter() - began
    assert done == rows, (done, rows)
    return rows / seconds


def spark_job(
    spark: Any,
    blob: Any,
    encoder: Any,
    gold: Any,
    ref: Any,
    lengths: dict[str, int],
    rows: int,
    block_rows: int,
    cores: int,
) -> float:
    """Rows/s of ``sample_flat`` -> ``to_gold`` -> ``noop`` with ``2 * cores`` partitions."""
    from synth.generate.sampler import sample_flat, to_gold

    began = time.perf_counter()
    flat = sample_flat(
        spark,
        blob,
        encoder,
        gold,
        groups=[rows],
        conditions=[{}],
        seed=0,
        block_rows=block_rows,
        partitions=2 * cores,
        torch_threads=1,
        array_lengths=lengths,
    )
    out = to_gold(flat, gold, run_id="bench", model_id=ref.model_id)
    out.write.format("noop").mode("overwrite").save()
    return rows / (time.perf_counter() - began)


def pipeline(spark: Any, args: argparse.Namespace, work: Path, metrics: dict[str, Any]) -> None:
    """The real synthesize, filter and fuse stages; their figures go into ``metrics``."""
    from synth.config.synthesize import SynthesizeConfig
    from synth.pipeline import run

    scfg = SynthesizeConfig(rows=args.rows, block_rows=args.block_rows, seed=0, run_id="bench")
    cfg = job_config(args, work, synthesize=scfg)
    summary = run(
        spark,
        cfg,
        stages=("synthesize", "filter", "fuse"),
        progress=lambda line: say(f"pipeline {line}"),
    )
    for stage, seconds in summary.seconds.items():
        metrics[f"{stage}_stage_s"] = round(seconds, 2)
    syn: dict[str, Any] = summary.stages["synthesize"]  # type: ignore[assignment]
    metrics["synthesize_stage_rows"] = int(syn["rows"])
    metrics["synthesize_stage_partitions"] = int(syn["partitions"])
    metrics["synthesize_stage_rows_per_s"] = round(float(syn["rows_per_s"]), 1)
    filt: dict[str, Any] = summary.stages["filter"]  # type: ignore[assignment]
    raw = int(filt["raw_rows"])
    metrics["filter_raw_rows"] = raw
    metrics["filter_kept_rows"] = int(filt["kept_rows"])
    metrics["filter_kept_share"] = round(int(filt["kept_rows"]) / max(raw, 1), 4)
    for reason, count in sorted(filt["removed"].items()):
        metrics[f"filter_removed_{reason}"] = int(count)
        metrics[f"filter_removed_share_{reason}"] = round(int(count) / max(raw, 1), 4)
    quality = filt.get("realism", {})
    for key in ("quality_before", "quality_after", "detector_auc_in_sample"):
        if quality.get(key) is not None:
            metrics[f"filter_{key}"] = quality[key]
    fused: dict[str, Any] = summary.stages["fuse"]  # type: ignore[assignment]
    events = {str(k): int(v) for k, v in fused["events"].items()}
    for origin, count in sorted(events.items()):
        metrics[f"events_{origin}"] = count
    for reason, count in sorted(fused["rejected_events"].items()):
        metrics[f"events_rejected_{reason}"] = int(count)
    metrics["events_total"] = sum(events.values())
    metrics["enriched_users"] = int(fused["enriched_users"])
    metrics["events_per_s"] = round(metrics["events_total"] / max(summary.seconds["fuse"], 1e-9), 1)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--block-rows", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--work", default=str(WORK / "synthesis"))
    parser.add_argument("--output", default=str(RESULT))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("synth").setLevel(logging.INFO)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)

    from synth.generate.sampler import ModelBlob
    from synth.models.encoding import TableEncoder
    from synth.schema import GOLD_SCHEMAS

    metrics: dict[str, Any] = {
        "rows": args.rows,
        "block_rows": args.block_rows,
        "sim_events": args.events,
        "epochs": args.epochs,
    }
    seconds: dict[str, float] = {}
    with PeakRss(interval_s=0.5) as peak:
        with timed_phase("setup", peak, seconds):
            cfg = job_config(args, work)
            spark = session(work, 2, "bench-synthesis-setup")
            try:
                ref = setup(spark, args, work, cfg)
                blob = ModelBlob.from_dir(ref.model_dir)
                encoder = TableEncoder.from_json(blob.files["encoder.json"].decode("utf-8"))
                gold = GOLD_SCHEMAS[ref.table]
                lengths = array_lengths(spark, ref, encoder, gold)
            finally:
                spark.stop()
        say(f"model {ref.model_id} ({ref.table}, {len(encoder.specs)} columns) at {ref.model_dir}")
        metrics["model_id"] = ref.model_id
        metrics["model_columns"] = len(encoder.specs)

        with timed_phase("single_sample", peak, seconds):
            rate = single_sample(ref.model_dir, args.rows, args.block_rows)
        metrics["single_sample_rows_per_s"] = round(rate, 1)
        say(f"  sample(): {rate:,.0f} rows/s")
        with timed_phase("single_blocks", peak, seconds):
            rate = single_blocks(blob, encoder, gold, lengths, args.rows, args.block_rows)
        metrics["single_blocks_rows_per_s"] = round(rate, 1)
        say(f"  sample_local: {rate:,.0f} rows/s")

        for cores, key in ((2, "spark_2cores_rows_per_s"), (1, "spark_1core_rows_per_s")):
            spark = session(work, cores, f"bench-synthesis-local{cores}")
            try:
                with timed_phase(f"spark_{cores}", peak, seconds):
                    rate = spark_job(
                        spark, blob, encoder, gold, ref, lengths, args.rows, args.block_rows, cores
                    )
            finally:
                spark.stop()
            metrics[key] = round(rate, 1)
            say(f"  spark local[{cores}]: {rate:,.0f} rows/s")

        if not args.skip_pipeline:
            spark = session(work, 2, "bench-synthesis-pipeline")
            try:
                with timed_phase("pipeline", peak, seconds):
                    pipeline(spark, args, work, metrics)
            finally:
                spark.stop()

    blocks, sampled = metrics["single_blocks_rows_per_s"], metrics["single_sample_rows_per_s"]
    spark2, spark1 = metrics["spark_2cores_rows_per_s"], metrics["spark_1core_rows_per_s"]
    metrics["spark_overhead_vs_blocks"] = round((2 / spark2) / (1 / blocks), 3)
    metrics["spark_overhead_vs_sample"] = round((2 / spark2) / (1 / sampled), 3)
    metrics["scaling_efficiency_2_vs_1"] = round(spark2 / (2 * spark1), 3)
    for name, value in seconds.items():
        metrics[f"{name}_phase_s"] = round(value, 2)
    metrics["peak_rss_gb"] = round(peak.peak_bytes / GIB, 2)
    for name, value in peak.by_phase.items():
        metrics[f"peak_rss_gb_{name}"] = round(value / GIB, 2)

    met = write_result("synthesis", metrics, TARGETS, Path(args.output))
    print(
        f"\nsynthesis: {args.rows:,} rows of {ref.table} in blocks of {args.block_rows:,}; "
        f"VAE {ref.model_id} trained {args.epochs} epochs on {args.events:,} simulated events"
    )
    lines = [
        ("sample() 1 process, 1 thread", sampled),
        ("sample_local 1 process, 1 thread", blocks),
        ("spark local[2] -> noop", spark2),
        ("spark local[1] -> noop", spark1),
    ]
    if "synthesize_stage_rows_per_s" in metrics:
        lines.append(("synthesize stage (Delta write)", metrics["synthesize_stage_rows_per_s"]))
    for label, value in lines:
        print(f"  {label:<36}{value:>14,.0f} rows/s")
    print(
        f"  spark overhead per core: {metrics['spark_overhead_vs_blocks']:.2f}x vs sample_local, "
        f"{metrics['spark_overhead_vs_sample']:.2f}x vs sample(); scaling 2 vs 1 core "
        f"{metrics['scaling_efficiency_2_vs_1']:.2f}"
    )
    if "filter_kept_share" in metrics:
        removed = (
            ", ".join(
                f"{k.removeprefix('filter_removed_share_')} {v:.2%}"
                for k, v in metrics.items()
                if k.startswith("filter_removed_share_")
            )
            or "none"
        )
        print(
            f"  filter: kept {metrics['filter_kept_rows']:,} of {metrics['filter_raw_rows']:,} "
            f"({metrics['filter_kept_share']:.2%}); removed: {removed}"
        )
        origins = ", ".join(
            f"{k.removeprefix('events_')} {v:,}"
            for k, v in metrics.items()
            if k in ("events_synthetic_user", "events_enrichment")
        )
        print(
            f"  fuse: {metrics['events_total']:,} events ({origins}) in "
            f"{metrics['fuse_stage_s']:.1f}s = {metrics['events_per_s']:,.0f} events/s"
        )
        print(
            "  stage seconds: "
            + ", ".join(
                f"{s} {metrics[f'{s}_stage_s']:.1f}" for s in ("synthesize", "filter", "fuse")
            )
        )
    print(
        f"  peak RSS {metrics['peak_rss_gb']:.2f} GB; by phase: "
        + ", ".join(f"{name} {value / GIB:.2f}" for name, value in peak.by_phase.items())
    )
    print_targets(metrics, TARGETS, met)
    print(f"  written: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
