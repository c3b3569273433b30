"""Seeded hash draws: counter-based uniforms on numpy keys, hash-ordered samples of Spark rows.

Both depend only on the seed and each row's keys, never on batching, partitioning or row order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# -- the counter-based hash -----------------------------------------------------------------------
_MASK_64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_MUL_1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL_2 = np.uint64(0x94D049BB133111EB)
_SHIFT_30, _SHIFT_27, _SHIFT_31, _SHIFT_11 = (np.uint64(s) for s in (30, 27, 31, 11))
_TWO_M53 = 1.0 / float(1 << 53)


def _mix_int(x: int) -> int:
    """splitmix64 of a Python int (exact, for the seed and purpose: no numpy scalar overflow)."""
    z = (x + _GAMMA) & _MASK_64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK_64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK_64
    return z ^ (z >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 of a uint64 array (wrap-around arithmetic)."""
    z = x + np.uint64(_GAMMA)
    z = (z ^ (z >> _SHIFT_30)) * _MUL_1
    z = (z ^ (z >> _SHIFT_27)) * _MUL_2
    return z ^ (z >> _SHIFT_31)


def hash_uniform(seed: int, purpose: int, *keys: np.ndarray) -> np.ndarray:
    """Return uniform draws in [0, 1) determined only by ``seed``, ``purpose`` and the keys.

    The state starts from splitmix64(seed), then (purpose), then each key in turn, are xor-ed in
    and re-mixed with splitmix64; the top 53 bits become the draw, so values are exact doubles.

    Args:
        seed: The seed (any Python int; taken modulo 2**64).
        purpose: A small integer naming what the draw is for, so draws for different purposes
            with the same keys are independent.
        *keys: Integer arrays (taken as int64), broadcast together.

    Returns:
        A float64 array of the keys' broadcast shape.
    """
    state = _mix_int(_mix_int(int(seed) & _MASK_64) ^ (int(purpose) & _MASK_64))
    h = np.full(np.broadcast_shapes(*(np.shape(k) for k in keys)), state, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            k = np.ascontiguousarray(key, dtype=np.int64).view(np.uint64)
            h = _mix(h ^ k)
    return (h >> _SHIFT_11).astype(np.float64) * _TWO_M53


def hash_sample(df: DataFrame, key: str, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` rows of ``df`` in a seeded hash order of ``key``, on the driver.

    Deterministic, and unrelated to how the ids were assigned. Runs one Spark job (a top-k).
    """
    return df.orderBy(F.xxhash64(F.col(key), F.lit(seed))).limit(rows).toPandas()
