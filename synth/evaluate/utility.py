"""Train on synthetic, test on real (TSTR): a profile prediction task per table (a registry).

The task predicts ``purchased`` (``n_purchase > 0``) from the profile's other model columns;
columns that give the answer away (purchase counts, prices and rates, money spent, and the
totals that add purchases in) are left out. Features: numbers and timestamps standardised by the
real training sample (nulls: the median plus a missing flag), categories one-hot over the real
sample's most frequent values. A logistic regression trained on synthetic rows and one trained
on real training rows are both scored (ROC AUC) on the real holdout rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.stats.auc import roc_auc
from synth.stats.fidelity import sdtypes
from synth.stats.logistic import fit_logistic


@dataclass(frozen=True)
class Task:
    """A binary profile prediction task."""

    name: str
    target: str  # a count column: label = value > 0
    leaks: tuple[str, ...]  # left out of the features (besides the target)


_PURCHASE_LEAKS = (
    "n_events",
    "events_per_session",
    "monetary",
    "purchase_rate",
    "purchase_price_mean",
    "purchase_price_median",
    "purchase_price_std",
    "purchase_price_rel_category",
)
TASKS: dict[str, Task] = {
    "user_profiles": Task("will the user purchase", "n_purchase", _PURCHASE_LEAKS),
    "item_profiles": Task(
        "is the item purchased", "n_purchase", ("n_events", "purchase_rate", "popularity_rank")
    ),
}
MAX_CATEGORIES = 20


class Features:
    """Feature columns fitted on the real training sample."""

    def __init__(self, real: pd.DataFrame, specs: Sequence[object], task: Task) -> None:
        kinds = sdtypes(specs)
        self.numeric = [
            c
            for c, k in kinds.items()
            if k != "categorical" and c != task.target and c not in task.leaks
        ]
        self.categorical = [
            c for c, k in kinds.items() if k == "categorical" and c not in task.leaks
        ]
        raw = self._numbers(real)
        self.median = np.nanmedian(raw, axis=0) if raw.size else np.zeros(0)
        filled = np.where(np.isnan(raw), self.median, raw)
        self.mean = filled.mean(axis=0) if raw.size else np.zeros(0)
        self.scale = np.maximum(filled.std(axis=0), 1e-9) if raw.size else np.zeros(0)
        self.levels = {
            c: list(real[c].astype(str).value_counts().index[:MAX_CATEGORIES])
            for c in self.categorical
        }

    def _numbers(self, frame: pd.DataFrame) -> np.ndarray:
        cols = []
        for c in self.numeric:
            values = frame[c]
            if pd.api.types.is_datetime64_any_dtype(values):
                values = values.astype("int64").where(values.notna()) / 1e9
            cols.append(pd.to_numeric(values, errors="coerce").to_numpy(np.float64))
        return np.column_stack(cols) if cols else np.zeros((len(frame), 0))

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The feature matrix of ``frame``."""
        raw = self._numbers(frame)
        missing = np.isnan(raw)
        numbers = (np.where(missing, self.median, raw) - self.mean) / self.scale
        blocks = [numbers, missing.astype(np.float64)]
        for c, levels in self.levels.items():
            values = frame[c].astype(str).to_numpy()
            blocks.append(np.column_stack([values == v for v in levels]).astype(np.float64))
        return np.hstack(blocks)


def label(frame: pd.DataFrame, task: Task) -> np.ndarray:
    """The task's labels."""
    return pd.to_numeric(frame[task.target], errors="coerce").fillna(0).to_numpy() > 0


def tstr(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    real_holdout: pd.DataFrame,
    specs: Sequence[object],
    table: str,
    *,
    seed: int,
) -> dict[str, float | str]:
    """AUC on the real holdout of models trained on synthetic rows and on real rows."""
    task = TASKS[table]
    features = Features(real_train, specs, task)
    y_hold = label(real_holdout, task)
    x_hold = features.matrix(real_holdout)
    out: dict[str, float | str] = {
        "task": task.name,
        "target": f"{task.target} > 0",
        "holdout_rows": float(len(real_holdout)),
        "holdout_positive_share": float(y_hold.mean()),
    }
    for name, frame in (("real", real_train), ("synthetic", synthetic)):
        y = label(frame, task)
        out[f"{name}_rows"] = float(len(frame))
        out[f"{name}_positive_share"] = float(y.mean()) if len(y) else float("nan")
        if len(set(y.tolist())) < 2 or len(set(y_hold.tolist())) < 2:
            out[f"train_on_{name}_auc"] = float("nan")
            continue
        weights = fit_logistic(features.matrix(frame), y.astype(np.float64), seed=seed)
        x = np.hstack([x_hold, np.ones((len(x_hold), 1))])
        out[f"train_on_{name}_auc"] = roc_auc(y_hold, x @ weights)
    real_auc, syn_auc = out["train_on_real_auc"], out["train_on_synthetic_auc"]
    assert isinstance(real_auc, float) and isinstance(syn_auc, float)
    out["auc_ratio"] = syn_auc / real_auc if real_auc > 0 else float("nan")
    return out
