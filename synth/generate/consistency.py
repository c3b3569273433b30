"""Derived gold columns recomputed from their definitions after sampling.

A generator learns each column's distribution and their correlations, not the arithmetic that
ties some of them together (``n_events`` is the sum of the per-type counts, ``tenure_days`` is
``last_seen - first_seen``). Rather than reject most rows for breaking an identity, the
synthesize stage recomputes the derived columns from their components, exactly as
:mod:`synth.features.profiles` defines them (see the column comments in :mod:`synth.schema`).
The components themselves are kept as sampled; the validity filter then checks what remains
(ranges, vocabularies, orders that are not identities).

A registry by gold table (:data:`RULES`); a table without rules passes through unchanged.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from synth.schema import COUNT_COLUMNS

DAY_S = 86_400.0


def _rate(numerator: str, denominator: str) -> Column:
    return F.when(F.col(denominator) > 0, F.col(numerator) / F.col(denominator))


def _type_total() -> Column:
    """The sum of the per-type count columns (:data:`synth.schema.COUNT_COLUMNS`)."""
    return reduce(operator.add, [F.col(c) for c in COUNT_COLUMNS])


def _secs(column: str) -> Column:
    return F.unix_micros(F.col(column)).cast("double") / F.lit(1e6)


def user_profile_identities(df: DataFrame) -> DataFrame:
    """Identities of ``user_profiles``.

    ``n_events`` = the type counts' sum (canonical types and ``n_other``); ``first_seen <=
    last_seen`` (the pair is ordered); ``tenure_days`` = their difference in days;
    ``n_sessions``, ``n_items`` at most
    ``n_events`` and ``n_categories`` at most ``n_items``; ``events_per_session`` =
    ``n_events / n_sessions``; ``cart_rate``, ``purchase_rate`` = per-view rates (null with no
    views).
    """
    n_events = _type_total()
    first = F.least(F.col("first_seen"), F.col("last_seen"))
    last = F.greatest(F.col("first_seen"), F.col("last_seen"))
    step1 = df.withColumns(
        {
            "n_events": n_events,
            "first_seen": first,
            "last_seen": last,
        }
    )
    step2 = step1.withColumns(
        {
            "n_sessions": F.greatest(F.least(F.col("n_sessions"), F.col("n_events")), F.lit(1)),
            "n_items": F.greatest(F.least(F.col("n_items"), F.col("n_events")), F.lit(1)),
            "tenure_days": (_secs("last_seen") - _secs("first_seen")) / F.lit(DAY_S),
            "cart_rate": _rate("n_cart", "n_view"),
            "purchase_rate": _rate("n_purchase", "n_view"),
        }
    )
    return step2.withColumns(
        {
            "n_categories": F.greatest(F.least(F.col("n_categories"), F.col("n_items")), F.lit(1)),
            "events_per_session": F.col("n_events") / F.col("n_sessions"),
        }
    )


def item_profile_identities(df: DataFrame) -> DataFrame:
    """Identities of ``item_profiles``.

    ``n_events`` = the type counts' sum; ``price_min <= price_median <= price_max`` (sorted);
    ``first_seen <= last_seen``; ``cart_rate``, ``purchase_rate`` = per-view rates.
    """
    prices = F.array_sort(F.array("price_min", "price_median", "price_max"))
    n_events = _type_total()
    return df.withColumns(
        {
            "n_events": n_events,
            "price_min": prices[0],
            "price_median": prices[1],
            "price_max": prices[2],
            "first_seen": F.least(F.col("first_seen"), F.col("last_seen")),
            "last_seen": F.greatest(F.col("first_seen"), F.col("last_seen")),
            "cart_rate": _rate("n_cart", "n_view"),
            "purchase_rate": _rate("n_purchase", "n_view"),
        }
    )


RULES: dict[str, Callable[[DataFrame], DataFrame]] = {
    "user_profiles": user_profile_identities,
    "item_profiles": item_profile_identities,
}


def apply_identities(df: DataFrame, table: str) -> DataFrame:
    """Recompute ``table`` 's derived columns (no-op for a table without rules)."""
    rule = RULES.get(table)
    return df if rule is None else rule(df)
