"""The generators' CUDA path beside their CPU path: VAE and GAN fit and sample on both devices.

Baseline: the same models, data, seeds and epochs on the CPU, in the same run. On a machine
without CUDA the CPU figures are written and the CUDA ones are left out (the targets count as
missed, so a run without a GPU never reads as a pass).

The table is generated here (counts, skewed continuous columns with modes, Zipf-like
categories), so the benchmark needs no Spark and no data set: it runs where only torch is (the
GPU machine has no Java). A model trained on CUDA is saved, loaded on the CPU and sampled, the
way the Spark sampler uses a model trained on a GPU cluster.

    .venv/bin/python -m bench.models_cuda [--rows 100000 --epochs 5 --batch-size 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.common import RESULTS, Targets, result_document, targets_met, write_json
from synth.models.base import EpochLog, Synthesizer, TrainConfig
from synth.models.encoding import ColumnSpec
from synth.models.gan import GAN
from synth.models.vae import VAE

MODELS: dict[str, tuple[type[Synthesizer], float]] = {"vae": (VAE, 1e-3), "gan": (GAN, 2e-4)}


def table(rows: int, seed: int) -> tuple[pd.DataFrame, list[ColumnSpec]]:
    """A profile-like table: two counts, two continuous columns, two categorical columns."""
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, 3, rows)
    frame = pd.DataFrame(
        {
            "n_events": rng.poisson(np.array([3.0, 12.0, 40.0])[segment]).astype(np.int64),
            "n_purchase": rng.binomial(3, np.array([0.05, 0.2, 0.5])[segment]).astype(np.int64),
            "avg_price": rng.lognormal(np.array([3.0, 4.0, 5.5])[segment], 0.4),
            "recency_days": np.where(
                rng.random(rows) < 0.2, 0.0, rng.exponential(10.0, rows).round(2)
            ),
            "category": (rng.zipf(1.6, rows) % 40).astype(str),
            "lifecycle": np.array(["new", "active", "lapsing"])[segment],
        }
    )
    specs = [
        ColumnSpec("n_events", "count"),
        ColumnSpec("n_purchase", "count"),
        ColumnSpec("avg_price", "continuous"),
        ColumnSpec("recency_days", "continuous"),
        ColumnSpec("category", "categorical"),
        ColumnSpec("lifecycle", "categorical"),
    ]
    return frame, specs


def run_model(
    name: str, device: str, frame: pd.DataFrame, specs: list[ColumnSpec], args: argparse.Namespace
) -> dict[str, float]:
    """Fit one model on one device; time the epochs and a sample; check the CPU round trip."""
    cls, lr = MODELS[name]
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        patience=0,
        validation_fraction=0.0,
        lr=lr,
        device=device,
    )
    model = cls(cfg)
    epochs: list[EpochLog] = []
    began = time.perf_counter()
    model.fit(frame, specs, progress=epochs.append)
    fit_s = time.perf_counter() - began  # the encoder's fit (CPU) included
    began = time.perf_counter()
    sample = model.sample(args.sample_rows, seed=args.seed)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    sample_s = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp))
        on_cpu = Synthesizer.load(tmp, device="cpu").sample(1_000, seed=args.seed)
    for out in (sample, on_cpu):
        if list(out.columns) != list(frame.columns) or out.isna().any().any():
            raise AssertionError(f"{name} on {device}: sample columns or nulls are wrong")
    return {
        # the mean of the epochs after the first (CUDA's first epoch carries its start-up)
        f"{name}_{device}_epoch_s": round(float(np.mean([e.seconds for e in epochs[1:]])), 4),
        f"{name}_{device}_fit_s": round(fit_s, 2),
        f"{name}_{device}_sample_rows_per_s": round(args.sample_rows / sample_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write ``bench/results/models_cuda.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=6, help="at least 2")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--sample-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "models_cuda.json")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is left out of the timing)")
    frame, specs = table(args.rows, args.seed)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    metrics: dict[str, float] = {}
    for name in MODELS:
        for device in devices:
            metrics.update(run_model(name, device, frame, specs, args))
            print(f"{name} on {device}: {metrics[f'{name}_{device}_epoch_s']} s/epoch", flush=True)
        if "cuda" in devices:
            cpu, gpu = metrics[f"{name}_cpu_epoch_s"], metrics[f"{name}_cuda_epoch_s"]
            metrics[f"{name}_cuda_speedup"] = round(cpu / gpu, 2)
    targets: Targets = {f"{name}_cuda_speedup": (">=", 1.0) for name in MODELS}
    metrics["cuda_devices"] = torch.cuda.device_count()
    # without CUDA there is nothing to compare: every target counts as missed
    met = targets_met(metrics, targets) if "cuda" in devices else dict.fromkeys(targets, False)
    write_json(args.out, result_document("models_cuda", metrics, targets, met))
    where = torch.cuda.get_device_name(0) if "cuda" in devices else "no CUDA device"
    print(f"torch {torch.__version__}, {where}; {args.rows:,} rows, {args.epochs} epochs")
    for key, (op, bound) in targets.items():
        value = metrics.get(key, "not measured")
        print(f"  {key:<22}{value!s:>14} (target {op} {bound})  {'MET' if met[key] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
