"""Fidelity of synthetic behaviour: the synthetic users' events against real users' events.

Measured on seeded samples of users (real: train users of the silver train split; synthetic:
the run's kept ``synthetic_user`` events), on the driver:

* **accuracy** per column, ``1 - total variation distance`` of the binned shares (the
  definition mostlyai-qa publishes): event type; category (the real top 20 ``category_id`` s,
  the rest as one bin); hour of day; the gap class (session start or not x log-spaced seconds
  since the previous event, :data:`synth.models.sequence.GAP_EDGES_S`; a user's first event is
  its own class); events per user (log2 bins); their mean is ``accuracy``;
* **coherence**: how the next event follows the current one, ``1 - TVD`` between the real and
  synthetic next-event distributions of each current value, weighted by the real frequency of
  that value: next event type given the type, next category given the category (top 20 + rest);
  their mean is ``coherence``;
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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy import sparse

from synth.generate.copies import event_sequences, share_with_copies
from synth.models.sequence import N_BINS, gap_class
from synth.schema import CATEGORY_ID, EVENT_TIME, EVENT_TYPE, PRODUCT_ID, USER_ID
from synth.stats.hashing import hash_uniform

TOP_CATEGORIES = 20
NEIGHBOURS = 10
_COLUMNS = (EVENT_TIME, EVENT_TYPE, PRODUCT_ID, CATEGORY_ID, USER_ID)
_FIRST = 2 * N_BINS  # the gap class of a user's first event


def sample_users(events: DataFrame, users: int, seed: int) -> pd.DataFrame:
    """The events of at most ``users`` users (chosen by a seeded hash of the id), on the driver."""
    ids = np.asarray([r[0] for r in events.select(USER_ID).distinct().collect()], dtype=np.int64)
    if len(ids) > users:
        draws = hash_uniform(seed, 31, ids)
        chosen = np.sort(ids[np.argsort(draws, kind="stable")[:users]])
        picked = events.sparkSession.createDataFrame(pd.DataFrame({USER_ID: chosen}))
        events = events.join(F.broadcast(picked), USER_ID, "left_semi")
    return events.select(*_COLUMNS).toPandas()


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values([USER_ID, EVENT_TIME, EVENT_TYPE, PRODUCT_ID], kind="stable")
    return frame.reset_index(drop=True)


def _shares(values: pd.Series, levels: list[object]) -> np.ndarray:
    counts = values.value_counts()
    out = np.array([float(counts.get(v, 0)) for v in levels])
    return out / max(out.sum(), 1.0)


def _accuracy(real: pd.Series, synthetic: pd.Series) -> float:
    levels = sorted(set(real.unique()) | set(synthetic.unique()), key=str)
    return float(1.0 - 0.5 * np.abs(_shares(real, levels) - _shares(synthetic, levels)).sum())


def _columns(frame: pd.DataFrame, top: list[int]) -> pd.DataFrame:
    """The binned columns of ordered events (one row per event)."""
    frame = _ordered(frame)
    times = pd.to_datetime(frame[EVENT_TIME]).astype("int64").to_numpy() // 1_000_000_000
    user = frame[USER_ID].to_numpy()
    first = np.r_[True, user[1:] != user[:-1]]
    gaps = np.where(first, 0, np.r_[0, np.diff(times)])
    # sessions are not compared here (their ids differ by construction): a gap of 30 minutes
    # or more counts as a session start, on both sides alike
    classes = gap_class(np.maximum(gaps, 0), gaps >= 1_800)
    category = frame[CATEGORY_ID].where(frame[CATEGORY_ID].isin(top), -2)
    return pd.DataFrame(
        {
            USER_ID: user,
            "event_type": frame[EVENT_TYPE].astype(str).to_numpy(),
            "category": category.to_numpy(),
            "hour": pd.to_datetime(frame[EVENT_TIME]).dt.hour.to_numpy(),
            "gap": np.where(first, _FIRST, classes),
            "first": first,
            PRODUCT_ID: frame[PRODUCT_ID].to_numpy(),
        }
    )


def _coherence(real: pd.DataFrame, synthetic: pd.DataFrame, column: str) -> float:
    def pairs(frame: pd.DataFrame) -> pd.DataFrame:
        nxt = frame[column].shift(-1)
        same = frame[USER_ID].shift(-1) == frame[USER_ID]
        return pd.DataFrame({"a": frame[column][same], "b": nxt[same]})

    r, s = pairs(real), pairs(synthetic)
    if r.empty or s.empty:
        return float("nan")
    weights = r["a"].value_counts(normalize=True)
    levels = sorted(set(r["b"].unique()) | set(s["b"].unique()), key=str)
    total = 0.0
    for value, weight in weights.items():
        rs, ss = r.loc[r["a"] == value, "b"], s.loc[s["a"] == value, "b"]
        if ss.empty:
            continue  # a current value the synthetic users never show: counted as accuracy
        tvd = 0.5 * np.abs(_shares(rs, levels) - _shares(ss, levels)).sum()
        total += float(weight) * (1.0 - tvd)
    covered = float(weights[[v for v in weights.index if (s["a"] == v).any()]].sum())
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


def behaviour_fidelity(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    baseline: pd.DataFrame | None = None,
    min_users: int = 5,
    max_items: int = 2_000,
) -> dict[str, Any]:
    """Accuracy, coherence and item-neighbour overlap of sampled events (module docstring).

    ``baseline``: other real users' events (e.g. holdout users), of the same sample size: their
    neighbour overlap with ``real`` (``knn10_overlap_real``) is what sampling noise alone leaves
    of the neighbours, the ceiling to read ``knn10_overlap`` against.
    """
    if real.empty or synthetic.empty:
        return {"note": "no events on one side: behaviour not measured"}
    top = real[CATEGORY_ID].value_counts().index[:TOP_CATEGORIES].tolist()
    r, s = _columns(real, top), _columns(synthetic, top)
    lengths_r = np.floor(np.log2(r.groupby(USER_ID).size())).astype(int)
    lengths_s = np.floor(np.log2(s.groupby(USER_ID).size())).astype(int)
    accuracy = {
        "event_type": _accuracy(r["event_type"], s["event_type"]),
        "category": _accuracy(r["category"], s["category"]),
        "hour": _accuracy(r["hour"], s["hour"]),
        "gap": _accuracy(r["gap"], s["gap"]),
        "events_per_user": _accuracy(lengths_r, lengths_s),
    }
    coherence = {
        "event_type": _coherence(r, s, "event_type"),
        "category": _coherence(r, s, "category"),
    }
    overlap, compared = knn_overlap(real, synthetic, min_users=min_users, max_items=max_items)
    ceiling = float("nan")
    if baseline is not None and not baseline.empty:
        ceiling = knn_overlap(real, baseline, min_users=min_users, max_items=max_items)[0]
    return {
        "accuracy": float(np.mean(list(accuracy.values()))),
        "accuracy_per_column": accuracy,
        "coherence": float(np.nanmean(list(coherence.values()))),
        "coherence_per_column": coherence,
        "knn10_overlap": overlap,
        "knn_items": float(compared),
        "knn10_overlap_real": ceiling,
        "real_users": float(r[USER_ID].nunique()),
        "synthetic_users": float(s[USER_ID].nunique()),
        "real_events": float(len(r)),
        "synthetic_events": float(len(s)),
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
