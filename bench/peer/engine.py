"""The peer, run in its own environment: mostlyai-engine's sequential TabularARGN.

Not part of synth (and never imported by it): ``bench/behaviour.py`` runs this file with the
peer environment's Python (``.cache/venv-peer``, locked by ``bench/peer/uv.lock``: the engine
needs numpy >= 2 and pyarrow >= 16, which Petastorm's pins exclude) and moves data as Parquet:

* ``--context``: real training users' profile columns (one row per user, ``user_id`` key);
* ``--events``: their events (``user_id``, ``event_type``, ``product_id``, ``gap_s``,
  ``new_session``), in order;
* ``--synthetic-context``: the synthetic profiles to write events for (same columns);
* ``--minutes``: the training budget (the engine's ``max_training_time``);
* ``--out``: the generated events (Parquet), plus ``<out>.json`` with the timings.

TabularARGN gets the profiles as its context table and the events as its target table (linked
by ``user_id``), as its README shows for sequential data, and generates one sequence per given
synthetic profile.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch
from mostlyai.engine import TabularARGN, set_random_state


def main() -> None:
    """Train on the real users, generate for the synthetic profiles, write Parquet + timings."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--context", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--synthetic-context", required=True)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workspace", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    set_random_state(args.seed)
    context = pd.read_parquet(args.context)
    events = pd.read_parquet(args.events)
    synthetic = pd.read_parquet(args.synthetic_context)
    events["product_id"] = events["product_id"].astype(str)  # an item is a category
    began = time.perf_counter()
    cpu0 = time.process_time()
    argn = TabularARGN(
        tgt_context_key="user_id",
        ctx_primary_key="user_id",
        ctx_data=context,
        max_training_time=args.minutes,
        workspace_dir=args.workspace,
        verbose=0,
    )
    argn.fit(events)
    train_s = time.perf_counter() - began
    train_cpu = time.process_time() - cpu0
    began = time.perf_counter()
    out = argn.sample(ctx_data=synthetic)
    sample_s = time.perf_counter() - began
    out.to_parquet(args.out, index=False)
    progress = pd.read_csv(
        Path(args.workspace) / "ModelStore" / "model-data" / "progress-messages.csv"
    )
    epochs = float(progress["epoch"].max()) if len(progress) else 0.0
    total = float(progress["total_time"].max()) if len(progress) else 0.0
    timings = {
        "epochs": round(epochs, 3),
        "seconds_per_epoch": round(total / epochs, 2) if epochs else None,
        "train_seconds": round(train_s, 2),
        "train_cpu_seconds": round(train_cpu, 2),
        "sample_seconds": round(sample_s, 2),
        "events": len(out),
        "users": int(synthetic["user_id"].nunique()),
    }
    Path(args.out + ".json").write_text(json.dumps(timings, indent=2))
    print(json.dumps(timings))  # noqa: T201


if __name__ == "__main__":
    main()
