"""Does synthesis help? The whole pipeline per dataset, real-only vs real + synthetic recommenders.

For each dataset (the simulator at 1M events and the two real REES46 samples) this runs
``python -m synth run`` on its example config (``configs/<name>.yaml``) into
``bench/work/recommend/<name>/`` and reads the run's ``metrics.json``. The baseline is the same
run's real-only recommender (same seeds, same real training pairs, scored on the same held-out
real events); the targets are issue 7's:

- ``<dataset>.<model>.all_lift_plus_spread >= 0``: real + synthetic NDCG@10 (all users) is not
  below real-only by more than the seed spread;
- ``<dataset>.<model>.cold_lift_pct >= 5`` and ``<dataset>.<model>.cold_lift_over_spread >= 1``:
  at least +5% NDCG@10 for cold / sparse users, and a lift larger than the seed spread;
- issue 18's: ``<dataset>.item_knn.synthetic_only_share_of_real >= 0.6`` (item-kNN trained on
  synthetic events alone reaches 60% of its real-only NDCG@10) and
  ``<dataset>.models_cold_lift_ge_10pct >= 2`` (at least two models lift cold / sparse users by
  10% or more);
- ``<dataset>.exact_match_share <= 0``, ``<dataset>.closer_to_training_share <= 0.55``,
  ``<dataset>.mia_auc <= 0.6``;
- issue 19's: ``simulator.recommend_seconds <= 120`` (the stage on the default job).

The verdict's strongest real-only model (any model, EASE and SASRec included) and the best
fused model's lift against it are recorded per dataset (``strongest_real_only_ndcg10``,
``best_fused_vs_strongest_lift_pct``; the model names are printed). SASRec runs on every
dataset (:data:`SEQUENCE_MODEL` sets it for the simulator, the REES46 configs turn it on).

The recommend stage's time per dataset is recorded beside the time of the implementation it
replaced (``--baseline-ref``, default ``a0f3601``: driver-side scoring, no EASE): that commit is
checked out into a git worktree under ``bench/work/baseline_src/`` and its ``recommend`` stage
runs on the same lakehouse right after the new pipeline (``<dataset>.recommend_seconds`` and
``<dataset>.recommend_seconds_baseline``; the new stage's ``recommend.json`` is put back after).
``--baseline-ref ''`` skips it.

    .venv/bin/python -m bench.recommend                        # all three datasets
    .venv/bin/python -m bench.recommend --datasets rees46_cosmetics
    .venv/bin/python -m bench.recommend --behaviour learned   # -> results/recommend_learned.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.common import (
    REES46_DATASETS,
    RESULTS,
    ROOT,
    WORK,
    Targets,
    data_absent,
    job_config,
    print_targets,
    write_result,
)

DATASETS: dict[str, tuple[str, str | None]] = {
    "simulator": ("configs/simulator.yaml", None),
    **REES46_DATASETS,
}

# The sequence model (SASRec) is off in the default job (its cost: one training per grid value,
# variant and seed); the REES46 configs turn it on with its defaults. On the simulator's 100k
# users the bench turns it on with one size and fewer, larger steps, so the run stays near
# half an hour on 2 cores.
SEQUENCE_MODEL: dict[str, dict[str, object]] = {
    "simulator": {"enabled": True, "hidden": [32], "epochs": 8, "batch_size": 512, "lr": 0.002},
}
# Keys the baseline implementation (``--baseline-ref``) does not know: left out of its job file.
NEWER_MODELS = ("ease", "sasrec")


def run_dataset(
    name: str, work: Path, behaviour: str = "rules", reuse: bool = False
) -> dict[str, object] | None:
    """Run the pipeline for ``name``; return its metrics.json (None when its data is absent).

    ``behaviour`` sets ``synthesize.fusion.behaviour.model`` (``rules`` or ``learned``). With
    ``reuse``, a finished earlier run in ``work`` with the very same job file is read instead of
    run again (its recorded wall time kept).
    """
    config, data = DATASETS[name]
    if data_absent(name, data):
        return None
    cfg = job_config(config, work / name / "lakehouse", behaviour)
    if name in SEQUENCE_MODEL:
        models = cfg.setdefault("recommend", {}).setdefault("models", {})
        models["sasrec"] = {**models.get("sasrec", {}), **SEQUENCE_MODEL[name]}
    path = work / name / "job.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(cfg, sort_keys=False)
    finished = work / name / "metrics.json"
    if reuse and finished.is_file() and path.is_file() and path.read_text() == text:
        print(f"{name}: reusing {finished}")  # noqa: T201
        return dict(json.loads(finished.read_text()))
    path.write_text(text)
    began = time.perf_counter()
    command = [sys.executable, "-m", "synth", "run", "--config", str(path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ))
    (work / name / "run.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{name}: synth run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads((work / name / "lakehouse" / "_reports" / "run_summary.json").read_text())
    metrics = json.loads(Path(summary["stages"]["report"]["metrics_json"]).read_text())
    metrics["_wall_s"] = round(time.perf_counter() - began, 1)
    finished.write_text(json.dumps(metrics))
    return metrics


BASELINE_REF = "a0f3601"


def baseline_seconds(ref: str, name: str, work: Path) -> float:
    """Seconds of the ``recommend`` stage of git ``ref`` on ``name``'s finished lakehouse."""
    source = WORK / "baseline_src" / ref
    if not source.is_dir():
        source.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(source), ref], cwd=ROOT, check=True
        )
    reports = list((work / name / "lakehouse" / "_reports").glob("*/recommend.json"))
    if len(reports) != 1:
        raise SystemExit(f"{name}: expected one recommend.json, found {reports}")
    ours = reports[0].read_text()
    job = yaml.safe_load((work / name / "job.yaml").read_text())
    for model in NEWER_MODELS:
        job.get("recommend", {}).get("models", {}).pop(model, None)
    baseline_job = work / name / "job_baseline.yaml"
    baseline_job.write_text(yaml.safe_dump(job, sort_keys=False))
    env = {
        **os.environ,
        "PYTHONPATH": str(source),
        "SYNTH_JARS_DIR": os.environ.get("SYNTH_JARS_DIR", str(ROOT / ".cache" / "jars")),
        "SYNTH_SPARK_CONF_DIR": str(source / "spark_conf"),
    }
    command = [sys.executable, "-m", "synth", "run", "--config", str(baseline_job)]
    command += ["--from", "recommend", "--to", "recommend"]
    try:
        done = subprocess.run(command, cwd=source, capture_output=True, text=True, env=env)
        (work / name / f"baseline_{ref}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise SystemExit(
                f"{name}: the baseline's recommend stage failed: {done.stderr[-2000:]}"
            )
        return float(json.loads(reports[0].read_text())["seconds"])
    finally:
        reports[0].write_text(ours)


def flatten(name: str, m: dict[str, object]) -> tuple[dict[str, float], Targets]:
    """The benchmark metrics and targets of one dataset's metrics.json."""
    out: dict[str, float] = {f"{name}.pipeline_wall_s": float(m["_wall_s"])}  # type: ignore[arg-type]
    targets: Targets = {}
    rec = m["recommend"]
    assert isinstance(rec, dict)
    k = rec["settings"]["k"][0]
    strong_cold = 0
    for model, segs in sorted(rec["comparisons"].items()):
        every, cold = segs["all"], segs["cold"]
        p = f"{name}.{model}"
        out[f"{p}.all_real_ndcg{k}"] = round(every["real_mean"], 5)
        out[f"{p}.all_fused_ndcg{k}"] = round(every["fused_mean"], 5)
        out[f"{p}.all_seed_spread"] = round(every["spread"], 5)
        out[f"{p}.all_lift_plus_spread"] = round(every["lift"] + every["spread"], 5)
        targets[f"{p}.all_lift_plus_spread"] = (">=", 0.0)
        out[f"{p}.cold_real_ndcg{k}"] = round(cold["real_mean"], 5)
        out[f"{p}.cold_fused_ndcg{k}"] = round(cold["fused_mean"], 5)
        out[f"{p}.cold_lift_pct"] = round(
            cold["lift_pct"] if cold["lift_pct"] is not None else 0.0, 2
        )
        out[f"{p}.cold_lift_over_spread"] = round(
            cold["lift"] / cold["spread"]
            if cold["spread"] > 0
            else (1e9 if cold["lift"] > 0 else 0.0),
            3,
        )
        out[f"{p}.cold_p_value"] = round(cold["p_value"] if cold["p_value"] is not None else 1.0, 4)
        targets[f"{p}.cold_lift_pct"] = (">=", 5.0)
        targets[f"{p}.cold_lift_over_spread"] = (">=", 1.0)
        synthetic = rec["results"][model].get("synthetic", {}).get("all", {}).get(f"ndcg@{k}")
        if synthetic:
            out[f"{p}.all_synthetic_only_ndcg{k}"] = round(synthetic["mean"], 5)
            if every["real_mean"] > 0:
                share = synthetic["mean"] / every["real_mean"]
                out[f"{p}.synthetic_only_share_of_real"] = round(share, 4)
                if model == "item_knn":
                    targets[f"{p}.synthetic_only_share_of_real"] = (">=", 0.6)
        if cold["lift_pct"] is not None and cold["lift_pct"] >= 10.0:
            strong_cold += 1
    verdict = m.get("verdict", {})
    assert isinstance(verdict, dict)
    base = verdict.get("baseline")
    if base:  # the strongest real-only model, and the best fused model against it
        out[f"{name}.strongest_real_only_ndcg{k}"] = round(float(base["mean"]), 5)
        best = verdict.get("best_fused", {}).get("all")
        if best and best.get("lift_pct") is not None:
            out[f"{name}.best_fused_vs_strongest_lift_pct"] = round(float(best["lift_pct"]), 2)
    out[f"{name}.models_cold_lift_ge_10pct"] = float(strong_cold)
    targets[f"{name}.models_cold_lift_ge_10pct"] = (">=", 2.0)
    ev = m["evaluate"]
    assert isinstance(ev, dict)
    privacy = ev["privacy"]
    out[f"{name}.exact_match_share"] = privacy["exact_match_share_released"]
    out[f"{name}.closer_to_training_share"] = round(privacy["closer_to_training_share"], 4)
    out[f"{name}.mia_auc"] = round(privacy["mia_auc"], 4)
    targets[f"{name}.exact_match_share"] = ("<=", 0.0)
    targets[f"{name}.closer_to_training_share"] = ("<=", 0.55)
    targets[f"{name}.mia_auc"] = ("<=", 0.6)
    utility = ev.get("utility", {})
    for key in ("train_on_real_auc", "train_on_synthetic_auc"):
        if utility.get(key) is not None:
            out[f"{name}.tstr_{key}"] = round(utility[key], 4)
    out[f"{name}.recommend_seconds"] = float(rec["seconds"])
    if name == "simulator":
        targets[f"{name}.recommend_seconds"] = ("<=", 120.0)
    out[f"{name}.test_users"] = float(rec["data"]["test_users"])
    out[f"{name}.test_cold_users"] = float(rec["data"]["test_cold_users"])
    return out, targets


def main(argv: list[str] | None = None) -> int:
    """Run the datasets, print the targets, write bench/results/recommend.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument(
        "--behaviour",
        choices=("rules", "learned"),
        default="rules",
        help="synthetic events from the rules or the sequence model (issue 18)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="read a dataset's finished earlier run (same job file) instead of running it",
    )
    parser.add_argument(
        "--baseline-ref",
        default=BASELINE_REF,
        help="git ref whose recommend stage is timed on the same lakehouse ('' to skip)",
    )
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    suffix = "" if args.behaviour == "rules" else f"_{args.behaviour}"
    args.work = args.work or WORK / f"recommend{suffix}"
    args.out = args.out or RESULTS / f"recommend{suffix}.json"
    metrics: dict[str, float] = {}
    targets: Targets = {}
    for name in args.datasets.split(","):
        if name not in DATASETS:
            parser.error(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
        got = run_dataset(name, args.work.resolve(), args.behaviour, args.reuse)
        if got is None:
            continue
        more, more_targets = flatten(name, got)
        if args.baseline_ref:
            seconds = baseline_seconds(args.baseline_ref, name, args.work.resolve())
            more[f"{name}.recommend_seconds_baseline"] = seconds
        metrics.update(more)
        targets.update(more_targets)
        print(f"{name}: {got['verdict']['headline']} ({got['_wall_s']} s)")  # type: ignore[index]  # noqa: T201
        answer = got["verdict"].get("answer")  # type: ignore[attr-defined]
        if answer:
            print(f"  {answer}")  # noqa: T201
    met = write_result("recommend", metrics, targets, args.out)
    print_targets(metrics, targets, met)
    print(f"-> {args.out}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
