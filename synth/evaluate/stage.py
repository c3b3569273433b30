"""Stage ``evaluate``: fidelity, utility (TSTR) and privacy of the run's released synthetic rows.

Reads the model's real table at its trained version (training rows and the holdout the model
never saw), the run's raw and filtered synthetic rows, and writes
``<lakehouse>/_reports/<run id>/evaluate.json``:
- ``fidelity``: quality score (column shapes, pair trends), per-column marginals real vs
  synthetic (binned on the real sample's deciles, count columns on whole numbers:
  :func:`count_edges`; categories by real frequency), Pearson
  correlation matrices of the numeric columns;
- ``utility``: train-on-synthetic / test-on-real (:mod:`synth.evaluate.utility`);
- ``privacy``: exact-match shares (raw and released), closer-to-training share and the
  membership-inference AUC (:mod:`synth.evaluate.privacy`);
- ``filtering``: the run's rows kept and removed per reason;
- ``behaviour``: the synthetic users' events against real users' events (accuracy, coherence,
  item-neighbour overlap, copied runs; :mod:`synth.evaluate.behaviour`), when the run has them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from synth.config.evaluate import EvaluateConfig
from synth.config.job import JobConfig
from synth.errors import InputError
from synth.evaluate.behaviour import behaviour_fidelity, copied_runs
from synth.evaluate.privacy import closer_to_training_share, membership_auc
from synth.evaluate.utility import TASKS, tstr
from synth.features.profiles import train_split
from synth.generate.filters import Reason, encode_rows, row_hash
from synth.generate.stage import count_by, model_encoder, real_split
from synth.io.delta import Lakehouse, read_table, table_exists, write_json
from synth.models.encoding import TableEncoder
from synth.models.table_frame import model_rows
from synth.refs import ModelRef, resolve_model, resolve_run_id
from synth.schema import (
    GOLD_SCHEMAS,
    ORIGIN,
    REJECTED_REASON,
    ROW,
    RUN_ID,
    SYNTHETIC_USER,
    USER_ID,
    table_key,
)
from synth.seeding import holdout_mask
from synth.stages import StageReport
from synth.stats.fidelity import BINS, quality_score, sdtypes
from synth.stats.hashing import hash_sample

MAX_LEVELS = 8
MIN_ROWS = 10  # fewer rows of a kind: distances, utility and fidelity are not measured


def marginal(real: pd.Series, synthetic: pd.Series, sdtype: str) -> dict[str, Any]:
    """Real and synthetic shares per bin (numbers) or per category (the real top levels)."""
    if sdtype == "categorical":
        r = real.astype(str).value_counts(normalize=True)
        s = synthetic.astype(str).value_counts(normalize=True)
        levels = list(r.index[:MAX_LEVELS])
        real_shares = [float(r.get(v, 0.0)) for v in levels]
        syn_shares = [float(s.get(v, 0.0)) for v in levels]
        return {
            "kind": "categorical",
            "labels": levels,
            "real": [*real_shares, max(0.0, 1.0 - sum(real_shares))],
            "synthetic": [*syn_shares, max(0.0, 1.0 - sum(syn_shares))],
        }

    def numbers(values: pd.Series) -> np.ndarray:
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.astype("int64").where(values.notna()) / 86_400e9
        arr = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
        return arr[np.isfinite(arr)]

    r_num, s_num = numbers(real), numbers(synthetic)
    whole = sdtype == "numerical" and len(r_num) > 0 and bool(np.all(r_num == np.floor(r_num)))
    if whole:
        edges = count_edges(r_num, s_num)
    else:
        edges = np.unique(np.quantile(r_num, np.linspace(0, 1, BINS + 1))) if len(r_num) else []
        if len(edges) < 2:
            edges = (
                np.array([r_num.min(), r_num.max() + 1.0]) if len(r_num) else np.array([0.0, 1.0])
            )
    inner = edges[1:-1]

    def shares(values: np.ndarray) -> list[float]:
        counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(edges) - 1)
        return (counts / max(1, len(values))).tolist()

    out: dict[str, Any] = {
        "kind": "count" if whole else "numeric" if sdtype == "numerical" else "datetime (days)",
        "edges": [float(e) for e in edges],
        "real": shares(r_num),
        "synthetic": shares(s_num),
    }
    if whole:  # bin i holds the whole numbers edges[i] .. edges[i + 1] - 1
        out["labels"] = [
            f"{int(a)}" if b - a == 1 else f"{int(a)}-{int(b) - 1}"
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    return out


def count_edges(real: np.ndarray, synthetic: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Integer-aligned bin edges of a whole-number (count) column.

    Bin i holds the whole numbers ``edges[i]`` up to ``edges[i + 1] - 1``.
    One bin per value when the real and synthetic samples hold at most ``bins`` distinct values;
    otherwise bins start at the real sample's deciles rounded down (the combined samples' when
    the real one is constant). The edges span both samples (the first at the smallest value, the
    last one above the largest), so a column with two or more distinct values never gets one bin.
    """
    both = np.concatenate([real, synthetic])
    values = np.unique(np.floor(both))
    if len(values) <= bins:
        starts = values
    else:
        quantiles = np.linspace(0, 1, bins + 1)[:-1]
        for sample in (real, both):
            starts = np.unique(
                np.concatenate([values[:1], np.floor(np.quantile(sample, quantiles))])
            )
            if len(starts) >= 2:
                break
    return np.append(starts, values[-1] + 1.0)


def correlations(frame: pd.DataFrame, columns: list[str]) -> list[list[float]]:
    """Pearson correlation matrix of ``columns`` (timestamps as numbers; constant: 0)."""
    numbers = pd.DataFrame(
        {
            c: pd.to_numeric(
                frame[c].astype("int64").where(frame[c].notna())
                if pd.api.types.is_datetime64_any_dtype(frame[c])
                else frame[c],
                errors="coerce",
            )
            for c in columns
        }
    )
    corr = numbers.corr().fillna(0.0).to_numpy()
    return [[round(float(v), 4) for v in row] for row in corr]


@dataclass
class EvaluateReport(StageReport):
    """What the ``evaluate`` stage measured."""

    run_id: str
    model_id: str
    table: str
    path: str
    fidelity: dict[str, Any]
    utility: dict[str, Any]
    privacy: dict[str, Any]
    filtering: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)
    behaviour: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines."""
        p, u, nan = self.privacy, self.utility, float("nan")
        lines = [
            f"quality {self.fidelity.get('quality', nan):.3f}; TSTR AUC synthetic "
            f"{u.get('train_on_synthetic_auc', nan):.3f} vs real "
            f"{u.get('train_on_real_auc', nan):.3f}; exact matches released "
            f"{p['exact_match_share_released']:.4f}; closer-to-training "
            f"{p.get('closer_to_training_share', nan):.3f}; MIA AUC "
            f"{p.get('mia_auc', nan):.3f}",
            *self.notes,
            f"-> {self.path}",
        ]
        return "\n".join(lines)


def run(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> EvaluateReport:
    """Run the stage (see the module docstring)."""
    began = time.perf_counter()
    ec = cfg.evaluate
    ref = resolve_model(spark, lakehouse, cfg)
    run = resolve_run_id(cfg, ref)
    encoder = model_encoder(ref)
    gold = GOLD_SCHEMAS[ref.table]
    key = table_key(ref.table)
    path = lakehouse.synthetic_table(ref.table)
    if not table_exists(spark, path):
        raise InputError(f"{path} does not exist: run the `filter` stage first")
    rows = read_table(spark, path).where(F.col(RUN_ID) == F.lit(run))
    kept = rows.where(F.col(REJECTED_REASON).isNull())
    counts, kept_rows = count_by(rows, REJECTED_REASON)  # removed per reason, kept
    raw_rows = kept_rows + sum(counts.values())
    if raw_rows == 0:
        raise InputError(f"{path} has no rows of run {run!r}: run the `filter` stage for it first")
    train_rows, holdout = real_split(spark, ref)
    if holdout is None:
        raise InputError(
            "the model was trained without a holdout (train.holdout_fraction is 0): privacy and "
            "utility need real rows the model never saw; retrain with a holdout"
        )
    seed = ec.seed

    # privacy: equal-size training and holdout samples
    n = ec.privacy.rows
    tr = hash_sample(train_rows, key, n, seed)
    ho = hash_sample(holdout, key, n, seed + 1)
    m = min(len(tr), len(ho))
    tr, ho = tr.head(m), ho.head(m)
    sy = hash_sample(kept, ROW, n, seed + 2)
    real_all = read_table(spark, ref.table_path, version=ref.delta_version)
    hashes = real_all.select(row_hash(real_all, encoder).alias("_h")).distinct()
    released_copies = kept.select(row_hash(kept, encoder).alias("_h")).join(hashes, "_h").count()
    privacy: dict[str, Any] = {
        "exact_match_share_raw": counts.get(Reason.EXACT_COPY, 0) / raw_rows,
        "exact_match_share_released": released_copies / max(1, kept_rows),
    }
    notes: list[str] = []
    enough = m >= MIN_ROWS and len(sy) >= MIN_ROWS
    if enough:
        x_tr, x_ho, x_sy = (encode_rows(encoder, f, gold) for f in (tr, ho, sy))
        privacy.update(
            {
                "closer_to_training_share": closer_to_training_share(x_sy, x_tr, x_ho),
                "mia_auc": membership_auc(x_sy, x_tr, x_ho),
                "training_rows": float(m),
                "holdout_rows": float(m),
                "synthetic_rows": float(len(sy)),
            }
        )
    else:
        notes.append(
            f"not measured: distances, utility and fidelity need {MIN_ROWS} rows of "
            f"each kind; there are {m} training / holdout rows and {kept_rows} kept "
            "synthetic rows (the filters removed the rest)"
        )

    # utility: train on synthetic / on real, test on the real holdout
    u = ec.utility.rows
    utility: dict[str, Any] = {}
    if enough and ref.table in TASKS:
        names = [s.name for s in encoder.specs]
        real_u = hash_sample(train_rows, key, u, seed + 3)
        syn_u = hash_sample(kept, ROW, u, seed + 4)
        size = min(len(real_u), len(syn_u))
        hold_u = hash_sample(holdout, key, u, seed + 5)
        utility = tstr(
            model_rows(real_u.head(size), gold, names),
            model_rows(syn_u.head(size), gold, names),
            model_rows(hold_u, gold, names),
            encoder.specs,
            ref.table,
            seed=seed,
        )

    # fidelity: marginals and correlations on samples
    fidelity: dict[str, Any] = {}
    if enough:
        fidelity = _fidelity(train_rows, kept, ec, encoder, gold, key, seed)
    behaviour: dict[str, Any] = {}
    if ec.behaviour.enabled and ref.table == "user_profiles":
        behaviour = _behaviour(spark, lakehouse, ref, run, ec, seed)
        if behaviour:
            behaviour["generator"] = cfg.synthesize.fusion.behaviour.model
    out = lakehouse.run_file(run, "evaluate.json")
    report = EvaluateReport(
        run_id=run,
        model_id=ref.model_id,
        table=ref.table,
        path=out,
        fidelity=fidelity,
        utility=utility,
        privacy=privacy,
        filtering={
            "raw_rows": float(raw_rows),
            "kept_rows": float(kept_rows),
            "removed": {k: float(v) for k, v in sorted(counts.items())},
        },
        seconds=round(time.perf_counter() - began, 2),
        notes=notes,
        behaviour=behaviour,
    )
    write_json(out, report.to_dict())
    return report


def _behaviour(
    spark: SparkSession,
    lakehouse: Lakehouse,
    ref: ModelRef,
    run: str,
    ec: EvaluateConfig,
    seed: int,
) -> dict[str, Any]:
    """Behaviour fidelity and copied runs of the run's synthetic users' events, if any."""
    path = lakehouse.synthetic_table("events")
    sequences_path = lakehouse.gold_table("user_sequences")
    if not table_exists(spark, path) or not table_exists(spark, sequences_path):
        return {}
    synthetic = read_table(spark, path).where(
        (F.col(RUN_ID) == F.lit(run)) & (F.col(ORIGIN) == F.lit(SYNTHETIC_USER))
    )
    if synthetic.limit(1).count() == 0:
        return {}
    held = holdout_mask(USER_ID, ref.holdout_fraction, ref.holdout_seed)
    train = train_split(read_table(spark, lakehouse.silver_table()))
    b = ec.behaviour
    figures = behaviour_fidelity(
        train.where(~held),
        synthetic,
        baseline=train.where(held),
        users=b.users,
        seed=seed + 8,
        min_users=b.min_users,
        max_items=b.max_items,
    )
    sequences = read_table(spark, sequences_path)
    figures["copied_runs"] = copied_runs(synthetic, sequences.where(~held), sequences.where(held))
    return figures


def _fidelity(
    train_rows: DataFrame,
    kept: DataFrame,
    ec: EvaluateConfig,
    encoder: TableEncoder,
    gold: StructType,
    key: str,
    seed: int,
) -> dict[str, Any]:
    names = [s.name for s in encoder.specs]
    f_rows = ec.fidelity.rows
    real_f = model_rows(hash_sample(train_rows, key, f_rows, seed + 6), gold, names)
    syn_f = model_rows(hash_sample(kept, ROW, f_rows, seed + 7), gold, names)
    kinds = sdtypes(encoder.specs)
    quality = quality_score(real_f[list(kinds)], syn_f[list(kinds)], kinds)
    plotted = list(kinds)[: ec.fidelity.max_columns]
    numeric = [c for c in plotted if kinds[c] != "categorical"]
    return {
        "quality": quality.overall,
        "column_shapes": quality.column_shapes,
        "column_pair_trends": quality.column_pair_trends,
        "per_column": quality.per_column,
        "rows": float(min(len(real_f), len(syn_f))),
        "marginals": {c: marginal(real_f[c], syn_f[c], kinds[c]) for c in plotted},
        "correlation_columns": numeric,
        "correlation_real": correlations(real_f, numeric),
        "correlation_synthetic": correlations(syn_f, numeric),
    }
