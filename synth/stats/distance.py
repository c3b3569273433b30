"""Distances between encoded rows (Euclidean)."""

from __future__ import annotations

import numpy as np


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
