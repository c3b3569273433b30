"""Learned behaviour, side by side: the rules, the sequence model and mostlyai-engine's TabularARGN.

For each dataset, on one prepared lakehouse (``synth run`` through ``filter`` with
``synthesize.fusion.behaviour.model: learned``, so the profile VAE and the sequence model are
trained and synthetic profiles are kept), the three generators write events for the **same**
``--users`` synthetic profiles:

* ``rules``: :func:`synth.generate.behaviour.generate_events` (the baseline);
* ``learned``: the sequence model through Spark (:func:`synth.generate.learned.learned_events`,
  ``mapInArrow``); ``events_per_s_spark`` is timed on every kept synthetic profile (a count
  over the drawn events, so nothing is collected to the driver), the profiles of a small
  sample repeated under new ids up to 40,000 users (``spark_profile_copies``);
* ``peer``: mostlyai-engine 2.7.3's TabularARGN (``bench/peer/engine.py`` in the peer's own
  environment, ``.cache/venv-peer`` synced from ``bench/peer/uv.lock``; data moves as Parquet),
  trained on the same real training users (profiles as the context table, their events as the
  target table) with ``max_training_time`` = the sequence model's recorded training time (the
  same CPU budget on the same cores), then generating one sequence per synthetic profile.

All three are scored with one set of metrics (:mod:`synth.evaluate.behaviour`): accuracy (1 -
TVD of binned columns) and next-event coherence in Spark against every real training user's
events, item-kNN top-10 neighbour overlap on seeded samples; plus the copied-run shares against
the holdout users' natural share (:func:`synth.evaluate.behaviour.copied_runs`) and the DCR
share (share of synthetic users whose nearest real user, on user-level behaviour vectors, is a
training rather than a holdout user; 0.5 is ideal).

The cross-check (``bench/peer/qa_check.py``, in the peer environment): the mostlyai-qa package's
own accuracy function on the project's bins of the same samples must equal the project's Spark
figures (``qa_package_accuracy_max_abs_diff``, the package rounds to 5 digits), and the
package's full report scores the three generators its own way (``<gen>.qa_package.*``).

Datasets: the simulator at 1M events and the REES46 multi-category and cosmetics samples (from
``../shared/data``; skipped with a line when absent), each with its example config and
``synthesize.fusion.behaviour.model: learned``.

    .venv/bin/python -m bench.behaviour                                   # the simulator
    .venv/bin/python -m bench.behaviour --lakehouse simulator=./lakehouse # reuse a prepared one
    .venv/bin/python -m bench.behaviour --datasets simulator,rees46_multi_category,rees46_cosmetics

The recommendation targets of the issue (synthetic-only NDCG, lifts) are measured by the
pipeline's recommend stage (``bench/recommend.py`` with learned behaviour), not here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bench.common import (
    REES46_DATASETS,
    RESULTS,
    ROOT,
    WORK,
    Targets,
    data_absent,
    job_config,
    local_session,
    print_targets,
    write_result,
)

PEER_PROJECT = ROOT / "bench" / "peer"
PEER_VENV = ROOT / ".cache" / "venv-peer"
UV = ROOT / ".cache" / "tools" / "uv" / "bin" / "uv"
DATASETS: dict[str, tuple[str, str | None]] = {
    "simulator": ("configs/simulator_learned.yaml", None),
    **REES46_DATASETS,
}
GENERATORS = ("rules", "learned", "peer")
THROUGHPUT_USERS = 40_000
CONTEXT_COLUMNS = (
    "n_events",
    "n_view",
    "n_cart",
    "n_remove_from_cart",
    "n_purchase",
    "n_sessions",
    "n_items",
    "n_categories",
    "recency_days",
    "tenure_days",
    "view_price_mean",
    "lifecycle",
)


def peer_python() -> Path:
    """The peer environment's Python, synced from its lock when missing."""
    python = PEER_VENV / "bin" / "python"
    if not python.is_file():
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(PEER_VENV)}
        env.pop("VIRTUAL_ENV", None)
        subprocess.run(
            [str(UV), "sync", "--frozen", "--project", str(PEER_PROJECT)], check=True, env=env
        )
    return python


def learned_config(name: str, lakehouse: Path) -> dict[str, Any]:
    """The dataset's example config with learned behaviour and the given lakehouse."""
    return job_config(DATASETS[name][0], lakehouse, "learned")


def prepare(name: str, work: Path) -> Path:
    """Run the pipeline through ``filter`` with learned behaviour; return the lakehouse."""
    lakehouse = work / name / "lakehouse"
    cfg = learned_config(name, lakehouse)
    path = work / name / "job.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    command = [sys.executable, "-m", "synth", "run", "--config", str(path), "--to", "filter"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    (work / name / "prepare.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{name}: synth run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return lakehouse


def _user_vectors(events: pd.DataFrame, top: list[int], types: list[str]) -> pd.DataFrame:
    """One behaviour vector per user: log counts by type, top-category shares, log length."""
    frame = events.assign(_cat=events["category_id"].where(events["category_id"].isin(top), -2))
    by_type = pd.crosstab(frame["user_id"], frame["event_type"]).reindex(
        columns=types, fill_value=0
    )
    by_cat = pd.crosstab(frame["user_id"], frame["_cat"], normalize="index").reindex(
        columns=[*top, -2], fill_value=0.0
    )
    out = pd.concat([np.log1p(by_type.astype(np.float64)), by_cat], axis=1)
    out["_len"] = np.log1p(by_type.sum(axis=1))
    return out


def dcr_share(
    synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, seed: int
) -> float:
    """Share of synthetic users nearer a training than a holdout user (equal-size samples)."""
    from synth.evaluate.privacy import closer_to_training_share

    top = train["category_id"].value_counts().index[:20].tolist()
    types = sorted(train["event_type"].unique())
    t, h, s = (_user_vectors(x, top, types) for x in (train, holdout, synthetic))
    n = min(len(t), len(h))
    rng = np.random.default_rng(seed)
    t = t.iloc[rng.permutation(len(t))[:n]]
    h = h.iloc[rng.permutation(len(h))[:n]]
    mean, std = t.mean(), t.std().replace(0, 1.0)
    z = [((x - mean) / std).to_numpy(np.float64) for x in (s, t, h)]
    return closer_to_training_share(z[0], z[1], z[2])


def _events_of(sequences: pd.DataFrame) -> pd.DataFrame:
    """Flat events (user_id, event_type, product_id, gap_s, new_session) of user_sequences rows."""
    lengths = sequences["event_types"].map(len).to_numpy()
    return pd.DataFrame(
        {
            "user_id": np.repeat(sequences["user_id"].to_numpy(), lengths),
            "event_type": np.concatenate(sequences["event_types"].map(list).to_list()),
            "product_id": np.concatenate(sequences["product_ids"].map(list).to_list()),
            "gap_s": np.concatenate(sequences["gaps_s"].map(list).to_list()),
            "new_session": np.concatenate(sequences["new_session"].map(list).to_list()),
        }
    )


def _context(profiles: pd.DataFrame) -> pd.DataFrame:
    out = profiles[["user_id", *CONTEXT_COLUMNS]].copy()
    out["top_category"] = profiles["top_categories"].map(
        lambda v: str(v[0]) if v is not None and len(v) else "none"
    )
    return out


def run_peer_script(script: str, args: list[str], log: Path) -> None:
    """``bench/peer/<script>`` with the peer environment's Python; its output kept in ``log``."""
    command = [str(peer_python()), str(PEER_PROJECT / script), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{script} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def run_peer(
    train_profiles: pd.DataFrame,
    train_sequences: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    minutes: float,
    work: Path,
    seed: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train and sample mostlyai-engine in its environment; its events and timings."""
    work.mkdir(parents=True, exist_ok=True)
    _context(train_profiles).to_parquet(work / "context.parquet", index=False)
    _events_of(train_sequences).to_parquet(work / "events.parquet", index=False)
    _context(synthetic).to_parquet(work / "synthetic_context.parquet", index=False)
    out = work / "peer_events.parquet"
    run_peer_script(
        "engine.py",
        [
            "--context",
            str(work / "context.parquet"),
            "--events",
            str(work / "events.parquet"),
            "--synthetic-context",
            str(work / "synthetic_context.parquet"),
            "--minutes",
            f"{minutes:.3f}",
            "--seed",
            str(seed),
            "--workspace",
            str(work / "engine-ws"),
            "--out",
            str(out),
        ],
        work / "peer.log",
    )
    timings = json.loads(Path(str(out) + ".json").read_text())
    return pd.read_parquet(out), timings


def run_qa_check(folder: Path) -> dict[str, Any]:
    """``bench/peer/qa_check.py`` in the peer environment on the Parquet files in ``folder``."""
    out = folder / "qa_check.json"
    run_peer_script(
        "qa_check.py",
        [
            "--real",
            str(folder / "real.parquet"),
            "--holdout",
            str(folder / "holdout.parquet"),
            "--binned-real",
            str(folder / "binned_real.parquet"),
            "--synthetic",
            *[f"{g}={folder / f'{g}.parquet'}" for g in GENERATORS],
            "--binned",
            *[f"{g}={folder / f'binned_{g}.parquet'}" for g in GENERATORS],
            "--workdir",
            str(folder),
            "--out",
            str(out),
        ],
        folder / "qa_check.log",
    )
    return dict(json.loads(out.read_text()))


def peer_to_events(peer: pd.DataFrame, synthetic: pd.DataFrame, catalog: Any) -> pd.DataFrame:
    """The peer's rows as events: items mapped back to ids (an unknown item: id -1), times from
    each profile's first_seen plus the cumulative gaps."""
    pid = pd.to_numeric(peer["product_id"], errors="coerce").fillna(-1).astype(np.int64)
    pos = np.clip(np.searchsorted(catalog.product_id, pid), 0, len(catalog.product_id) - 1)
    known = catalog.product_id[pos] == pid.to_numpy()
    gaps = pd.to_numeric(peer["gap_s"], errors="coerce").fillna(0).clip(lower=0)
    first = synthetic.set_index("user_id")["first_seen"]
    start = pd.to_datetime(peer["user_id"].map(first))
    cum = gaps.groupby(peer["user_id"]).cumsum() - gaps.groupby(peer["user_id"]).transform("first")
    return pd.DataFrame(
        {
            "event_time": start + pd.to_timedelta(cum, unit="s"),
            "event_type": peer["event_type"].astype(str),
            "product_id": np.where(known, pid, -1),
            "category_id": np.where(known, catalog.category_id[pos], -1),
            "user_id": peer["user_id"].astype(np.int64),
        }
    )


def measure(
    name: str,
    lakehouse: Path,
    users: int,
    seed: int,
    work: Path,
    peer_budget_s: float | None = None,
) -> dict[str, float]:
    """Every generator's figures on one prepared lakehouse.

    ``peer_budget_s`` replaces the peer's budget (the sequence model's training time) for quick
    checks of the benchmark itself; the result records the budget used.
    """
    from pyspark.sql import functions as F

    from synth.config.job import JobConfig
    from synth.evaluate.behaviour import (
        behaviour_fidelity,
        binned_events,
        copied_runs,
        sample_users,
        scores,
        top_categories,
    )
    from synth.features.profiles import train_split
    from synth.generate.behaviour import generate_events
    from synth.generate.learned import learned_events, resolve_sequence_model
    from synth.generate.sampler import ModelBlob
    from synth.generate.stage import BehaviourInputs
    from synth.io.delta import Lakehouse, read_table
    from synth.refs import resolve_model, resolve_run_id
    from synth.schema import REJECTED_REASON, RUN_ID, USER_PROFILE_SCHEMA
    from synth.seeding import holdout_mask

    cfg = JobConfig.model_validate(learned_config(name, lakehouse))
    spark = local_session("bench-behaviour", driver_memory="6g")
    lake = Lakehouse(str(lakehouse))
    ref = resolve_model(spark, lake, cfg)
    run = resolve_run_id(cfg, ref)
    seq_ref = resolve_sequence_model(spark, lake, cfg)
    artifact = json.loads((Path(seq_ref.model_dir) / "artifact.json").read_text())
    inputs = BehaviourInputs.read(spark, lake, cfg)
    held = holdout_mask("user_id", ref.holdout_fraction, ref.holdout_seed)

    kept = read_table(spark, lake.synthetic_table("user_profiles")).where(
        (F.col(RUN_ID) == run) & F.col(REJECTED_REASON).isNull()
    )
    kept = kept.select(*USER_PROFILE_SCHEMA.names).orderBy("user_id").limit(users)
    kept = kept.persist()
    synthetic = kept.toPandas()
    out: dict[str, float] = {f"{name}.synthetic_users": float(len(synthetic))}
    events: dict[str, pd.DataFrame] = {}

    began = time.perf_counter()
    rules = generate_events(
        synthetic, inputs.catalog, inputs.params, seed=seed, source="b", source_file="b"
    )
    out[f"{name}.rules.events_per_s_driver"] = round(len(rules) / (time.perf_counter() - began), 1)
    events["rules"] = rules

    blob = ModelBlob.from_dir(seq_ref.model_dir)
    drawn = learned_events(
        kept,
        blob,
        inputs.catalog,
        seed=seed,
        source="b",
        source_file="b",
        enrich=False,
        window_hi_ns=0,
        partitions=spark.sparkContext.defaultParallelism,
    )
    events["learned"] = drawn.toPandas()
    # throughput through Spark: every kept synthetic profile, the events drawn and counted (not
    # collected), so the figure is the drawing itself; a small sample's profiles are repeated
    # under new ids up to THROUGHPUT_USERS users, so the figure is the rate of drawing rather
    # than the start-up of one short Spark job
    every = read_table(spark, lake.synthetic_table("user_profiles")).where(
        (F.col(RUN_ID) == run) & F.col(REJECTED_REASON).isNull()
    )
    every = every.select(*USER_PROFILE_SCHEMA.names)
    kept_users = every.count()
    repeats = max(1, -(-THROUGHPUT_USERS // max(1, kept_users)))
    if repeats > 1:
        every = every.crossJoin(spark.range(repeats).withColumnRenamed("id", "_copy"))
        # a new id per copy (ids span the whole long range: a hash, not arithmetic)
        every = every.withColumn("user_id", F.xxhash64("user_id", "_copy")).drop("_copy")
    every = every.persist()
    n_users = every.count()
    out[f"{name}.learned.spark_profile_copies"] = float(repeats)
    all_events = learned_events(
        every,
        blob,
        inputs.catalog,
        seed=seed,
        source="b",
        source_file="b",
        enrich=False,
        window_hi_ns=0,
        partitions=spark.sparkContext.defaultParallelism,
    )
    counted = all_events.groupBy().count()
    began = time.perf_counter()
    n_events = int(counted.first()[0])
    seconds = time.perf_counter() - began
    every.unpersist()
    out[f"{name}.learned.spark_users"] = float(n_users)
    out[f"{name}.learned.spark_events"] = float(n_events)
    out[f"{name}.learned.events_per_s_spark"] = round(n_events / seconds, 1)
    history = artifact["history"]
    train_s = float(sum(e["seconds"] for e in history))
    out[f"{name}.learned.train_seconds"] = round(train_s, 1)
    out[f"{name}.learned.train_s_per_epoch"] = round(train_s / max(1, len(history)), 1)
    out[f"{name}.learned.epochs"] = float(len(history))

    sequences = read_table(spark, lake.gold_table("user_sequences"))
    profiles = read_table(spark, lake.gold_table("user_profiles"))
    train_seq = sequences.where(~held)
    train_profiles = profiles.where(~held).toPandas()
    peer, timings = run_peer(
        train_profiles,
        train_seq.toPandas(),
        synthetic,
        minutes=(peer_budget_s if peer_budget_s is not None else train_s) / 60.0,
        work=work / name / "peer",
        seed=seed,
    )
    events["peer"] = peer_to_events(peer, synthetic, inputs.catalog)
    out[f"{name}.peer.budget_seconds"] = round(
        peer_budget_s if peer_budget_s is not None else train_s, 1
    )
    out[f"{name}.peer.train_seconds"] = float(timings["train_seconds"])
    out[f"{name}.peer.epochs"] = float(timings["epochs"])
    if timings.get("seconds_per_epoch") is not None:
        out[f"{name}.peer.train_s_per_epoch"] = float(timings["seconds_per_epoch"])
    out[f"{name}.peer.train_cpu_seconds"] = float(timings["train_cpu_seconds"])
    out[f"{name}.peer.sample_seconds"] = float(timings["sample_seconds"])

    silver = read_table(spark, lake.silver_table())
    real_train = train_split(silver).where(~held)
    real_hold = train_split(silver).where(held)
    real = sample_users(real_train, users, seed + 1)
    hold = sample_users(real_hold, users, seed + 2)
    holdout_seq = sequences.where(held)
    qa_dir = work / name / "qa"
    qa_dir.mkdir(parents=True, exist_ok=True)
    real_sample = spark.createDataFrame(real)
    top = top_categories(real_sample)
    binned_events(real_sample, top).toPandas().to_parquet(qa_dir / "binned_real.parquet")
    real.to_parquet(qa_dir / "real.parquet")
    hold.to_parquet(qa_dir / "holdout.parquet")
    sample_accuracy: dict[str, dict[str, float]] = {}
    for gen in GENERATORS:
        frame = events[gen][["event_time", "event_type", "product_id", "category_id", "user_id"]]
        frame = frame.assign(event_time=pd.to_datetime(frame["event_time"]).dt.tz_localize(None))
        spark_events = spark.createDataFrame(frame).persist()
        # every real training user's events against the generator's (Spark); neighbours on
        # seeded samples of ``users`` users
        figures = behaviour_fidelity(
            real_train, spark_events, baseline=real_hold, users=users, seed=seed + 1
        )
        for key in ("accuracy", "coherence", "knn10_overlap"):
            out[f"{name}.{gen}.{key}"] = round(float(figures[key]), 4)
        for col, value in figures["accuracy_per_column"].items():
            out[f"{name}.{gen}.accuracy.{col}"] = round(float(value), 4)
        out[f"{name}.{gen}.events"] = float(len(frame))
        out[f"{name}.knn10_overlap_real"] = round(float(figures["knn10_overlap_real"]), 4)
        out[f"{name}.real_events_scored"] = figures["real_events"]
        out[f"{name}.{gen}.dcr_share"] = round(dcr_share(frame, real, hold, seed), 4)
        copies = copied_runs(spark_events, train_seq, holdout_seq)
        for n, c in copies.items():
            out[f"{name}.{gen}.copied_share_n{n}"] = round(c["synthetic_share"], 5)
            out[f"{name}.holdout_copied_share_n{n}"] = round(c["holdout_share"], 5)
        # the same scores on the real sample, and its bins, for the mostlyai-qa cross-check
        sample_accuracy[gen] = scores(real_sample, spark_events, top).accuracy
        binned_events(spark_events, top).toPandas().to_parquet(qa_dir / f"binned_{gen}.parquet")
        frame.to_parquet(qa_dir / f"{gen}.parquet")
        spark_events.unpersist()
    checked = run_qa_check(qa_dir)
    worst = 0.0
    for gen in GENERATORS:
        got = checked[gen]
        for col, value in got["columns"].items():
            worst = max(worst, abs(value - sample_accuracy[gen][col]))
        for key, value in got["report"].items():
            if value is not None:
                out[f"{name}.{gen}.qa_package.{key}"] = round(float(value), 4)
        out[f"{name}.{gen}.qa_package.seconds"] = float(got["seconds"])
    # mostlyai-qa rounds to 5 digits: a difference up to 5e-6 is its rounding
    out[f"{name}.qa_package_accuracy_max_abs_diff"] = round(worst, 7)
    for key in ("accuracy", "coherence"):
        out[f"{name}.learned_minus_peer.{key}"] = round(
            out[f"{name}.learned.{key}"] - out[f"{name}.peer.{key}"], 4
        )
        out[f"{name}.learned_minus_peer.qa_package.{key}"] = round(
            out[f"{name}.learned.qa_package.{key}"] - out[f"{name}.peer.qa_package.{key}"], 4
        )
    for length in (3, 4, 5):
        out[f"{name}.learned.copied_excess_n{length}"] = round(
            out[f"{name}.learned.copied_share_n{length}"]
            - out[f"{name}.holdout_copied_share_n{length}"],
            5,
        )
    kept.unpersist()
    spark.stop()
    return out


def targets_for(name: str) -> Targets:
    """The issue's targets this benchmark measures."""
    targets: Targets = {
        f"{name}.learned_minus_peer.accuracy": (">=", 0.0),
        f"{name}.learned_minus_peer.coherence": (">=", 0.0),
        f"{name}.learned.dcr_share": ("<=", 0.52),
        f"{name}.learned.events_per_s_spark": (">=", 50_000.0),
        f"{name}.qa_package_accuracy_max_abs_diff": ("<=", 5e-6),
    }
    for n in (3, 4, 5):
        targets[f"{name}.learned.copied_excess_n{n}"] = ("<=", 0.0)
    return targets


def main(argv: list[str] | None = None) -> int:
    """Prepare (or reuse) each dataset's lakehouse, measure, write bench/results/behaviour.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="simulator")
    parser.add_argument(
        "--lakehouse",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="reuse a prepared lakehouse for dataset NAME (repeatable)",
    )
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument(
        "--peer-budget-s",
        type=float,
        default=None,
        help="the peer's training budget (default: the sequence model's training time, the "
        "benchmark's rule; set it only to check the benchmark itself)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=WORK / "behaviour")
    parser.add_argument("--out", type=Path, default=RESULTS / "behaviour.json")
    args = parser.parse_args(argv)
    metrics: dict[str, float] = {}
    targets: Targets = {}
    prepared = {k: Path(v).resolve() for k, v in (x.split("=", 1) for x in args.lakehouse)}
    for name in args.datasets.split(","):
        if name not in DATASETS:
            parser.error(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
        if data_absent(name, DATASETS[name][1]):
            continue
        work = args.work.resolve()
        lakehouse = prepared[name] if name in prepared else prepare(name, work)
        metrics.update(measure(name, lakehouse, args.users, args.seed, work, args.peer_budget_s))
        targets.update(targets_for(name))
    met = write_result("behaviour", metrics, targets, args.out)
    print_targets(metrics, targets, met)
    print(f"-> {args.out}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
