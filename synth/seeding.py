"""One root seed, named derivations, and partition-independent random columns.

``derive_seed`` runs on the driver with a stable hash (never the salted built-in ``hash``).
The column helpers hash a seed with row keys through ``xxhash64`` so every draw depends only on
the row's keys, never on partitioning, task order or the number of executors.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F

_MASK_63 = (1 << 63) - 1
# 2**53: the largest power of two whose integers a double holds exactly.
_TWO_53 = float(1 << 53)


def derive_seed(root: int, *names: str | int) -> int:
    """Derive a child seed from a root seed and a path of names.

    Args:
        root: The root seed.
        *names: Names (or integers) that identify the consumer, e.g. ``("sim", "users")``.

    Returns:
        A non-negative 63-bit integer, stable across processes, machines and Python versions.
    """
    payload = "\x1f".join([str(int(root)), *(str(n) for n in names)]).encode("utf-8")
    digest = hashlib.blake2b(payload, digest_size=8).digest()
    return int.from_bytes(digest, "big") & _MASK_63


def hash_key(seed: int, *keys: Column | str) -> Column:
    """Return a 64-bit hash of ``seed`` and the key columns (a long ``Column``)."""
    cols = [F.col(k) if isinstance(k, str) else k for k in keys]
    return F.xxhash64(F.lit(int(seed)), *cols)


def uniform(seed: int, *keys: Column | str) -> Column:
    """Return a uniform draw in [0, 1) determined by ``seed`` and the key columns.

    The top 53 bits of the 64-bit hash become the mantissa, so values are exact doubles.
    """
    h = hash_key(seed, *keys)
    return F.shiftrightunsigned(h, 11).cast("double") / F.lit(_TWO_53)


def normal(seed: int, *keys: Column | str) -> Column:
    """Return a standard normal draw (Box-Muller over two decorrelated uniforms)."""
    u1 = uniform(derive_seed(seed, "bm1"), *keys)
    u2 = uniform(derive_seed(seed, "bm2"), *keys)
    # 1 - u keeps the argument of log in (0, 1].
    return F.sqrt(-2.0 * F.log(1.0 - u1)) * F.cos(2.0 * 3.141592653589793 * u2)


def holdout_mask(key: str, fraction: float, seed: int) -> Column:
    """True for the holdout rows: a seeded hash of the id below ``fraction``.

    A function of the id alone (partition independent): training leaves these rows out, and the
    privacy filter and evaluation find the same rows again from the recorded fraction and seed.
    """
    return uniform(derive_seed(seed, "holdout"), key) < F.lit(float(fraction))
