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

from synth.evaluate.detection import roc_auc


def nearest_distance(x: np.ndarray, reference: np.ndarray, *, chunk: int = 2_048) -> np.ndarray:
    """Each row of ``x``'s Euclidean distance to its closest row of ``reference``."""
    if len(reference) == 0:
        return np.full(len(x), np.nan)
    ref = reference.astype(np.float32)
    ref_sq = (ref**2).sum(axis=1)
    out = np.empty(len(x))
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk].astype(np.float32)
        d2 = (block**2).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * block @ ref.T
        out[start : start + chunk] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def closer_to_training_share(synthetic: np.ndarray, train: np.ndarray,
                             holdout: np.ndarray) -> float:  # fmt: skip
    """Share of synthetic rows closer to ``train`` than to ``holdout`` (ties: 1/2)."""
    if len(train) != len(holdout):
        raise ValueError(f"train ({len(train)}) and holdout ({len(holdout)}) sizes differ")
    d_train = nearest_distance(synthetic, train)
    d_hold = nearest_distance(synthetic, holdout)
    return float(np.mean((d_train < d_hold) + 0.5 * (d_train == d_hold)))


def membership_auc(synthetic: np.ndarray, train: np.ndarray, holdout: np.ndarray) -> float:
    """ROC AUC of the distance attack (members: ``train``; non-members: ``holdout``)."""
    score = -np.concatenate([nearest_distance(train, synthetic),
                             nearest_distance(holdout, synthetic)])  # fmt: skip
    labels = np.concatenate([np.ones(len(train)), np.zeros(len(holdout))])
    return roc_auc(labels, score)
