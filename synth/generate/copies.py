"""Copied runs of items: a synthetic user must not replay a run of a training user's sequence.

A synthetic user's events, in time order, form a sequence of product ids; it is refused when it
contains a run of ``n`` consecutive items that also occurs, consecutively, in a training user's
sequence (gold ``user_sequences`` less the holdout users).

How long a run must be to count as a copy is measured, not guessed: real users share short runs
all the time (popular items viewed in popular orders). :func:`choose_length` takes the holdout
users (real users the model never saw) and, for n = 2, 3, ..., the share of them whose sequence
contains a training n-gram; the check uses the smallest n where that natural share is at most
``max_holdout_share``. A synthetic user refused at that n replays a run that fresh real users
reproduce that rarely. The report records the shares per n, the n chosen, and the synthetic
share beside the holdout share at that n.

Runs are compared by a 64-bit hash of the n product ids (``xxhash64`` of the array slice); a
hash collision can only refuse a user wrongly, never let a copy through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from synth.features.sequences import type_rank
from synth.schema import EVENT_TIME, PRODUCT_ID, USER_ID

_HASH = "_ngram"


def ngrams(sequences: DataFrame, n: int) -> DataFrame:
    """(user_id, _ngram): the hashes of every run of ``n`` items of each user's ``product_ids``."""
    ids = F.col("product_ids")
    starts = F.sequence(F.lit(1), F.size(ids) - F.lit(n - 1))
    hashes = F.transform(starts, lambda i: F.xxhash64(F.slice(ids, i, n)))
    return (
        sequences.where(F.size(ids) >= F.lit(n))
        .select(USER_ID, F.explode(hashes).alias(_HASH))
        .distinct()
    )


def share_with_copies(
    users: DataFrame, reference: DataFrame, n: int, *, copying: DataFrame | None = None
) -> tuple[float, int]:
    """(share of ``users`` with an n-gram of ``reference``, users with at least n events).

    ``copying``: the result of :func:`copying_users` for the same arguments, when the caller
    already has it (it is not computed again).
    """
    total = users.where(F.size("product_ids") >= F.lit(n)).count()
    if total == 0:
        return 0.0, 0
    copiers = copying if copying is not None else copying_users(users, reference, n)
    return copiers.count() / total, total


@dataclass
class CopyCheck:
    """The run length chosen and what the holdout users showed at each length."""

    length: int | None
    max_holdout_share: float
    holdout_shares: dict[int, float] = field(default_factory=dict)
    holdout_users: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "length": self.length,
            "max_holdout_share": self.max_holdout_share,
            "holdout_shares": {str(k): round(v, 6) for k, v in self.holdout_shares.items()},
            "holdout_users": self.holdout_users,
        }


def choose_length(
    train: DataFrame, holdout: DataFrame, *, max_holdout_share: float, longest: int
) -> CopyCheck:
    """The smallest n in [2, ``longest``] whose holdout share is at most ``max_holdout_share``.

    ``length`` is None when there are no holdout users to calibrate on, or when even the longest
    run is shared more often than that (the check is then skipped, and the report says why).
    """
    check = CopyCheck(None, max_holdout_share)
    for n in range(2, longest + 1):
        share, users = share_with_copies(holdout, train, n)
        if users == 0:
            break
        check.holdout_shares[n] = share
        check.holdout_users = max(check.holdout_users, users)
        if share <= max_holdout_share:
            check.length = n
            break
    return check


def event_sequences(events: DataFrame) -> DataFrame:
    """(user_id, product_ids) of silver-shaped events, ordered as gold ``user_sequences`` is."""
    ordered = F.array_sort(
        F.collect_list(F.struct(F.col(EVENT_TIME), type_rank().alias("r"), F.col(PRODUCT_ID)))
    )
    return events.groupBy(USER_ID).agg(
        F.transform(ordered, lambda e: e[PRODUCT_ID]).alias("product_ids")
    )


def copying_users(users: DataFrame, reference: DataFrame, n: int) -> DataFrame:
    """(user_id) of the ``users`` whose sequence holds an n-gram of ``reference``."""
    known = ngrams(reference, n).select(_HASH).distinct()
    return ngrams(users, n).join(known, _HASH, "left_semi").select(USER_ID).distinct()
