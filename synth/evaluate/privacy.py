"""Privacy figures of released synthetic rows, all on the model's encoding (Euclidean).

- ``closer_to_training_share``: for each synthetic row, is its closest training row nearer
  than its closest holdout row? Training and holdout samples have the same size and the holdout
  was never trained on, so a generator that does not memorise scores about 0.5 (ties count 1/2).
- ``mia_auc``: a distance membership-inference attack: the attacker calls a real row a member
  the closer it lies to a synthetic row; ROC AUC of that score, training rows (members) vs
  holdout rows (non-members). 0.5: the synthetic rows reveal nothing about membership.
"""

from __future__ import annotations

import numpy as np

from synth.stats.auc import roc_auc
from synth.stats.distance import nearest_distance


def closer_to_training_share(
    synthetic: np.ndarray, train: np.ndarray, holdout: np.ndarray
) -> float:
    """Share of synthetic rows closer to ``train`` than to ``holdout`` (ties: 1/2)."""
    if len(train) != len(holdout):
        raise ValueError(f"train ({len(train)}) and holdout ({len(holdout)}) sizes differ")
    d_train = nearest_distance(synthetic, train)
    d_hold = nearest_distance(synthetic, holdout)
    return float(np.mean((d_train < d_hold) + 0.5 * (d_train == d_hold)))


def membership_auc(synthetic: np.ndarray, train: np.ndarray, holdout: np.ndarray) -> float:
    """ROC AUC of the distance attack (members: ``train``; non-members: ``holdout``)."""
    score = -np.concatenate(
        [nearest_distance(train, synthetic), nearest_distance(holdout, synthetic)]
    )
    labels = np.concatenate([np.ones(len(train)), np.zeros(len(holdout))])
    return roc_auc(labels, score)
