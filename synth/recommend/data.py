"""The recommenders' data: implicit-feedback pairs per source and per-variant matrices.

Sources (read from the lakehouse by :func:`load`):
- ``real``: the silver train split, aggregated per (user, item) into a strength (event-type
  weights with the interactions half-life, decayed to the train split's last event: the gold
  ``interactions`` definition);
- ``synthetic_user`` and ``enrichment``: the run's synthetic events (``synthetic/events``),
  aggregated the same way with the same reference time;
- the held-out real pairs of the validation and test splits (what is scored).

Each trained pair also carries the time of its last event (``last_us``, microseconds since the
epoch): the order the sequence model reads a user's items in (:meth:`RecData.orders`).

Everything is indexed against one user index and the real catalog (gold item profiles): items
outside it cannot be recommended, and held-out pairs on them stay counted as misses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from synth.config.features import InteractionConfig
from synth.config.job import JobConfig
from synth.config.recommend import Variant
from synth.errors import InputError, InvalidDataError
from synth.features.profiles import strength, top_categories, user_profiles
from synth.generate.stage import BehaviourInputs
from synth.io.delta import Lakehouse, read_table, table_exists
from synth.schema import (
    ENRICHMENT,
    EVENT_TIME,
    EVENT_TYPE,
    ORIGIN,
    PRODUCT_ID,
    RUN_ID,
    SPLIT,
    SPLIT_TEST,
    SPLIT_TRAIN,
    SPLIT_VALIDATION,
    SYNTHETIC_USER,
    USER_ID,
    USER_SESSION,
)
from synth.seeding import derive_seed, uniform
from synth.stats.hashing import hash_uniform

_SUBSAMPLE_PURPOSE = 71


def pair_strengths(
    events: DataFrame, cfg: InteractionConfig, reference_s: float, by: tuple[str, ...] = ()
) -> DataFrame:
    """``(user_id, product_id, *by, strength, last_us)`` with a fixed reference time.

    The strength is the gold interactions one (:func:`synth.features.profiles.strength`);
    ``last_us`` is the pair's last event time in microseconds since the epoch.
    """
    return events.groupBy(USER_ID, PRODUCT_ID, *by).agg(
        strength(cfg, F.lit(float(reference_s))).alias("strength"),
        F.unix_micros(F.max(EVENT_TIME)).alias("last_us"),
    )


@dataclass
class RecData:
    """Pairs of every source, as dense indexes (``u``, ``i``) with ``strength`` where trained.

    Trained pairs also carry ``last_us``, the time of their last event (:meth:`orders`).

    Attributes:
        items: Catalog product ids (index ``i`` -> product id).
        users: User ids (index ``u`` -> user id): real users first, then synthetic ones.
        real: Real train pairs (``u``, ``i``, ``strength``).
        synthetic_user: Synthetic users' pairs.
        enrichment: Enrichment pairs (real users' synthetic events).
        validation, test: Held-out real pairs (``u``, ``i``; ``i`` = -1 off the catalog).
        real_events: Real train events per real user index (0 for users with none).
        item_events: Real train events per item index.
        synthetic_weight: Weight of synthetic users' pairs in the fused variant.
        dropped_pairs: Pairs with strength 0 (e.g. only removed from cart), not trained on.
        cold_tags: For the users made sparse, their interest tags (top categories) from the
            profile of their kept events (``real``) and of those plus their enrichment events
            (``fused``): user id -> category ids.
    """

    items: np.ndarray
    users: np.ndarray
    real: pd.DataFrame
    synthetic_user: pd.DataFrame
    enrichment: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    real_events: np.ndarray
    item_events: np.ndarray
    synthetic_weight: float
    dropped_pairs: dict[str, int]
    cold_tags: dict[str, dict[int, list[int]]] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        """Rows of every user x item matrix."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Columns of every user x item matrix."""
        return len(self.items)

    def matrix(self, pairs: pd.DataFrame) -> sp.csr_matrix:
        """A user x item CSR matrix of ``pairs`` (duplicates summed)."""
        return sp.csr_matrix(
            (
                pairs["strength"].to_numpy(np.float64),
                (pairs["u"].to_numpy(np.int64), pairs["i"].to_numpy(np.int64)),
            ),
            shape=(self.n_users, self.n_items),
        )

    def order_matrix(self, pairs: pd.DataFrame) -> sp.csr_matrix:
        """A user x item CSR matrix of each pair's last event time (the latest of duplicates)."""
        if "last_us" not in pairs:
            raise InvalidDataError(
                "the recommender pairs carry no `last_us` (last event time per pair): the "
                "sequence model and the scoring blocks need it; build them with "
                "synth.recommend.data.load"
            )
        last = pairs.groupby(["u", "i"], sort=False)["last_us"].max()
        return sp.csr_matrix(
            (
                last.to_numpy(np.float64),
                (
                    last.index.get_level_values(0).to_numpy(np.int64),
                    last.index.get_level_values(1).to_numpy(np.int64),
                ),
            ),
            shape=(self.n_users, self.n_items),
        )

    def _pairs(
        self, variant: Variant, seed: int, keep: float
    ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """``(train pairs, history pairs or None when they are the train pairs)``."""
        real = _subsample(self.real, seed, keep)
        if variant == "real":
            return real, None
        if variant == "fused":
            syn = _subsample(self.synthetic_user, seed, keep)
            syn = syn.assign(strength=syn["strength"] * self.synthetic_weight)
            enrich = _subsample(self.enrichment, seed, keep)
            return pd.concat([real, syn, enrich], ignore_index=True), None
        if variant == "synthetic":
            return _subsample(self.synthetic_user, seed, keep), real
        raise ValueError(f"unknown variant {variant!r}")

    def variant(
        self, variant: Variant, seed: int, keep: float
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``(train, history)`` matrices of ``variant`` for ``seed``.

        ``train`` is what the model learns from; ``history`` is what it scores real users from.
        Both keep a seeded share ``keep`` of the pairs (decided per (seed, user, item), so the
        real pairs kept are the same in every variant).
        """
        train, history = self._pairs(variant, seed, keep)
        return self._both(train, history, self.matrix)

    def orders(
        self, variant: Variant, seed: int, keep: float
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """:meth:`variant` 's matrices with each pair's last event time instead of its strength.

        The same pairs (same sparsity pattern): what a sequence model orders a user's items by.
        """
        train, history = self._pairs(variant, seed, keep)
        return self._both(train, history, self.order_matrix)

    def variant_and_orders(
        self, variant: Variant, seed: int, keep: float
    ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        """:meth:`variant` and :meth:`orders` from one subsample of the pairs."""
        train, history = self._pairs(variant, seed, keep)
        return (
            *self._both(train, history, self.matrix),
            *self._both(train, history, self.order_matrix),
        )

    @staticmethod
    def _both(
        train: pd.DataFrame,
        history: pd.DataFrame | None,
        build: Callable[[pd.DataFrame], sp.csr_matrix],
    ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        matrix = build(train)
        return matrix, matrix if history is None else build(history)


def _made_sparse(
    train: DataFrame, silver: DataFrame, share: float, keep: int, *, seed: int
) -> tuple[DataFrame, DataFrame]:
    """``(train, the kept events of the users made sparse)``.

    A seeded ``share`` of the users with test events keep only their last ``keep`` train events
    (by time, then product, type and session).
    """
    if share <= 0:
        return train, train.where(F.lit(False))
    chosen = (
        silver.where(F.col(SPLIT) == SPLIT_TEST)
        .select(USER_ID)
        .distinct()
        .where(uniform(seed, USER_ID) < F.lit(share))
        .withColumn("_cold", F.lit(True))
    )
    latest = Window.partitionBy(USER_ID).orderBy(
        F.desc(EVENT_TIME), F.desc(PRODUCT_ID), F.desc(EVENT_TYPE), F.desc(USER_SESSION)
    )
    marked = train.join(F.broadcast(chosen), USER_ID, "left").withColumn(
        "_n", F.row_number().over(latest)
    )
    kept = marked.where(F.col("_cold").isNull() | (F.col("_n") <= F.lit(keep)))
    cold = kept.where(F.col("_cold").isNotNull()).drop("_cold", "_n")
    return kept.drop("_cold", "_n"), cold


def _subsample(pairs: pd.DataFrame, seed: int, keep: float) -> pd.DataFrame:
    if keep >= 1.0 or pairs.empty:
        return pairs
    draw = hash_uniform(
        seed, _SUBSAMPLE_PURPOSE, pairs["uid"].to_numpy(np.int64), pairs["pid"].to_numpy(np.int64)
    )
    return pairs[draw < keep]


def _indexed(frame: pd.DataFrame, users: pd.Index, items: pd.Index) -> pd.DataFrame:
    u = users.get_indexer(pd.Index(frame[USER_ID].to_numpy(np.int64)))
    i = items.get_indexer(pd.Index(frame[PRODUCT_ID].to_numpy(np.int64)))
    out = pd.DataFrame(
        {
            "u": u,
            "i": i,
            "uid": frame[USER_ID].to_numpy(np.int64),
            "pid": frame[PRODUCT_ID].to_numpy(np.int64),
        }
    )
    if "strength" in frame:
        out["strength"] = frame["strength"].to_numpy(np.float64)
    if "last_us" in frame:
        out["last_us"] = frame["last_us"].to_numpy(np.int64)
    return out


def load(
    spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig, run_id: str, model_id: str
) -> RecData:
    """Read and index every source of ``run_id`` (see the module docstring)."""
    rc = cfg.recommend
    interactions = cfg.features.interactions
    silver_path = lakehouse.silver_table()
    items_path = lakehouse.gold_table("item_profiles")
    events_path = lakehouse.synthetic_table("events")
    for path, stage in ((silver_path, "clean"), (items_path, "features"), (events_path, "fuse")):
        if not table_exists(spark, path):
            raise InputError(f"{path} does not exist: run the `{stage}` stage first")
    persisted: list[DataFrame] = []

    def keep(df: DataFrame) -> DataFrame:
        persisted.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return persisted[-1]

    try:
        silver = read_table(spark, silver_path)
        inputs = BehaviourInputs.read(spark, lakehouse, cfg)
        reference_s = inputs.reference_s
        cold_seed = derive_seed(rc.seeds[0], "recommend", "cold")
        train, cold_events = _made_sparse(
            inputs.train, silver, rc.cold_share, rc.cold_max_events, seed=cold_seed
        )
        train = keep(train)  # read three times below; the cut runs a window over every event
        real = pair_strengths(train, interactions, reference_s).toPandas()
        synthetic_events = read_table(spark, events_path).where(F.col(RUN_ID) == F.lit(run_id))
        if synthetic_events.limit(1).count() == 0:  # before the sparse users' own enrichment
            raise InputError(
                f"{events_path} has no events of run {run_id!r}: run the `fuse` stage for it first"
            )
        enrich = cfg.synthesize.fusion.enrich
        cold_tags: dict[str, dict[int, list[int]]] = {}
        if rc.cold_share > 0:  # the profiles feed the tags and the enrichment: computed once
            profiles = keep(
                user_profiles(cold_events, cfg.features.profiles, reference_s=reference_s)
            )
            cold_tags["real"] = cold_tags["fused"] = _tags(profiles)
        if rc.cold_share > 0 and enrich.enabled:
            drawn = inputs.enrichment(
                profiles.where(F.col("n_events") < F.lit(enrich.target_events)),
                enrich.target_events,
                seed=derive_seed(cfg.synthesize.seed, "events", "cold"),
                source=f"synthetic:{model_id}",
                run=run_id,
            )
            lo, hi = inputs.window
            inside = (F.col(EVENT_TIME) >= F.lit(lo)) & (F.col(EVENT_TIME) <= F.lit(hi))
            drawn = keep(drawn.where(inside))  # drawn once: for the pairs and for the tags
            synthetic_events = synthetic_events.select(*drawn.columns).unionByName(drawn)
            enriched = cold_events.unionByName(drawn.select(*cold_events.columns))
            cold_tags["fused"] = _tags(
                top_categories(enriched, cfg.features.profiles.top_k_categories)
            )
        synthetic = pair_strengths(
            synthetic_events, interactions, reference_s, (ORIGIN,)
        ).toPandas()
        held = (
            silver.where(F.col(SPLIT).isin(SPLIT_VALIDATION, SPLIT_TEST))
            .select(USER_ID, PRODUCT_ID, SPLIT)
            .distinct()
            .toPandas()
        )
        item_ids = np.sort(
            read_table(spark, items_path)
            .select(PRODUCT_ID)
            .toPandas()[PRODUCT_ID]
            .to_numpy(np.int64)
        )
        user_counts = train.groupBy(USER_ID).count().toPandas()
        item_counts = train.groupBy(PRODUCT_ID).count().toPandas()
    finally:
        for df in persisted:
            df.unpersist()

    real_ids = np.union1d(user_counts[USER_ID].to_numpy(np.int64), held[USER_ID].to_numpy(np.int64))
    synthetic_ids = np.setdiff1d(synthetic[USER_ID].to_numpy(np.int64), real_ids)
    users = pd.Index(np.concatenate([real_ids, synthetic_ids]))
    items = pd.Index(item_ids)

    dropped: dict[str, int] = {}

    def trained(frame: pd.DataFrame, name: str) -> pd.DataFrame:
        indexed = _indexed(frame, users, items)
        useful = (indexed["strength"] > 0) & (indexed["i"] >= 0)
        dropped[name] = int((~useful).sum())
        return indexed[useful].reset_index(drop=True)

    real_events = np.zeros(len(users), np.int64)
    real_events[users.get_indexer(user_counts[USER_ID].to_numpy(np.int64))] = user_counts["count"]
    item_events = np.zeros(len(items), np.int64)
    at = items.get_indexer(item_counts[PRODUCT_ID].to_numpy(np.int64))
    item_events[at[at >= 0]] = item_counts["count"].to_numpy()[at >= 0]
    by_origin = {o: synthetic[synthetic[ORIGIN] == o] for o in (SYNTHETIC_USER, ENRICHMENT)}
    return RecData(
        items=item_ids,
        users=users.to_numpy(),
        real=trained(real, "real"),
        synthetic_user=trained(by_origin[SYNTHETIC_USER], SYNTHETIC_USER),
        enrichment=trained(by_origin[ENRICHMENT], ENRICHMENT),
        validation=_indexed(held[held[SPLIT] == SPLIT_VALIDATION], users, items),
        test=_indexed(held[held[SPLIT] == SPLIT_TEST], users, items),
        real_events=real_events,
        item_events=item_events,
        synthetic_weight=cfg.synthesize.fusion.synthetic_weight,
        dropped_pairs=dropped,
        cold_tags=cold_tags,
    )


def _tags(profiles: DataFrame) -> dict[int, list[int]]:
    got = profiles.select(USER_ID, "top_categories").toPandas()
    return {
        int(u): [int(c) for c in t]
        for u, t in zip(got[USER_ID], got["top_categories"], strict=True)
    }


__all__ = ["SPLIT_TRAIN", "RecData", "load", "pair_strengths"]
