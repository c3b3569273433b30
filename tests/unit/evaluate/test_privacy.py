"""Closer-to-training share and the membership-inference AUC on constructed data."""

from __future__ import annotations

import numpy as np
import pytest

from synth.evaluate.privacy import closer_to_training_share, membership_auc


def test_fresh_samples_score_about_one_half():
    rng = np.random.default_rng(0)
    train, holdout, synthetic = (rng.normal(size=(800, 4)) for _ in range(3))
    assert closer_to_training_share(synthetic, train, holdout) == pytest.approx(0.5, abs=0.06)
    assert membership_auc(synthetic, train, holdout) == pytest.approx(0.5, abs=0.06)


def test_copies_of_training_rows_are_caught():
    rng = np.random.default_rng(1)
    train, holdout = rng.normal(size=(500, 4)), rng.normal(size=(500, 4))
    leaked = train + rng.normal(scale=1e-3, size=train.shape)
    assert closer_to_training_share(leaked, train, holdout) > 0.99
    assert membership_auc(leaked, train, holdout) > 0.99


def test_sizes_must_match():
    with pytest.raises(ValueError, match="sizes differ"):
        closer_to_training_share(np.zeros((2, 2)), np.zeros((3, 2)), np.zeros((2, 2)))
