"""Detection AUC: 0.5 for tables from the same distribution, near 1 for obviously different ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.models.detection import detection_auc
from synth.models.encoding import ColumnSpec

SPECS = [
    ColumnSpec("price", "continuous"),
    ColumnSpec("n", "count"),
    ColumnSpec("brand", "categorical"),
]


def _table(seed: int, n: int = 2_000, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "price": rng.lognormal(3 + shift, 1, n),
            "n": rng.poisson(2 + 3 * shift, n).astype(np.int64),
            "brand": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def test_same_distribution_is_undetectable():
    auc = detection_auc(_table(0), _table(1), SPECS, seed=0)
    assert 0.4 < auc < 0.6


def test_shifted_distribution_is_detected():
    assert detection_auc(_table(0), _table(1, shift=1.0), SPECS, seed=0) > 0.8


def test_deterministic_and_lenient_to_unseen_categories():
    synth = _table(2)
    synth.loc[:10, "brand"] = "zzz"  # a category the real data never had
    a = detection_auc(_table(0), synth, SPECS, seed=3)
    assert a == detection_auc(_table(0), synth, SPECS, seed=3)
