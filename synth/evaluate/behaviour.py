"""Fidelity of synthetic behaviour: the synthetic users' events against real users' events.

Accuracy and coherence are computed in Spark over every event of both sides (real: train users
of the silver train split; synthetic: the run's kept ``synthetic_user`` events): each event is
binned by :func:`binned_events`, the bins are counted by Spark, and only the counts (a few
hundred rows) reach the driver. The item-neighbour overlap needs an items x items matrix and is
computed on seeded samples of users, on the driver.

* **accuracy** per column, ``1 - total variation distance`` of the binned shares (the
  definition mostlyai-qa publishes; ``bench/behaviour.py`` checks the figures against the
  package's own function on the same bins): event type; category (the real top 20
  ``category_id`` s, the rest as one bin); hour of day (the session time zone); the gap class
  (session start or not x log-spaced seconds since the previous event,
  :data:`synth.models.sequence.GAP_EDGES_S`; a user's first event is its own class); events
  per user (log2 bins); their mean is ``accuracy``;
* **coherence**: how the next event follows the current one, ``1 - TVD`` between the real and
  synthetic next-event distributions of each current value, weighted by the real frequency of
  that value (a value the synthetic users never show is left out and the weights renormalised):
  next event type given the type, next category given the category (top 20 + rest); their mean
  is ``coherence``;
* **item neighbours**: item-kNN (cosine over users' binary item sets) fitted on the real sample
  and on the synthetic sample; for the items with at least ``min_users`` users in both, the
  share of each item's 10 nearest real neighbours that are among its 10 nearest synthetic ones,
  averaged (``knn10_overlap``; 0 when the synthetic events carry no item-to-item signal); the
  same overlap between two samples of real users (``knn10_overlap_real``) is its ceiling at
  that sample size;
* **copied runs**: for n = 3, 4, 5, the share of synthetic users and of holdout users whose
  item sequence holds a run of n items of a training user's sequence
  (:func:`synth.generate.copies.share_with_copies`): synthetic at or below holdout means no more
  copying than fresh real users show.

Events are ordered within a user by time, then type, then product (the same order on both
sides); a gap of 30 minutes or more counts as a session start on both sides alike (session ids
are not compared: they differ by construction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from scipy import sparse

from synth.generate.copies import event_sequences, share_with_copies
from synth.models.sequence import GAP_EDGES_S, N_BINS
from synth.schema import CATEGORY_ID, EVENT_TIME, EVENT_TYPE, PRODUCT_ID, USER_ID
from synth.stats.hashing import hash_uniform

TOP_CATEGORIES = 20
NEIGHBOURS = 10
SESSION_GAP_S = 1_800
ACCURACY_COLUMNS = ("event_type", "category", "hour", "gap", "events_per_user")
COHERENCE_COLUMNS = ("event_type", "category")
_COLUMNS = (EVENT_TIME, EVENT_TYPE, PRODUCT_ID, CATEGORY_ID, USER_ID)
_FIRST = 2 * N_BINS  # the gap class of a user's first event
_OTHER = -2  # the category bin of every category outside the real top 20


def sample_users(events: DataFrame, users: int, seed: int) -> pd.DataFrame:
    """The events of at most ``users`` users (chosen by a seeded hash of the id), on the driver."""
    ids = np.asarray([r[0] for r in events.select(USER_ID).distinct().collect()], dtype=np.int64)
    if len(ids) > users:
        draws = hash_uniform(seed, 31, ids)
        chosen = np.sort(ids[np.argsort(draws, kind="stable")[:users]])
        picked = events.sparkSession.createDataFrame(pd.DataFrame({USER_ID: chosen}))
        events = events.join(F.broadcast(picked), USER_ID, "left_semi")
    return events.select(*_COLUMNS).toPandas()


def top_categories(real: DataFrame) -> list[int]:
    """The real events' 20 most frequent categories (ties by id)."""
    rows = (
        real.where(F.col(CATEGORY_ID).isNotNull())
        .groupBy(CATEGORY_ID)
        .count()
        .orderBy(F.desc("count"), CATEGORY_ID)
        .limit(TOP_CATEGORIES)
        .collect()
    )
    return [int(r[0]) for r in rows]


def _gap_class(seconds: Column) -> Column:
    """:func:`synth.models.sequence.gap_class` in Spark (edges at or below the gap, clipped)."""
    above = reduce(
        lambda a, b: a + b,
        [F.when(seconds >= F.lit(edge), 1).otherwise(0) for edge in GAP_EDGES_S[1:]],
    )
    bin_ = F.least(above, F.lit(N_BINS - 1))
    return F.when(seconds >= SESSION_GAP_S, N_BINS).otherwise(0) + bin_


def binned_events(events: DataFrame, top: list[int]) -> DataFrame:
    """One row per event: ``user_id``, ``step`` and the binned columns of the module docstring.

    ``events_per_user`` is the user's log2 length bin, repeated on each of its events.
    """
    order = Window.partitionBy(USER_ID).orderBy(EVENT_TIME, EVENT_TYPE, PRODUCT_ID)
    by_user = Window.partitionBy(USER_ID)
    seconds = F.unix_seconds(F.col(EVENT_TIME))
    gap = seconds - F.lag(seconds).over(order)
    category = F.when(F.col(CATEGORY_ID).isin(top), F.col(CATEGORY_ID)).otherwise(_OTHER)
    return events.select(
        F.col(USER_ID),
        F.row_number().over(order).alias("step"),
        F.col(EVENT_TYPE).cast("string").alias("event_type"),
        category.cast("long").alias("category"),
        F.hour(EVENT_TIME).alias("hour"),
        F.when(gap.isNull(), _FIRST).otherwise(_gap_class(gap)).alias("gap"),
        F.floor(F.log2(F.count("*").over(by_user))).cast("int").alias("events_per_user"),
    )


def _counts(binned: DataFrame, column: str) -> pd.Series:
    if column == "events_per_user":  # one per user, not per event
        binned = binned.where(F.col("step") == 1)
    pdf = binned.groupBy(column).count().toPandas()
    return pd.Series(pdf["count"].to_numpy(np.float64), index=pdf[column].to_numpy())


def tvd_accuracy(real: pd.Series, synthetic: pd.Series) -> float:
    """``1 - TVD`` of two count series (index: the bin)."""
    levels = real.index.union(synthetic.index)
    r = real.reindex(levels, fill_value=0.0).to_numpy(np.float64)
    s = synthetic.reindex(levels, fill_value=0.0).to_numpy(np.float64)
    return float(1.0 - 0.5 * np.abs(r / max(r.sum(), 1.0) - s / max(s.sum(), 1.0)).sum())


def _pairs(binned: DataFrame, column: str) -> pd.DataFrame:
    order = Window.partitionBy(USER_ID).orderBy("step")
    nxt = F.lead(F.col(column)).over(order)
    pairs = binned.select(F.col(column).alias("a"), nxt.alias("b")).where(F.col("b").isNotNull())
    return pairs.groupBy("a", "b").count().toPandas()


def coherence(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """Coherence of one column from (current ``a``, next ``b``, ``count``) tables."""
    if real.empty or synthetic.empty:
        return float("nan")
    weights = real.groupby("a")["count"].sum()
    weights = weights / weights.sum()
    shown = set(synthetic["a"])
    total, covered = 0.0, 0.0
    for value, weight in weights.items():
        if value not in shown:
            continue  # a current value the synthetic users never show
        r = real.loc[real["a"] == value].set_index("b")["count"].astype(np.float64)
        s = synthetic.loc[synthetic["a"] == value].set_index("b")["count"].astype(np.float64)
        total += float(weight) * tvd_accuracy(r, s)
        covered += float(weight)
    return total / covered if covered > 0 else float("nan")


def _neighbours(frame: pd.DataFrame, items: np.ndarray) -> np.ndarray:
    """Top-10 neighbour indices (into ``items``) of each item, cosine over binary user sets."""
    pos = pd.Index(items).get_indexer(frame[PRODUCT_ID])
    keep = pos >= 0
    users, user_pos = np.unique(frame[USER_ID].to_numpy()[keep], return_inverse=True)
    m = sparse.csr_matrix(
        (np.ones(int(keep.sum())), (user_pos, pos[keep])), shape=(len(users), len(items))
    )
    m.data[:] = 1.0
    m.sum_duplicates()
    m.data[:] = 1.0
    co = (m.T @ m).toarray()
    norms = np.sqrt(np.diag(co))
    sim = co / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(sim, -1.0)
    k = min(NEIGHBOURS, len(items) - 1)
    # ties by item order: a stable sort of the negated similarity
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def knn_overlap(
    real: pd.DataFrame, synthetic: pd.DataFrame, *, min_users: int, max_items: int
) -> tuple[float, int]:
    """(mean top-10 neighbour overlap, items compared): see the module docstring."""
    r_users = real.groupby(PRODUCT_ID)[USER_ID].nunique()
    s_users = synthetic.groupby(PRODUCT_ID)[USER_ID].nunique()
    both = r_users[r_users >= min_users].index.intersection(s_users[s_users >= min_users].index)
    ranked = r_users.loc[both].sort_values(ascending=False, kind="stable")
    items = np.sort(ranked.index[:max_items].to_numpy())
    if len(items) <= NEIGHBOURS:
        return float("nan"), len(items)
    a, b = _neighbours(real, items), _neighbours(synthetic, items)
    overlap = [len(set(x) & set(y)) / a.shape[1] for x, y in zip(a, b, strict=True)]
    return float(np.mean(overlap)), len(items)


@dataclass(frozen=True)
class Scores:
    """What :func:`scores` measures of two sides' events."""

    accuracy: dict[str, float]
    coherence: dict[str, float]
    sizes: dict[str, float]
    distributions: dict[str, dict[str, list[Any]]]
    transitions: dict[str, list[list[float]]]


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _gap_label(value: int) -> str:
    if value == _FIRST:
        return "first event"
    b = value % N_BINS
    kind = "new session" if value >= N_BINS else "same session"
    return f"{kind} {_duration(GAP_EDGES_S[b])}-{_duration(GAP_EDGES_S[b + 1])}"


def _length_label(value: int) -> str:
    lo, hi = 2**value, 2 ** (value + 1) - 1
    return str(lo) if lo == hi else f"{lo}-{hi}"


_LABELS: dict[str, Callable[[int], str]] = {"events_per_user": _length_label, "gap": _gap_label}


def _distribution(
    real: pd.Series, synthetic: pd.Series, label: Callable[[int], str]
) -> dict[str, list[Any]]:
    levels = sorted(real.index.union(synthetic.index))
    r = real.reindex(levels, fill_value=0.0)
    s = synthetic.reindex(levels, fill_value=0.0)
    return {
        "labels": [label(int(v)) for v in levels],
        "real": [round(float(x), 5) for x in r / max(r.sum(), 1.0)],
        "synthetic": [round(float(x), 5) for x in s / max(s.sum(), 1.0)],
    }


def _transitions(pairs: pd.DataFrame, levels: list[int]) -> list[list[float]]:
    """Row-normalised next-category shares (rows: current category, in ``levels`` order)."""
    table = pairs.pivot_table(index="a", columns="b", values="count", aggfunc="sum")
    table = table.reindex(index=levels, columns=levels).fillna(0.0)
    totals = table.sum(axis=1).replace(0.0, 1.0)
    return [[round(float(x), 4) for x in row] for row in (table.div(totals, axis=0)).to_numpy()]


def scores(real: DataFrame, synthetic: DataFrame, top: list[int]) -> Scores:
    """Two sides' events scored in Spark (see the module docstring).

    Also the length and gap distributions and the category transition matrices (rows and
    columns: the real top categories in frequency order, then the rest).
    """
    r = binned_events(real, top).persist()
    s = binned_events(synthetic, top).persist()
    try:
        counts = {c: (_counts(r, c), _counts(s, c)) for c in ACCURACY_COLUMNS}
        pairs = {c: (_pairs(r, c), _pairs(s, c)) for c in COHERENCE_COLUMNS}
    finally:
        r.unpersist()
        s.unpersist()
    levels = [*top, _OTHER]
    # every event has one type and every user one length bin: the sizes are the counts' sums
    (r_types, s_types), (r_lengths, s_lengths) = counts["event_type"], counts["events_per_user"]
    sizes = {
        "real_users": float(r_lengths.sum()),
        "synthetic_users": float(s_lengths.sum()),
        "real_events": float(r_types.sum()),
        "synthetic_events": float(s_types.sum()),
    }
    return Scores(
        accuracy={c: tvd_accuracy(*counts[c]) for c in ACCURACY_COLUMNS},
        coherence={c: coherence(*pairs[c]) for c in COHERENCE_COLUMNS},
        sizes=sizes,
        distributions={c: _distribution(*counts[c], _LABELS[c]) for c in _LABELS},
        transitions={
            "real": _transitions(pairs["category"][0], levels),
            "synthetic": _transitions(pairs["category"][1], levels),
        },
    )


def behaviour_fidelity(
    real: DataFrame,
    synthetic: DataFrame,
    *,
    baseline: DataFrame | None = None,
    users: int = 5_000,
    seed: int = 0,
    min_users: int = 5,
    max_items: int = 2_000,
) -> dict[str, Any]:
    """Accuracy, coherence and item-neighbour overlap of events (see the module docstring).

    Accuracy and coherence in Spark over every event; the overlap on samples of ``users``
    users per side (seeded).

    ``baseline``: other real users' events (e.g. holdout users): their neighbour overlap with
    the real sample (``knn10_overlap_real``) is what sampling noise alone leaves of the
    neighbours, the ceiling to read ``knn10_overlap`` against.
    """
    if real.limit(1).count() == 0 or synthetic.limit(1).count() == 0:
        return {"note": "no events on one side: behaviour not measured"}
    got = scores(real, synthetic, top_categories(real))
    real_sample = sample_users(real, users, seed)
    overlap, compared = knn_overlap(
        real_sample,
        sample_users(synthetic, users, seed + 1),
        min_users=min_users,
        max_items=max_items,
    )
    ceiling = float("nan")
    if baseline is not None and baseline.limit(1).count() > 0:
        ceiling = knn_overlap(
            real_sample,
            sample_users(baseline, users, seed + 2),
            min_users=min_users,
            max_items=max_items,
        )[0]
    return {
        "accuracy": float(np.mean(list(got.accuracy.values()))),
        "accuracy_per_column": got.accuracy,
        "coherence": float(np.nanmean(list(got.coherence.values()))),
        "coherence_per_column": got.coherence,
        "knn10_overlap": overlap,
        "knn_items": float(compared),
        "knn10_overlap_real": ceiling,
        "distributions": got.distributions,
        "category_transitions": got.transitions,
        **got.sizes,
    }


def copied_runs(
    synthetic_events: DataFrame, train_sequences: DataFrame, holdout_sequences: DataFrame
) -> dict[str, dict[str, float]]:
    """For n = 3, 4, 5: the synthetic and the holdout users' shares holding a training run."""
    synthetic = event_sequences(synthetic_events)
    out: dict[str, dict[str, float]] = {}
    for n in (3, 4, 5):
        syn, syn_users = share_with_copies(synthetic, train_sequences, n)
        hold, hold_users = share_with_copies(holdout_sequences, train_sequences, n)
        out[str(n)] = {
            "synthetic_share": syn,
            "holdout_share": hold,
            "synthetic_users": float(syn_users),
            "holdout_users": float(hold_users),
        }
    return out
