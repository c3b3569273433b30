"""Detection: how well a classifier tells real rows from synthetic ones (ROC AUC; 0.5 is ideal).

Both tables are encoded with one :class:`~synth.models.encoding.TableEncoder` fitted on the real
rows (so categories, modes and scales are the real data's), then a logistic regression is
trained and scored with stratified k-fold cross-validation; the result is the mean held-out ROC
AUC. An AUC near 0.5 means the classifier cannot separate them; near 1.0, the synthetic rows are
obviously synthetic.

It lives with the models (below ``train``, which scores each trained model with it) because it
fits the models' encoder; the numeric parts are :func:`~synth.stats.auc.roc_auc` and
:func:`~synth.stats.logistic.fit_logistic`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from synth.models.encoding import ColumnSpec, TableEncoder
from synth.stats.auc import roc_auc
from synth.stats.logistic import fit_logistic


def detection_auc(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    specs: Sequence[ColumnSpec],
    *,
    folds: int = 3,
    seed: int = 0,
    max_rows: int = 20_000,
) -> float:
    """Mean cross-validated ROC AUC of a logistic regression telling ``synth`` from ``real``.

    Each table is first reduced to at most ``max_rows`` rows (seeded sample).
    """
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    rng = np.random.default_rng(seed)
    real = real.sample(min(len(real), max_rows), random_state=int(rng.integers(2**31)))
    synth = synth.sample(min(len(synth), max_rows), random_state=int(rng.integers(2**31)))
    if min(len(real), len(synth)) < folds:
        raise ValueError(f"need at least {folds} rows in each table, got {len(real)}, {len(synth)}")
    encoder = TableEncoder(specs).fit(real, seed=seed)
    x = np.vstack([encoder.transform(real), _transform_lenient(encoder, synth)]).astype(np.float64)
    y = np.concatenate([np.zeros(len(real)), np.ones(len(synth))])
    # stratified folds: each class split into `folds` parts in a seeded order
    fold_of = np.empty(len(y), dtype=np.int64)
    for label in (0.0, 1.0):
        index = np.flatnonzero(y == label)
        fold_of[rng.permutation(index)] = np.arange(len(index)) % folds
    aucs = []
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        weights = fit_logistic((x[train] - mean) / std, y[train], seed=seed + k)
        scores = np.hstack([(x[test] - mean) / std, np.ones((int(test.sum()), 1))]) @ weights
        aucs.append(roc_auc(y[test], scores))
    return float(np.mean(aucs))


def _transform_lenient(encoder: TableEncoder, table: pd.DataFrame) -> np.ndarray:
    """Encode synthetic rows; values the real data never had take the column's fill value."""
    return encoder.transform_lenient(table)[0]
