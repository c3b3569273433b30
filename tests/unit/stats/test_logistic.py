"""The L-BFGS logistic regression: deterministic, intercept last, recovers a known direction."""

from __future__ import annotations

import numpy as np

from synth.stats.auc import roc_auc
from synth.stats.logistic import fit_logistic


def _data(seed: int, n: int = 2_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    logits = 2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logits))).astype(np.float64)
    return x, y


def test_recovers_the_signs_and_separates():
    # Setup
    x, y = _data(0)
    # Run
    weights = fit_logistic(x, y, seed=0)
    # Assert: one weight per column, then the intercept
    assert weights.shape == (4,)
    assert weights[0] > 1.5 and weights[1] < -0.7 and abs(weights[2]) < 0.2
    assert 0.3 < weights[3] < 0.7
    scores = np.hstack([x, np.ones((len(x), 1))]) @ weights
    assert roc_auc(y.astype(bool), scores) > 0.8


def test_deterministic():
    x, y = _data(1, 500)
    assert np.array_equal(fit_logistic(x, y, seed=3), fit_logistic(x, y, seed=3))
