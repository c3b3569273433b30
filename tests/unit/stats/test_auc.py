"""ROC AUC: hand-computed cases, and the Mann-Whitney U statistic of scipy (ties included)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from synth.stats.auc import roc_auc


def test_roc_auc_by_hand():
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert roc_auc(np.array([1, 0]), np.array([0.0, 1.0])) == 0.0
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(np.array([1, 1]), np.array([0.0, 1.0]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_the_normalised_mann_whitney_u(seed):
    # Setup: scores rounded so that many ties cross the classes
    rng = np.random.default_rng(seed)
    labels = rng.random(1_000) < 0.3
    scores = np.round(rng.normal(size=1_000) + 0.5 * labels, 1)
    # Run
    u = mannwhitneyu(scores[labels], scores[~labels]).statistic
    # Assert
    assert roc_auc(labels, scores) == pytest.approx(u / (labels.sum() * (~labels).sum()), abs=1e-12)
