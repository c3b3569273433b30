"""Small driver-side tables and the column helpers that draw from them.

Spark has no ``searchsorted``, and an ``F.array`` of thousands of literals takes the analyzer
tens of seconds. So a weighted choice is made with a *quantized lookup table*: the weights are
spread over ``resolution`` slots (largest-remainder rounding, every positive weight gets at least
one slot), the table is shipped as one comma-joined string literal that ``split`` (and a cast)
folds into a constant array, and a uniform draw picks a slot with ``element_at``. A draw is O(1)
per row and the plan stays small.

Also here: the keyed draws (:func:`key_uniform`, :func:`key_normal`, :func:`key_logistic`; keys
are ``long``), the discretized log-logistic and bounded Zipf-Mandelbrot laws (with exact
expectations), and integer / time formatting that does not depend on the JVM locale or the
session time zone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

from synth.seeding import derive_seed, hash_key

_TWO_POW_MINUS_53 = 2.0**-53
_LOGISTIC_UNIT = math.sqrt(3.0) / math.pi  # scales the standard logistic to unit variance


def _key(key: Column | str) -> Column:
    return F.col(key) if isinstance(key, str) else key


def key_uniform(seed: int, *keys: Column | str) -> Column:
    """Return a uniform draw in [0, 1) keyed by ``seed`` and the keys.

    The same value as :func:`synth.seeding.uniform` (the top 53 bits of ``hash_key``), computed
    with a multiplication by 2**-53 instead of a division: exact all the same, and it spares the
    ANSI divide-by-zero guard in the generated code, which keeps the simulator's generated
    methods small enough for the JIT (see :mod:`synth.simulate.events`).

    The keys must be ``long`` columns: ``xxhash64`` hashes an ``int`` and a ``long`` of the same
    value differently, and the same key reaches here both as an exploded column and inside
    expressions built separately, so the simulator keeps every key a ``long``.
    """
    h = hash_key(seed, *(_key(k) for k in keys))
    return F.shiftrightunsigned(h, 11).cast("double") * F.lit(_TWO_POW_MINUS_53)


def key_normal(seed: int, *keys: Column | str) -> Column:
    """Return a standard normal draw (Box-Muller, as :func:`synth.seeding.normal`)."""
    cols = [_key(k) for k in keys]
    u1 = key_uniform(derive_seed(seed, "bm1"), *cols)
    u2 = key_uniform(derive_seed(seed, "bm2"), *cols)
    return F.sqrt(-2.0 * F.log(1.0 - u1)) * F.cos(2.0 * math.pi * u2)


def key_logistic(seed: int, *keys: Column | str) -> Column:
    """Return a logistic draw scaled to unit variance, keyed by ``seed`` and the keys.

    ``log(u / (1 - u)) * sqrt(3) / pi``: one hash and one logarithm, against two hashes and three
    transcendental functions for a normal draw. ``median * exp(sigma * z)`` of it is log-logistic:
    the simulator's law for durations and counts (session lengths, gaps), which is as
    heavy-tailed as real gaps are (the real 99th-percentile gap is ~11x the median; log-logistic
    with the calibrated spread gives ~12x, log-normal ~10x). It also keeps the generated code
    small (see :mod:`synth.simulate.events`).
    """
    h = hash_key(seed, *(_key(k) for k in keys))
    # (bits + 0.5) / 2**53 lies strictly inside (0, 1): the logit is always finite.
    u = (F.shiftrightunsigned(h, 11).cast("double") + F.lit(0.5)) * F.lit(_TWO_POW_MINUS_53)
    return F.log(u / (F.lit(1.0) - u)) * F.lit(_LOGISTIC_UNIT)


def quantize_weights(weights: Sequence[float], resolution: int) -> list[int]:
    """Spread ``weights`` over exactly ``resolution`` slots; return the slot -> index table.

    Largest-remainder rounding, and every positive weight keeps at least one slot, so a rare
    option is under- or over-represented by at most one slot (``1 / resolution``).

    Raises:
        ValueError: No positive weight, a negative weight, or fewer slots than positive weights.
    """
    if any(w < 0 or math.isnan(w) for w in weights):
        raise ValueError("weights must be non-negative numbers")
    total = float(sum(weights))
    if total <= 0.0:
        raise ValueError("at least one weight must be positive")
    positive = sum(1 for w in weights if w > 0)
    if resolution < positive:
        raise ValueError(f"resolution={resolution} is below the {positive} positive weights")
    exact = [w / total * resolution for w in weights]
    counts = [
        max(int(math.floor(x)), 1) if w > 0 else 0 for x, w in zip(exact, weights, strict=True)
    ]
    excess = sum(counts) - resolution
    if excess > 0:  # the minimum of one slot overshot: take slots from the most over-served
        donors = sorted(
            (i for i, c in enumerate(counts) if c > 1), key=lambda i: (exact[i] - counts[i], i)
        )
        while excess > 0:
            for i in donors:
                if excess == 0:
                    break
                if counts[i] > 1:
                    counts[i] -= 1
                    excess -= 1
    else:
        order = sorted(
            (i for i, w in enumerate(weights) if w > 0), key=lambda i: (counts[i] - exact[i], i)
        )
        for i in order[:-excess]:
            counts[i] += 1
    table: list[int] = []
    for index, count in enumerate(counts):
        table.extend([index] * count)
    return table


def _packed(values: Sequence[str | int | float], element: str) -> Column:
    texts = [str(v) for v in values]
    if any("," in t for t in texts):
        raise ValueError("table values must not contain commas")
    packed = F.split(F.lit(",".join(texts)), ",")
    return packed if element == "string" else packed.cast(f"array<{element}>")


def string_array(values: Sequence[str]) -> Column:
    """Return a constant ``array<string>`` column (one folded literal; no commas in values)."""
    return _packed(values, "string")


def int_array(values: Sequence[int]) -> Column:
    """Return a constant ``array<int>`` column (one folded literal)."""
    return _packed(values, "int")


def double_array(values: Sequence[float]) -> Column:
    """Return a constant ``array<double>`` column (one folded literal)."""
    return _packed([repr(float(v)) for v in values], "double")


def lookup(table: Column, index: Column) -> Column:
    """Return ``table[index]`` (0-based, any integral index) from a constant array column.

    ``get`` (null when out of range; indices are always in range here) generates less code than
    ANSI ``element_at`` with its error path and 1-based index arithmetic.
    """
    return F.get(table, index)


def choose_in(packed: Column, size: int, u: Column, offset: Column | int = 0) -> Column:
    """Pick from a packed table of ``size`` slots per block, starting at slot ``offset``.

    Args:
        packed: The :func:`int_array` of one or more concatenated slot tables.
        size: Slots per table.
        u: A uniform draw in [0, 1).
        offset: The first slot of the table to draw from (``block * size``).

    Returns:
        The chosen index as an ``int`` column.
    """
    slot = F.least(F.floor(u * F.lit(size)), F.lit(size - 1))
    off = F.lit(offset) if isinstance(offset, int) else offset
    return lookup(packed, slot + off)


def log_scaled(z: Column, median: float | Column, sigma: float | Column) -> Column:
    """Return ``median * exp(sigma * z)`` for a unit-variance draw ``z``."""
    med = F.lit(median) if isinstance(median, float | int) else median
    sig = F.lit(sigma) if isinstance(sigma, float | int) else sigma
    return med * F.exp(sig * z)


def discrete_log_scaled(z: Column, median: float, sigma: float, low: int, high: int) -> Column:
    """Return ``clamp(ceil(median * exp(sigma * z)), low, high)`` as an ``int`` column."""
    raw = F.ceil(log_scaled(z, median, sigma))
    return F.least(F.greatest(raw, F.lit(low)), F.lit(high)).cast("int")


def _logistic_cdf(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x / _LOGISTIC_UNIT))


def expected_discrete_loglogistic(median: float, sigma: float, low: int, high: int) -> float:
    """Return the exact mean of :func:`discrete_log_scaled` of a :func:`key_logistic` draw."""
    if sigma <= 0.0:
        return float(min(max(math.ceil(median), low), high))
    mu = math.log(median)

    def cdf(k: int) -> float:  # P(ceil(X) <= k) = P(X <= k)
        return 0.0 if k <= 0 else _logistic_cdf((math.log(k) - mu) / sigma)

    mean = low * cdf(low)
    for k in range(low + 1, high):
        mean += k * (cdf(k) - cdf(k - 1))
    mean += high * (1.0 - cdf(high - 1))
    return mean


def zipf_rank(u: Column, n: Column, exponent: float, offset: float = 0.0) -> Column:
    """Return a 0-based rank in ``[0, n)`` from a bounded continuous Zipf-Mandelbrot law.

    The density is proportional to ``x ** -exponent`` on ``[1 + offset, n + 1 + offset)``, and
    the rank is ``floor(x - offset) - 1``. The offset flattens the head (the top few ranks get
    similar shares, as the best sellers of a real category do); ``offset=0`` is plain Zipf. The
    inverse CDF is closed-form, so a draw is O(1) whatever ``n``.

    Args:
        u: A uniform draw in [0, 1).
        n: Number of ranks (``int`` column, at least 1).
        exponent: The Zipf exponent (> 0).
        offset: The Mandelbrot offset (>= 0).

    Returns:
        A ``long`` column.
    """
    low = F.lit(1.0 + offset)
    high = n.cast("double") + F.lit(1.0 + offset)
    if abs(exponent - 1.0) < 1e-9:
        x = low * F.pow(high / low, u)
    else:
        a = 1.0 - exponent
        base = F.pow(low, F.lit(a))
        x = F.pow(base + u * (F.pow(high, F.lit(a)) - base), F.lit(1.0 / a))
    rank = F.floor(x - F.lit(offset)) - F.lit(1)
    return F.least(F.greatest(rank, F.lit(0)), n - F.lit(1)).cast("long")


def format_cents(cents: Column) -> Column:
    """Format a non-negative ``long`` number of cents as ``"123.45"`` (locale-independent)."""
    whole = F.floor(cents / F.lit(100)).cast("long").cast("string")
    frac = F.lpad(F.pmod(cents, F.lit(100)).cast("string"), 2, "0")
    return F.concat(whole, F.lit("."), frac)


def format_event_time(start_date: str, seconds: Column) -> Column:
    """Format seconds since ``start_date`` 00:00 UTC as ``"2019-10-01 00:00:00 UTC"``.

    Pure arithmetic on a ``date`` plus zero-padded fields, so the result does not depend on the
    session time zone.
    """
    day = F.floor(seconds / F.lit(86_400)).cast("int")
    sod = F.pmod(seconds, F.lit(86_400))
    hh = F.lpad(F.floor(sod / F.lit(3_600)).cast("string"), 2, "0")
    mm = F.lpad(F.floor(F.pmod(sod, F.lit(3_600)) / F.lit(60)).cast("string"), 2, "0")
    ss = F.lpad(F.pmod(sod, F.lit(60)).cast("string"), 2, "0")
    date_str = F.date_add(F.lit(start_date).cast("date"), day).cast("string")
    return F.concat(date_str, F.lit(" "), hh, F.lit(":"), mm, F.lit(":"), ss, F.lit(" UTC"))
